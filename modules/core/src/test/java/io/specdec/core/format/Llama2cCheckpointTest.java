package io.specdec.core.format;

import io.specdec.core.format.llama2c.Llama2cCheckpoint;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.tensor.F32Tensor;
import io.specdec.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Set;

import static io.specdec.core.format.FormatAssertions.assertFormatError;
import static io.specdec.core.format.FormatAssertions.sharedData;
import static org.assertj.core.api.Assertions.assertThat;

class Llama2cCheckpointTest {
    @TempDir Path dir;

    @Test
    void loadsStories260KWithSharedClassifier() {
        Path file = sharedData("llama2c/stories260K.bin");
        try (LoadedModel m = ModelFiles.load(file)) {
            ModelConfig c = m.config();
            assertThat(new int[]{c.dim(), c.layers(), c.heads(), c.kvHeads(), c.vocabSize(), c.headDim()})
                    .containsExactly(64, 5, 8, 4, 512, 8);
            assertThat(c.hiddenDim()).isEqualTo(172);
            assertThat(c.maxSequenceLength()).isEqualTo(512);
            assertThat(c.tiedEmbeddings()).isTrue();
            assertThat(c.ropeStyle()).isEqualTo(RopeStyle.INTERLEAVED);
            assertThat(c.rmsNormEps()).isEqualTo(1e-5f);
            assertThat(c.bosTokenId()).isEqualTo(1);
            assertThat(c.eosTokenIds()).isEqualTo(Set.of(2));
            assertThat(m.weights().output()).isSameAs(m.weights().tokenEmbedding());
            assertThat(m.weights().layers()).hasSize(5);
            assertThat(m.weights().layers().getFirst().wk().shape()).containsExactly(32, 64);
            assertThat(m.weights().layers().getFirst().wDown().shape()).containsExactly(64, 172);
            // the tokenizer trained for this model sits next to it as tok512.bin; tokenizer.bin (32000) does not fit
            assertThat(m.tokenizerSource()).isEqualTo(file.resolveSibling("tok512.bin"));
        }
    }

    @Test
    void stories260KWeightsAreSlicesAtLlama2cOffsets() throws IOException {
        Path file = sharedData("llama2c/stories260K.bin");
        ByteBuffer raw = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        try (LoadedModel m = ModelFiles.load(file)) {
            assertThat(m.weights().tokenEmbedding().get(0)).isEqualTo(raw.getFloat(28));
            long embedFloats = 512L * 64, rmsAtt = 5L * 64;
            long wqLayer1 = 28 + 4 * (embedFloats + rmsAtt + 64L * 64);
            assertThat(m.weights().layers().get(1).wq().get(0)).isEqualTo(raw.getFloat((int) wqLayer1));
        }
    }

    @Test
    void readsEveryArrayOfATinyCheckpointInFileOrder() {
        for (boolean tied : new boolean[]{true, false}) {
            Path file = dir.resolve("tiny-" + tied + ".bin");
            TinyModels.Weights w = TinyModels.writeLlama2c(file, tied, 7);
            try (LoadedModel m = Llama2cCheckpoint.load(file, null, null)) {
                assertThat(m.config().tiedEmbeddings()).isEqualTo(tied);
                assertThat(m.config().kvHeads()).isEqualTo(TinyModels.KV_HEADS);
                var l1 = m.weights().layers().get(1);
                var n = Llama2cCheckpoint.NAMES;
                assertValues(l1.wGate(), w.values().get(n.layer(1, TensorNames.LayerPart.GATE)));
                assertValues(l1.wUp(), w.values().get(n.layer(1, TensorNames.LayerPart.UP)));
                assertValues(l1.wDown(), w.values().get(n.layer(1, TensorNames.LayerPart.DOWN)));
                assertValues(l1.wv(), w.values().get(n.layer(1, TensorNames.LayerPart.WV)));
                assertValues(l1.ffnNorm(), w.values().get(n.layer(1, TensorNames.LayerPart.FFN_NORM)));
                assertValues(m.weights().finalNorm(), w.values().get(n.finalNorm()));
                assertValues(m.weights().output(), w.values().get(tied ? n.embedding() : n.output()));
                assertThat(m.tokenizerSource()).isNull();
            }
        }
    }

    @Test
    void callerTokenizerWinsOverSiblings() {
        Path file = dir.resolve("tiny.bin");
        TinyModels.writeLlama2c(file, true, 1);
        Path tok = dir.resolve("mine.bin");
        try (LoadedModel m = ModelFiles.load(file, ModelFiles.LoadOptions.DEFAULT.withTokenizer(tok))) {
            assertThat(m.tokenizerSource()).isEqualTo(tok);
        }
    }

    @Test
    void rejectsFileWhoseSizeDoesNotMatchHeader() throws IOException {
        Path file = dir.resolve("tiny.bin");
        TinyModels.writeLlama2c(file, true, 1);
        byte[] bytes = Files.readAllBytes(file);
        Path shorter = dir.resolve("shorter.bin");
        Files.write(shorter, Arrays.copyOf(bytes, bytes.length - 4));
        assertFormatError(shorter, "implies " + bytes.length, () -> ModelFiles.load(shorter));
        Path longer = dir.resolve("longer.bin");
        Files.write(longer, Arrays.copyOf(bytes, bytes.length + 4));
        assertFormatError(longer, "implies " + bytes.length, () -> ModelFiles.load(longer));
        // the same bytes read as an unshared-classifier checkpoint are too short
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).putInt(20, -TinyModels.VOCAB);
        Path unshared = dir.resolve("unshared.bin");
        Files.write(unshared, bytes);
        assertFormatError(unshared, "separate classifier", () -> ModelFiles.load(unshared));
    }

    @Test
    void rejectsImplausibleHeaderAndLaterExportVersions() throws IOException {
        Path zeros = dir.resolve("zeros.bin");
        Files.write(zeros, new byte[64]);
        assertFormatError(zeros, "implausible llama2.c header", () -> ModelFiles.load(zeros));
        Path v1 = dir.resolve("v1.bin");
        Files.write(v1, ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN).putInt(0x616b3432).putInt(1).array());
        assertFormatError(v1, "export version 1", () -> ModelFiles.load(v1));
        Path tiny = dir.resolve("tiny.bin");
        Files.write(tiny, new byte[10]);
        assertFormatError(tiny, "shorter than its 28-byte header", () -> ModelFiles.load(tiny));
    }

    static void assertValues(Tensor t, float[] expected) {
        assertThat(t).isInstanceOf(F32Tensor.class);
        assertThat(t.elementCount()).isEqualTo(expected.length);
        for (int i = 0; i < expected.length; i++) assertThat(t.get(i)).as("%s[%d]", t.name(), i).isEqualTo(expected[i]);
    }
}
