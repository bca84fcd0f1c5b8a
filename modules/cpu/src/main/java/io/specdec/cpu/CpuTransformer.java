package io.specdec.cpu;

import io.specdec.core.backend.AttentionMask;
import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.LayerWeights;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * The one Llama-family transformer on the CPU. Behaviour comes from {@link ModelConfig} (GQA, RoPE style and
 * scaling, q/k/v bias, q/k norm, sliding window, tied output); precision comes from the weight tensors. A forward
 * takes a ragged batch: all tokens of all inputs go through each matmul together, so weights are read once per
 * batch; attention is per token over its own sequence's paged KV.
 */
public final class CpuTransformer implements LanguageModel {
    private final ModelConfig config;
    private final TransformerWeights weights;
    private final ParallelExecutor executor;
    private final PagedKvCache cache;
    private final CpuKvStore store;
    private final double[] inverseFrequencies;
    private final float[][] attentionNorms;
    private final float[][] ffnNorms;
    private final float[] finalNorm;
    /** This model's place in a tensor-parallel group, or null when it holds the whole model. */
    private final HostCollective group;

    /**
     * @param kvTokens  total tokens the KV cache holds across all sequences
     * @param blockSize tokens per KV block
     */
    public CpuTransformer(ModelConfig config, TransformerWeights weights, ParallelExecutor executor, int kvTokens,
                          int blockSize) {
        this(config, weights, executor, storeFor(config, kvTokens, blockSize), null, null);
    }

    /**
     * A model over a given KV store, and a cache shared with other models when {@code cache} is not null (the ranks of
     * a tensor-parallel group or the replicas of a layer-parallel draft: one block table, one store per member).
     * {@code group} is this rank's membership in a tensor-parallel group ({@code config} and {@code weights} then
     * describe its shard), or null.
     */
    CpuTransformer(ModelConfig config, TransformerWeights weights, ParallelExecutor executor, CpuKvStore store,
                   PagedKvCache cache, HostCollective group) {
        this.config = config;
        this.weights = weights;
        this.executor = executor;
        this.store = store;
        this.cache = cache != null ? cache : new PagedKvCache(store.slots() / store.blockSize(), store.blockSize(), store);
        this.group = group;
        this.inverseFrequencies = config.ropeScaling().inverseFrequencies(config.headDim(), config.ropeTheta());
        int layers = config.layers();
        this.attentionNorms = new float[layers][];
        this.ffnNorms = new float[layers][];
        for (int l = 0; l < layers; l++) {
            attentionNorms[l] = toArray(weights.layers().get(l).attentionNorm());
            ffnNorms[l] = toArray(weights.layers().get(l).ffnNorm());
        }
        this.finalNorm = toArray(weights.finalNorm());
    }

    static CpuKvStore storeFor(ModelConfig config, int kvTokens, int blockSize) {
        int blocks = Math.max(1, (kvTokens + blockSize - 1) / blockSize);
        return new CpuKvStore(config.layers(), blocks * blockSize, config.kvDim(), blockSize);
    }

    CpuKvStore store() { return store; }

    ParallelExecutor executor() { return executor; }

    private static float[] toArray(Tensor t) {
        if (t == null) return null;
        float[] a = new float[Math.toIntExact(t.elementCount())];
        for (int i = 0; i < a.length; i++) a[i] = t.get(i);
        return a;
    }

    @Override public ModelConfig config() { return config; }

    @Override public KvSequence newSequence() { return cache.newSequence(); }

    public PagedKvCache cache() { return cache; }

    @Override
    public List<float[][]> forward(List<SequenceInput> batch) {
        Step step = prepare(batch);
        return compute(step);
    }

    /** Runs every layer of a prepared step (its tokens already appended to their sequences). */
    List<float[][]> compute(Step step) {
        float[] x = embed(step);
        for (int l = 0; l < config.layers(); l++) {
            attention(l, x, step);
            mlp(l, x, step);
        }
        return logits(step.batch(), x);
    }

    /** The residual stream of a prepared step: each token's embedding. */
    float[] embed(Step step) {
        int dim = config.dim();
        float[] x = new float[step.tokens() * dim];
        int t = 0;
        for (SequenceInput in : step.batch()) {
            for (int token : in.tokens()) WeightRows.expand(weights.tokenEmbedding(), token, x, t++ * dim);
        }
        return x;
    }

