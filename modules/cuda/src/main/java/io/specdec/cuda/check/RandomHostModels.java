package io.specdec.cuda.check;

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

/** Small random bf16 models in host memory, shared by the CPU reference, the GPU backend and HuggingFace exports. */
public final class RandomHostModels {
    private RandomHostModels() {
    }

    public static ModelConfig config(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, RopeStyle style,
                                     RopeScaling scaling, boolean tied, boolean bias, boolean qkNorm, int window) {
        return new ModelConfig(qkNorm ? "qwen3" : bias ? "qwen2" : "llama", dim, hidden, layers, heads, kvHeads, dim / heads,
                vocab, 4096, 1e-5f, 10000, scaling, style, tied, bias, qkNorm, window, 1, Set.of(2));
    }

    /** Matrices N(0, 1/in) (embedding N(0, 1)), norms 1 + 0.1 N(0,1), biases 0.1 N(0,1); all bf16. */
    public static TransformerWeights weights(ModelConfig c, long seed, Arena arena) {
        SplittableRandom r = new SplittableRandom(seed);
        int dim = c.dim(), q = c.queryDim(), kv = c.kvDim(), h = c.hiddenDim();
        List<LayerWeights> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            layers.add(new LayerWeights(norm(dim, r, arena),
                    matrix(q, dim, 1 / Math.sqrt(dim), r, arena), matrix(kv, dim, 1 / Math.sqrt(dim), r, arena),
                    matrix(kv, dim, 1 / Math.sqrt(dim), r, arena), matrix(dim, q, 1 / Math.sqrt(q), r, arena),
                    c.qkvBias() ? vector(q, r, arena) : null, c.qkvBias() ? vector(kv, r, arena) : null,
                    c.qkvBias() ? vector(kv, r, arena) : null,
                    c.qkNorm() ? norm(c.headDim(), r, arena) : null, c.qkNorm() ? norm(c.headDim(), r, arena) : null,
                    norm(dim, r, arena),
                    matrix(h, dim, 1 / Math.sqrt(dim), r, arena), matrix(h, dim, 1 / Math.sqrt(dim), r, arena),
                    matrix(dim, h, 1 / Math.sqrt(h), r, arena)));
        }
        Tensor embedding = matrix(c.vocabSize(), dim, 1, r, arena);
        Tensor output = c.tiedEmbeddings() ? embedding : matrix(c.vocabSize(), dim, 1 / Math.sqrt(dim), r, arena);
        return new TransformerWeights(embedding, layers, norm(dim, r, arena), output);
    }

    private static Tensor norm(int n, SplittableRandom r, Arena arena) {
        return filled(new long[]{n}, r, arena, 1, 0.1);
    }

    private static Tensor vector(int n, SplittableRandom r, Arena arena) {
        return filled(new long[]{n}, r, arena, 0, 0.1);
    }

    private static Tensor matrix(int rows, int cols, double sd, SplittableRandom r, Arena arena) {
        return filled(new long[]{rows, cols}, r, arena, 0, sd);
    }

    private static Tensor filled(long[] shape, SplittableRandom r, Arena arena, double mean, double sd) {
        long n = Tensor.product(shape);
        MemorySegment s = arena.allocate(2 * n, 64);
        for (long i = 0; i < n; i++) {
            int bits = Float.floatToIntBits((float) (mean + sd * r.nextGaussian()));
            s.setAtIndex(ValueLayout.JAVA_SHORT, i, (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16));
        }
        return Tensor.of("random", DType.BF16, shape, s);
    }
}
