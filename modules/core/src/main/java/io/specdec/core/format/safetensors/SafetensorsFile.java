package io.specdec.core.format.safetensors;

import io.specdec.core.format.MappedFile;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.specdec.core.model.ModelFormatException;
import io.specdec.core.tensor.DType;
import io.specdec.core.tensor.Tensor;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A memory-mapped safetensors file: an 8-byte little-endian header length, a JSON header
 * ({@code name -> {dtype, shape, data_offsets}} plus optional {@code __metadata__}), then the tensor bytes.
 * Tensors are zero-copy slices of the mapping (long offsets, so files and tensors past 2 GiB work). Everything in
 * the header is validated when the file is opened; a problem is a {@link ModelFormatException} naming the file,
 * the tensor and what is wrong.
 */
public final class SafetensorsFile {
    /** The reference implementation's limit; a larger header is corrupt, not a model. */
    static final long MAX_HEADER_BYTES = 100L << 20;

    static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
            .build();

    private final Path path;
    private final Map<String, SafetensorsTensorInfo> tensorInfos;
    private final Map<String, String> metadata;
    private final MemorySegment data;

    private SafetensorsFile(Path path, Map<String, SafetensorsTensorInfo> tensorInfos, Map<String, String> metadata,
                            MemorySegment data) {
        this.path = path;
        this.tensorInfos = tensorInfos;
        this.metadata = metadata;
        this.data = data;
    }

    /** Maps {@code path} into {@code arena}; tensors stay valid until the arena closes. */
    public static SafetensorsFile open(Path path, Arena arena) {
        MemorySegment file = MappedFile.map(path, arena, "safetensors file");
        return parse(path, file);
    }

    private static SafetensorsFile parse(Path path, MemorySegment file) {
        long size = file.byteSize();
        if (size < 8) {
            throw new ModelFormatException(path, "safetensors file of " + size
                    + " bytes is too short for its 8-byte header length: truncated");
        }
        long headerLength = file.get(ValueLayout.JAVA_LONG_UNALIGNED, 0);
        if (headerLength < 0 || headerLength > size - 8) {
            throw new ModelFormatException(path, "safetensors header length " + Long.toUnsignedString(headerLength)
                    + " is larger than the rest of the file (" + (size - 8) + " bytes): truncated or not safetensors");
        }
        if (headerLength > MAX_HEADER_BYTES) {
            throw new ModelFormatException(path, "safetensors header length " + headerLength + " exceeds the limit of "
                    + MAX_HEADER_BYTES + " bytes");
        }
        byte[] headerBytes = file.asSlice(8, headerLength).toArray(ValueLayout.JAVA_BYTE);
        JsonNode header;
        try {
            header = JSON.readTree(headerBytes);
        } catch (IOException e) {
            throw new ModelFormatException(path, "safetensors header is not valid JSON: " + firstLine(e.getMessage()), e);
        }
        if (header == null || !header.isObject()) {
            throw new ModelFormatException(path, "safetensors header must be a JSON object, got "
                    + (header == null ? "nothing" : header.getNodeType()));
        }
        MemorySegment data = file.asSlice(8 + headerLength);
        Map<String, SafetensorsTensorInfo> infos = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> entry : header.properties()) {
            String name = entry.getKey();
            JsonNode node = entry.getValue();
            if (name.equals("__metadata__")) {
                if (!node.isObject()) throw new ModelFormatException(path, "__metadata__ must be a JSON object");
                for (Map.Entry<String, JsonNode> m : node.properties()) metadata.put(m.getKey(), m.getValue().asText());
                continue;
            }
            infos.put(name, tensorInfo(path, name, node, data.byteSize()));
        }
        return new SafetensorsFile(path, Collections.unmodifiableMap(infos), Collections.unmodifiableMap(metadata), data);
    }

    private static SafetensorsTensorInfo tensorInfo(Path path, String name, JsonNode node, long dataBytes) {
        if (!node.isObject()) {
            throw new ModelFormatException(path, "tensor " + name + ": header entry must be an object, got " + node.getNodeType());
        }
        JsonNode dtypeNode = node.get("dtype");
        if (dtypeNode == null || !dtypeNode.isTextual()) {
            throw new ModelFormatException(path, "tensor " + name + ": missing or non-string dtype");
        }
        DType type = switch (dtypeNode.asText()) {
            case "F32" -> DType.F32;
            case "F16" -> DType.F16;
            case "BF16" -> DType.BF16;
            default -> throw new ModelFormatException(path, "tensor " + name + " has dtype " + dtypeNode.asText()
                    + ", which specdec does not read (supported: F32, F16, BF16)");
        };
        long[] shape = longs(path, name, "shape", node.get("shape"), -1);
        long[] offsets = longs(path, name, "data_offsets", node.get("data_offsets"), 2);
        long begin = offsets[0];
        long end = offsets[1];
        if (begin > end || end > dataBytes) {
            throw new ModelFormatException(path, "tensor " + name + " has data_offsets [" + begin + ", " + end
                    + "] outside the data section of " + dataBytes + " bytes");
        }
        long expected;
        try {
            expected = Math.multiplyExact(Tensor.product(shape), type.blockBytes());
        } catch (ArithmeticException e) {
            throw new ModelFormatException(path, "tensor " + name + " has a shape whose size overflows: "
                    + java.util.Arrays.toString(shape));
        }
        if (expected != end - begin) {
            throw new ModelFormatException(path, "tensor " + name + " of " + type + java.util.Arrays.toString(shape)
                    + " needs " + expected + " bytes but its data_offsets span " + (end - begin));
        }
        return new SafetensorsTensorInfo(name, type, shape, begin, end);
    }

    /** An array of non-negative integers; {@code length} -1 for any length. */
    private static long[] longs(Path path, String tensor, String field, JsonNode node, int length) {
        if (node == null || !node.isArray() || (length >= 0 && node.size() != length)) {
            throw new ModelFormatException(path, "tensor " + tensor + ": " + field + " must be an array of "
                    + (length >= 0 ? length + " " : "") + "non-negative integers, got " + node);
        }
        if (node.size() > 8) {
            throw new ModelFormatException(path, "tensor " + tensor + ": " + field + " has " + node.size() + " entries (at most 8)");
        }
        long[] values = new long[node.size()];
        for (int i = 0; i < values.length; i++) {
            JsonNode v = node.get(i);
            if (!v.isIntegralNumber() || !v.canConvertToLong() || v.asLong() < 0) {
                throw new ModelFormatException(path, "tensor " + tensor + ": " + field + " must be an array of "
                        + (length >= 0 ? length + " " : "") + "non-negative integers, got " + node);
            }
            values[i] = v.asLong();
        }
        return values;
    }

    private static String firstLine(String s) {
        if (s == null) return "";
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl);
    }

    public Path path() { return path; }

    public Map<String, SafetensorsTensorInfo> tensorInfos() { return tensorInfos; }

    /** The optional {@code __metadata__} string map. */
    public Map<String, String> metadata() { return metadata; }

    public boolean hasTensor(String name) { return tensorInfos.containsKey(name); }

    /** The named tensor as a zero-copy slice of the mapping. */
    public Tensor tensor(String name) {
        SafetensorsTensorInfo info = tensorInfos.get(name);
        if (info == null) throw new ModelFormatException(path, "missing tensor " + name);
        return Tensor.of(name, info.type(), info.shape(), data.asSlice(info.begin(), info.end() - info.begin()));
    }
}
