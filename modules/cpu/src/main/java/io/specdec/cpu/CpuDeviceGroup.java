package io.specdec.cpu;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.function.IntFunction;

/**
 * N CPU "devices" run side by side: one driving thread per device (each device also has its own
 * {@link ParallelExecutor} for its loops) and the in-memory collectives that connect them. A device that fails
 * aborts the collectives, so the others fail too instead of waiting forever; the first failure is rethrown.
 */
final class CpuDeviceGroup implements AutoCloseable {
    private final int size;
    private final ExecutorService threads;
    private final CpuCollectives collectives;

    CpuDeviceGroup(int size, String name) {
        this.size = size;
        this.collectives = new CpuCollectives(size);
        this.threads = Executors.newFixedThreadPool(size, Thread.ofPlatform().daemon().name(name + "-device-", 0).factory());
    }

    int size() { return size; }

    CpuCollectives collectives() { return collectives; }

    /** Runs {@code task(rank)} on every device at once and returns the results in rank order. */
    <T> List<T> onEachDevice(IntFunction<T> task) {
        if (size == 1) return java.util.Collections.singletonList(task.apply(0));
        List<Future<T>> futures = new ArrayList<>(size);
        for (int r = 0; r < size; r++) {
            int rank = r;
            futures.add(threads.submit(() -> {
                try {
                    return task.apply(rank);
                } catch (RuntimeException | Error e) {
                    collectives.abort();
                    throw e;
                }
            }));
        }
        List<T> results = new ArrayList<>(size);
        Throwable first = null;
        for (Future<T> f : futures) {
            try {
                results.add(f.get());
            } catch (ExecutionException e) {
                // the root failure, not the "another member failed" that it caused elsewhere
                Throwable cause = e.getCause();
                if (first == null || isSecondary(first) && !isSecondary(cause)) first = cause;
                results.add(null);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                collectives.abort();
                throw new IllegalStateException("interrupted while the devices ran", e);
            }
        }
        if (first != null) {
            collectives.reset();
            if (first instanceof RuntimeException re) throw re;
            if (first instanceof Error err) throw err;
            throw new IllegalStateException(first);
        }
        return results;
    }

    private static boolean isSecondary(Throwable t) {
        return t instanceof IllegalStateException && String.valueOf(t.getMessage()).startsWith("another member");
    }

    @Override public void close() { threads.shutdownNow(); }
}
