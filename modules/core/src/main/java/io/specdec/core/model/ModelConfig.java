package io.specdec.core.model;

import java.util.Set;

/**
 * Everything the one Llama-family transformer needs to know about a model. Family differences (Llama 2/3,
 * Mistral, Qwen) are switches here, never separate classes.
 *
 * @param slidingWindow attention span in tokens (Mistral), 0 for unlimited
 * @param qkvBias       q/k/v projections carry biases (Qwen2)
 * @param qkNorm        per-head RMSNorm on q and k before RoPE (Qwen3)
 */
public record ModelConfig(
        String architecture,
        int dim,
        int hiddenDim,
        int layers,
        int heads,
        int kvHeads,
        int headDim,
        int vocabSize,
        int maxSequenceLength,
        float rmsNormEps,
        double ropeTheta,
        RopeScaling ropeScaling,
        RopeStyle ropeStyle,
        boolean tiedEmbeddings,
        boolean qkvBias,
        boolean qkNorm,
        int slidingWindow,
        int bosTokenId,
        Set<Integer> eosTokenIds) {

    public ModelConfig {
        require(dim > 0, "dim must be positive: " + dim);
        require(layers > 0, "layers must be positive: " + layers);
        require(heads > 0 && kvHeads > 0 && heads % kvHeads == 0,
                "heads (" + heads + ") must be a positive multiple of kv heads (" + kvHeads + ")");
        require(headDim > 0 && headDim % 2 == 0, "head dim must be positive and even: " + headDim);
        require(vocabSize > 0, "vocab size must be positive: " + vocabSize);
        require(hiddenDim > 0, "hidden dim must be positive: " + hiddenDim);
        eosTokenIds = Set.copyOf(eosTokenIds);
    }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }

    public int kvDim() { return kvHeads * headDim; }

    public int queryDim() { return heads * headDim; }

    /** Parameters in the weights (embedding counted once when tied). */
    public long parameterCount() {
        long attention = (long) dim * queryDim() * 2 + (long) dim * kvDim() * 2;
        long mlp = 3L * dim * hiddenDim;
        long perLayer = attention + mlp + 2L * dim;
        long embed = (long) vocabSize * dim * (tiedEmbeddings ? 1 : 2);
        return perLayer * layers + embed + dim;
    }

    /**
     * The config of this model's first {@code n} layers (an early-exit self draft sharing the target's weights,
     * embedding, final norm and output head).
     */
    public ModelConfig firstLayers(int n) {
        if (n < 1 || n >= layers) {
            throw new IllegalArgumentException("an early-exit draft needs between 1 and " + (layers - 1) + " layers of this "
                    + layers + "-layer model, got " + n);
        }
        return new ModelConfig(architecture + "-first" + n, dim, hiddenDim, n, heads, kvHeads, headDim, vocabSize,
                maxSequenceLength, rmsNormEps, ropeTheta, ropeScaling, ropeStyle, tiedEmbeddings, qkvBias, qkNorm,
                slidingWindow, bosTokenId, eosTokenIds);
    }

    /** A copy with another maximum sequence length (e.g. to bound the KV cache). */
    public ModelConfig withMaxSequenceLength(int n) {
        return new ModelConfig(architecture, dim, hiddenDim, layers, heads, kvHeads, headDim, vocabSize, n, rmsNormEps,
                ropeTheta, ropeScaling, ropeStyle, tiedEmbeddings, qkvBias, qkNorm, slidingWindow, bosTokenId, eosTokenIds);
    }
}
