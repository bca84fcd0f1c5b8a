package io.specdec.cuda;

import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvBlockStore;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.ModelConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Future;

/**
 * The machinery the multi-GPU models share: one {@link CudaTransformer} per rank (each built and driven on its rank's
 * thread), one NCCL communicator per rank, and one KV block bookkeeping for all of them. A forward appends its batch
 * once on the caller's thread, then every rank uploads the same metadata and runs its part; rank 0's output is read
 * back. If any rank fails, the communicators are aborted (so no peer waits forever in a collective) and the group
 * refuses further work.
 */
final class TransformerGroup implements AutoCloseable {

    /** Builds rank {@code rank}'s transformer on that rank's thread. */
    interface Member {
        CudaTransformer build(int rank, CudaRank on, Collectives comm, PagedKvCache cache, int blocks);
    }

    final ModelConfig config;
    final List<CudaRank> ranks;
    final List<CudaTransformer> members;
    final PagedKvCache cache;
    private final Collectives[] comms;
    private volatile String broken;

    TransformerGroup(ModelConfig config, List<CudaRank> ranks, int kvTokens, Member member) {
        if (ranks.isEmpty()) throw new IllegalArgumentException("a group needs at least one GPU");
        this.config = config;
        this.ranks = List.copyOf(ranks);
        this.comms = ranks.size() > 1 ? Collectives.forDevices(ranks.stream().map(CudaRank::device).toArray(CudaDevice[]::new)) : null;
        try {
            if (comms != null) warmUp();
            int blocks = CudaTransformer.blocksFor(kvTokens, CudaModels.BLOCK_SIZE);
            ReplicatedKvStore store = new ReplicatedKvStore(ranks);
            this.cache = new PagedKvCache(blocks, CudaModels.BLOCK_SIZE, store);
            List<Future<CudaTransformer>> built = new ArrayList<>();
            for (int i = 0; i < ranks.size(); i++) {
                int r = i;
                built.add(ranks.get(i).submit(() -> member.build(r, ranks.get(r), comms == null ? null : comms[r], cache, blocks)));
            }
            this.members = CudaRank.awaitAll(built);
            List<KvBlockStore> stores = new ArrayList<>();
            for (CudaTransformer m : members) stores.add(m.kvStore());
            store.bind(stores);
        } catch (RuntimeException e) {
            abort("building the group failed: " + e);
            throw e;
        }
    }

    /**
     * The first collective on each communicator, on all rank threads at once (NCCL connects lazily, and a first
     * collective inside a graph capture is best avoided); checks that an all-reduce of ones sums to the group size.
     */
    private void warmUp() {
        List<Future<Float>> sums = new ArrayList<>();
        for (int i = 0; i < ranks.size(); i++) {
            int r = i;
            sums.add(ranks.get(i).submit(() -> {
                CudaDevice d = ranks.get(r).device();
                DeviceBuffer b = d.allocate(4 * 1024);
                try {
                    d.launch("fill_f32", 4, 1, 256, b, 1024L, 1f);
                    comms[r].allReduceSum(b, 1024);
                    float[] out = new float[1024];
                    d.copyToHost(out, b, 1024);
                    return out[1023];
                } finally {
                    d.free(b);
                }
            }));
        }
        for (float s : CudaRank.awaitAll(sums)) {
            if (s != ranks.size()) throw new IllegalStateException("NCCL warm-up all-reduce of ones gave " + s + ", expected " + ranks.size());
        }
    }

    int size() { return ranks.size(); }

    /** Appends the batch to the shared sequences (caller's thread) and describes it for the ranks. */
    CudaTransformer.Step prepare(List<SequenceInput> batch) {
        if (broken != null) throw new IllegalStateException("this multi-GPU model is unusable: " + broken);
        return CudaTransformer.describe(config, batch, CudaTransformer.append(config, batch));
    }

    /** Appends a batch of held rounds to the shared sequences (caller's thread), for every rank to draft. */
    CudaTransformer.HeldBatch prepareHeld(List<io.specdec.core.backend.HeldRound> rounds, boolean[] exactFirst) {
        if (broken != null) throw new IllegalStateException("this multi-GPU model is unusable: " + broken);
        return CudaTransformer.HeldBatch.of(config, rounds, exactFirst);
    }

