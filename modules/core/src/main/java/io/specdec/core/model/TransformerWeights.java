package io.specdec.core.model;

import io.specdec.core.tensor.Tensor;

import java.util.List;

/**
 * All weights of a Llama-family model, whatever file they came from. {@code output} is the token embedding itself
 * when embeddings are tied.
 */
public record TransformerWeights(Tensor tokenEmbedding, List<LayerWeights> layers, Tensor finalNorm, Tensor output) {
    public TransformerWeights {
        layers = List.copyOf(layers);
    }

    /** The first {@code n} layers with this model's embedding, final norm and head (an early-exit draft; nothing copied). */
    public TransformerWeights firstLayers(int n) {
        return new TransformerWeights(tokenEmbedding, layers.subList(0, n), finalNorm, output);
    }
}
