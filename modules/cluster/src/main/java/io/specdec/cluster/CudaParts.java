package io.specdec.cluster;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.parallel.EasySpecDraftModel;
import io.specdec.core.parallel.LayerGroupPlan;
import io.specdec.core.parallel.LayerParallelModel;
import io.specdec.cuda.Collectives;
import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.CudaLayerParallelModel;
import io.specdec.cuda.CudaModels;
import io.specdec.cuda.CudaRank;
import io.specdec.cuda.CudaTensorParallelModel;
import io.specdec.cuda.CudaTransformer;

import java.util.ArrayList;
import java.util.List;

/**
 * A {@link ModelRuntime}'s models on its GPUs: the target on one GPU ({@link CudaModels}: device and cuBLAS handle) or
 * split over several ({@link CudaTensorParallelModel}, one {@link CudaRank} thread per GPU, NCCL inside the group), and
 * its drafts on the first of them. The only class of the cluster module that names CUDA types, loaded only when a spec
 * asks for cuda.
 */
final class CudaParts implements AutoCloseable {
    /** Where drafts go: the target's GPU, or the first GPU of a tensor-parallel target (not owned then). */
    private final CudaModels gpu;
    private final LanguageModel target;
    private final PagedKvCache targetCache;
    /** The tensor-parallel target's GPUs (closed last), else empty. */
    private final List<CudaRank> ranks;
    private final List<CudaTransformer> drafts = new ArrayList<>();
    private final List<CudaLayerParallelModel> layerParallel = new ArrayList<>();

    private CudaParts(CudaModels gpu, LanguageModel target, PagedKvCache targetCache, List<CudaRank> ranks) {
        this.gpu = gpu;
        this.target = target;
        this.targetCache = targetCache;
        this.ranks = ranks;
    }

    /**
     * Refuses, with the reason, GPUs this process cannot use for device {@code device} of a node whose devices take
     * {@code perDevice} GPUs each (GPUs device*perDevice ..): no kernels, no driver, too few GPUs.
     */
    static void requireGpus(int device, int perDevice) {
        String reason = CudaDevice.unavailableReason().orElse(null);
        if (reason != null) throw new IllegalArgumentException("backend cuda: " + reason);
        int count = CudaDevice.count();
        int first = device * perDevice, last = first + perDevice - 1;
        if (last >= count && !Collectives.sharedGpuRanks()) {   // sharing: a test mode, GPUs round-robin
            throw new IllegalArgumentException("backend cuda: device " + device + " runs on GPU"
                    + (perDevice == 1 ? " " + first : "s " + first + ".." + last) + ", but the driver sees " + count + " GPU"
                    + (count == 1 ? "" : "s") + " (serve at most " + count / perDevice + " devices per node"
                    + (perDevice == 1 ? "" : " with --tp " + perDevice) + ")");
        }
    }

    /** GPU {@code ordinal} with the target: {@code loaded}'s weights uploaded, or random ones generated there. */
    static CudaParts open(int ordinal, LoadedModel loaded, boolean randomWeights, int kvTokens) {
        CudaModels gpu = CudaModels.open(ordinal);
        try {
            CudaTransformer target = randomWeights ? gpu.random(loaded, ModelRuntime.RANDOM_SEED, kvTokens)
                    : gpu.of(loaded, kvTokens);
            return new CudaParts(gpu, target, target.cache(), List.of());
        } catch (RuntimeException e) {
            gpu.close();
            throw e;
        }
    }

    /**
     * GPUs {@code first .. first+size-1} with the target split over them (each GPU driven by its own thread): shards of
     * {@code loaded}'s weights, or of the seeded random weights; drafts go to GPU {@code first}.
     */
    static CudaParts openTensorParallel(int first, int size, LoadedModel loaded, boolean randomWeights, int kvTokens) {
        List<CudaRank> ranks = new ArrayList<>();
        try {
            for (int i = 0; i < size; i++) ranks.add(CudaRank.of(first + i));
            CudaTensorParallelModel target = randomWeights
                    ? CudaTensorParallelModel.random(ranks, loaded.config(), ModelRuntime.RANDOM_SEED, kvTokens)
                    : CudaTensorParallelModel.of(ranks, loaded.config(), loaded.weights(), kvTokens);
            CudaRank lead = ranks.getFirst();
            return new CudaParts(CudaModels.on(lead.device(), lead.cublas()), target, target.cache(), List.copyOf(ranks));
        } catch (RuntimeException e) {
            ranks.reversed().forEach(CudaRank::close);
            throw e;
        }
    }

    LanguageModel target() { return target; }

    PagedKvCache targetCache() { return targetCache; }

    /** Whether the target is split over several GPUs. */
    boolean tensorParallel() { return !ranks.isEmpty(); }

    /** The target's first {@code layers} layers, sharing its weights on the GPU (one-GPU targets only). */
    LanguageModel earlyExit(LoadedModel loaded, int layers, int kvTokens) {
        if (tensorParallel()) {
            throw new IllegalArgumentException("draft layers:" + layers + " shares the target's weights, which are split "
                    + "over " + ranks.size() + " GPUs: give a draft model (a path or random:CONFIG.json)");
        }
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

    /**
     * EasySpec over the tensor-parallel target's GPUs (the paper's setting): a replica of the draft on each, fuzzy steps
     * all-gathered over NCCL ({@link CudaLayerParallelModel}, as {@code specdec generate --tp N --draft-mode easyspec}).
     * {@code weights} null: seeded random weights generated on every GPU.
     */
    LayerParallelModel layerParallel(ModelConfig c, TransformerWeights weights, long seed, LayerGroupPlan plan, int kvTokens) {
        if (!tensorParallel()) {
            throw new IllegalArgumentException("easyspec on cuda drafts over the target's GPUs: give tensor parallelism 2 or more");
        }
        CudaLayerParallelModel m = weights != null ? CudaLayerParallelModel.of(ranks, c, weights, kvTokens, plan)
                : CudaLayerParallelModel.random(ranks, c, seed, kvTokens, plan);
        layerParallel.add(m);
        return m;
    }

    private CudaTransformer keep(CudaTransformer draft) {
        drafts.add(draft);
        return draft;
    }

    /** KV blocks the draft holds (0 for a model that is not one of these drafts). */
    int draftBlocksInUse(LanguageModel draft) {
        LanguageModel model = draft instanceof EasySpecDraftModel e ? e.model() : draft;
        for (CudaTransformer d : drafts) {
            if (d == model) return d.cache().totalBlocks() - d.cache().freeBlocks();
        }
        for (CudaLayerParallelModel d : layerParallel) {
            if (d == model) return d.cache().totalBlocks() - d.cache().freeBlocks();
        }
        return 0;
    }

    @Override public void close() {
        for (CudaLayerParallelModel m : layerParallel) {   // their rank threads' work before the ranks go
            try {
                m.close();
            } catch (RuntimeException e) {
                // closing at shutdown: the GPUs are released below either way
            }
        }
        gpu.close();   // frees every allocation of the device, the models' included (a borrowed one: nothing)
        if (target instanceof CudaTensorParallelModel tp) tp.close();
        ranks.reversed().forEach(CudaRank::close);
    }
}