    /** Every rank runs the step; returns rank 0's argmax rows. */
    int[] runArgmax(CudaTransformer.Step step, boolean fuzzy) {
        int rows = step.plan().rows();
        return onEveryRank(step, true, fuzzy, m -> m.readArgmax(rows));
    }

    /** Every rank runs the step; returns rank 0's logits [rows, vocab]. */
    float[] runLogits(CudaTransformer.Step step, boolean fuzzy) {
        int rows = step.plan().rows();
        return onEveryRank(step, false, fuzzy, m -> m.readLogits(rows));
    }

    /** Every rank runs the step; then {@code read} runs on rank 0's thread (which holds the gathered logits). */
    <T> T runThen(CudaTransformer.Step step, java.util.function.Function<CudaTransformer, T> read) {
        return onEveryRank(step, false, false, read);
    }

    private <T> T onEveryRank(CudaTransformer.Step step, boolean argmax, boolean fuzzy, java.util.function.Function<CudaTransformer, T> read) {
        List<Future<T>> done = new ArrayList<>();
        for (int i = 0; i < ranks.size(); i++) {
            int r = i;
            done.add(ranks.get(i).submit(() -> {
                try {
                    CudaTransformer m = members.get(r);
                    m.run(step, argmax, fuzzy);
                    return r == 0 ? read.apply(m) : null;
                } catch (RuntimeException | Error e) {
                    abort("rank " + r + " failed: " + e);
                    throw e;
                }
            }));
        }
        return CudaRank.awaitAll(done).getFirst();
    }

    /** One rank's part of a step that needs the rank's communicator (null in a group of one). */
    interface RankPart<T> {
        T run(CudaTransformer member, int rank, Collectives comm);
    }

    /** Runs {@code part} on every rank's thread at once (they meet in its collectives); returns rank 0's result. */
    <T> T onEveryRank(RankPart<T> part) {
        return onEveryRankEach(part).getFirst();
    }

    /** As {@link #onEveryRank(RankPart)}, every rank's result in rank order. */
    <T> List<T> onEveryRankEach(RankPart<T> part) {
        if (broken != null) throw new IllegalStateException("this multi-GPU model is unusable: " + broken);
        List<Future<T>> done = new ArrayList<>();
        for (int i = 0; i < ranks.size(); i++) {
            int r = i;
            done.add(ranks.get(i).submit(() -> {
                try {
                    return part.run(members.get(r), r, comms == null ? null : comms[r]);
                } catch (RuntimeException | Error e) {
                    abort("rank " + r + " failed: " + e);
                    throw e;
                }
            }));
        }
        return CudaRank.awaitAll(done);
    }

    /** Runs {@code work} on every member, each on its rank's thread. */
    void forEachMember(java.util.function.Consumer<CudaTransformer> work) {
        List<Future<Object>> done = new ArrayList<>();
        for (int i = 0; i < ranks.size(); i++) {
            CudaTransformer m = members.get(i);
            done.add(ranks.get(i).submit(() -> {
                work.accept(m);
                return null;
            }));
        }
        CudaRank.awaitAll(done);
    }

    /** Marks the group unusable and aborts its communicators, which releases peers blocked in a collective. */
    void abort(String why) {
        if (broken != null) return;
        broken = why;
        if (comms != null) for (Collectives c : comms) {
            try {
                c.abort();
            } catch (RuntimeException ignored) {
                // already torn down
            }
        }
    }

    @Override public void close() {
        List<Future<Object>> done = new ArrayList<>();
        for (int i = 0; members != null && i < ranks.size(); i++) {
            int r = i;
            done.add(ranks.get(i).submit(() -> {
                CudaTransformer m = members.get(r);
                if (m != null) {
                    m.close();
                    m.weights().free(ranks.get(r).device());
                }
                if (comms != null && broken == null) comms[r].close();
                return null;
            }));
        }
        CudaRank.awaitAll(done);
    }
}
