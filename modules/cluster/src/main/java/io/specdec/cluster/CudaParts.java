package io.specdec.cluster;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.LoadedModel;
import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.CudaModels;
import io.specdec.cuda.CudaTransformer;

import java.util.ArrayList;
import java.util.List;

/**
 * A {@link ModelRuntime}'s models on one GPU: the device and cuBLAS handle ({@link CudaModels}), the target and its
 * drafts. The only class of the cluster module that names CUDA types, loaded only when a spec asks for cuda.
 */
final class CudaParts implements AutoCloseable {
    private final CudaModels gpu;
    private final CudaTransformer target;
    private final List<CudaTransformer> drafts = new ArrayList<>();

    private CudaParts(CudaModels gpu, CudaTransformer target) {
        this.gpu = gpu;
        this.target = target;
    }

    /** Refuses, with the reason, a GPU this process cannot use: no kernels, no driver, no such device. */
    static void requireGpu(int ordinal) {
        String reason = CudaDevice.unavailableReason().orElse(null);
        if (reason != null) throw new IllegalArgumentException("backend cuda: " + reason);
        int count = CudaDevice.count();
        if (ordinal >= count) {
            throw new IllegalArgumentException("backend cuda: device " + ordinal + " runs on GPU " + ordinal
                    + ", but the driver sees " + count + " GPU" + (count == 1 ? "" : "s") + " (serve at most " + count
                    + " devices per node)");
        }
    }

    /** GPU {@code ordinal} with the target: {@code loaded}'s weights uploaded, or random ones generated there. */
    static CudaParts open(int ordinal, LoadedModel loaded, boolean randomWeights, int kvTokens) {
        CudaModels gpu = CudaModels.open(ordinal);
        try {
            CudaTransformer target = randomWeights ? gpu.random(loaded, ModelRuntime.RANDOM_SEED, kvTokens)
                    : gpu.of(loaded, kvTokens);
            return new CudaParts(gpu, target);
        } catch (RuntimeException e) {
            gpu.close();
            throw e;
        }
    }

    LanguageModel target() { return target; }

    PagedKvCache targetCache() { return target.cache(); }

    /** The target's first {@code layers} layers, sharing its weights on the GPU. */
    LanguageModel earlyExit(LoadedModel loaded, int layers, int kvTokens) {
        return keep(gpu.earlyExit(loaded, layers, kvTokens));
    }

    /** A draft of {@code shape}'s config with random weights generated on the GPU. */
    LanguageModel random(LoadedModel shape, long seed, int kvTokens) {
        return keep(gpu.random(shape, seed, kvTokens));
    }

    /** A draft checkpoint uploaded to the GPU. */
    LanguageModel of(LoadedModel draft, int kvTokens) {
        return keep(gpu.of(draft, kvTokens));
    }

    private CudaTransformer keep(CudaTransformer draft) {
        drafts.add(draft);
        return draft;
    }

    /** KV blocks the draft holds (0 for a model that is not one of these drafts). */
    int draftBlocksInUse(LanguageModel draft) {
        for (CudaTransformer d : drafts) {
            if (d == draft) return d.cache().totalBlocks() - d.cache().freeBlocks();
        }
        return 0;
    }

    @Override public void close() {
        gpu.close();   // frees every allocation of the device, the models' included
    }
}
