package io.specdec.core.format.gguf;

import io.specdec.core.format.RowSource;
import io.specdec.core.format.TensorEncoder;
import io.specdec.core.tensor.DType;
import io.specdec.core.tensor.Tensor;

import java.io.BufferedOutputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a GGUF v3 file: typed metadata (scalars, strings, arrays), then tensor infos, then tensor data, each tensor
 * aligned to {@code general.alignment} (32 unless set). Tensors are streamed row by row from a {@link RowSource}
 * and encoded (or quantized) on the way, so a multi-GB model is written with a few MB of memory.
 */
public final class GgufWriter {
    private record Value(GgufValueType type, GgufValueType elementType, Object value) {
    }

    private record Entry(String name, DType type, long[] shape, RowSource rows, byte[] encoded) {
    }

    private final Map<String, Value> metadata = new LinkedHashMap<>();
    private final List<Entry> tensors = new ArrayList<>();
    private int alignment = 32;

    /** Sets {@code general.alignment} (a power of two) for tensor data. */
    public GgufWriter alignment(int alignment) {
        if (alignment <= 0 || Integer.bitCount(alignment) != 1) {
            throw new IllegalArgumentException("alignment must be a power of two: " + alignment);
        }
        this.alignment = alignment;
        return put("general.alignment", GgufValueType.UINT32, alignment);
    }

    /** A scalar or string: {@code value} is a Number (any width; cast to {@code type}), Boolean or String. */
    public GgufWriter put(String key, GgufValueType type, Object value) {
        if (type == GgufValueType.ARRAY) throw new IllegalArgumentException("use putArray for " + key);
        check(key, type, value);
        metadata.put(key, new Value(type, null, value));
        return this;
    }

    public GgufWriter putArray(String key, GgufValueType elementType, List<?> values) {
        if (elementType == GgufValueType.ARRAY) throw new IllegalArgumentException("nested arrays are not supported: " + key);
        for (Object v : values) check(key, elementType, v);
        metadata.put(key, new Value(GgufValueType.ARRAY, elementType, List.copyOf(values)));
        return this;
    }

    public GgufWriter putString(String key, String value) { return put(key, GgufValueType.STRING, value); }

    public GgufWriter putUInt32(String key, long value) { return put(key, GgufValueType.UINT32, value); }

    public GgufWriter putInt32(String key, int value) { return put(key, GgufValueType.INT32, value); }

    public GgufWriter putFloat32(String key, float value) { return put(key, GgufValueType.FLOAT32, value); }

    public GgufWriter putBool(String key, boolean value) { return put(key, GgufValueType.BOOL, value); }

    private static void check(String key, GgufValueType type, Object value) {
        boolean ok = switch (type) {
            case STRING -> value instanceof String;
            case BOOL -> value instanceof Boolean;
            case ARRAY -> false;
            default -> value instanceof Number;
        };
        if (!ok) throw new IllegalArgumentException("metadata " + key + ": " + value + " is not a " + type);
    }

    /** Adds a tensor (shape outermost first) whose rows come from {@code rows}, encoded as {@code type}. */
    public GgufWriter addTensor(String name, DType type, long[] shape, RowSource rows) {
        checkTensor(name, type, shape);
        tensors.add(new Entry(name, type, shape.clone(), rows, null));
        return this;
    }

    /** Adds a tensor from row-major float values, encoded (quantized) as {@code type}. */
    public GgufWriter addTensor(String name, DType type, long[] shape, float[] values) {
        if (Tensor.product(shape) != values.length) {
            throw new IllegalArgumentException("tensor " + name + ": " + values.length + " values for shape " + Arrays.toString(shape));
        }
        int rowLength = (int) shape[shape.length - 1];
        return addTensor(name, type, shape, (row, out) -> System.arraycopy(values, (int) (row * rowLength), out, 0, rowLength));
    }

    /** Adds a tensor whose bytes are already encoded as {@code type} (e.g. copied from another file). */
    public GgufWriter addEncodedTensor(String name, DType type, long[] shape, byte[] encoded) {
        checkTensor(name, type, shape);
        if (encoded.length != type.byteSize(Tensor.product(shape))) {
            throw new IllegalArgumentException("tensor " + name + ": " + encoded.length + " bytes for " + type + Arrays.toString(shape));
        }
        tensors.add(new Entry(name, type, shape.clone(), null, encoded.clone()));
        return this;
    }

