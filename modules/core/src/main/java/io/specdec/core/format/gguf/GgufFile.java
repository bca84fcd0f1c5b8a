package io.specdec.core.format.gguf;

import io.specdec.core.format.MappedFile;
import io.specdec.core.model.ModelFormatException;
import io.specdec.core.tensor.DType;
import io.specdec.core.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A memory-mapped GGUF v2/v3 file: metadata and tensors (zero-copy slices of the mapping, so tensors larger than
 * 2 GiB work). Every count and offset read from the file is checked against the file's size before it is used, so
 * a corrupt header fails with a {@link ModelFormatException} naming the problem rather than a crash or a huge
 * allocation.
 *
 * <p>Metadata values: String, Byte/Short/Integer/Long (unsigned types widened), Float, Double, Boolean; arrays as
 * {@code List<Object>}.
 */
public final class GgufFile {
    private static final int MAGIC = 0x46554747; // "GGUF" little endian
    private static final long DEFAULT_ALIGNMENT = 32;

    private final Path path;
    private final int version;
    private final Map<String, Object> metadata;
    private final Map<String, GgufTensorInfo> tensorInfos;
    private final MemorySegment tensorData;

    private GgufFile(Path path, int version, Map<String, Object> metadata, Map<String, GgufTensorInfo> tensorInfos,
                     MemorySegment tensorData) {
        this.path = path;
        this.version = version;
        this.metadata = metadata;
        this.tensorInfos = tensorInfos;
        this.tensorData = tensorData;
    }

    /** Maps {@code path} into {@code arena}; the tensors stay valid until the arena closes. */
    public static GgufFile open(Path path, Arena arena) {
        MemorySegment file = MappedFile.map(path, arena, "GGUF file");
        try {
            return parse(path, file);
        } catch (IndexOutOfBoundsException e) {
            throw new ModelFormatException(path, "GGUF header runs past the end of the file (" + file.byteSize()
                    + " bytes): truncated or corrupt", e);
        }
    }

    /** Reads only the header (metadata, tensor table) with a private arena; for vocab-only use. */
    public static GgufFile open(Path path) {
        return open(path, Arena.ofAuto());
    }

