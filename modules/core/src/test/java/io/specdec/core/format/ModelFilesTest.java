package io.specdec.core.format;

import io.specdec.core.model.LoadedModel;
import io.specdec.core.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;

import static io.specdec.core.format.FormatAssertions.assertFormatError;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class ModelFilesTest {
    @TempDir Path dir;

    @Test
    void detectsFormatByDirectoryMagicAndName() throws IOException {
        Path hf = Files.createDirectory(dir.resolve("hf"));
        TinyModels.writeHuggingFace(hf, TinyModels.Spec.llama(DType.F16), 1, 1);
        assertThat(ModelFiles.detect(hf)).isEqualTo(ModelFiles.Format.HUGGING_FACE);
        Path ggufNamedBin = dir.resolve("model.bin");
        TinyModels.writeGguf(ggufNamedBin, TinyModels.Spec.llama(DType.Q8_0), 1);
        assertThat(ModelFiles.detect(ggufNamedBin)).isEqualTo(ModelFiles.Format.GGUF);
        try (LoadedModel m = ModelFiles.load(ggufNamedBin)) {
            assertThat(m.config().dim()).isEqualTo(TinyModels.DIM);
        }
        Path llama2c = dir.resolve("stories.bin");
        TinyModels.writeLlama2c(llama2c, true, 1);
        assertThat(ModelFiles.detect(llama2c)).isEqualTo(ModelFiles.Format.LLAMA2C);
        Path empty = Files.createDirectory(dir.resolve("empty"));
        assertFormatError(empty, "directory has no config.json", () -> ModelFiles.load(empty));
        Path missing = dir.resolve("missing.gguf");
        assertFormatError(missing, "no such model file or directory", () -> ModelFiles.load(missing));
        Path lone = hf.resolve("model.safetensors");
        assertFormatError(lone, "load its directory", () -> ModelFiles.load(lone));
    }

    @Test
    void weightsAreSharedAcrossThreadsAndUnmappedOnClose() throws Exception {
        Path file = dir.resolve("m.gguf");
        TinyModels.Weights w = TinyModels.writeGguf(file, TinyModels.Spec.llama(DType.F32), 2);
        LoadedModel m = ModelFiles.load(file);
        float expected = w.values().get("token_embd.weight")[5];
        float fromOtherThread = CompletableFuture.supplyAsync(() -> m.weights().tokenEmbedding().get(5)).get();
        assertThat(fromOtherThread).isEqualTo(expected);
        m.close();
        assertThat(m.arena().scope().isAlive()).isFalse();
        assertThatThrownBy(() -> m.weights().tokenEmbedding().get(5)).isInstanceOf(IllegalStateException.class);
    }

    @Test
    void progressIsReportedPerTensorUpToOne() {
        Path file = dir.resolve("m.bin");
        TinyModels.writeLlama2c(file, false, 2);
        java.util.List<Double> seen = new java.util.ArrayList<>();
        try (LoadedModel ignored = ModelFiles.load(file, ModelFiles.LoadOptions.DEFAULT.withProgress(seen::add))) {
            assertThat(seen).hasSize(3 + 9 * TinyModels.LAYERS).isSorted();
            assertThat(seen.getFirst()).isGreaterThan(0);
            assertThat(seen.getLast()).isEqualTo(1.0);
        }
    }
}
