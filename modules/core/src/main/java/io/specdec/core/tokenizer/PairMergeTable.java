package io.specdec.core.tokenizer;

import java.util.Arrays;

/**
 * Open-addressing map from a token pair (left id, right id) to its merge rank and result id. A HashMap keyed by
 * {@code Long} hashes (left << 32 | right) to {@code left ^ right}, which collides for most BPE pairs and made
 * encoding orders of magnitude slower; this table mixes the key properly and stores no boxes.
 */
final class PairMergeTable {

    private static final long EMPTY = -1L;

    private final long[] keys;
    private final int[] ranks;
    private final int[] results;
    private final int mask;

    PairMergeTable(int expectedSize) {
        int capacity = Integer.highestOneBit(Math.max(4, expectedSize * 2 - 1)) << 1;
        keys = new long[capacity];
        ranks = new int[capacity];
        results = new int[capacity];
        mask = capacity - 1;
        Arrays.fill(keys, EMPTY);
    }

    private static long key(int left, int right) {
        return ((long) left << 32) | (right & 0xFFFFFFFFL);
    }

    private int slot(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h ^ (h >>> 29)) & mask;
    }

    /** Adds a merge unless the pair already has one (the earlier, lower rank wins). */
    void putIfAbsent(int left, int right, int rank, int result) {
        long key = key(left, right);
        int i = slot(key);
        while (keys[i] != EMPTY) {
            if (keys[i] == key) {
                return;
            }
            i = (i + 1) & mask;
        }
        keys[i] = key;
        ranks[i] = rank;
        results[i] = result;
    }

    /** The slot of the pair's merge, or -1 when the pair never merges. */
    int find(int left, int right) {
        long key = key(left, right);
        for (int i = slot(key); keys[i] != EMPTY; i = (i + 1) & mask) {
            if (keys[i] == key) {
                return i;
            }
        }
        return -1;
    }

    int rankAt(int slot) {
        return ranks[slot];
    }

    int resultAt(int slot) {
        return results[slot];
    }
}
