package io.specdec.core.kv;

import java.util.ArrayDeque;
import java.util.Deque;

/**
 * The block manager of a paged KV cache: fixed-size blocks, reference counts so forked sequences share their
 * common prefix, a free list. The data lives in a backend's {@link KvBlockStore}; this class only decides which
 * physical block each sequence's slots go to. Not thread-safe: one owner (a device worker) drives it.
 */
public final class PagedKvCache {
    private final int blockSize;
    private final int[] refCounts;
    private final Deque<Integer> free = new ArrayDeque<>();
    private final KvBlockStore store;

    public PagedKvCache(int blocks, int blockSize, KvBlockStore store) {
        if (blocks <= 0 || blockSize <= 0) throw new IllegalArgumentException("blocks and block size must be positive");
        this.blockSize = blockSize;
        this.refCounts = new int[blocks];
        this.store = store;
        for (int b = 0; b < blocks; b++) free.add(b);
    }

    public int blockSize() { return blockSize; }

    public int totalBlocks() { return refCounts.length; }

    public int freeBlocks() { return free.size(); }

    /** Fraction of blocks in use, for metrics and admission. */
    public double usage() { return 1.0 - (double) free.size() / refCounts.length; }

    public KvSequence newSequence() {
        return new KvSequence(this);
    }

    KvBlockStore store() { return store; }

    int allocate() {
        Integer b = free.poll();
        if (b == null) {
            throw new KvCacheExhaustedException("KV cache full: all " + refCounts.length + " blocks of " + blockSize
                    + " tokens are in use");
        }
        refCounts[b] = 1;
        return b;
    }

    void retain(int block) {
        refCounts[block]++;
    }

    void release(int block) {
        if (refCounts[block] <= 0) throw new IllegalStateException("block " + block + " released twice");
        if (--refCounts[block] == 0) free.add(block);
    }

    boolean shared(int block) {
        return refCounts[block] > 1;
    }

    int refCount(int block) {
        return refCounts[block];
    }
}
