package io.specdec.core.kv;

import java.util.Arrays;

/**
 * One sequence's view of a {@link PagedKvCache}: its block table, and the token and position id stored in each
 * logical slot. Slots are logical indices 0..length-1; {@link #physicalSlot} maps them to the backend's storage.
 * Supports the operations speculative decoding needs: truncate (drop rejected drafts), fork (tree branches share
 * the prefix copy-on-write) and compaction (keep the accepted path of a tree).
 */
public final class KvSequence {
    private final PagedKvCache cache;
    private int[] blocks = new int[4];
    private int blockCount;
    private int[] tokens = new int[64];
    private int[] positions = new int[64];
    private int length;
    private boolean released;

    KvSequence(PagedKvCache cache) {
        this.cache = cache;
    }

    public int length() { return length; }

    public int tokenAt(int slot) {
        checkSlot(slot);
        return tokens[slot];
    }

    public int positionAt(int slot) {
        checkSlot(slot);
        return positions[slot];
    }

    /** Tokens of slots 0..length-1. */
    public int[] tokens() { return Arrays.copyOf(tokens, length); }

    /** Position the next appended token takes by default: one past the last stored position. */
    public int nextPosition() { return length == 0 ? 0 : positions[length - 1] + 1; }

    public int physicalSlot(int slot) {
        checkSlot(slot);
        return blocks[slot / cache.blockSize()] * cache.blockSize() + slot % cache.blockSize();
    }

    /**
     * Appends entries for {@code newTokens} at the given positions and returns the first new slot. Allocates blocks
     * and copies a shared last block first (copy-on-write), so the caller may write the new slots' K/V at once.
     */
    public int append(int[] newTokens, int[] newPositions) {
        if (newTokens.length != newPositions.length) {
            throw new IllegalArgumentException(newTokens.length + " tokens but " + newPositions.length + " positions");
        }
        checkLive();
        int start = length;
        int end = length + newTokens.length;
        makeWritable(start, end);
        if (end > tokens.length) {
            int capacity = Math.max(end, tokens.length * 2);
            tokens = Arrays.copyOf(tokens, capacity);
            positions = Arrays.copyOf(positions, capacity);
        }
        System.arraycopy(newTokens, 0, tokens, start, newTokens.length);
        System.arraycopy(newPositions, 0, positions, start, newPositions.length);
        length = end;
        return start;
    }

    /** Drops slots from {@code newLength} on (rejected drafts); whole blocks past the end go back to the cache. */
    public void truncate(int newLength) {
        checkLive();
        if (newLength < 0 || newLength > length) {
            throw new IllegalArgumentException("cannot truncate a sequence of " + length + " to " + newLength);
        }
        length = newLength;
        int needed = (newLength + cache.blockSize() - 1) / cache.blockSize();
        while (blockCount > needed) cache.release(blocks[--blockCount]);
    }

    /**
     * Records the ids of slots {@code from..from+ids.length-1}, appended with placeholder ids because the ids stayed
     * on a device (a held chain round, {@code HeldChain}); changes no K/V.
     */
    public void relabel(int from, int[] ids) {
        checkLive();
        if (from < 0 || from + ids.length > length) {
            throw new IllegalArgumentException("cannot relabel slots " + from + ".." + (from + ids.length - 1) + " of a sequence of " + length);
        }
        System.arraycopy(ids, 0, tokens, from, ids.length);
    }

    /** A new sequence sharing every block with this one; either may then append without affecting the other. */
    public KvSequence fork() {
        checkLive();
        KvSequence child = new KvSequence(cache);
        child.blocks = Arrays.copyOf(blocks, blocks.length);
        child.blockCount = blockCount;
        child.tokens = Arrays.copyOf(tokens, tokens.length);
        child.positions = Arrays.copyOf(positions, positions.length);
        child.length = length;
        for (int i = 0; i < blockCount; i++) cache.retain(blocks[i]);
        return child;
    }

    /**
     * Keeps, after slot {@code from}, only the given slots (ascending, all &gt;= from) moved down to be contiguous —
     * the accepted path of a verified tree — and drops the rest.
     */
    public void keepOnly(int from, int[] slots) {
        checkLive();
        int target = from;
        int previous = from - 1;
        for (int slot : slots) {
            if (slot <= previous || slot >= length) {
                throw new IllegalArgumentException("slots to keep must be ascending within [" + from + ", " + length + "): "
                        + Arrays.toString(slots));
            }
            previous = slot;
            if (slot != target) {
                makeWritable(target, target + 1);
                cache.store().copySlot(physicalSlot(slot), physicalSlot(target));
                tokens[target] = tokens[slot];
                positions[target] = positions[slot];
            }
            target++;
        }
        truncate(target);
    }

    /** Returns every block to the cache; the sequence cannot be used afterwards. */
    public void release() {
        if (released) return;
        for (int i = 0; i < blockCount; i++) cache.release(blocks[i]);
        blockCount = 0;
        length = 0;
        released = true;
    }

    public boolean isReleased() { return released; }

    /** Number of blocks this sequence holds (shared ones included). */
    public int blockCount() { return blockCount; }

    public int[] blockTable() { return Arrays.copyOf(blocks, blockCount); }

    private void makeWritable(int startSlot, int endSlot) {
        int bs = cache.blockSize();
        int firstBlock = startSlot / bs;
        int neededBlocks = (endSlot + bs - 1) / bs;
        for (int b = firstBlock; b < Math.min(blockCount, neededBlocks); b++) {
            if (cache.shared(blocks[b])) {
                int copy = cache.allocate();
                cache.store().copyBlock(blocks[b], copy);
                cache.release(blocks[b]);
                blocks[b] = copy;
            }
        }
        while (blockCount < neededBlocks) {
            if (blockCount == blocks.length) blocks = Arrays.copyOf(blocks, blocks.length * 2);
            blocks[blockCount++] = cache.allocate();
        }
    }

    private void checkSlot(int slot) {
        if (slot < 0 || slot >= length) throw new IndexOutOfBoundsException("slot " + slot + " of " + length);
    }

    private void checkLive() {
        if (released) throw new IllegalStateException("sequence already released");
    }
}
