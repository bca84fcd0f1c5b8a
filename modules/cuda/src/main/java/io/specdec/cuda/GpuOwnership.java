package io.specdec.cuda;

import java.util.Map;
import java.util.concurrent.ConcurrentSkipListMap;

/**
 * Which GPU each live device allocation of this process was made for, so a use on another GPU is caught where it
 * happens. This matters in the shared-GPU test mode ({@link Collectives#SHARED_GPU_RANKS_PROPERTY}): there every rank
 * sits on one physical GPU and one context, so a rank that reads another rank's buffer gets the right bits and the run
 * passes. On two GPUs the same code would fault or read the wrong device's memory. With the audit on
 * ({@link CudaDevice#auditOwnership()}), every kernel argument, copy, GEMM operand and collective buffer is checked
 * against the GPU the calling device stands for (its {@link CudaDevice#gpu()}, not the physical ordinal it shares).
 * <p>
 * Device addresses are unique within a process (one unified address space across contexts and GPUs), so one map of
 * address ranges serves every device.
 */
final class GpuOwnership {
    /** The process's allocations: start address → end and GPU. */
    static final GpuOwnership PROCESS = new GpuOwnership();

    private record Range(long end, int gpu) {}

    private final ConcurrentSkipListMap<Long, Range> ranges = new ConcurrentSkipListMap<>();
    /** Buffer uses checked so far (a check's evidence that the audit ran). */
    private final java.util.concurrent.atomic.LongAdder checked = new java.util.concurrent.atomic.LongAdder();

    void allocated(long address, long bytes, int gpu) {
        ranges.put(address, new Range(address + bytes, gpu));
    }

    void freed(long address) {
        ranges.remove(address);
    }

    /** The GPU that made the allocation holding all of {@code b}, or -1 when no live allocation holds it. */
    int ownerOf(DeviceBuffer b) {
        Map.Entry<Long, Range> e = ranges.floorEntry(b.address());
        return e != null && b.address() + b.bytes() <= e.getValue().end() ? e.getValue().gpu() : -1;
    }

    /**
     * Throws when {@code b} is not wholly inside an allocation of GPU {@code gpu}; {@code use} names the call and the
     * argument for the message (null buffers pass: kernels take them as "absent").
     */
    void require(int gpu, DeviceBuffer b, String use) {
        if (b == null) return;
        checked.increment();
        int owner = ownerOf(b);
        if (owner == gpu || endOfAllocationOf(gpu, b)) return;
        throw new IllegalStateException(use + " on GPU " + gpu + ": " + b + (owner < 0
                ? " is in no live allocation (freed, or out of range)"
                : " belongs to GPU " + owner + " (on separate GPUs this is another device's memory)"));
    }

    /** An empty slice at the very end of one of {@code gpu}'s allocations (where another allocation may begin). */
    private boolean endOfAllocationOf(int gpu, DeviceBuffer b) {
        if (b.bytes() != 0) return false;
        Map.Entry<Long, Range> before = ranges.lowerEntry(b.address());
        return before != null && before.getValue().end() == b.address() && before.getValue().gpu() == gpu;
    }

    long checked() { return checked.sum(); }

    /** {@link #require} for every {@link DeviceBuffer} among a kernel's arguments. */
    void requireArguments(int gpu, String kernel, Object... args) {
        for (int i = 0; i < args.length; i++) {
            if (args[i] instanceof DeviceBuffer b) require(gpu, b, "kernel " + kernel + " argument " + i);
        }
    }
}
