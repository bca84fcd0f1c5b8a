package io.specdec.core.tokenizer;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;

/** Opens whichever tokenizer a path holds: a HuggingFace folder or tokenizer.json, a GGUF file, a llama2.c .bin. */
public final class Tokenizers {

    /** Reads a GGUF file's metadata; {@code GgufFile.open(path).metadata()} once the format package has it. */
    @FunctionalInterface
    public interface GgufMetadataReader {
        Map<String, Object> read(Path ggufFile) throws IOException;
    }

    private static final byte[] GGUF_MAGIC = {'G', 'G', 'U', 'F'};

    private Tokenizers() {}

    /** Like {@link #load(Path, GgufMetadataReader)} for paths that are not GGUF files. */
    public static Tokenizer load(Path path) {
        return load(path, file -> {
            throw new TokenizerFormatException(file + ": is a GGUF file; pass a GgufMetadataReader to "
                    + "Tokenizers.load(path, reader) or use GgufTokenizerMetadata.toTokenizer(metadata, name)");
        });
    }

    public static Tokenizer load(Path path, GgufMetadataReader ggufReader) {
        if (Files.isDirectory(path)) {
            Path json = path.resolve("tokenizer.json");
            if (!Files.isRegularFile(json)) {
                throw new TokenizerFormatException(path + ": directory has no tokenizer.json");
            }
            return HuggingFaceTokenizerFile.load(json);
        }
        if (!Files.isRegularFile(path)) {
            throw new TokenizerFormatException(path + ": no such tokenizer file or directory");
        }
        if (path.getFileName().toString().endsWith(".json")) {
            return HuggingFaceTokenizerFile.load(path);
        }
        if (startsWith(path, GGUF_MAGIC)) {
            try {
                return GgufTokenizerMetadata.toTokenizer(ggufReader.read(path), path.toString());
            } catch (IOException e) {
                throw new TokenizerFormatException(path + ": cannot read GGUF metadata: " + e.getMessage(), e);
            }
        }
        return Llama2cTokenizerFile.load(path); // the remaining format has no magic; its reader validates lengths
    }

    private static boolean startsWith(Path file, byte[] magic) {
        try (InputStream in = Files.newInputStream(file)) {
            return Arrays.equals(in.readNBytes(magic.length), magic);
        } catch (IOException e) {
            throw new TokenizerFormatException(file + ": cannot read: " + e.getMessage(), e);
        }
    }
}
