package io.specdec.cpu;

import java.time.Duration;

/**
 * In-memory collectives for a group of CPU "devices" (thread groups) — the CPU stand-in for NCCL. Every member calls
 * each collective in the same order; sums run in rank order, so every member gets bit-identical results. Members that
 * call different collectives (another kind, or another length) all fail with the same message, where NCCL would hang
 * or mix up the data: the group's call sequences are checked wherever the stand-in runs (CI's CPU groups too). A member
 * that fails breaks the group ({@link #abort}) so the others stop waiting instead of hanging; {@link #close} breaks it
 * for good (a rank of a group spread over actors left: no later collective may wait for it).
 */
public final class CpuCollectives {
    private static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(600);
    private final int size;
    private final long timeoutNanos;
    private final float[][] deposits;
    /** What each member called in the current collective ({@link #ALL_REDUCE} or {@link #ALL_GATHER}). */
    private final String[] calls;
    private static final String ALL_REDUCE = "all-reduce", ALL_GATHER = "all-gather";
    // One barrier, guarded by this lock: a generation ends when every member arrived, or is broken by abort/timeout.
    private final Object lock = new Object();
    private int arrived;
    private long generation;
    private long brokenGeneration = -1;
    private String closed;

    public CpuCollectives(int size) {
        this(size, DEFAULT_TIMEOUT);
    }

    /** @param timeout how long a member waits in one collective for the others before the group counts as broken */
    public CpuCollectives(int size, Duration timeout) {
        if (size < 1) throw new IllegalArgumentException("group size must be positive: " + size);
        this.size = size;
        this.timeoutNanos = timeout.toNanos();
        this.deposits = new float[size][];
        this.calls = new String[size];
    }

    public int size() { return size; }

    public Member member(int rank) {
        if (rank < 0 || rank >= size) throw new IllegalArgumentException("rank " + rank + " of " + size);
        return new Member(rank);
    }

    /** Wakes every waiting member with a failure (after one member failed); later collectives start afresh. */
    public void abort() {
        synchronized (lock) {
            breakGeneration();
        }
    }

    /** Lets the group be used again after an abort. */
    public void reset() { abort(); }

    /** Breaks the group for good: waiting members and every later collective fail with {@code reason}. */
    public void close(String reason) {
        synchronized (lock) {
            if (closed == null) closed = reason;
            breakGeneration();
        }
    }

    private void breakGeneration() {
        if (arrived > 0) {
            brokenGeneration = generation;
            generation++;
            arrived = 0;
            lock.notifyAll();
        }
    }

    private void await() {
        if (size == 1) return;
        synchronized (lock) {
            if (closed != null) throw left();
            long mine = generation;
            if (++arrived == size) {
                arrived = 0;
                generation++;
                lock.notifyAll();
                return;
            }
            long deadline = System.nanoTime() + timeoutNanos;
            while (generation == mine) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    breakGeneration();
                    throw new IllegalStateException("another member of the device group failed: no answer within "
                            + timeoutNanos / 1_000_000 + " ms");
                }
                try {
                    lock.wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    breakGeneration();
                    throw new IllegalStateException("interrupted in a collective", e);
                }
            }
            if (brokenGeneration == mine) throw closed != null ? left() : new IllegalStateException("another member of the device group failed");
        }
    }

    private IllegalStateException left() {
        return new IllegalStateException("another member of the device group left: " + closed);
    }

    /**
     * Every member's call, or null when they agree. Read by all members after the same barrier, so all of them see the
     * same deposits and fail alike (none is left waiting for the others).
     */
    private String disagreement() {
        for (int r = 1; r < size; r++) {
            if (!calls[r].equals(calls[0]) || deposits[r].length != deposits[0].length) {
                StringBuilder b = new StringBuilder("the ranks called different collectives:");
                for (int i = 0; i < size; i++) b.append(i == 0 ? " " : ", ").append("rank ").append(i).append(' ')
                        .append(calls[i]).append(" of ").append(deposits[i].length).append(" floats");
                return b.toString();
            }
        }
        return null;
    }

    /** One rank's handle. */
    public final class Member implements HostCollective {
        private final int rank;

        private Member(int rank) { this.rank = rank; }

        @Override public int rank() { return rank; }

        @Override public int size() { return size; }

        /** Closes the whole group ({@link CpuCollectives#close}). */
        @Override public void close(String reason) { CpuCollectives.this.close(reason); }

        /** Deposits this member's part of collective {@code call}, waits for the others and checks they called the same. */
        private void deposit(String call, float[] part) {
            deposits[rank] = part;
            calls[rank] = call;
            await();
            String disagreement = disagreement();
            if (disagreement != null) {
                await();   // everyone has read the deposits; the next collective may overwrite them
                throw new IllegalStateException(disagreement);
            }
        }

        /** The group this handle belongs to (to close it when the rank goes away). */
        public CpuCollectives group() { return CpuCollectives.this; }

        /** Every member's {@code buffer} becomes the element-wise sum over all members (summed in rank order). */
        @Override public void allReduceSum(float[] buffer) {
            if (size == 1) return;
            deposit(ALL_REDUCE, buffer);
            float[] sum = new float[buffer.length];
            for (float[] d : deposits) {
                for (int i = 0; i < sum.length; i++) sum[i] += d[i];
            }
            await(); // everyone has read every deposit
            System.arraycopy(sum, 0, buffer, 0, sum.length);
        }

        /** {@code out} becomes the concatenation of every member's {@code local}, in rank order. */
        @Override public void allGather(float[] local, float[] out) {
            if (out.length < local.length * size) {
                throw new IllegalArgumentException("all-gather output " + out.length + " < " + local.length + " x " + size);
            }
            deposit(ALL_GATHER, local);
            int n = local.length;
            for (int r = 0; r < size; r++) System.arraycopy(deposits[r], 0, out, r * n, n);
            await();
        }
    }
}
