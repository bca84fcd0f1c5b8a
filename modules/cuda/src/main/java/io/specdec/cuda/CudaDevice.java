package io.specdec.cuda;

import jcuda.NativePointerObject;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUevent;
import jcuda.driver.CUfunction;
import jcuda.driver.CUgraph;
import jcuda.driver.CUgraphExec;
import jcuda.driver.CUstream;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;
import java.util.Optional;

import static jcuda.driver.JCudaDriver.*;

/**
 * One GPU through JCuda's driver API: its primary context (the one cuBLAS, a runtime-API library, also uses), the
 * kernel module loaded from the packaged fatbin, allocations and copies, launches on one blocking stream (so the
 * synchronous copies on the legacy stream order with them), CUDA graph capture and replay, event timing. Every call
 * sets the context current first, so any one thread at a time may drive it; with several GPUs in one process each
 * device is opened and driven by its own thread ({@link CudaRank}), nothing here assumes GPU 0.
 */
public final class CudaDevice implements AutoCloseable {
    /** Where the Maven build puts the kernels (native/build.sh). */
    public static final String FATBIN_RESOURCE = "/native/specdec_kernels.fatbin";

    private final CUdevice device = new CUdevice();
    private final CUcontext context = new CUcontext();
    private final CUmodule module = new CUmodule();
    private final Map<String, Function> functions = new HashMap<>();
    /** Dynamic shared memory limits raised by {@link #allowDynamicShared}, by kernel. */
    private final Map<String, Integer> dynamicShared = new HashMap<>();
    /** Concurrent only as a guard: a device is meant to be driven by one thread at a time (its rank's thread). */
    private final Map<Long, DevicePointer> allocations = new java.util.concurrent.ConcurrentHashMap<>();
    private final int ordinal;
    /** The GPU this device stands for: its ordinal, except in the shared-GPU test mode (several stand on one). */
    private final int gpu;
    /**
     * Whether this device's allocations are entered in {@link GpuOwnership} and every use of a device buffer here is
     * checked against it ({@link #auditOwnership}); off, nothing of the audit runs.
     */
    private final boolean audit = Boolean.parseBoolean(
            System.getProperty(AUDIT_OWNERSHIP_PROPERTY, String.valueOf(Collectives.sharedGpuRanks())));
    private final String name;
    private final Stream stream = new Stream();
    private long allocatedBytes;
    /** Host-device copies and their bytes, both directions (checks count a round's traffic); two threads may copy in turn. */
    private final java.util.concurrent.atomic.AtomicLong hostCopies = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong hostCopyBytes = new java.util.concurrent.atomic.AtomicLong();
    private boolean closed;

    private CudaDevice(int gpu) {
        this.gpu = gpu;
        this.ordinal = Collectives.gpuOf(gpu);
        JCudaDriver.setExceptionsEnabled(true);
        cuInit(0);
        cuDeviceGet(device, ordinal);
        cuDevicePrimaryCtxRetain(context, device);
        cuCtxSetCurrent(context);
        byte[] fatbin = readFatbin().orElseThrow(() -> new IllegalStateException(
                "the kernels " + FATBIN_RESOURCE + " are not on the classpath: this build of specdec-cuda ran without nvcc"));
        byte[] terminated = java.util.Arrays.copyOf(fatbin, fatbin.length + 1);
        cuModuleLoadData(module, terminated);
        byte[] nameBytes = new byte[256];
        cuDeviceGetName(nameBytes, nameBytes.length, device);
        this.name = new String(nameBytes).trim().replace("\0", "");
        cuStreamCreate(stream, 0);
        this.programmatic = computeCapabilityMajor() >= 9 && !Boolean.getBoolean(ProgrammaticLaunch.DISABLE_PROPERTY)
                ? new ProgrammaticLaunch(stream.address()) : null;
    }

