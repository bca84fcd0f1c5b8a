package io.specdec.core.format.safetensors;

import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.specdec.core.format.RowSource;
import io.specdec.core.format.TensorEncoder;
import io.specdec.core.tensor.DType;
import io.specdec.core.tensor.Tensor;

import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Writes a safetensors file (F32, F16 or BF16 tensors), streaming each tensor's rows so exports need little memory.
 * The header is padded with spaces to a multiple of 8 bytes, as the reference implementation does.
 */
public final class SafetensorsWriter {
    private record Entry(String name, DType type, long[] shape, RowSource rows) {
    }

    private final Map<String, String> metadata = new LinkedHashMap<>();
    private final List<Entry> entries = new ArrayList<>();

    public SafetensorsWriter metadata(String key, String value) {
        metadata.put(key, value);
        return this;
    }

    /** Adds a tensor whose rows (innermost dimension) come from {@code rows}, converted to {@code type}. */
    public SafetensorsWriter add(String name, DType type, long[] shape, RowSource rows) {
        if (type != DType.F32 && type != DType.F16 && type != DType.BF16) {
            throw new IllegalArgumentException("safetensors holds F32, F16 or BF16, not " + type + " (tensor " + name + ")");
        }
        if (name.equals("__metadata__") || entries.stream().anyMatch(e -> e.name.equals(name))) {
            throw new IllegalArgumentException("duplicate or reserved tensor name " + name);
        }
        entries.add(new Entry(name, type, shape.clone(), rows));
        return this;
    }

    /** Adds a tensor from row-major values. */
    public SafetensorsWriter add(String name, DType type, long[] shape, float[] values) {
        if (Tensor.product(shape) != values.length) {
            throw new IllegalArgumentException("tensor " + name + ": " + values.length + " values for shape "
                    + java.util.Arrays.toString(shape));
        }
        int rowLength = shape.length == 0 ? 1 : (int) shape[shape.length - 1];
        return add(name, type, shape, (row, out) -> System.arraycopy(values, (int) (row * rowLength), out, 0, rowLength));
    }

    public void write(Path path) {
        ObjectNode header = SafetensorsFile.JSON.createObjectNode();
        if (!metadata.isEmpty()) {
            ObjectNode m = header.putObject("__metadata__");
            metadata.forEach(m::put);
        }
        long offset = 0;
        for (Entry e : entries) {
            long bytes = e.type.byteSize(Tensor.product(e.shape));
            ObjectNode t = header.putObject(e.name);
            t.put("dtype", e.type.name());
            ArrayNode shape = t.putArray("shape");
            for (long d : e.shape) shape.add(d);
            t.putArray("data_offsets").add(offset).add(offset + bytes);
            offset += bytes;
        }
        byte[] json = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (json.length + 7) / 8 * 8;
        ByteBuffer prefix = ByteBuffer.allocate(8 + padded).order(ByteOrder.LITTLE_ENDIAN);
        prefix.putLong(padded).put(json);
        while (prefix.hasRemaining()) prefix.put((byte) ' ');
        try (OutputStream out = new BufferedOutputStream(Files.newOutputStream(path), 1 << 20)) {
            out.write(prefix.array());
            for (Entry e : entries) TensorEncoder.writeRows(out, e.type, e.shape, e.rows);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + path, e);
        }
    }
}