    /**
     * Appends the batch's tokens to their sequences (once, whoever computes it afterwards) and works out where every
     * token's K/V goes; refuses a token outside the vocabulary, leaving the sequences as they were.
     */
    Step prepare(List<SequenceInput> batch) {
        for (SequenceInput in : batch) {
            for (int token : in.tokens()) {
                if (token < 0 || token >= config.vocabSize()) {
                    throw new IllegalArgumentException("token id " + token + " outside the vocabulary of " + config.vocabSize());
                }
            }
        }
        int total = 0;
        for (SequenceInput in : batch) total += in.tokens().length;
        final int tokens = total;

        // Where each token lives: its input, its logical slot, the physical slot of every slot of its sequence.
        int[] inputOf = new int[tokens];
        int[] chunkIndex = new int[tokens];
        int[] positions = new int[tokens];
        int[] chunkStart = new int[batch.size()];
        int[][] physical = new int[batch.size()][];
        int[][] slotPositions = new int[batch.size()][];
        int t = 0;
        for (int b = 0; b < batch.size(); b++) {
            SequenceInput in = batch.get(b);
            KvSequence seq = in.sequence();
            chunkStart[b] = seq.append(in.tokens(), in.positions());
            int len = seq.length();
            physical[b] = new int[len];
            slotPositions[b] = new int[len];
            for (int s = 0; s < len; s++) {
                physical[b][s] = seq.physicalSlot(s);
                slotPositions[b][s] = seq.positionAt(s);
            }
            for (int c = 0; c < in.tokens().length; c++, t++) {
                inputOf[t] = b;
                chunkIndex[t] = c;
                positions[t] = in.positions()[c];
            }
        }
        float[][] cos = new float[tokens][];
        float[][] sin = new float[tokens][];
        for (int i = 0; i < tokens; i++) {
            int half = inverseFrequencies.length;
            cos[i] = new float[half];
            sin[i] = new float[half];
            for (int j = 0; j < half; j++) {
                double angle = positions[i] * inverseFrequencies[j];
                cos[i][j] = (float) Math.cos(angle);
                sin[i][j] = (float) Math.sin(angle);
            }
        }

        return new Step(batch, tokens, inputOf, chunkIndex, positions, chunkStart, physical, slotPositions, cos, sin);
    }

    /** Per-forward bookkeeping shared by all layers (and by all members of a group sharing the KV block tables). */
    record Step(List<SequenceInput> batch, int tokens, int[] inputOf, int[] chunkIndex, int[] positions,
                        int[] chunkStart, int[][] physical, int[][] slotPositions, float[][] cos, float[][] sin) {
    }

    /** x += attention block of layer l (its K/V appended), completed across the tensor-parallel group. */
    void attention(int l, float[] x, Step s) {
        float[] o = attentionDelta(l, x, s);
        if (group != null) group.allReduceSum(o);
        VectorMath.add(x, o, s.tokens() * config.dim());
    }

    /**
     * The attention block's contribution o_proj(Attn(RMSNorm(x))) for layer l, writing the layer's K/V; a partial
     * sum when this is a tensor-parallel shard.
     */
    float[] attentionDelta(int l, float[] x, Step s) {
        LayerWeights w = weights.layers().get(l);
        int dim = config.dim();
        int qDim = config.queryDim();
        int kvDim = config.kvDim();
        int T = s.tokens();
        float[] xb = new float[T * dim];
        for (int i = 0; i < T; i++) VectorMath.rmsNorm(xb, i * dim, x, i * dim, attentionNormTensor(l), dim, config.rmsNormEps());

        float[] q = new float[T * qDim];
        float[] k = new float[T * kvDim];
        float[] v = new float[T * kvDim];
        MatMul.apply(executor, w.wq(), xb, T, q);
        MatMul.apply(executor, w.wk(), xb, T, k);
        MatMul.apply(executor, w.wv(), xb, T, v);
        if (w.bq() != null) addBias(q, w.bq(), T, qDim);
        if (w.bk() != null) addBias(k, w.bk(), T, kvDim);
        if (w.bv() != null) addBias(v, w.bv(), T, kvDim);
        int hd = config.headDim();
        for (int i = 0; i < T; i++) {
            if (w.qNorm() != null) headNorm(q, i * qDim, config.heads(), w.qNorm());
            if (w.kNorm() != null) headNorm(k, i * kvDim, config.kvHeads(), w.kNorm());
            rope(q, i * qDim, config.heads(), s.cos()[i], s.sin()[i]);
            rope(k, i * kvDim, config.kvHeads(), s.cos()[i], s.sin()[i]);
            int b = s.inputOf()[i];
            int slot = s.physical()[b][s.chunkStart()[b] + s.chunkIndex()[i]];
            System.arraycopy(k, i * kvDim, store.keys[l], slot * kvDim, kvDim);
            System.arraycopy(v, i * kvDim, store.values[l], slot * kvDim, kvDim);
        }

        float[] attention = new float[T * qDim];
        attend(l, q, attention, s, hd);
        float[] o = new float[T * dim];
        MatMul.apply(executor, w.wo(), attention, T, o);
        return o;
    }

