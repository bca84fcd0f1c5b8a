package io.specdec.cuda;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.parallel.TensorParallelShard;

import java.lang.foreign.Arena;
import java.util.List;

/**
 * A target model tensor-parallel over the GPUs of one process (docs/DESIGN.md; issue 6): rank r holds
 * {@link TensorParallelShard}(r, N) of the weights on its own GPU, driven by its own thread; the residual stream is
 * all-reduced after every o_proj and down (NCCL, in place, on the rank's stream, so decode steps stay CUDA graphs) and
 * the vocabulary-parallel logits are all-gathered. The KV block bookkeeping is one {@code PagedKvCache} for all ranks
 * (each rank's cache holds its kv heads). With one GPU it is exactly the single-GPU {@link CudaTransformer}.
 */
public final class CudaTensorParallelModel implements LanguageModel {
    private final ModelConfig config;
    private final TransformerGroup group;

    private CudaTensorParallelModel(ModelConfig config, TransformerGroup group) {
        this.config = config;
        this.group = group;
    }

    /** Random weights generated on each GPU in its shard's shapes: the values of {@code DeviceWeights.random(c, seed)}. */
    public static CudaTensorParallelModel random(List<CudaRank> ranks, ModelConfig c, long seed, int kvTokens) {
        int n = ranks.size();
        new TensorParallelShard(0, n).checkDivides(c);
        return new CudaTensorParallelModel(c, new TransformerGroup(c, ranks, kvTokens, (rank, on, comm, cache, blocks) -> {
            TensorParallelShard shard = new TensorParallelShard(rank, n);
            DeviceWeights w = DeviceWeights.randomShard(on.device(), c, seed, shard);
            return new CudaTransformer(on.device(), on.cublas(), shard.shardConfig(c), w, blocks, CudaModels.BLOCK_SIZE, cache,
                    comm == null ? ParallelRole.SINGLE : new ParallelRole.TensorShard(comm));
        }));
    }

    /** Loaded weights: each rank uploads its {@link TensorParallelShard#slice} (column parts staged in host memory). */
    public static CudaTensorParallelModel of(List<CudaRank> ranks, ModelConfig c, TransformerWeights weights, int kvTokens) {
        int n = ranks.size();
        new TensorParallelShard(0, n).checkDivides(c);
        return new CudaTensorParallelModel(c, new TransformerGroup(c, ranks, kvTokens, (rank, on, comm, cache, blocks) -> {
            TensorParallelShard shard = new TensorParallelShard(rank, n);
            ModelConfig sc = shard.shardConfig(c);
            DeviceWeights w;
            try (Arena staging = Arena.ofConfined()) {
                w = DeviceWeights.upload(on.device(), sc, shard.slice(c, weights, staging));
            }
            return new CudaTransformer(on.device(), on.cublas(), sc, w, blocks, CudaModels.BLOCK_SIZE, cache,
                    comm == null ? ParallelRole.SINGLE : new ParallelRole.TensorShard(comm));
        }));
    }

    @Override public ModelConfig config() { return config; }

    public int size() { return group.size(); }

    @Override public KvSequence newSequence() { return group.cache.newSequence(); }

    /** The KV block bookkeeping all ranks share (a server reports its use). */
    public io.specdec.core.kv.PagedKvCache cache() { return group.cache; }

    @Override public List<float[][]> forward(List<SequenceInput> batch) {
        CudaTransformer.Step step = group.prepare(batch);
        return CudaTransformer.split(group.runLogits(step, false), step.plan().rowsPerInput(), config.vocabSize());
    }

    /** The argmax (greedy token) of each requested row, in order; only these ints come back to the host. */
    @Override
    public int[] forwardArgmax(List<SequenceInput> batch) {
        return group.runArgmax(group.prepare(batch), false);
    }

    /**
     * A sampled chain whose draft runs on rank 0's GPU verifies there with the fused acceptance kernel: after the
     * verify forward rank 0 holds the gathered logits of every row, and the draft's rows never left that GPU (see
     * {@link CudaTransformer#holdDraftLogits} for when this applies; otherwise empty and the host decides).
     */
    @Override
    public java.util.Optional<io.specdec.core.backend.HeldLogits> holdDraftLogits(LanguageModel draft,
                                                                                  io.specdec.core.sampling.SamplingParams params) {
        return group.members.getFirst().holdFor(draft, params, config.vocabSize());
    }

