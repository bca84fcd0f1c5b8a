package io.specdec.cpu;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A fixed group of named platform threads that run one parallel loop at a time: the CPU backend's "device". The
 * calling thread takes part, so {@code threads = 1} runs everything on the caller. Workers spin briefly before
 * parking because a decode step launches a hundred short loops and a park/unpark per loop would dominate.
 */
public final class ParallelExecutor implements AutoCloseable {

    /** Work over an index range [start, end). */
    @FunctionalInterface
    public interface RangeTask {
        void run(int start, int end);
    }

    /** One parallel loop; immutable except for its counters, so a late worker can never mix two loops. */
    private static final class Job {
        final RangeTask task;
        final int size;
        final int chunks;
        final AtomicInteger nextChunk = new AtomicInteger();
        final AtomicInteger pending;
        volatile Throwable failure;

        Job(RangeTask task, int size, int chunks) {
            this.task = task;
            this.size = size;
            this.chunks = chunks;
            this.pending = new AtomicInteger(chunks);
        }

        void runChunks() {
            int c;
            while ((c = nextChunk.getAndIncrement()) < chunks) {
                int start = (int) ((long) size * c / chunks);
                int end = (int) ((long) size * (c + 1) / chunks);
                try {
                    task.run(start, end);
                } catch (Throwable e) {
                    failure = e;
                } finally {
                    pending.decrementAndGet();
                }
            }
        }
    }

    private final int threads;
    private final Thread[] workers;
    private volatile Job current;
    private volatile boolean closed;

    public ParallelExecutor(int threads, String name) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.threads = threads;
        this.workers = new Thread[threads - 1];
        for (int i = 0; i < workers.length; i++) {
            Thread t = new Thread(this::workerLoop, name + "-" + (i + 1));
            t.setDaemon(true);
            workers[i] = t;
            t.start();
        }
    }

    public int threads() { return threads; }

    /** Runs {@code task} over [0, size) split into chunks of at least {@code grain}; returns when all are done. */
    public void parallelFor(int size, int grain, RangeTask task) {
        if (size <= 0) return;
        int maxChunks = Math.max(1, size / Math.max(1, grain));
        int n = Math.min(maxChunks, threads * 4);
        if (threads == 1 || n == 1) {
            task.run(0, size);
            return;
        }
        Job job = new Job(task, size, n);
        current = job;
        for (Thread w : workers) LockSupport.unpark(w);
        job.runChunks();
        while (job.pending.get() > 0) Thread.onSpinWait();
        current = null;
        Throwable f = job.failure;
        if (f != null) {
            if (f instanceof RuntimeException re) throw re;
            if (f instanceof Error e) throw e;
            throw new IllegalStateException(f);
        }
    }

    private void workerLoop() {
        Job last = null;
        long spins = 0;
        while (!closed) {
            Job job = current;
            if (job != null && job != last) {
                job.runChunks();
                last = job;
                spins = 0;
            } else if (++spins < 50_000) {
                Thread.onSpinWait();
            } else {
                LockSupport.parkNanos(100_000);
            }
        }
    }

    @Override public void close() {
        closed = true;
        for (Thread w : workers) LockSupport.unpark(w);
    }
}
