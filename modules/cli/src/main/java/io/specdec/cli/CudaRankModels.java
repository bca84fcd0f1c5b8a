package io.specdec.cli;

import io.specdec.cluster.ModelRuntime;
import io.specdec.cluster.RankModels;
import io.specdec.cuda.CudaTensorParallelRank;

/**
 * CUDA ranks for tensor-parallel groups over Pekko, one JVM per GPU or all GPUs of a host in one JVM (one member
 * actor and thread per GPU): device d's {@link CudaTensorParallelRank} on GPU {@code firstGpu + d}, its NCCL communicator made with {@code ncclCommInitRank} from the id Placement handed out (made
 * by rank 0 with {@code Nccl::uniqueId}). Loaded weights come from the runtime's model; with {@code randomSeed} set, the
 * shard gets the seeded random weights of that config (every rank with the same seed = one consistent model).
 */
public record CudaRankModels(int firstGpu, Long randomSeed) implements RankModels {
    @Override
    public RankModel open(ModelRuntime runtime, int device, int rank, int size, byte[] communicatorId) {
        int ordinal = firstGpu + device;
        var config = runtime.loaded().config();
        int kvTokens = runtime.spec().kvTokens();
        CudaTensorParallelRank model = randomSeed == null
                ? CudaTensorParallelRank.of(ordinal, config, runtime.loaded().weights(), communicatorId, rank, size, kvTokens)
                : CudaTensorParallelRank.random(ordinal, config, randomSeed, communicatorId, rank, size, kvTokens);
        return new RankModel(model, model.cache(), model::abort);
    }
}