    @Override
    public io.specdec.core.speculative.SpeculativeSampler.Outcome verifyHeld(SequenceInput input, int[] tokens,
            io.specdec.core.backend.HeldLogits held, io.specdec.core.sampling.SamplingParams params,
            io.specdec.core.sampling.Sampler sampler) {
        CudaTransformer.checkVerify(input, tokens, params);
        CudaTransformer.Step step = group.prepare(List.of(input));
        return group.runThen(step, rank0 -> rank0.acceptHeld(tokens, held, params, sampler, config.vocabSize()));
    }

    /**
     * One forward over the batch on every rank; rank 0, holding the gathered logits, answers each input the way it
     * asks ({@link CudaTransformer#answerEach}): held drafts are decided there, argmax inputs send ids, only row inputs
     * copy logits to the host. Held rounds ({@link io.specdec.core.backend.RowUse.HeldChainVerify}, drafted on rank 0's
     * GPU): rank 0 fills the verify's token slots from their ids and NCCL-broadcasts the batch's token slots to every
     * rank before the forward, then decides every round ({@link CudaTransformer#verifyHeldPart}).
     */
    @Override
    public List<io.specdec.core.backend.RowResult> forwardEach(List<SequenceInput> batch, List<io.specdec.core.backend.RowUse> uses) {
        int vocab = config.vocabSize();
        group.members.getFirst().checkUses(batch, uses, vocab);
        CudaTransformer.Step step = group.prepare(batch);
        // after the append, which may refuse the batch for a full cache (then no uniform was drawn)
        HeldVerifications held = HeldVerifications.of(batch, uses, group.ranks.getFirst().device());
        if (held != null) return group.onEveryRank((m, rank, comm) -> m.verifyHeldPart(step, held, uses, rank, comm, vocab));
        return group.runThen(step, rank0 -> rank0.answerEach(step.plan().rowsPerInput(), uses, vocab, null, false));
    }

    /**
     * Held rounds in served batches too: drafted on rank 0's GPU (a draft beside the target's first shard), verified
     * by {@link #forwardEach}.
     */
    @Override
    public boolean verifiesHeldChainsInBatches() {
        return true;
    }

    /**
     * A greedy or temperature-only chain whose draft runs on rank 0's GPU keeps whole rounds on the GPUs
     * ({@link CudaHeldChain}): draft ids feed the draft's next step on the device and reach every rank's verify input
     * by NCCL broadcast from rank 0; rank 0 decides and the host reads only the decision. Empty (the host path) with
     * {@code -Dspecdec.cuda.hostDraftTokens=true} or where {@link CudaHeldChain#open} says so.
     */
    @Override
    public java.util.Optional<io.specdec.core.backend.HeldChain> holdDraftChain(LanguageModel draft,
                                                                              io.specdec.core.sampling.SamplingParams params) {
        return CudaHeldChain.open(group.ranks, draft, params, config.vocabSize());
    }

    /** A held round verified as a batch of one ({@link #forwardEach}): token slots broadcast from rank 0, one decision read. */
    @Override
    public io.specdec.core.speculative.SpeculativeSampler.Outcome verifyHeldChain(SequenceInput input,
            io.specdec.core.backend.HeldChain held, io.specdec.core.sampling.SamplingParams params,
            io.specdec.core.sampling.Sampler sampler) {
        io.specdec.core.backend.RowResult r = forwardEach(List.of(input),
                List.of(new io.specdec.core.backend.RowUse.HeldChainVerify(held, params, sampler))).getFirst();
        return ((io.specdec.core.backend.RowResult.Verified) r).outcome();
    }

    /** Bytes of weights each forward reads, over all ranks (the embedding table counts one row a token: left out). */
    public long weightBytesRead() {
        long all = 0;
        for (CudaTransformer m : group.members) all += m.weights().matrixBytes() - 2L * config.vocabSize() * config.dim();
        return all + (config.tiedEmbeddings() && group.size() == 1 ? 2L * config.vocabSize() * config.dim() : 0);
    }

    /** CUDA graphs for small steps on every rank (with their NCCL calls captured) or eager launches. */
    public void useGraphs(boolean on) {
        group.forEachMember(m -> m.useGraphs(on));
    }

    @Override public void close() {
        group.close();
    }
}
