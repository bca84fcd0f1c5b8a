package io.specdec.core.tokenizer;

import java.io.IOException;
import io.specdec.core.format.gguf.GgufFile;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

/** Opens whichever tokenizer a path holds: a HuggingFace folder or tokenizer.json, a GGUF file, a llama2.c .bin. */
public final class Tokenizers {

    private static final byte[] GGUF_MAGIC = {'G', 'G', 'U', 'F'};

    private Tokenizers() {}

    public static Tokenizer load(Path path) {
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
            return GgufTokenizerMetadata.toTokenizer(GgufFile.open(path).metadata(), path.toString());
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
