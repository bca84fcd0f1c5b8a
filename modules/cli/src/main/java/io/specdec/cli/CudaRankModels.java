package io.specdec.cli;

import io.specdec.cluster.ModelRuntime;
import io.specdec.cluster.RankDrafts;
import io.specdec.cluster.RankModels;
import io.specdec.core.parallel.LayerGroupPlan;
import io.specdec.cuda.CudaDraftRank;
import io.specdec.cuda.CudaTensorParallelRank;

/**
 * CUDA ranks for tensor-parallel groups over Pekko, one JVM per GPU or all GPUs of a host in one JVM (one member
 * actor and thread per GPU): device d's {@link CudaTensorParallelRank} on GPU {@code firstGpu + d}, its NCCL
 * communicator made with {@code ncclCommInitRank} from the id Placement handed out (made by rank 0 with
 * {@code Nccl::uniqueId}). Loaded weights come from the runtime's model; with {@code randomSeed} set, the shard gets
 * the seeded random weights of that config (every rank with the same seed = one consistent model). With a draft model
 * in the runtime each rank also holds a {@link CudaDraftRank} replica of it on its GPU ({@link RankDrafts}: EasySpec
 * over the group's GPUs in draft mode easyspec).
 */
public record CudaRankModels(int firstGpu, Long randomSeed) implements RankModels {
    @Override
    public RankModel open(ModelRuntime runtime, int device, int rank, int size, byte[] communicatorId) {
        int gpu = firstGpu + device;   // in the shared-GPU test mode CudaDevice maps it onto a visible GPU
        var config = runtime.loaded().config();
        int kvTokens = runtime.spec().kvTokens();
        CudaTensorParallelRank model = randomSeed == null
                ? CudaTensorParallelRank.of(gpu, config, runtime.loaded().weights(), communicatorId, rank, size, kvTokens)
                : CudaTensorParallelRank.random(gpu, config, randomSeed, communicatorId, rank, size, kvTokens);
        try {
            return new RankModel(model, model.cache(), model::abort, draft(runtime, model, size));
        } catch (RuntimeException e) {
            model.close();
            throw e;
        }
    }

    private static CudaDraftRank draft(ModelRuntime runtime, CudaTensorParallelRank target, int size) {
        ModelRuntime.DraftWeights d = runtime.draftWeights();
        if (d == null) return null;
        LayerGroupPlan plan = RankDrafts.plan(runtime, size);
        int kvTokens = runtime.spec().kvTokens();
        return d.weights() != null ? CudaDraftRank.of(target, d.config(), d.weights(), plan, kvTokens)
                : CudaDraftRank.random(target, d.config(), d.randomSeed(), plan, kvTokens);
    }
}