    private void checkTensor(String name, DType type, long[] shape) {
        if (shape.length < 1 || shape.length > 4) throw new IllegalArgumentException("tensor " + name + " needs 1..4 dimensions");
        if (shape[shape.length - 1] % type.blockSize() != 0) {
            throw new IllegalArgumentException("tensor " + name + ": rows of " + shape[shape.length - 1]
                    + " values are not a multiple of " + type + "'s block size " + type.blockSize());
        }
        if (tensors.stream().anyMatch(t -> t.name.equals(name))) throw new IllegalArgumentException("duplicate tensor " + name);
    }

    public void write(Path path) {
        try (OutputStream file = new BufferedOutputStream(Files.newOutputStream(path), 1 << 20)) {
            write(file);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + path, e);
        }
    }

    private void write(OutputStream file) throws IOException {
        Header h = new Header();
        h.i32(0x46554747); // "GGUF"
        h.i32(3);
        h.i64(tensors.size());
        h.i64(metadata.size());
        for (Map.Entry<String, Value> e : metadata.entrySet()) {
            h.string(e.getKey());
            Value v = e.getValue();
            h.i32(v.type.code());
            if (v.type == GgufValueType.ARRAY) {
                List<?> list = (List<?>) v.value;
                h.i32(v.elementType.code());
                h.i64(list.size());
                for (Object item : list) h.value(v.elementType, item);
            } else {
                h.value(v.type, v.value);
            }
        }
        long offset = 0;
        List<Long> sizes = new ArrayList<>();
        for (Entry t : tensors) {
            h.string(t.name);
            h.i32(t.shape.length);
            for (int d = t.shape.length - 1; d >= 0; d--) h.i64(t.shape[d]); // innermost first
            h.i32(GgufFile.ggmlTypeCode(t.type));
            h.i64(offset);
            long bytes = t.type.byteSize(Tensor.product(t.shape));
            sizes.add(bytes);
            offset = alignUp(offset + bytes);
        }
        byte[] header = h.bytes();
        file.write(header);
        pad(file, alignUp(header.length) - header.length);
        for (int i = 0; i < tensors.size(); i++) {
            Entry t = tensors.get(i);
            long written = t.encoded != null ? write(file, t.encoded) : TensorEncoder.writeRows(file, t.type, t.shape, t.rows);
            if (written != sizes.get(i)) throw new IllegalStateException("tensor " + t.name + " wrote " + written + " bytes");
            pad(file, alignUp(written) - written);
        }
    }

    private static long write(OutputStream out, byte[] bytes) throws IOException {
        out.write(bytes);
        return bytes.length;
    }

    private long alignUp(long x) {
        return (x + alignment - 1) / alignment * alignment;
    }

    private static void pad(OutputStream out, long n) throws IOException {
        for (long i = 0; i < n; i++) out.write(0);
    }

    /** Little-endian header bytes. */
    private static final class Header {
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private final ByteBuffer scratch = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);

        void i8(int v) { out.write(v); }

        void i16(int v) { scratch.clear(); scratch.putShort((short) v); out.write(scratch.array(), 0, 2); }

        void i32(int v) { scratch.clear(); scratch.putInt(v); out.write(scratch.array(), 0, 4); }

        void i64(long v) { scratch.clear(); scratch.putLong(v); out.write(scratch.array(), 0, 8); }

        void string(String s) {
            byte[] b = s.getBytes(StandardCharsets.UTF_8);
            i64(b.length);
            out.writeBytes(b);
        }

        void value(GgufValueType type, Object v) {
            switch (type) {
                case UINT8, INT8 -> i8(((Number) v).intValue());
                case UINT16, INT16 -> i16(((Number) v).intValue());
                case UINT32, INT32 -> i32((int) ((Number) v).longValue());
                case UINT64, INT64 -> i64(((Number) v).longValue());
                case FLOAT32 -> i32(Float.floatToRawIntBits(((Number) v).floatValue()));
                case FLOAT64 -> i64(Double.doubleToRawLongBits(((Number) v).doubleValue()));
                case BOOL -> i8((Boolean) v ? 1 : 0);
                case STRING -> string((String) v);
                case ARRAY -> throw new IllegalArgumentException("nested array");
            }
        }

        byte[] bytes() { return out.toByteArray(); }
    }
}
