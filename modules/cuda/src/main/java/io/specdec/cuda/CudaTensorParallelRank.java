package io.specdec.cuda;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvCacheExhaustedException;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.parallel.TensorParallelShard;
import io.specdec.core.sampling.SamplingParams;

import java.lang.foreign.Arena;
import java.util.List;

/**
 * One rank of a tensor-parallel model in a process of its own (one JVM per GPU): this rank's
 * {@link TensorParallelShard} on one GPU, a {@link CudaTransformer} in the {@link ParallelRole.TensorShard} role over an
 * NCCL communicator made with {@code ncclCommInitRank} from the group's unique id, and a KV cache of its own. Every
 * rank must run the same forwards in the same order (the ranks of a group over actors do: they run the same scheduler
 * step); each then holds the whole model's logits (all-gathered), so device sampling picks the same ids everywhere.
 * Driven from one thread (the group member's): each call makes the device current on it. {@link #config()} is the
 * whole model's.
 */
public final class CudaTensorParallelRank implements LanguageModel {
    private final ModelConfig config;
    private final CudaDevice device;
    private final Cublas cublas;
    private final Collectives comm;
    private final CudaTransformer shard;
    private volatile String broken;

    private CudaTensorParallelRank(ModelConfig config, CudaDevice device, Cublas cublas, Collectives comm, CudaTransformer shard) {
        this.config = config;
        this.device = device;
        this.cublas = cublas;
        this.comm = comm;
        this.shard = shard;
    }

    /** Loaded weights: uploads this rank's slice (column parts staged in host memory). Blocks until every rank joined. */
    public static CudaTensorParallelRank of(int gpu, ModelConfig c, TransformerWeights weights, byte[] uniqueId, int rank,
                                            int size, int kvTokens) {
        return open(gpu, c, uniqueId, rank, size, kvTokens, (device, shard) -> {
            try (Arena staging = Arena.ofConfined()) {
                return DeviceWeights.upload(device, shard.shardConfig(c), shard.slice(c, weights, staging));
            }
        });
    }

    /** Random weights in this rank's shard shapes: the values {@code CudaTensorParallelModel.random} gives that rank. */
    public static CudaTensorParallelRank random(int gpu, ModelConfig c, long seed, byte[] uniqueId, int rank, int size,
                                                int kvTokens) {
        return open(gpu, c, uniqueId, rank, size, kvTokens, (device, shard) -> DeviceWeights.randomShard(device, c, seed, shard));
    }

    private interface Weights {
        DeviceWeights on(CudaDevice device, TensorParallelShard shard);
    }

    private static CudaTensorParallelRank open(int gpu, ModelConfig c, byte[] uniqueId, int rank, int size, int kvTokens,
                                               Weights weights) {
        TensorParallelShard part = new TensorParallelShard(rank, size);
        part.checkDivides(c);
        String reason = CudaDevice.unavailableReason().orElse(null);
        if (reason != null) throw new IllegalArgumentException("tensor-parallel rank " + rank + ": " + reason);
        CudaDevice device = CudaDevice.open(gpu);
        Cublas cublas = null;
        Collectives comm = null;
        DeviceWeights w = null;
        try {
            cublas = new Cublas(device);
            comm = Collectives.join(device, uniqueId, size, rank);
            warmUp(device, comm);
            w = weights.on(device, part);
            CudaTransformer shard = new CudaTransformer(device, cublas, part.shardConfig(c), w,
                    CudaTransformer.blocksFor(kvTokens, CudaModels.BLOCK_SIZE), CudaModels.BLOCK_SIZE, null,
                    new ParallelRole.TensorShard(comm));
            return new CudaTensorParallelRank(c, device, cublas, comm, shard);
        } catch (RuntimeException e) {
            if (w != null) w.free(device);
            if (comm != null) comm.abort();
            if (cublas != null) cublas.close();
            device.close();
            throw e;
        }
    }

