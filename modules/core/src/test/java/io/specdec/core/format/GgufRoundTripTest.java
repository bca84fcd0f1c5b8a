package io.specdec.core.format;

import io.specdec.core.format.gguf.GgufFile;
import io.specdec.core.format.gguf.GgufModel;
import io.specdec.core.format.gguf.GgufValueType;
import io.specdec.core.format.gguf.GgufWriter;
import io.specdec.core.format.gguf.RandomLlamaWriter;
import io.specdec.core.model.LayerWeights;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeScaling;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.tensor.DType;
import io.specdec.core.tensor.Tensor;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class GgufRoundTripTest {
    @TempDir Path dir;

    @Test
    void metadataOfEveryValueTypeRoundTrips() {
        Path file = dir.resolve("meta.gguf");
        new GgufWriter()
                .put("u8", GgufValueType.UINT8, 200)
                .put("i8", GgufValueType.INT8, -5)
                .put("u16", GgufValueType.UINT16, 60000)
                .put("i16", GgufValueType.INT16, -300)
                .put("u32", GgufValueType.UINT32, 4_000_000_000L)
                .put("i32", GgufValueType.INT32, -70000)
                .put("f32", GgufValueType.FLOAT32, 1.5f)
                .put("bool", GgufValueType.BOOL, true)
                .put("str", GgufValueType.STRING, "héllo ▁world")
                .put("u64", GgufValueType.UINT64, 1L << 40)
                .put("i64", GgufValueType.INT64, -(1L << 40))
                .put("f64", GgufValueType.FLOAT64, Math.PI)
                .putArray("strings", GgufValueType.STRING, List.of("a", "", "<s>"))
                .putArray("ints", GgufValueType.INT32, List.of(1, -2, 3))
                .putArray("floats", GgufValueType.FLOAT32, List.of(0.25f, -1f))
                .putArray("bytes", GgufValueType.UINT8, List.of(0, 255))
                .putArray("empty", GgufValueType.UINT64, List.of())
                .write(file);
        Map<String, Object> m = GgufFile.open(file).metadata();
        assertThat(m.get("u8")).isEqualTo((short) 200);
        assertThat(m.get("i8")).isEqualTo((byte) -5);
        assertThat(m.get("u16")).isEqualTo(60000);
        assertThat(m.get("i16")).isEqualTo((short) -300);
        assertThat(m.get("u32")).isEqualTo(4_000_000_000L);
        assertThat(m.get("i32")).isEqualTo(-70000);
        assertThat(m.get("f32")).isEqualTo(1.5f);
        assertThat(m.get("bool")).isEqualTo(true);
        assertThat(m.get("str")).isEqualTo("héllo ▁world");
        assertThat(m.get("u64")).isEqualTo(1L << 40);
        assertThat(m.get("i64")).isEqualTo(-(1L << 40));
        assertThat(m.get("f64")).isEqualTo(Math.PI);
        assertThat(m.get("strings")).isEqualTo(List.of("a", "", "<s>"));
        assertThat(m.get("ints")).isEqualTo(List.of(1, -2, 3));
        assertThat(m.get("floats")).isEqualTo(List.of(0.25f, -1f));
        assertThat(m.get("bytes")).isEqualTo(List.of((short) 0, (short) 255));
        assertThat(m.get("empty")).isEqualTo(List.of());
        assertThat(m.keySet()).containsExactly("u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "str", "u64",
                "i64", "f64", "strings", "ints", "floats", "bytes", "empty");
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void tensorsOfEveryStorageTypeRoundTrip(DType type) throws IOException {
        float[] values = TinyModels.random(11, 8 * 64, 1f);
        values[5] = 0; // a zero, and a block of zeros (its scale is 0)
        for (int i = 64; i < 96; i++) values[i] = 0;
        Path file = dir.resolve(type + ".gguf");
        new GgufWriter().putString("general.architecture", "none")
                .addTensor("a", DType.F32, new long[]{3}, new float[]{1, 2, 3}) // forces padding before "w"
                .addTensor("w", type, new long[]{8, 64}, values)
                .write(file);
        byte[] bytes = Files.readAllBytes(file);
        try (Arena arena = Arena.ofConfined()) {
            GgufFile gguf = GgufFile.open(file, arena);
            Tensor t = gguf.tensor("w");
            assertThat(t.type()).isEqualTo(type);
            assertThat(t.shape()).containsExactly(8, 64);
            assertThat(gguf.tensorInfos().get("w").offset() % 32).isZero();
            long dataStart = bytes.length - type.byteSize(values.length);
            assertThat(t.data().address() - gguf.tensor("a").data().address())
                    .isEqualTo(gguf.tensorInfos().get("w").offset());
            ByteBuffer raw = ByteBuffer.wrap(bytes, (int) dataStart, (int) type.byteSize(values.length)).slice()
                    .order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < values.length; i++) {
                float expected = values[i];
                float actual = t.get(i);
                switch (type) {
                    case F32 -> assertThat(actual).isEqualTo(expected);
                    case F16 -> assertThat(actual).isEqualTo(Float.float16ToFloat(Float.floatToFloat16(expected)));
                    case BF16 -> assertThat(actual).isCloseTo(expected, within(Math.abs(expected) / 256 + 1e-30f));
                    case Q8_0, Q4_0 -> {
                        float reference = referenceDequantize(type, raw, i);
                        assertThat(actual).as("element %d", i).isEqualTo(reference);
                        float d = scaleOfBlock(raw, type, i / 32);
                        // round-to-nearest error plus f16 rounding of the scale; Q4_0 may clamp +8d to +7d
                        float bound = type == DType.Q8_0 ? 0.56f * Math.abs(d) : 1.01f * Math.abs(d);
                        assertThat(actual).as("element %d", i).isCloseTo(expected, within(bound + 1e-7f));
                    }
                }
            }
        }
    }

    /** GGML block layouts decoded from raw bytes, independent of the Tensor classes. */
    private static float referenceDequantize(DType type, ByteBuffer raw, int i) {
        int block = i / 32, j = i % 32;
        float d = scaleOfBlock(raw, type, block);
        if (type == DType.Q8_0) return d * raw.get(block * 34 + 2 + j);
        int b = raw.get(block * 18 + 2 + (j % 16)) & 0xff;
        int q = j < 16 ? b & 15 : b >> 4;
        return d * (q - 8);
    }

    private static float scaleOfBlock(ByteBuffer raw, DType type, int block) {
        return Float.float16ToFloat(raw.getShort(block * type.blockBytes()));
    }

    @Test
    void quantizersFollowGgmlReferenceRounding() {
        float[] x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = j - 16; // max |x| = 16 at j=0 (value -16)
        byte[] q8 = TensorEncoder.encode(DType.Q8_0, x);
        ByteBuffer b8 = ByteBuffer.wrap(q8).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(Float.float16ToFloat(b8.getShort(0))).isEqualTo(Float.float16ToFloat(Float.floatToFloat16(16f / 127)));
        assertThat(b8.get(2)).isEqualTo((byte) -127);
        assertThat(b8.get(2 + 16)).isZero();
        // -8 * 127/16 = -63.5 rounds away from zero
        assertThat(b8.get(2 + 8)).isEqualTo((byte) -64);
        byte[] q4 = TensorEncoder.encode(DType.Q4_0, x);
        ByteBuffer b4 = ByteBuffer.wrap(q4).order(ByteOrder.LITTLE_ENDIAN);
        assertThat(Float.float16ToFloat(b4.getShort(0))).isEqualTo(2f); // -16 / -8
        assertThat(b4.get(2) & 15).isZero();              // -16/2 + 8 = 0
        assertThat((b4.get(2) >> 4) & 15).isEqualTo(8);   // x[16] = 0 -> 8
        assertThat((b4.get(2 + 15) >> 4) & 15).isEqualTo(15); // x[31] = 15 -> 7.5 + 8 rounds up to 16, clamped to 15
        byte[] zeros = TensorEncoder.encode(DType.Q4_0, new float[32]);
        assertThat(Float.float16ToFloat(ByteBuffer.wrap(zeros).order(ByteOrder.LITTLE_ENDIAN).getShort(0))).isZero();
        assertThat(java.util.Arrays.copyOfRange(zeros, 2, 18)).containsOnly((byte) 0x88); // all nibbles 8, i.e. zero
    }

    @Test
    void ggufLlamaLoadsInterleavedWithEveryWeightInPlace() {
        Path file = dir.resolve("llama.gguf");
        TinyModels.Weights w = TinyModels.writeGguf(file, TinyModels.Spec.llama(DType.F32), 3);
        List<Double> progress = new ArrayList<>();
        try (LoadedModel m = ModelFiles.load(file, ModelFiles.LoadOptions.DEFAULT.withProgress(progress::add))) {
            ModelConfig c = m.config();
            assertThat(c.architecture()).isEqualTo("llama");
            assertThat(new int[]{c.dim(), c.hiddenDim(), c.layers(), c.heads(), c.kvHeads(), c.headDim(), c.vocabSize(),
                    c.maxSequenceLength()}).containsExactly(64, 96, 2, 4, 2, 16, 40, 128);
            assertThat(c.ropeStyle()).isEqualTo(RopeStyle.INTERLEAVED);
            assertThat(c.ropeTheta()).isEqualTo(500000.0);
            assertThat(c.ropeScaling()).isEqualTo(new RopeScaling.None());
            assertThat(c.rmsNormEps()).isEqualTo(1e-6f);
            assertThat(c.tiedEmbeddings()).isFalse();
            assertThat(c.qkvBias()).isFalse();
            assertThat(c.qkNorm()).isFalse();
            assertThat(c.bosTokenId()).isEqualTo(1);
            assertThat(c.eosTokenIds()).isEqualTo(Set.of(2));
            assertThat(m.tokenizerSource()).isEqualTo(file);
            LayerWeights l1 = m.weights().layers().get(1);
            TensorNames n = TensorNames.GGUF;
            Llama2cCheckpointTest.assertValues(l1.wk(), w.values().get(n.layer(1, TensorNames.LayerPart.WK)));
            Llama2cCheckpointTest.assertValues(l1.wDown(), w.values().get(n.layer(1, TensorNames.LayerPart.DOWN)));
            Llama2cCheckpointTest.assertValues(m.weights().output(), w.values().get(n.output()));
            assertThat(progress).isSorted().last().isEqualTo(1.0);
            assertThat(progress).hasSize(2 + 1 + 2 * 9);
        }
    }

    @Test
    void ggufQwenIsHalfSplitWithBiasesOrQkNormsFromTensors() {
        Path qwen2 = dir.resolve("qwen2.gguf");
        TinyModels.writeGguf(qwen2, new TinyModels.Spec("qwen2", DType.Q8_0, true, true, false), 5);
        try (LoadedModel m = ModelFiles.load(qwen2)) {
            assertThat(m.config().ropeStyle()).isEqualTo(RopeStyle.HALF);
            assertThat(m.config().qkvBias()).isTrue();
            assertThat(m.config().tiedEmbeddings()).isTrue();
            assertThat(m.weights().output()).isSameAs(m.weights().tokenEmbedding());
            assertThat(m.weights().layers().getFirst().bk().shape()).containsExactly(32);
            assertThat(m.weights().layers().getFirst().wq().type()).isEqualTo(DType.Q8_0);
        }
        Path qwen3 = dir.resolve("qwen3.gguf");
        TinyModels.writeGguf(qwen3, new TinyModels.Spec("qwen3", DType.Q4_0, false, false, true), 5);
        try (LoadedModel m = ModelFiles.load(qwen3)) {
            assertThat(m.config().ropeStyle()).isEqualTo(RopeStyle.HALF);
            assertThat(m.config().qkNorm()).isTrue();
            assertThat(m.weights().layers().get(1).kNorm().shape()).containsExactly(16);
        }
    }

    @Test
    void randomLlamaWriterWritesALoadableDeterministicModel() throws IOException {
        RandomLlamaWriter.Shape shape = new RandomLlamaWriter.Shape(64, 128, 2, 4, 2, 512, 256);
        Path tok = null;
        try {
            tok = FormatAssertions.sharedData("llama2c/tok512.bin");
        } catch (org.opentest4j.TestAbortedException e) {
            System.out.println("tok512.bin absent: writing the random model without tokenizer metadata");
        }
        Path f32 = dir.resolve("r32.gguf"), again = dir.resolve("again.gguf"), q8 = dir.resolve("r8.gguf");
        RandomLlamaWriter.write(f32, shape, DType.F32, 42, tok);
        RandomLlamaWriter.write(again, shape, DType.F32, 42, tok);
        RandomLlamaWriter.write(q8, shape, DType.Q8_0, 42, tok);
        assertThat(Files.readAllBytes(f32)).isEqualTo(Files.readAllBytes(again));
        try (LoadedModel a = ModelFiles.load(f32); LoadedModel b = ModelFiles.load(q8)) {
            assertThat(a.config().vocabSize()).isEqualTo(512);
            assertThat(a.config().tiedEmbeddings()).isTrue();
            assertThat(a.config().kvHeads()).isEqualTo(2);
            Tensor wq = a.weights().layers().get(1).wq();
            double sum = 0, sumSq = 0;
            for (long i = 0; i < wq.elementCount(); i++) {
                sum += wq.get(i);
                sumSq += wq.get(i) * wq.get(i);
                assertThat(b.weights().layers().get(1).wq().get(i)).isCloseTo(wq.get(i), within(0.002f));
            }
            double mean = sum / wq.elementCount(), std = Math.sqrt(sumSq / wq.elementCount() - mean * mean);
            assertThat(mean).isCloseTo(0, within(0.002));
            assertThat(std).isCloseTo(0.02, within(0.001));
            assertThat(a.weights().finalNorm().get(63)).isEqualTo(1f);
            if (tok != null) {
                Map<String, Object> meta = GgufFile.open(f32).metadata();
                @SuppressWarnings("unchecked") List<String> tokens = (List<String>) meta.get("tokenizer.ggml.tokens");
                @SuppressWarnings("unchecked") List<Integer> types = (List<Integer>) meta.get("tokenizer.ggml.token_type");
                assertThat(tokens).hasSize(512);
                assertThat(tokens.subList(0, 4)).containsExactly("<unk>", "<s>", "</s>", "<0x00>");
                assertThat(types.subList(0, 4)).containsExactly(2, 3, 3, 6);
                assertThat(tokens).noneMatch(t -> t.contains(" ")).anyMatch(t -> t.startsWith("\u2581"));
                assertThat(a.config().bosTokenId()).isEqualTo(1);
            }
        }
    }

    @Test
    void configReadsRopeScalingAndSlidingWindowMetadata() {
        Path file = dir.resolve("scaled.gguf");
        new GgufWriter()
                .putString("general.architecture", "mistral")
                .putUInt32("mistral.embedding_length", 64).putUInt32("mistral.feed_forward_length", 96)
                .putUInt32("mistral.block_count", 1).putUInt32("mistral.attention.head_count", 2)
                .putUInt32("mistral.attention.key_length", 48)
                .putUInt32("mistral.context_length", 4096).putFloat32("mistral.attention.layer_norm_rms_epsilon", 1e-5f)
                .putString("mistral.rope.scaling.type", "linear").putFloat32("mistral.rope.scaling.factor", 4f)
                .putUInt32("mistral.attention.sliding_window", 1024)
                .addTensor("token_embd.weight", DType.F32, new long[]{10, 64}, new float[640])
                .write(file);
        ModelConfig c = GgufModel.config(GgufFile.open(file));
        assertThat(c.headDim()).isEqualTo(48);
        assertThat(c.kvHeads()).isEqualTo(2);
        assertThat(c.ropeTheta()).isEqualTo(10000.0);
        assertThat(c.ropeScaling()).isEqualTo(new RopeScaling.Linear(4));
        assertThat(c.slidingWindow()).isEqualTo(1024);
        assertThat(c.ropeStyle()).isEqualTo(RopeStyle.INTERLEAVED);
        assertThat(c.tiedEmbeddings()).isTrue();
        assertThat(c.bosTokenId()).isEqualTo(-1);
    }

    @Test
    void llama3FrequencyFactorsBecomeLlama3Scaling() {
        int headDim = 64;
        RopeScaling.Llama3 llama3 = new RopeScaling.Llama3(8, 1, 4, 8192);
        double[] plain = RopeScaling.plain(headDim, 500000), scaled = llama3.inverseFrequencies(headDim, 500000);
        float[] factors = new float[headDim / 2];
        for (int i = 0; i < factors.length; i++) factors[i] = (float) (plain[i] / scaled[i]);
        Path file = dir.resolve("llama31.gguf");
        new GgufWriter()
                .putString("general.architecture", "llama")
                .putUInt32("llama.embedding_length", 128).putUInt32("llama.feed_forward_length", 96)
                .putUInt32("llama.block_count", 1).putUInt32("llama.attention.head_count", 2)
                .putUInt32("llama.context_length", 131072).putFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
                .putFloat32("llama.rope.freq_base", 500000f)
                .addTensor("rope_freqs.weight", DType.F32, new long[]{headDim / 2}, factors)
                .addTensor("token_embd.weight", DType.F32, new long[]{10, 128}, new float[1280])
                .write(file);
        assertThat(GgufModel.config(GgufFile.open(file)).ropeScaling()).isEqualTo(llama3);
    }

    @Test
    void readsLlamaCppVocabOnlyGgufAndRefusesItAsAModel() {
        Path file = FormatAssertions.sharedData("llamacpp-vocab/ggml-vocab-llama-spm.gguf");
        GgufFile gguf = GgufFile.open(file);
        assertThat(gguf.version()).isEqualTo(3);
        assertThat(gguf.metadata().get("general.architecture")).isEqualTo("llama");
        assertThat(gguf.metadata().get("tokenizer.ggml.model")).isEqualTo("llama");
        assertThat((List<?>) gguf.metadata().get("tokenizer.ggml.tokens")).hasSize(32000);
        assertThat(gguf.tensorInfos()).isEmpty();
        FormatAssertions.assertFormatError(file, "missing", () -> ModelFiles.load(file));
    }
}
