package io.specdec.cuda;

import io.specdec.core.kv.KvBlockStore;

import java.util.List;
import java.util.concurrent.Future;

/**
 * The block store behind one {@code PagedKvCache} shared by the ranks of a multi-GPU model: every block copy the
 * bookkeeping asks for (copy-on-write after a fork, tree compaction) is done by each rank on its own device, on that
 * rank's thread, and waited for, so the next forward finds the copies in order on every device.
 */
final class ReplicatedKvStore implements KvBlockStore {
    private final List<CudaRank> ranks;
    private List<KvBlockStore> stores = List.of();

    ReplicatedKvStore(List<CudaRank> ranks) {
        this.ranks = List.copyOf(ranks);
    }

    /** The ranks' stores, once their transformers exist (they need the cache this store belongs to). */
    void bind(List<KvBlockStore> rankStores) {
        if (ranks.size() != rankStores.size()) throw new IllegalArgumentException(ranks.size() + " ranks, " + rankStores.size() + " stores");
        this.stores = List.copyOf(rankStores);
    }

    @Override public void copyBlock(int source, int target) {
        onEveryRank(i -> stores.get(i).copyBlock(source, target));
    }

    @Override public void copySlot(int sourceSlot, int targetSlot) {
        onEveryRank(i -> stores.get(i).copySlot(sourceSlot, targetSlot));
    }

    private void onEveryRank(java.util.function.IntConsumer work) {
        if (stores.size() != ranks.size()) throw new IllegalStateException("block copy before the ranks' stores were bound");
        List<Future<Object>> done = new java.util.ArrayList<>();
        for (int i = 0; i < ranks.size(); i++) {
            int r = i;
            done.add(ranks.get(i).submit(() -> {
                work.accept(r);
                return null;
            }));
        }
        CudaRank.awaitAll(done);
    }
}
