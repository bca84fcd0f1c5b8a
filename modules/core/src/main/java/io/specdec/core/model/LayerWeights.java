package io.specdec.core.model;

import io.specdec.core.tensor.Tensor;

/**
 * One transformer block's weights. Matrices are [out, in]. Optional tensors (biases, q/k norms) are null when the
 * model's config does not use them.
 */
public record LayerWeights(
        Tensor attentionNorm,
        Tensor wq, Tensor wk, Tensor wv, Tensor wo,
        Tensor bq, Tensor bk, Tensor bv,
        Tensor qNorm, Tensor kNorm,
        Tensor ffnNorm,
        Tensor wGate, Tensor wUp, Tensor wDown) {
}