    /** x += MLP block of layer l, completed across the tensor-parallel group. */
    void mlp(int l, float[] x, Step s) {
        LayerWeights w = weights.layers().get(l);
        int dim = config.dim();
        int T = s.tokens();
        float[] xb = new float[T * dim];
        float[] o = new float[T * dim];
        for (int i = 0; i < T; i++) VectorMath.rmsNorm(xb, i * dim, x, i * dim, ffnNormTensor(l), dim, config.rmsNormEps());
        int hidden = config.hiddenDim();
        float[] gate = new float[T * hidden];
        float[] up = new float[T * hidden];
        MatMul.apply(executor, w.wGate(), xb, T, gate);
        MatMul.apply(executor, w.wUp(), xb, T, up);
        for (int i = 0; i < gate.length; i++) {
            float g = gate[i];
            gate[i] = g / (1f + (float) Math.exp(-g)) * up[i];
        }
        MatMul.apply(executor, w.wDown(), gate, T, o);
        if (group != null) group.allReduceSum(o);
        VectorMath.add(x, o, T * dim);
    }

    private Tensor attentionNormTensor(int l) { return weights.layers().get(l).attentionNorm(); }

    private Tensor ffnNormTensor(int l) { return weights.layers().get(l).ffnNorm(); }

    private void attend(int l, float[] q, float[] out, Step s, int hd) {
        int heads = config.heads();
        int headsPerKv = heads / config.kvHeads();
        int qDim = config.queryDim();
        int kvDim = config.kvDim();
        float scale = (float) (1.0 / Math.sqrt(hd));
        int window = config.slidingWindow();
        float[] keys = store.keys[l];
        float[] values = store.values[l];
        int longest = 0;
        for (int[] slots : s.physical()) longest = Math.max(longest, slots.length);
        int grain = Math.max(1, (1 << 16) / Math.max(1, longest * hd)); // ~64K multiply-adds per chunk at least
        executor.parallelFor(s.tokens() * heads, grain, (start, end) -> {
            float[] scores = null;
            int[] keySlots = null;
            for (int task = start; task < end; task++) {
                int i = task / heads;
                int h = task % heads;
                int kvh = h / headsPerKv;
                int b = s.inputOf()[i];
                SequenceInput input = s.batch().get(b);
                AttentionMask mask = input.mask();
                int prefix = s.chunkStart()[b];
                int c = s.chunkIndex()[i];
                int[] physical = s.physical()[b];
                int[] slotPositions = s.slotPositions()[b];
                int queryPosition = s.positions()[i];
                int capacity = prefix + input.tokens().length;
                if (scores == null || scores.length < capacity) {
                    scores = new float[capacity];
                    keySlots = new int[capacity];
                }
                int n = 0;
                int[] slots;
                if (mask instanceof AttentionMask.Causal && window == 0) {
                    // the common case: the whole prefix and the chunk up to itself, already in slot order
                    slots = physical;
                    n = prefix + c + 1;
                } else {
                    slots = keySlots;
                    for (int j = 0; j < capacity; j++) {
                        boolean visible = j < prefix ? true : mask.allows(c, j - prefix);
                        if (visible && window > 0 && queryPosition - slotPositions[j] >= window) visible = false;
                        if (visible) keySlots[n++] = physical[j];
                    }
                }
                int qo = i * qDim + h * hd;
                float max = Float.NEGATIVE_INFINITY;
                for (int j = 0; j < n; j++) {
                    float sc = VectorMath.dot(q, qo, keys, slots[j] * kvDim + kvh * hd, hd) * scale;
                    scores[j] = sc;
                    if (sc > max) max = sc;
                }
                float sum = 0;
                for (int j = 0; j < n; j++) {
                    float e = (float) Math.exp(scores[j] - max);
                    scores[j] = e;
                    sum += e;
                }
                float inv = 1f / sum;
                for (int j = 0; j < n; j++) {
                    VectorMath.addScaled(out, qo, values, slots[j] * kvDim + kvh * hd, scores[j] * inv, hd);
                }
            }
        });
    }