    private static GgufFile parse(Path path, MemorySegment file) {
        Cursor in = new Cursor(path, file);
        int magic = in.i32();
        if (magic != MAGIC) {
            throw new ModelFormatException(path, String.format("not a GGUF file: magic 0x%08x, expected 0x%08x (\"GGUF\")", magic, MAGIC));
        }
        int version = in.i32();
        if (version != 2 && version != 3) {
            throw new ModelFormatException(path, "unsupported GGUF version " + version + " (supported: 2, 3)");
        }
        long tensorCount = in.count("tensor count", 8 + 4 + 8);
        long kvCount = in.count("metadata count", 8 + 4);
        Map<String, Object> metadata = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = in.string();
            int type = in.i32();
            metadata.put(key, in.value(type, key));
        }
        long alignment = DEFAULT_ALIGNMENT;
        if (metadata.get("general.alignment") instanceof Number a) {
            alignment = a.longValue();
            if (alignment <= 0 || (alignment & (alignment - 1)) != 0 || alignment > 1 << 20) {
                throw new ModelFormatException(path, "general.alignment must be a power of two, got " + alignment);
            }
        }
        List<GgufTensorInfo> infos = new ArrayList<>();
        for (long i = 0; i < tensorCount; i++) {
            String name = in.string();
            int dims = in.i32();
            if (dims < 1 || dims > 4) {
                throw new ModelFormatException(path, "tensor " + name + " has " + dims + " dimensions (1..4 allowed)");
            }
            long[] shape = new long[dims];
            for (int d = 0; d < dims; d++) {
                long n = in.i64();
                if (n < 0) throw new ModelFormatException(path, "tensor " + name + " has negative dimension " + n);
                shape[dims - 1 - d] = n; // GGUF lists the innermost dimension first
            }
            int typeCode = in.i32();
            DType type = ggmlType(path, name, typeCode);
            long offset = in.i64();
            infos.add(new GgufTensorInfo(name, type, shape, offset));
        }
        // llama.cpp omits the padding after the header when there is no tensor data (vocab-only files), so a data
        // section past the end of the file is only an error for a tensor that needs bytes: checked below
        long dataStart = Math.min(alignUp(in.position(), alignment), file.byteSize());
        MemorySegment data = file.asSlice(dataStart);
        Map<String, GgufTensorInfo> byName = new LinkedHashMap<>();
        for (GgufTensorInfo info : infos) {
            long elements;
            try {
                elements = Tensor.product(info.shape());
            } catch (ArithmeticException e) {
                throw new ModelFormatException(path, "tensor " + info.name() + " has an element count that overflows");
            }
            if (elements % info.type().blockSize() != 0) {
                throw new ModelFormatException(path, "tensor " + info.name() + " of type " + info.type() + " has "
                        + elements + " elements, not a multiple of its block size " + info.type().blockSize());
            }
            long[] shape = info.shape();
            if (shape[shape.length - 1] % info.type().blockSize() != 0) {
                throw new ModelFormatException(path, "tensor " + info.name() + " of type " + info.type() + " has rows of "
                        + shape[shape.length - 1] + " values, not a multiple of its block size " + info.type().blockSize());
            }
            long bytes;
            try {
                bytes = Math.multiplyExact(elements / info.type().blockSize(), info.type().blockBytes());
            } catch (ArithmeticException e) {
                throw new ModelFormatException(path, "tensor " + info.name() + " has a byte size that overflows");
            }
            if (info.offset() < 0 || info.offset() % alignment != 0 || info.offset() > data.byteSize()
                    || bytes > data.byteSize() - info.offset()) {
                throw new ModelFormatException(path, "tensor " + info.name() + " at offset " + info.offset() + " with "
                        + bytes + " bytes does not fit the data section of " + data.byteSize() + " bytes (alignment "
                        + alignment + ")");
            }
            if (byName.put(info.name(), info) != null) {
                throw new ModelFormatException(path, "tensor " + info.name() + " appears twice");
            }
        }
        return new GgufFile(path, version, Collections.unmodifiableMap(metadata), Collections.unmodifiableMap(byName), data);
    }

    private static DType ggmlType(Path path, String tensor, int code) {
        return switch (code) {
            case 0 -> DType.F32;
            case 1 -> DType.F16;
            case 2 -> DType.Q4_0;
            case 8 -> DType.Q8_0;
            case 30 -> DType.BF16;
            default -> throw new ModelFormatException(path, "tensor " + tensor + " has GGML type " + code
                    + ", which specdec does not read (supported: F32=0, F16=1, Q4_0=2, Q8_0=8, BF16=30)");
        };
    }

    /** The GGML type code of a storage type, for writers. */
    public static int ggmlTypeCode(DType type) {
        return switch (type) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q8_0 -> 8;
            case BF16 -> 30;
        };
    }

    private static long alignUp(long x, long alignment) {
        return (x + alignment - 1) / alignment * alignment;
    }

    public Path path() { return path; }

    public int version() { return version; }

    public Map<String, Object> metadata() { return metadata; }

    public Map<String, GgufTensorInfo> tensorInfos() { return tensorInfos; }

    public boolean hasTensor(String name) { return tensorInfos.containsKey(name); }

    /** The named tensor as a zero-copy slice of the mapping. */
    public Tensor tensor(String name) {
        GgufTensorInfo info = tensorInfos.get(name);
        if (info == null) throw new ModelFormatException(path, "missing tensor " + name);
        long bytes = info.type().byteSize(Tensor.product(info.shape()));
        return Tensor.of(name, info.type(), info.shape(), tensorData.asSlice(info.offset(), bytes));
    }

    /** A metadata value that must be present. */
    public Object require(String key) {
        Object v = metadata.get(key);
        if (v == null) throw new ModelFormatException(path, "missing metadata key " + key);
        return v;
    }

    /** Bounds-checked little-endian reader over the header. */
    private static final class Cursor {
        private final Path path;
        private final MemorySegment file;
        private long pos;

        Cursor(Path path, MemorySegment file) {
            this.path = path;
            this.file = file;
        }

        long position() { return pos; }

        private void need(long bytes) {
            if (bytes < 0 || bytes > file.byteSize() - pos) {
                throw new ModelFormatException(path, "header needs " + bytes + " bytes at offset " + pos
                        + " but the file has " + file.byteSize() + ": truncated or corrupt");
            }
        }

        byte i8() { need(1); return file.get(ValueLayout.JAVA_BYTE, pos++); }

        short i16() { need(2); short v = file.get(ValueLayout.JAVA_SHORT_UNALIGNED, pos); pos += 2; return v; }

        int i32() { need(4); int v = file.get(ValueLayout.JAVA_INT_UNALIGNED, pos); pos += 4; return v; }

        long i64() { need(8); long v = file.get(ValueLayout.JAVA_LONG_UNALIGNED, pos); pos += 8; return v; }

        /** A count of items each at least {@code minItemBytes} long: rejected when they cannot fit the file. */
        long count(String what, long minItemBytes) {
            long n = i64();
            if (n < 0 || n > (file.byteSize() - pos) / minItemBytes) {
                throw new ModelFormatException(path, what + " " + Long.toUnsignedString(n) + " at offset " + (pos - 8)
                        + " cannot fit in a file of " + file.byteSize() + " bytes");
            }
            return n;
        }

        String string() {
            long n = i64();
            if (n < 0 || n > file.byteSize() - pos) {
                throw new ModelFormatException(path, "string of length " + Long.toUnsignedString(n) + " at offset " + (pos - 8)
                        + " runs past the end of the file (" + file.byteSize() + " bytes)");
            }
            byte[] bytes = file.asSlice(pos, n).toArray(ValueLayout.JAVA_BYTE);
            pos += n;
            return new String(bytes, StandardCharsets.UTF_8);
        }

        Object value(int type, String key) {
            return switch (type) {
                case 0 -> (short) (i8() & 0xff);
                case 1 -> i8();
                case 2 -> i16() & 0xffff;
                case 3 -> i16();
                case 4 -> i32() & 0xffffffffL;
                case 5 -> i32();
                case 6 -> Float.intBitsToFloat(i32());
                case 7 -> i8() != 0;
                case 8 -> string();
                case 9 -> array(key);
                case 10, 11 -> i64();
                case 12 -> Double.longBitsToDouble(i64());
                default -> throw new ModelFormatException(path, "metadata key " + key + " has unknown value type " + type);
            };
        }

        private List<Object> array(String key) {
            int elementType = i32();
            if (elementType == 9) throw new ModelFormatException(path, "metadata key " + key + " is a nested array");
            long n = count("array length of " + key, minBytes(elementType, key));
            List<Object> values = new ArrayList<>((int) Math.min(n, 1 << 20));
            for (long i = 0; i < n; i++) values.add(value(elementType, key));
            return Collections.unmodifiableList(values);
        }

        private long minBytes(int type, String key) {
            return switch (type) {
                case 0, 1, 7 -> 1;
                case 2, 3 -> 2;
                case 4, 5, 6 -> 4;
                case 8, 10, 11, 12 -> 8;
                default -> throw new ModelFormatException(path, "metadata key " + key + " has unknown array element type " + type);
            };
        }
    }
}
