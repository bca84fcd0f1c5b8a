package io.specdec.cuda;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * One GPU of a multi-GPU group and the one thread that drives it: the device (its context made current on that
 * thread), its cuBLAS handle, and an executor of one named platform thread. Everything that touches the device goes
 * through {@link #submit}, so a device is never driven by two threads. This is the per-GPU part a DeviceWorker actor
 * owns; the multi-GPU models ({@link CudaTensorParallelModel}, {@link CudaLayerParallelModel}) borrow ranks and may
 * share them (a target shard and a draft replica on the same GPU run on the same thread and stream).
 */
public final class CudaRank implements AutoCloseable {
    private final int gpu;
    private final ExecutorService thread;
    private final CudaDevice device;
    private final Cublas cublas;

    private CudaRank(int gpu) {
        this.gpu = gpu;
        this.thread = Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "specdec-cuda-" + gpu);
            t.setDaemon(true);
            return t;
        });
        CudaDevice d = null;
        Cublas c = null;
        try {
            d = thread.submit(() -> CudaDevice.open(gpu)).get();
            CudaDevice opened = d;
            c = thread.submit(() -> new Cublas(opened)).get();
        } catch (InterruptedException | ExecutionException e) {
            if (d != null) {
                CudaDevice opened = d;
                thread.submit(opened::close);
            }
            thread.shutdown();
            throw new IllegalStateException("opening GPU " + gpu + " failed: " + cause(e), cause(e));
        }
        this.device = d;
        this.cublas = c;
    }

    /**
     * Opens GPUs {@code 0 .. count-1}, each on its own thread. With {@value Collectives#SHARED_GPU_RANKS_PROPERTY} (a
     * test mode) rank i opens GPU {@code i % visible}, so one GPU can hold a group's several ranks.
     */
    public static List<CudaRank> open(int count) {
        List<CudaRank> ranks = new ArrayList<>();
        try {
            for (int i = 0; i < count; i++) ranks.add(new CudaRank(i));
            return ranks;
        } catch (RuntimeException e) {
            ranks.forEach(CudaRank::close);
            throw e;
        }
    }

    /** GPU {@code gpu} (in the shared-GPU test mode a visible GPU stands in for it: {@link CudaDevice#open}). */
    public static CudaRank of(int gpu) {
        return new CudaRank(gpu);
    }

    /** The GPU this rank stands for ({@link CudaDevice#gpu()}). */
    public int gpu() { return gpu; }

    public CudaDevice device() { return device; }

    public Cublas cublas() { return cublas; }

    public <T> Future<T> submit(Callable<T> work) {
        return thread.submit(() -> {
            device.makeCurrent();
            return work.call();
        });
    }

    /** Runs {@code work} on this rank's thread and waits for it. */
    public <T> T call(Callable<T> work) {
        return await(submit(work));
    }

    public void run(Runnable work) {
        call(() -> {
            work.run();
            return null;
        });
    }

    static <T> T await(Future<T> f) {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while waiting for a GPU thread", e);
        } catch (ExecutionException e) {
            Throwable c = cause(e);
            if (c instanceof RuntimeException r) throw r;
            if (c instanceof Error err) throw err;
            throw new IllegalStateException(c);
        }
    }

    /** Waits for every future; on the first failure waits a little for the rest, then rethrows the failure. */
    static <T> List<T> awaitAll(List<Future<T>> futures) {
        List<T> out = new ArrayList<>(futures.size());
        RuntimeException failure = null;
        for (Future<T> f : futures) {
            try {
                out.add(failure == null ? await(f) : f.get(5, TimeUnit.SECONDS));
            } catch (RuntimeException e) {
                if (failure == null) failure = e;
                out.add(null);
            } catch (InterruptedException | ExecutionException | TimeoutException e) {
                out.add(null);
            }
        }
        if (failure != null) throw failure;
        return out;
    }

    private static Throwable cause(Exception e) {
        return e instanceof ExecutionException && e.getCause() != null ? e.getCause() : e;
    }

    @Override public void close() {
        try {
            thread.submit(() -> {
                cublas.close();
                device.close();
            }).get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            System.err.println("[specdec cuda] closing GPU " + gpu + ": " + e);
        } finally {
            thread.shutdown();
        }
    }
}
