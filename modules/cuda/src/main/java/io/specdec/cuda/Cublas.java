package io.specdec.cuda;

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * cuBLAS through JavaCPP's CUDA presets, on the same primary context and default stream as {@link CudaDevice}.
 * Run the JVM with {@code -Dorg.bytedeco.javacpp.pathsFirst=true} and the host's CUDA libraries on
 * {@code LD_LIBRARY_PATH} so that the presets load the installed libcublas instead of looking for bundled ones.
 */
public final class Cublas implements AutoCloseable {
    private final CudaDevice device;
    private final cublasContext handle = new cublasContext();
    private final FloatPointer one = new FloatPointer(1f);
    private final FloatPointer zero = new FloatPointer(0f);

    public Cublas(CudaDevice device) {
        this.device = device;
        device.makeCurrent();
        check(cublas.cublasCreate_v2(handle), "cublasCreate");
    }

    /** A JavaCPP pointer at a raw device address. */
    static Pointer at(long address) {
        return new Pointer() {
            {
                this.address = address;
            }
        };
    }

    /**
     * Row-major {@code y[T, N] (+)= x[T, K] · W[N, K]ᵀ} with bf16 W and x, f32 y and f32 accumulation.
     * In cuBLAS's column-major terms: yᵀ (N×T) = op_T(W as K×N) · xᵀ (K×T).
     */
    public void matmulBf16(DeviceBuffer w, DeviceBuffer x, DeviceBuffer y, int tokens, int n, int k, boolean accumulate) {
        device.makeCurrent();
        check(cublas.cublasGemmEx(handle, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N, n, tokens, k, one,
                at(w.address()), cudart.CUDA_R_16BF, k,
                at(x.address()), cudart.CUDA_R_16BF, k,
                accumulate ? one : zero,
                at(y.address()), cudart.CUDA_R_32F, n,
                cublas.CUBLAS_COMPUTE_32F, cublas.CUBLAS_GEMM_DEFAULT), "cublasGemmEx");
    }

    private static void check(int status, String what) {
        if (status != 0) throw new IllegalStateException(what + " failed with cuBLAS status " + status);
    }

    @Override public void close() {
        device.makeCurrent();
        cublas.cublasDestroy_v2(handle);
        one.close();
        zero.close();
    }
}
