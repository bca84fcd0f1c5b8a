package io.specdec.cuda;

import io.specdec.core.model.LoadedModel;
import io.specdec.core.model.ModelConfig;

import java.util.IdentityHashMap;
import java.util.Map;

/**
 * Builds CUDA transformers over loaded weights on one GPU, as CpuModels does on the CPU: owns the device and the
 * cuBLAS handle, uploads each loaded model once (an early-exit draft shares its target's device weights).
 */
public final class CudaModels implements AutoCloseable {
    /** Tokens per KV block, as on the CPU. */
    public static final int BLOCK_SIZE = 16;

    private final CudaDevice device;
    private final Cublas cublas;
    private final Map<LoadedModel, DeviceWeights> uploaded = new IdentityHashMap<>();
    /** Whether {@link #close} closes the device and the cuBLAS handle (not when borrowed: {@link #on}). */
    private final boolean owns;

    private CudaModels(CudaDevice device, Cublas cublas, boolean owns) {
        this.device = device;
        this.cublas = cublas;
        this.owns = owns;
    }

    /**
     * Models on a device someone else owns (a tensor-parallel group's first GPU, for its drafts): closing this closes
     * nothing; their memory goes with the device.
     */
    public static CudaModels on(CudaDevice device, Cublas cublas) {
        return new CudaModels(device, cublas, false);
    }

    /** GPU {@code gpu} (see {@link CudaDevice#open}); throws IllegalArgumentException with the reason when none is usable here. */
    public static CudaModels open(int gpu) {
        String reason = CudaDevice.unavailableReason().orElse(null);
        if (reason != null) throw new IllegalArgumentException("--backend cuda: " + reason);
        CudaDevice device = CudaDevice.open(gpu);
        try {
            return new CudaModels(device, new Cublas(device), true);
        } catch (RuntimeException e) {
            device.close();
            throw e;
        }
    }

    public CudaDevice device() { return device; }

    public Cublas cublasHandle() { return cublas; }

    /** The whole model with a KV cache of {@code kvTokens} tokens. */
    public CudaTransformer of(LoadedModel model, int kvTokens) {
        return new CudaTransformer(device, cublas, model.config(), weights(model), kvTokens, BLOCK_SIZE);
    }

    /**
     * A model of {@code model}'s config with random weights generated on the device (benchmarks; {@code model} holds
     * no host weights); {@link #earlyExit} on the same model then shares them.
     */
    public CudaTransformer random(LoadedModel model, long seed, int kvTokens) {
        DeviceWeights w = uploaded.computeIfAbsent(model, m -> DeviceWeights.random(device, m.config(), seed));
        return new CudaTransformer(device, cublas, model.config(), w, kvTokens, BLOCK_SIZE);
    }

    /** The model's first {@code layers} layers with its final norm and output head, sharing the device weights. */
    public CudaTransformer earlyExit(LoadedModel model, int layers, int kvTokens) {
        ModelConfig draft = model.config().firstLayers(layers);
        DeviceWeights w = weights(model);
        DeviceWeights truncated = new DeviceWeights(w.embedding(), w.layers().subList(0, layers), w.finalNorm(),
                w.output(), 0);
        return new CudaTransformer(device, cublas, draft, truncated, kvTokens, BLOCK_SIZE);
    }

    private DeviceWeights weights(LoadedModel model) {
        return uploaded.computeIfAbsent(model, m -> DeviceWeights.upload(device, m.config(), m.weights()));
    }

    @Override public void close() {
        if (!owns) return;
        cublas.close();
        device.close();   // frees every allocation, weights included
    }
}