    /** The first collective outside any graph capture (NCCL connects lazily); an all-reduce of ones must give the size. */
    private static void warmUp(CudaDevice device, Collectives comm) {
        DeviceBuffer b = device.allocate(4 * 1024);
        try {
            device.launch("fill_f32", 4, 1, 256, b, 1024L, 1f);
            comm.allReduceSum(b, 1024);
            float[] out = new float[1024];
            device.copyToHost(out, b, 1024);
            if (out[1023] != comm.size()) {
                throw new IllegalStateException("NCCL warm-up all-reduce of ones gave " + out[1023] + ", expected " + comm.size());
            }
        } finally {
            device.free(b);
        }
    }

    @Override public ModelConfig config() { return config; }

    public int rank() { return comm.rank(); }

    public int size() { return comm.size(); }

    public PagedKvCache cache() { return shard.cache(); }

    public CudaDevice device() { return device; }

    Cublas cublas() { return cublas; }

    Collectives communicator() { return comm; }

    @Override public KvSequence newSequence() {
        device.makeCurrent();
        return shard.newSequence();
    }

    @Override public List<float[][]> forward(List<SequenceInput> batch) {
        check();
        try {
            return shard.forward(batch);
        } catch (RuntimeException e) {
            throw failed(e);
        }
    }

    @Override public int[] forwardArgmax(List<SequenceInput> batch) {
        check();
        try {
            return shard.forwardArgmax(batch);
        } catch (RuntimeException e) {
            throw failed(e);
        }
    }

    @Override public int[] forwardSampled(List<SequenceInput> batch, SamplingParams params, double[] uniforms) {
        check();
        try {
            return shard.forwardSampled(batch, params, uniforms);
        } catch (RuntimeException e) {
            throw failed(e);
        }
    }

    /**
     * Whole chain rounds held on this rank's GPU, for a sequential draft replica beside it ({@link CudaDraftRank}):
     * every rank drafts the same ids with its own replica and, holding the all-gathered logits, decides alike, so the
     * round never leaves the GPU and no rank sends another anything but the forward's own collectives.
     */
    @Override public java.util.Optional<io.specdec.core.backend.HeldChain> holdDraftChain(LanguageModel draft, SamplingParams params) {
        check();
        return CudaHeldChain.open(device, draft, params, config.vocabSize());
    }

    @Override public boolean verifiesHeldChainsInBatches() { return true; }

    /** Held rounds are verified on this rank ({@link CudaTransformer#answeredHere}); other batches as before (host rows). */
    @Override public List<io.specdec.core.backend.RowResult> forwardEach(List<SequenceInput> batch, List<io.specdec.core.backend.RowUse> uses) {
        check();
        if (uses.stream().noneMatch(u -> u instanceof io.specdec.core.backend.RowUse.HeldChainVerify)) {
            return LanguageModel.super.forwardEach(batch, uses);
        }
        try {
            return shard.answeredHere(batch, uses);
        } catch (RuntimeException e) {
            throw failed(e);
        }
    }

    void check() {
        if (broken != null) throw new IllegalStateException("tensor-parallel rank " + rank() + " is unusable: " + broken);
        device.makeCurrent();
    }

    /** Breaks the rank unless {@code e} was raised before any collective, alike on every rank (a full KV cache). */
    private RuntimeException failed(RuntimeException e) {
        if (!(e instanceof KvCacheExhaustedException)) {
            abort("a forward failed: " + e.getMessage());
        }
        return e;
    }

    /**
     * Aborts the communicator (any thread): a forward blocked in a collective on a peer that is gone returns with an
     * error, and the peers' pending collectives fail too. The rank is unusable afterwards.
     */
    public void abort(String why) {
        if (broken != null) return;
        broken = why;
        comm.abort();
    }

    /** Leaves the group: the communicator is aborted, not destroyed (a destroy could wait on a peer that is gone). */
    @Override public void close() {
        abort("rank " + rank() + " closed");
        device.makeCurrent();
        shard.close();
        shard.weights().free(device);
        cublas.close();
        device.close();
    }
}
