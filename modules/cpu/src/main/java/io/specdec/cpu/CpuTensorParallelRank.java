package io.specdec.cpu;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.parallel.TensorParallelShard;

import java.lang.foreign.Arena;
import java.util.List;

/**
 * One rank of a tensor-parallel model on its own: this rank's {@link TensorParallelShard} of the weights, the K/V of
 * its heads in a cache of its own, and a handle on the group's collectives (from {@link CpuCommunicators}). Every
 * rank must run the same forwards in the same order — the ranks of a group over actors do, by running the same
 * scheduler step — and then each gets the whole model's logits (all-gathered), equal to
 * {@link CpuTensorParallelModel}'s bit for bit. {@link #config()} is the whole model's.
 */
public final class CpuTensorParallelRank implements LanguageModel {
    private final ModelConfig config;
    private final HostCollective member;
    private final ParallelExecutor executor;
    private final Arena arena = Arena.ofShared();
    private final CpuTransformer shard;

    /**
     * @param member  this rank's handle on the group's collectives; its rank and size choose the shard
     * @param threads loop threads of this rank
     */
    public CpuTensorParallelRank(ModelConfig config, TransformerWeights weights, HostCollective member, int threads,
                                 int kvTokens, int blockSize) {
        TensorParallelShard part = new TensorParallelShard(member.rank(), member.size());
        ModelConfig c = part.shardConfig(config);
        this.config = config;
        this.member = member;
        this.executor = new ParallelExecutor(threads, "tp-rank" + member.rank());
        try {
            this.shard = new CpuTransformer(c, part.slice(config, weights, arena), executor,
                    CpuTransformer.storeFor(c, kvTokens, blockSize), null, member);
        } catch (RuntimeException e) {
            executor.close();
            arena.close();
            throw e;
        }
    }

    @Override public ModelConfig config() { return config; }

    public int rank() { return member.rank(); }

    public int size() { return member.size(); }

    public PagedKvCache cache() { return shard.cache(); }

    @Override public KvSequence newSequence() { return shard.newSequence(); }

    @Override public List<float[][]> forward(List<SequenceInput> batch) { return shard.forward(batch); }

    /** Leaves the group: the other ranks' next (or current) collective fails instead of waiting for this one. */
    @Override public void close() {
        member.close("rank " + member.rank() + " of " + member.size() + " closed");
        executor.close();
        arena.close();
    }
}
