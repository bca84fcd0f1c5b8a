package io.specdec.cuda;

import org.bytedeco.cuda.cudart.CUfunc_st;
import org.bytedeco.cuda.cudart.CUlaunchAttribute;
import org.bytedeco.cuda.cudart.CUlaunchConfig;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * Launches as a programmatic dependent of the kernel before it on the stream (Hopper's PDL, {@code cuLaunchKernelEx}
 * with {@code PROGRAMMATIC_STREAM_SERIALIZATION}, through JavaCPP because JCuda 12.6 lacks it): the kernel may be
 * scheduled once its predecessor has called {@code pdl_trigger()} and runs up to its own {@code pdl_wait()} while the
 * predecessor finishes. Only kernels that wait before touching what earlier kernels write may be launched this way
 * ({@link CudaDevice#PROGRAMMATIC_KERNELS}). Stream capture turns the attribute into a programmatic graph edge, so
 * captured decode and verify steps keep the overlap.
 *
 * <p>One per device, driven by that device's thread; the argument block is reused (the driver copies the values at
 * the launch, or into the graph node while capturing).
 */
final class ProgrammaticLaunch implements AutoCloseable {
    /** {@code true}: every kernel launches normally (comparisons; GPUs before sm_90 never use it). */
    static final String DISABLE_PROPERTY = "specdec.cuda.noPdl";
    private static final int MAX_ARGS = 32;

    private final CUstream_st stream;
    private final CUlaunchConfig config = new CUlaunchConfig();
    private final CUlaunchAttribute attribute = new CUlaunchAttribute();
    /**
     * 8 bytes per argument value, and the array of their addresses that the driver reads (void** kernelParams: a
     * PointerPointer, because JavaCPP passes a plain Pointer argument for void** by reference).
     */
    private final BytePointer values = new BytePointer(8L * MAX_ARGS);
    private final PointerPointer<?> addresses = new PointerPointer<>(MAX_ARGS);

    ProgrammaticLaunch(long streamAddress) {
        stream = new CUstream_st(Cublas.at(streamAddress));
        attribute.id(cudart.CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION);
        attribute.value().programmaticStreamSerializationAllowed(1);
        config.attrs(attribute).numAttrs(1).hStream(stream).gridDimZ(1).blockDimY(1).blockDimZ(1);
        for (int i = 0; i < MAX_ARGS; i++) addresses.put(i, Cublas.at(values.address() + 8L * i));
    }

    synchronized void launch(String kernel, long function, int gridX, int gridY, int blockX, int sharedBytes, Object[] args) {
        if (args.length > MAX_ARGS) throw new IllegalArgumentException(kernel + ": more than " + MAX_ARGS + " arguments");
        for (int i = 0; i < args.length; i++) {
            long at = 8L * i;
            switch (args[i]) {
                case null -> values.putLong(at, 0L);
                case DeviceBuffer b -> values.putLong(at, b.address());
                case Integer v -> values.putInt(at, v);
                case Long v -> values.putLong(at, v);
                case Float v -> values.putFloat(at, v);
                case Double v -> values.putDouble(at, v);
                default -> throw new IllegalArgumentException("kernel argument " + i + " of " + kernel + ": " + args[i].getClass());
            }
        }
        config.gridDimX(gridX).gridDimY(gridY).blockDimX(blockX).sharedMemBytes(sharedBytes);
        int status = cudart.cuLaunchKernelEx(config, new CUfunc_st(Cublas.at(function)), addresses, (PointerPointer<?>) null);
        if (status != 0) throw new IllegalStateException("cuLaunchKernelEx(" + kernel + ", programmatic) failed: CUresult " + status);
    }

    @Override public void close() {
        config.close();
        attribute.close();
        values.close();
        addresses.close();
    }
}
