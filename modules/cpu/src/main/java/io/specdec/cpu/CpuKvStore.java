package io.specdec.cpu;

import io.specdec.core.kv.KvBlockStore;

/**
 * Keys and values of every layer in heap arrays, {@code [layer][physical slot * kvDim]}; physical slot =
 * block * blockSize + offset, as the block manager hands them out.
 */
final class CpuKvStore implements KvBlockStore {
    final float[][] keys;
    final float[][] values;
    private final int kvDim;
    private final int blockSize;

    CpuKvStore(int layers, int slots, int kvDim, int blockSize) {
        long floats = (long) slots * kvDim;
        if (floats > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("KV cache of " + slots + " slots x " + kvDim
                    + " floats per layer exceeds one Java array; lower --kv-tokens");
        }
        this.keys = new float[layers][(int) floats];
        this.values = new float[layers][(int) floats];
        this.kvDim = kvDim;
        this.blockSize = blockSize;
    }

    int slots() { return keys.length == 0 ? 0 : keys[0].length / kvDim; }

    int blockSize() { return blockSize; }

    @Override public void copyBlock(int source, int target) {
        int n = blockSize * kvDim;
        for (int l = 0; l < keys.length; l++) {
            System.arraycopy(keys[l], source * n, keys[l], target * n, n);
            System.arraycopy(values[l], source * n, values[l], target * n, n);
        }
    }

    @Override public void copySlot(int sourceSlot, int targetSlot) {
        for (int l = 0; l < keys.length; l++) {
            System.arraycopy(keys[l], sourceSlot * kvDim, keys[l], targetSlot * kvDim, kvDim);
            System.arraycopy(values[l], sourceSlot * kvDim, values[l], targetSlot * kvDim, kvDim);
        }
    }
}