    private void addBias(float[] y, Tensor bias, int tokens, int n) {
        for (int i = 0; i < tokens; i++) {
            for (int j = 0; j < n; j++) y[i * n + j] += bias.get(j);
        }
    }

    private void headNorm(float[] y, int offset, int heads, Tensor weight) {
        int hd = config.headDim();
        for (int h = 0; h < heads; h++) VectorMath.rmsNorm(y, offset + h * hd, y, offset + h * hd, weight, hd, config.rmsNormEps());
    }

    private void rope(float[] y, int offset, int heads, float[] cos, float[] sin) {
        int hd = config.headDim();
        int half = hd / 2;
        boolean interleaved = config.ropeStyle() == RopeStyle.INTERLEAVED;
        for (int h = 0; h < heads; h++) {
            int base = offset + h * hd;
            for (int j = 0; j < half; j++) {
                int a = interleaved ? base + 2 * j : base + j;
                int bIdx = interleaved ? a + 1 : a + half;
                float x0 = y[a];
                float x1 = y[bIdx];
                y[a] = x0 * cos[j] - x1 * sin[j];
                y[bIdx] = x0 * sin[j] + x1 * cos[j];
            }
        }
    }

    /** The requested rows' logits; a vocabulary-parallel shard computes its part and gathers the rest. */
    List<float[][]> logits(List<SequenceInput> batch, float[] x) {
        int dim = config.dim();
        int rows = 0;
        for (SequenceInput in : batch) rows += in.logitRows().length;
        List<float[][]> result = new ArrayList<>(batch.size());
        if (rows == 0) {
            for (int b = 0; b < batch.size(); b++) result.add(new float[0][]);
            return result;
        }
        float[] selected = new float[rows * dim];
        int r = 0;
        int tokenBase = 0;
        for (SequenceInput in : batch) {
            for (int row : in.logitRows()) {
                VectorMath.rmsNorm(selected, r * dim, x, (tokenBase + row) * dim, weights.finalNorm(), dim, config.rmsNormEps());
                r++;
            }
            tokenBase += in.tokens().length;
        }
        int vocab = config.vocabSize();
        float[] all = new float[rows * vocab];
        if (group == null) {
            MatMul.apply(executor, weights.output(), selected, rows, all);
        } else {
            // each rank holds vocab/N output rows: compute [rows, vocab/N], gather [N][rows][vocab/N], interleave
            int part = weights.output().rows();
            float[] mine = new float[rows * part];
            MatMul.apply(executor, weights.output(), selected, rows, mine);
            float[] gathered = new float[rows * part * group.size()];
            group.allGather(mine, gathered);
            for (int g = 0; g < group.size(); g++) {
                for (int row = 0; row < rows; row++) {
                    System.arraycopy(gathered, (g * rows + row) * part, all, row * vocab + g * part, part);
                }
            }
        }
        r = 0;
        for (SequenceInput in : batch) {
            float[][] out = new float[in.logitRows().length][];
            for (int k = 0; k < out.length; k++, r++) out[k] = java.util.Arrays.copyOfRange(all, r * vocab, (r + 1) * vocab);
            result.add(out);
        }
        return result;
    }

    @Override public void close() {
        // Weights belong to the loaded model's arena; the executor to whoever created it.
    }
}
