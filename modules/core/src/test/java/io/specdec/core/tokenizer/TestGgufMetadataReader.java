package io.specdec.core.tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Test-only GGUF v3 metadata reader, standing in for io.specdec.core.format.gguf.GgufFile until that lands on main.
 * Reads the key/value section only; tensor infos and data are ignored.
 */
final class TestGgufMetadataReader {

    private TestGgufMetadataReader() {}

    static Map<String, Object> read(Path file) throws IOException {
        ByteBuffer in;
        try (FileChannel channel = FileChannel.open(file)) {
            in = channel.map(FileChannel.MapMode.READ_ONLY, 0, channel.size()).order(ByteOrder.LITTLE_ENDIAN);
        }
        byte[] magic = new byte[4];
        in.get(magic);
        if (!new String(magic, StandardCharsets.US_ASCII).equals("GGUF")) {
            throw new IOException(file + ": not a GGUF file");
        }
        int version = in.getInt();
        if (version != 3) {
            throw new IOException(file + ": GGUF version " + version + ", expected 3");
        }
        in.getLong(); // tensor count
        long kvCount = in.getLong();
        Map<String, Object> metadata = new LinkedHashMap<>();
        for (long i = 0; i < kvCount; i++) {
            String key = string(in);
            metadata.put(key, value(in, in.getInt()));
        }
        return metadata;
    }

    private static String string(ByteBuffer in) {
        byte[] bytes = new byte[Math.toIntExact(in.getLong())];
        in.get(bytes);
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private static Object value(ByteBuffer in, int type) {
        return switch (type) {
            case 0 -> (long) Byte.toUnsignedInt(in.get());
            case 1 -> (long) in.get();
            case 2 -> (long) Short.toUnsignedInt(in.getShort());
            case 3 -> (long) in.getShort();
            case 4 -> Integer.toUnsignedLong(in.getInt());
            case 5 -> (long) in.getInt();
            case 6 -> in.getFloat();
            case 7 -> in.get() != 0;
            case 8 -> string(in);
            case 9 -> {
                int elementType = in.getInt();
                long n = in.getLong();
                List<Object> list = new ArrayList<>(Math.toIntExact(n));
                for (long j = 0; j < n; j++) {
                    list.add(value(in, elementType));
                }
                yield list;
            }
            case 10, 11 -> in.getLong();
            case 12 -> in.getDouble();
            default -> throw new IllegalArgumentException("unknown GGUF value type " + type);
        };
    }
}
