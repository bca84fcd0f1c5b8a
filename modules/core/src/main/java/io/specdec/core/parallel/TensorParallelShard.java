package io.specdec.core.parallel;

import io.specdec.core.model.LayerWeights;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.tensor.Tensor;
import io.specdec.core.tensor.TensorSlices;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;

/**
 * One rank's part of a tensor-parallel model (Megatron layout): q/k/v and gate/up split by output rows (whole
 * heads, whole hidden units), o and down by input columns, so each rank's o/down output is a partial sum that one
 * all-reduce completes; the output layer split by vocabulary rows (logits are all-gathered). The embedding and the
 * norms are replicated.
 */
public record TensorParallelShard(int rank, int size) {

    public TensorParallelShard {
        if (size < 1 || rank < 0 || rank >= size) throw new IllegalArgumentException("rank " + rank + " of " + size);
    }

    /** Refuses a model this group size cannot split evenly, saying why. */
    public void checkDivides(ModelConfig c) {
        if (c.kvHeads() % size != 0) {
            throw new IllegalArgumentException("tensor parallelism " + size + " needs the kv heads (" + c.kvHeads() + ") to divide evenly");
        }
        if (c.hiddenDim() % size != 0) {
            throw new IllegalArgumentException("tensor parallelism " + size + " needs the MLP width (" + c.hiddenDim() + ") to divide evenly");
        }
        if (c.vocabSize() % size != 0) {
            throw new IllegalArgumentException("tensor parallelism " + size + " needs the vocabulary (" + c.vocabSize() + ") to divide evenly");
        }
    }

    /** The shard's own config: its heads, kv heads and MLP width; dim and vocabulary stay whole. */
    public ModelConfig shardConfig(ModelConfig c) {
        checkDivides(c);
        return new ModelConfig(c.architecture() + (size > 1 ? "-tp" + rank + "of" + size : ""), c.dim(), c.hiddenDim() / size,
                c.layers(), c.heads() / size, c.kvHeads() / size, c.headDim(), c.vocabSize(), c.maxSequenceLength(),
                c.rmsNormEps(), c.ropeTheta(), c.ropeScaling(), c.ropeStyle(), c.tiedEmbeddings(), c.qkvBias(), c.qkNorm(),
                c.slidingWindow(), c.bosTokenId(), c.eosTokenIds());
    }

    /** The first vocabulary row of this rank's output-layer part. */
    public int vocabStart(ModelConfig c) { return rank * (c.vocabSize() / size); }

    public int vocabRows(ModelConfig c) { return c.vocabSize() / size; }

    /** This rank's weights; column parts are copied into {@code arena}, the rest are views of {@code w}. */
    public TransformerWeights slice(ModelConfig c, TransformerWeights w, Arena arena) {
        checkDivides(c);
        if (size == 1) return w;
        int hd = c.headDim();
        int q = c.heads() / size * hd, kv = c.kvHeads() / size * hd, h = c.hiddenDim() / size;
        int q0 = rank * q, kv0 = rank * kv, h0 = rank * h;
        List<LayerWeights> layers = new ArrayList<>();
        for (LayerWeights l : w.layers()) {
            layers.add(new LayerWeights(l.attentionNorm(),
                    TensorSlices.rows(l.wq(), q0, q), TensorSlices.rows(l.wk(), kv0, kv), TensorSlices.rows(l.wv(), kv0, kv),
                    TensorSlices.columns(l.wo(), q0, q, arena),
                    part(l.bq(), q0, q), part(l.bk(), kv0, kv), part(l.bv(), kv0, kv),
                    l.qNorm(), l.kNorm(), l.ffnNorm(),
                    TensorSlices.rows(l.wGate(), h0, h), TensorSlices.rows(l.wUp(), h0, h),
                    TensorSlices.columns(l.wDown(), h0, h, arena)));
        }
        Tensor output = TensorSlices.rows(w.output(), vocabStart(c), vocabRows(c));
        return new TransformerWeights(w.tokenEmbedding(), layers, w.finalNorm(), output);
    }

    private static Tensor part(Tensor t, int start, int count) {
        return t == null ? null : TensorSlices.rows(t, start, count);
    }
}
