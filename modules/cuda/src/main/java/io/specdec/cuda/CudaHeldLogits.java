package io.specdec.cuda;

import io.specdec.core.backend.HeldLogits;

/**
 * A draft's logits rows [rows, vocab] f32 in one GPU's memory, for {@link FusedAcceptance} (docs/ALGORITHMS.md §6):
 * the draft copies each step's row in on the device, the target's verifier reads them in place. Grows on demand,
 * keeping the rows it holds.
 */
final class CudaHeldLogits implements HeldLogits {
    private final CudaDevice device;
    private final int vocab;
    private DeviceBuffer rows;
    private int capacity;

    CudaHeldLogits(CudaDevice device, int vocab, int capacity) {
        if (vocab < 1 || capacity < 1) throw new IllegalArgumentException("vocab " + vocab + ", capacity " + capacity);
        this.device = device;
        this.vocab = vocab;
        this.capacity = capacity;
        this.rows = device.allocate(rowBytes() * capacity);
    }

    CudaDevice device() { return device; }

    @Override public int vocab() { return vocab; }

    private long rowBytes() { return 4L * vocab; }

    /** Row {@code i}'s memory, growing the buffer (and keeping rows 0..capacity-1) when {@code i} is beyond it. */
    DeviceBuffer slot(int i) {
        if (i < 0) throw new IndexOutOfBoundsException("row " + i);
        if (i >= capacity) {
            int grown = Math.max(i + 1, 2 * capacity);
            DeviceBuffer bigger = device.allocate(rowBytes() * grown);
            device.copy(bigger, rows, rowBytes() * capacity);
            device.synchronize();
            device.free(rows);
            rows = bigger;
            capacity = grown;
        }
        return rows.slice(rowBytes() * i, rowBytes());
    }

    /** Rows 0..n-1 as one [n, vocab] buffer. */
    DeviceBuffer rows(int n) {
        if (n < 1 || n > capacity) throw new IndexOutOfBoundsException(n + " rows of " + capacity);
        return rows.slice(0, rowBytes() * n);
    }

    @Override public float[] row(int i) {
        if (i < 0 || i >= capacity) throw new IndexOutOfBoundsException("row " + i + " of " + capacity);
        float[] out = new float[vocab];
        device.copyToHost(out, rows.slice(rowBytes() * i, rowBytes()), vocab);
        return out;
    }

    @Override public String acceptance() { return "device-fused"; }

    @Override public void close() {
        if (rows != null) device.free(rows);
        rows = null;
    }
}
