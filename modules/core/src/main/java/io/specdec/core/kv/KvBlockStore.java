package io.specdec.core.kv;

/**
 * Where a backend keeps the keys and values of every layer, addressed by physical block. The block manager calls
 * it only to copy data it must not share (copy-on-write after a fork) or to move entries (tree compaction).
 */
public interface KvBlockStore {

    /** Copies all slots of block {@code source} into block {@code target}, for every layer. */
    void copyBlock(int source, int target);

    /** Copies one slot (physical index block*blockSize+offset) to another, for every layer. */
    void copySlot(int sourceSlot, int targetSlot);

    /** A store that holds nothing (for block accounting in tests and for models that keep no cache). */
    KvBlockStore NONE = new KvBlockStore() {
        @Override public void copyBlock(int source, int target) { }

        @Override public void copySlot(int sourceSlot, int targetSlot) { }
    };
}
