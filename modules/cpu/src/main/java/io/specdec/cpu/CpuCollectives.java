package io.specdec.cpu;

import java.util.concurrent.BrokenBarrierException;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * In-memory collectives for a group of CPU "devices" (thread groups) — the CPU stand-in for NCCL. Every member calls
 * each collective in the same order; sums run in rank order, so every member gets bit-identical results. A member
 * that fails breaks the group ({@link #abort}) so the others stop waiting instead of hanging.
 */
public final class CpuCollectives {
    private static final long TIMEOUT_SECONDS = 600;
    private final int size;
    private final CyclicBarrier barrier;
    private final float[][] deposits;

    public CpuCollectives(int size) {
        if (size < 1) throw new IllegalArgumentException("group size must be positive: " + size);
        this.size = size;
        this.barrier = new CyclicBarrier(size);
        this.deposits = new float[size][];
    }

    public int size() { return size; }

    public Member member(int rank) {
        if (rank < 0 || rank >= size) throw new IllegalArgumentException("rank " + rank + " of " + size);
        return new Member(rank);
    }

    /** Wakes every waiting member with a failure (after one member failed). */
    public void abort() { barrier.reset(); }

    /** Lets the group be used again after an abort. */
    public void reset() { barrier.reset(); }

    private void await() {
        if (size == 1) return;
        try {
            barrier.await(TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            barrier.reset();
            throw new IllegalStateException("interrupted in a collective", e);
        } catch (BrokenBarrierException | TimeoutException e) {
            throw new IllegalStateException("another member of the device group failed", e);
        }
    }

    /** One rank's handle. */
    public final class Member {
        private final int rank;

        private Member(int rank) { this.rank = rank; }

        public int rank() { return rank; }

        public int size() { return size; }

        /** Every member's {@code buffer} becomes the element-wise sum over all members (summed in rank order). */
        public void allReduceSum(float[] buffer) {
            if (size == 1) return;
            deposits[rank] = buffer;
            await();
            float[] sum = new float[buffer.length];
            for (float[] d : deposits) {
                if (d.length != buffer.length) throw new IllegalStateException("all-reduce of unequal buffers");
                for (int i = 0; i < sum.length; i++) sum[i] += d[i];
            }
            await(); // everyone has read every deposit
            System.arraycopy(sum, 0, buffer, 0, sum.length);
        }

        /** {@code out} becomes the concatenation of every member's {@code local}, in rank order. */
        public void allGather(float[] local, float[] out) {
            deposits[rank] = local;
            await();
            int n = local.length;
            for (int r = 0; r < size; r++) System.arraycopy(deposits[r], 0, out, r * n, n);
            await();
        }
    }
}
