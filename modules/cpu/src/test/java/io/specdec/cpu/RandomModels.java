package io.specdec.cpu;

import io.specdec.core.model.LayerWeights;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeScaling;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.tensor.DType;
import io.specdec.core.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/** Small random-weight models in native memory, for tests that compare kernels with a scalar reference. */
final class RandomModels {
    private RandomModels() {
    }

    static ModelConfig llama(int dim, int hidden, int layers, int heads, int kvHeads, int vocab) {
        return new ModelConfig("llama", dim, hidden, layers, heads, kvHeads, dim / heads, vocab, 256, 1e-5f, 10000,
                new RopeScaling.None(), RopeStyle.INTERLEAVED, true, false, false, 0, 1, Set.of(2));
    }

    static ModelConfig with(ModelConfig c, RopeScaling scaling, RopeStyle style, boolean tied, boolean bias,
                            boolean qkNorm, int window) {
        return new ModelConfig(c.architecture(), c.dim(), c.hiddenDim(), c.layers(), c.heads(), c.kvHeads(),
                c.headDim(), c.vocabSize(), c.maxSequenceLength(), c.rmsNormEps(), c.ropeTheta(), scaling, style, tied,
                bias, qkNorm, window, c.bosTokenId(), c.eosTokenIds());
    }

    static TransformerWeights weights(ModelConfig c, DType type, long seed, Arena arena) {
        SplittableRandom random = new SplittableRandom(seed);
        int dim = c.dim();
        int q = c.queryDim();
        int kv = c.kvDim();
        List<LayerWeights> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            layers.add(new LayerWeights(
                    norm(dim, random, arena),
                    matrix(type, q, dim, random, arena), matrix(type, kv, dim, random, arena),
                    matrix(type, kv, dim, random, arena), matrix(type, dim, q, random, arena),
                    c.qkvBias() ? vector(q, 0.1, random, arena) : null,
                    c.qkvBias() ? vector(kv, 0.1, random, arena) : null,
                    c.qkvBias() ? vector(kv, 0.1, random, arena) : null,
                    c.qkNorm() ? norm(c.headDim(), random, arena) : null,
                    c.qkNorm() ? norm(c.headDim(), random, arena) : null,
                    norm(dim, random, arena),
                    matrix(type, c.hiddenDim(), dim, random, arena), matrix(type, c.hiddenDim(), dim, random, arena),
                    matrix(type, dim, c.hiddenDim(), random, arena)));
        }
        Tensor embedding = matrix(type, c.vocabSize(), dim, random, arena);
        Tensor output = c.tiedEmbeddings() ? embedding : matrix(type, c.vocabSize(), dim, random, arena);
        return new TransformerWeights(embedding, layers, norm(dim, random, arena), output);
    }

    private static Tensor norm(int n, SplittableRandom random, Arena arena) {
        MemorySegment s = arena.allocate(4L * n, 64);
        for (int i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (1 + 0.1 * random.nextGaussian()));
        return Tensor.of("norm", DType.F32, new long[]{n}, s);
    }

    private static Tensor vector(int n, double sd, SplittableRandom random, Arena arena) {
        MemorySegment s = arena.allocate(4L * n, 64);
        for (int i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (sd * random.nextGaussian()));
        return Tensor.of("bias", DType.F32, new long[]{n}, s);
    }

    /** Random matrix [rows, cols]; quantized types get random blocks (scale + codes) directly. */
    static Tensor matrix(DType type, int rows, int cols, SplittableRandom random, Arena arena) {
        long count = (long) rows * cols;
        MemorySegment s = arena.allocate(type.byteSize(count), 64);
        double sd = 1.0 / Math.sqrt(cols);
        switch (type) {
            case F32 -> {
                for (long i = 0; i < count; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (sd * random.nextGaussian()));
            }
            case F16 -> {
                for (long i = 0; i < count; i++) {
                    s.setAtIndex(ValueLayout.JAVA_SHORT, i, Float.floatToFloat16((float) (sd * random.nextGaussian())));
                }
            }
            case BF16 -> {
                for (long i = 0; i < count; i++) {
                    int bits = Float.floatToIntBits((float) (sd * random.nextGaussian()));
                    s.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) (bits >>> 16));
                }
            }
            case Q8_0 -> {
                for (long b = 0; b < count / 32; b++) {
                    s.set(ValueLayout.JAVA_SHORT_UNALIGNED, b * 34, Float.floatToFloat16((float) (sd * 2.5 / 127)));
                    for (int j = 0; j < 32; j++) s.set(ValueLayout.JAVA_BYTE, b * 34 + 2 + j, (byte) (random.nextInt(255) - 127));
                }
            }
            case Q4_0 -> {
                for (long b = 0; b < count / 32; b++) {
                    s.set(ValueLayout.JAVA_SHORT_UNALIGNED, b * 18, Float.floatToFloat16((float) (sd * 2.5 / 8)));
                    for (int j = 0; j < 16; j++) s.set(ValueLayout.JAVA_BYTE, b * 18 + 2 + j, (byte) random.nextInt(256));
                }
            }
        }
        return Tensor.of("w", type, new long[]{rows, cols}, s);
    }
}
