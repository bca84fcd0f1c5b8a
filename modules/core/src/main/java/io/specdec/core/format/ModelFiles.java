package io.specdec.core.format;

import io.specdec.core.format.gguf.GgufModel;
import io.specdec.core.format.hf.HuggingFaceModel;
import io.specdec.core.format.llama2c.Llama2cCheckpoint;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.model.ModelFormatException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.function.DoubleConsumer;

/**
 * The one entry point for loading a model from disk, whatever its format: a directory with {@code config.json}
 * is a HuggingFace model, a file starting with "GGUF" (or named *.gguf) is GGUF, anything else is taken for a
 * llama2.c checkpoint. Each loaded model owns one shared arena holding all its mappings; nothing is copied.
 */
public final class ModelFiles {

    /**
     * @param tokenizer overrides where the tokenizer comes from (llama2.c checkpoints carry none); null for the
     *                  format's default
     * @param progress  receives the fraction (0..1] of tensors read after each tensor; null for none
     */
    public record LoadOptions(Path tokenizer, DoubleConsumer progress) {
        public static final LoadOptions DEFAULT = new LoadOptions(null, null);

        public LoadOptions withTokenizer(Path t) { return new LoadOptions(t, progress); }

        public LoadOptions withProgress(DoubleConsumer p) { return new LoadOptions(tokenizer, p); }
    }

    /** The format {@link #load} picks for a path. */
    public enum Format { HUGGING_FACE, GGUF, LLAMA2C }

    private ModelFiles() {
    }

    public static LoadedModel load(Path path) {
        return load(path, LoadOptions.DEFAULT);
    }

    public static LoadedModel load(Path path, LoadOptions options) {
        Path target = isConfigJson(path) ? path.toAbsolutePath().getParent() : path;
        LoadedModel model = switch (detect(target)) {
            case HUGGING_FACE -> HuggingFaceModel.load(target, options.progress());
            case GGUF -> GgufModel.load(target, options.progress());
            case LLAMA2C -> Llama2cCheckpoint.load(target, options.tokenizer(), options.progress());
        };
        if (options.tokenizer() != null && !options.tokenizer().equals(model.tokenizerSource())) {
            model = new LoadedModel(model.source(), model.config(), model.weights(), model.arena(), options.tokenizer(),
                    model.generationDefaults());
        }
        return model;
    }

    /** Which loader {@code path} needs; fails when the path does not exist or is a directory without config.json. */
    public static Format detect(Path path) {
        if (Files.isDirectory(path)) {
            if (Files.isRegularFile(path.resolve(HuggingFaceModel.CONFIG))) return Format.HUGGING_FACE;
            throw new ModelFormatException(path, "directory has no " + HuggingFaceModel.CONFIG
                    + ", so it is not a HuggingFace model");
        }
        if (!Files.isRegularFile(path)) throw new ModelFormatException(path, "no such model file or directory");
        if (path.getFileName().toString().endsWith(".gguf") || startsWithGgufMagic(path)) return Format.GGUF;
        if (path.getFileName().toString().endsWith(".safetensors")) {
            throw new ModelFormatException(path, "a safetensors file alone has no config; load its directory "
                    + "(with config.json) instead");
        }
        return Format.LLAMA2C;
    }

    private static boolean isConfigJson(Path path) {
        return path.getFileName() != null && path.getFileName().toString().equals(HuggingFaceModel.CONFIG)
                && Files.isRegularFile(path);
    }

    private static boolean startsWithGgufMagic(Path path) {
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(4);
            while (b.hasRemaining() && ch.read(b) >= 0) {
                // a short file just fails the comparison below
            }
            return b.position() == 4 && b.get(0) == 'G' && b.get(1) == 'G' && b.get(2) == 'U' && b.get(3) == 'F';
        } catch (IOException e) {
            throw new ModelFormatException(path, "cannot read: " + e.getMessage(), e);
        }
    }
}
