package io.specdec.core.kv;

import java.util.List;

/** Combinations of block stores. */
public final class KvBlockStores {
    private KvBlockStores() {
    }

    /**
     * One store over several (the ranks of a tensor-parallel group or the replicas of a layer-parallel draft share
     * one block table, each keeping its own K/V): every copy goes to every member.
     */
    public static KvBlockStore allOf(List<? extends KvBlockStore> stores) {
        List<KvBlockStore> members = List.copyOf(stores);
        return new KvBlockStore() {
            @Override public void copyBlock(int source, int target) {
                for (KvBlockStore s : members) s.copyBlock(source, target);
            }

            @Override public void copySlot(int sourceSlot, int targetSlot) {
                for (KvBlockStore s : members) s.copySlot(sourceSlot, targetSlot);
            }
        };
    }
}