    private int computeCapabilityMajor() {
        int[] major = new int[1];
        cuDeviceGetAttribute(major, jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
        return major[0];
    }

    /** Whether {@link #PROGRAMMATIC_KERNELS} launch as programmatic dependents here. */
    public boolean programmaticLaunches() { return programmatic != null; }

    /**
     * Whether RoPE/append and the grouped attention read the step's metadata (positions, slots, sequence rows, block
     * tables; copied before the forward's first kernel, never written by one) and do the work that depends on nothing
     * else (RoPE's rotations, the first K/V rows' L2 prefetch) before pdl_wait, i.e. while the kernels before them
     * still run. Argument {@code metaFirst} of those kernels; {@value #META_FIRST_PROPERTY}{@code =false} waits first.
     */
    public boolean metaFirst() { return metaFirst; }

    public static final String META_FIRST_PROPERTY = "specdec.cuda.metaFirst";
    private final boolean metaFirst = !System.getProperty(META_FIRST_PROPERTY, "true").equals("false");

    /**
     * Kernels that call {@code pdl_wait()} before touching memory an earlier kernel writes, and so are launched as
     * programmatic dependents ({@link ProgrammaticLaunch}) on GPUs of compute capability 9.0 and up: the decode
     * step's layer kernels and the argmax after the output GEMM. Adding a kernel here without that wait in its body is a
     * race (ProgrammaticKernelsTest reads the kernel sources).
     */
    public static final java.util.Set<String> PROGRAMMATIC_KERNELS = java.util.Set.of("rmsnorm_bf16", "rmsnorm_vec_bf16", "rmsnorm_vec_add_bf16",
            "qkv_rope_append", "attention_paged", "attention_gqa_hd64", "attention_gqa_hd128", "attention_gqa_hd256",
            "attention_gqa_hd64_many", "attention_gqa_hd128_many", "attention_gqa_hd256_many",
            "attention_gqa_hd64_kvlo", "attention_gqa_hd128_kvlo", "attention_gqa_hd256_kvlo",
            "attention_gqa_hd64_many_kvlo", "attention_gqa_hd128_many_kvlo", "attention_gqa_hd256_many_kvlo",
            "attention_gqa_hd64_f16", "attention_gqa_hd128_f16", "attention_gqa_hd256_f16",
            "attention_gqa_hd64_many_f16", "attention_gqa_hd128_many_f16", "attention_gqa_hd256_many_f16",
            "attention_gqa_hd64_rope", "attention_gqa_hd128_rope", "attention_gqa_hd256_rope",
            "attention_gqa_hd64_rope_f16", "attention_gqa_hd128_rope_f16", "attention_gqa_hd256_rope_f16",
            "swiglu_bf16", "gemm_skinny_mma", "gemm_skinny_mma_swiglu", "gemm_skinny_mma16",
            "gemm_skinny_mma_swiglu16", "gemv_bf16", "argmax_rows", "argmax_rows_split");

    /** Programmatic launches where the GPU has them and they are not turned off, else null. */
    private final ProgrammaticLaunch programmatic;

    /** A JCuda function that can tell its raw handle (for {@link ProgrammaticLaunch}). */
    private static final class Function extends CUfunction {
        long address() { return getNativePointer(); }
    }

    /** A JCuda stream that can tell its raw handle (for cuBLAS). */
    private static final class Stream extends CUstream {
        long address() { return getNativePointer(); }
    }

    long streamAddress() { return stream.address(); }

    /** Starts recording this thread's launches into a graph instead of running them. */
    public void beginCapture() {
        makeCurrent();
        cuStreamBeginCapture(stream, jcuda.driver.CUstreamCaptureMode.CU_STREAM_CAPTURE_MODE_THREAD_LOCAL);
    }

    /** Ends the capture begun by {@link #beginCapture} and returns the instantiated graph. */
    public CUgraphExec endCapture() {
        CUgraph graph = new CUgraph();
        cuStreamEndCapture(stream, graph);
        CUgraphExec exec = new CUgraphExec();
        cuGraphInstantiate(exec, graph, 0L);
        cuGraphDestroy(graph);
        return exec;
    }

    /** Leaves capture mode after a failed capture, dropping whatever was recorded. */
    public void abandonCapture() {
        try {
            CUgraph graph = new CUgraph();
            cuStreamEndCapture(stream, graph);
            cuGraphDestroy(graph);
        } catch (RuntimeException ignored) {
            // the capture was already invalidated; the stream is out of capture mode either way
        }
    }

    public void launchGraph(CUgraphExec exec) {
        makeCurrent();
        cuGraphLaunch(exec, stream);
    }

    public void destroyGraph(CUgraphExec exec) {
        makeCurrent();
        cuGraphExecDestroy(exec);
    }

    /**
     * Opens GPU {@code gpu}; throws with the reason when there is none or the kernels are missing. In the shared-GPU
     * test mode ({@value Collectives#SHARED_GPU_RANKS_PROPERTY}) GPU {@code gpu % visible} stands in for it.
     */
    public static CudaDevice open(int gpu) {
        return new CudaDevice(gpu);
    }

    /**
     * Checks, on every kernel launch, copy, GEMM and collective, that each device buffer was allocated for this
     * device's {@link #gpu()} ({@link GpuOwnership}); on by default in the shared-GPU test mode, where a rank that
     * used another GPU's buffer would otherwise go unnoticed. A diagnostic: it costs a map look-up per buffer.
     */
    public static final String AUDIT_OWNERSHIP_PROPERTY = "specdec.cuda.auditOwnership";

    /** Whether this device checks its buffers' owners ({@value #AUDIT_OWNERSHIP_PROPERTY}). */
    public boolean auditOwnership() { return audit; }

    /** Buffer uses the ownership audit has checked in this process, on every device (none fails silently: it throws). */
    public static long ownershipChecks() { return GpuOwnership.PROCESS.checked(); }

    /** Throws when {@code b} is not memory of this device's GPU (with the audit on; else nothing). */
    void requireOwned(DeviceBuffer b, String use) {
        if (audit) GpuOwnership.PROCESS.require(gpu, b, use);
    }

    /** GPUs the driver sees (0 where there is no driver). */
    public static int count() {
        try {
            JCudaDriver.setExceptionsEnabled(true);
            cuInit(0);
            int[] count = new int[1];
            cuDeviceGetCount(count);
            return count[0];
        } catch (Throwable t) {
            return 0;
        }
    }

    /** Why no GPU can be used here (no driver, no device, no kernels), or empty when one can. */
    public static Optional<String> unavailableReason() {
        if (readFatbin().isEmpty()) return Optional.of("kernels not built (no nvcc when specdec-cuda was built)");
        try {
            JCudaDriver.setExceptionsEnabled(true);
            cuInit(0);
            int[] count = new int[1];
            cuDeviceGetCount(count);
            if (count[0] == 0) return Optional.of("no CUDA device");
            return Optional.empty();
        } catch (Throwable t) {
            String m = String.valueOf(t.getMessage());
            int nl = m.indexOf('\n');
            return Optional.of("no usable CUDA driver (" + t.getClass().getSimpleName() + ": "
                    + (nl < 0 ? m : m.substring(0, nl)) + ")");
        }
    }

    /**
     * Kernel experiments: a fatbin file to load instead of the packaged one, so that builds of the kernels with other
     * compile-time settings can be compared in one run on a GPU host (bench/gpu/fatbin-rounds.sh).
     */
    public static final String FATBIN_PROPERTY = "specdec.cuda.fatbin";

    static Optional<byte[]> readFatbin() {
        String file = System.getProperty(FATBIN_PROPERTY);
        if (file != null) {
            try {
                return Optional.of(java.nio.file.Files.readAllBytes(java.nio.file.Path.of(file)));
            } catch (IOException e) {
                throw new java.io.UncheckedIOException("cannot read " + FATBIN_PROPERTY + "=" + file, e);
            }
        }
        try (InputStream in = CudaDevice.class.getResourceAsStream(FATBIN_RESOURCE)) {
            return in == null ? Optional.empty() : Optional.of(in.readAllBytes());
        } catch (IOException e) {
            return Optional.empty();
        }
    }

    public String name() { return name; }

    /** The driver's index of this GPU. */
    public int ordinal() { return ordinal; }

    /** The GPU this device stands for: {@link #ordinal()}, or in the shared-GPU test mode the index it was opened as. */
    public int gpu() { return gpu; }

    public long allocatedBytes() { return allocatedBytes; }

    /** Makes this GPU's context current on the calling thread (every method here does it first). */
    public void makeCurrent() {
        cuCtxSetCurrent(context);
    }

    public DeviceBuffer allocate(long bytes) {
        makeCurrent();
        DevicePointer p = new DevicePointer();
        cuMemAlloc(p, Math.max(bytes, 256));
        DeviceBuffer b = new DeviceBuffer(p.address(), bytes);
        allocations.put(b.address(), p);
        if (audit) GpuOwnership.PROCESS.allocated(b.address(), Math.max(bytes, 256), gpu);
        allocatedBytes += bytes;
        return b;
    }

    public void free(DeviceBuffer b) {
        if (b == null) return;
        DevicePointer p = allocations.remove(b.address());
        if (p == null) throw new IllegalArgumentException("not an allocation of this device: " + b);
        if (audit) GpuOwnership.PROCESS.freed(b.address());
        makeCurrent();
        cuMemFree(p);
        allocatedBytes -= b.bytes();
    }

    public void copyToDevice(DeviceBuffer dst, MemorySegment src) {
        requireOwned(dst, "copy to the device");
        makeCurrent();
        counted(src.byteSize());
        long chunk = 1L << 30;
        for (long off = 0; off < src.byteSize(); off += chunk) {
            long n = Math.min(chunk, src.byteSize() - off);
            cuMemcpyHtoD(dst.slice(off, n).pointer(), Pointer.to(src.asSlice(off, n).asByteBuffer()), n);
        }
    }

    public void copyToDevice(DeviceBuffer dst, int[] src) {
        requireOwned(dst, "copy to the device");
        makeCurrent();
        counted(4L * src.length);
        cuMemcpyHtoD(dst.pointer(), Pointer.to(src), 4L * src.length);
    }

    public void copyToDevice(DeviceBuffer dst, float[] src) {
        requireOwned(dst, "copy to the device");
        makeCurrent();
        counted(4L * src.length);
        cuMemcpyHtoD(dst.pointer(), Pointer.to(src), 4L * src.length);
    }

    public void copyToDevice(DeviceBuffer dst, double[] src) {
        requireOwned(dst, "copy to the device");
        makeCurrent();
        counted(8L * src.length);
        cuMemcpyHtoD(dst.pointer(), Pointer.to(src), 8L * src.length);
    }

    public void copyToDevice(DeviceBuffer dst, short[] src, int count) {
        requireOwned(dst, "copy to the device");
        makeCurrent();
        counted(2L * count);
        cuMemcpyHtoD(dst.pointer(), Pointer.to(src), 2L * count);
    }

    public void copyToHost(float[] dst, DeviceBuffer src, int count) {
        requireOwned(src, "copy to the host");
        makeCurrent();
        counted(4L * count);
        cuMemcpyDtoH(Pointer.to(dst), src.pointer(), 4L * count);
    }

    public void copyToHost(int[] dst, DeviceBuffer src, int count) {
        requireOwned(src, "copy to the host");
        makeCurrent();
        counted(4L * count);
        cuMemcpyDtoH(Pointer.to(dst), src.pointer(), 4L * count);
    }

    /**
     * The first {@code words} 4-byte words of {@code src} on the host, after this device's queued work (a synchronous
     * copy). Not counted in {@link #hostCopies}: the host-staged collectives' transport, standing in for NCCL.
     */
    float[] stageOut(DeviceBuffer src, int words) {
        requireOwned(src, "host-staged collective");
        makeCurrent();
        float[] out = new float[words];
        if (words > 0) cuMemcpyDtoH(Pointer.to(out), src.pointer(), 4L * words);
        return out;
    }

    /** Writes {@code src} to the start of {@code dst} (synchronous; not counted, as {@link #stageOut}). */
    void stageIn(DeviceBuffer dst, float[] src) {
        requireOwned(dst, "host-staged collective");
        makeCurrent();
        if (4L * src.length > dst.bytes()) throw new IllegalArgumentException(4L * src.length + " bytes into a " + dst.bytes() + "-byte buffer");
        if (src.length > 0) cuMemcpyHtoD(dst.pointer(), Pointer.to(src), 4L * src.length);
    }

    private void counted(long bytes) {
        hostCopies.incrementAndGet();
        hostCopyBytes.addAndGet(bytes);
    }

    /** Host-to-device and device-to-host copies made so far through this device (uploads of weights included). */
    public long hostCopies() { return hostCopies.get(); }

    /** Bytes of {@link #hostCopies}. */
    public long hostCopyBytes() { return hostCopyBytes.get(); }

    public void copy(DeviceBuffer dst, DeviceBuffer src, long bytes) {
        requireOwned(dst, "device copy destination");
        requireOwned(src, "device copy source");
        makeCurrent();
        cuMemcpyDtoDAsync(dst.pointer(), src.pointer(), bytes, stream);
    }

    public void synchronize() {
        makeCurrent();
        cuCtxSynchronize();
    }

    /** Looks kernels up ahead of time, so that none is first looked up while a graph is being captured. */
    public void preload(String... kernels) {
        makeCurrent();
        for (String k : kernels) function(k);
    }

    private Function function(String kernel) {
        return functions.computeIfAbsent(kernel, k -> {
            Function f = new Function();
            cuModuleGetFunction(f, module, k);
            return f;
        });
    }

    /**
     * Launches {@code kernel} on the default stream. Arguments: {@link DeviceBuffer} (or null: a null pointer),
     * Integer, Long, Float, Double — in the kernel's parameter order and C types.
     */
    public void launch(String kernel, int gridX, int gridY, int blockX, Object... args) {
        launchShared(kernel, gridX, gridY, blockX, 0, args);
    }

    /** As {@link #launch}, with {@code sharedBytes} of dynamic shared memory per block. */
    public void launchShared(String kernel, int gridX, int gridY, int blockX, int sharedBytes, Object... args) {
        if (audit) GpuOwnership.PROCESS.requireArguments(gpu, kernel, args);
        makeCurrent();
        if (programmatic != null && PROGRAMMATIC_KERNELS.contains(kernel)) {
            programmatic.launch(kernel, function(kernel).address(), gridX, gridY, blockX, sharedBytes, args);
            return;
        }
        NativePointerObject[] params = new NativePointerObject[args.length];
        for (int i = 0; i < args.length; i++) {
            params[i] = switch (args[i]) {
                case null -> Pointer.to(new long[]{0L});
                case DeviceBuffer b -> Pointer.to(new long[]{b.address()});
                case Integer v -> Pointer.to(new int[]{v});
                case Long v -> Pointer.to(new long[]{v});
                case Float v -> Pointer.to(new float[]{v});
                case Double v -> Pointer.to(new double[]{v});
                default -> throw new IllegalArgumentException("kernel argument " + i + " of " + kernel + ": " + args[i].getClass());
            };
        }
        cuLaunchKernel(function(kernel), gridX, gridY, 1, blockX, 1, 1, sharedBytes, stream, Pointer.to(params), null);
    }

    /**
     * Lets {@code kernel} be launched with up to {@code bytes} of dynamic shared memory (above the default 48 KB needs
     * the opt-in attribute); only ever raises the kernel's limit, so models of different sizes on one device coexist.
     * Returns the limit now in force, which is less than asked where the device's opt-in maximum is lower.
     */
    public synchronized int allowDynamicShared(String kernel, int bytes) {
        makeCurrent();
        CUfunction f = function(kernel);
        int[] v = new int[1];
        cuDeviceGetAttribute(v, jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MAX_SHARED_MEMORY_PER_BLOCK_OPTIN, device);
        int optin = v[0];
        cuFuncGetAttribute(v, jcuda.driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_SHARED_SIZE_BYTES, f);
        int limit = Math.min(bytes, optin - v[0]);
        int current = dynamicShared.getOrDefault(kernel, 48 * 1024 - v[0]);
        if (limit > current) {
            cuFuncSetAttribute(f, jcuda.driver.CUfunction_attribute.CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, limit);
            dynamicShared.put(kernel, limit);
            return limit;
        }
        return current;
    }

    /** The GPU's streaming multiprocessors. */
    public int multiprocessors() {
        makeCurrent();
        int[] v = new int[1];
        cuDeviceGetAttribute(v, jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, device);
        return v[0];
    }

    /** A timing event for {@link #record}/{@link #elapsedMs} (stage timings of GpuCheck's decode-profile). */
    public CUevent newEvent() {
        makeCurrent();
        CUevent e = new CUevent();
        cuEventCreate(e, 0);
        return e;
    }

    /** Records {@code event} on this device's stream, after everything enqueued so far. */
    public void record(CUevent event) {
        makeCurrent();
        cuEventRecord(event, stream);
    }

    /** Milliseconds between two recorded events, waiting for the later one. */
    public float elapsedMs(CUevent from, CUevent to) {
        makeCurrent();
        cuEventSynchronize(to);
        float[] ms = new float[1];
        cuEventElapsedTime(ms, from, to);
        return ms[0];
    }

    public void destroyEvent(CUevent event) {
        makeCurrent();
        cuEventDestroy(event);
    }

    /** Milliseconds {@code work} takes on the device, measured with events around it. */
    public float time(Runnable work) {
        makeCurrent();
        CUevent start = new CUevent();
        CUevent stop = new CUevent();
        cuEventCreate(start, 0);
        cuEventCreate(stop, 0);
        try {
            cuEventRecord(start, stream);
            work.run();
            cuEventRecord(stop, stream);
            cuEventSynchronize(stop);
            float[] ms = new float[1];
            cuEventElapsedTime(ms, start, stop);
            return ms[0];
        } finally {
            cuEventDestroy(start);
            cuEventDestroy(stop);
        }
    }

    @Override public void close() {
        if (closed) return;
        closed = true;
        makeCurrent();
        for (var a : allocations.entrySet()) {
            if (audit) GpuOwnership.PROCESS.freed(a.getKey());
            cuMemFree(a.getValue());
        }
        allocations.clear();
        if (programmatic != null) programmatic.close();
        cuStreamDestroy(stream);
        cuModuleUnload(module);
        cuDevicePrimaryCtxRelease(device);
    }
}
