package io.specdec.cpu;

import io.specdec.core.model.LoadedModel;

/** Builds CPU transformers over loaded weights. */
public final class CpuModels {
    /** Tokens per KV block: small enough that rolled-back drafts free memory, large enough to keep tables short. */
    public static final int BLOCK_SIZE = 16;

    private CpuModels() {
    }

    /** The whole model, with a KV cache of {@code kvTokens} tokens (bounded by the model's context per sequence). */
    public static CpuTransformer of(LoadedModel model, ParallelExecutor executor, int kvTokens) {
        return new CpuTransformer(model.config(), model.weights(), executor, kvTokens, BLOCK_SIZE);
    }

    /**
     * The model's first {@code layers} layers with its own final norm and output head: an early-exit "self draft"
     * (LayerSkip-style) that needs no second checkpoint and shares the target's weights (nothing is copied).
     */
    public static CpuTransformer earlyExit(LoadedModel model, int layers, ParallelExecutor executor, int kvTokens) {
        return new CpuTransformer(model.config().firstLayers(layers), model.weights().firstLayers(layers), executor, kvTokens,
                BLOCK_SIZE);
    }
}
