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

    private final String problem;

    public Cublas(CudaDevice device) {
        this.device = device;
        device.makeCurrent();
        check(cublas.cublasCreate_v2(handle), "cublasCreate");
        check(cublas.cublasSetStream_v2(handle, new org.bytedeco.cuda.cudart.CUstream_st(at(device.streamAddress()))), "cublasSetStream");
        this.problem = probe();
        if (problem != null) System.err.println("[specdec cuda] cuBLAS bf16 GEMM unusable here, using the skinny kernel for every matmul: " + problem);
    }

    /** Null when a bf16 GemmEx works on this host, else what failed (the backend then uses its own kernels). */
    public String problem() { return problem; }

    private String probe() {
        DeviceBuffer w = device.allocate(2 * 64 * 64), x = device.allocate(2 * 64 * 16), y = device.allocate(4 * 64 * 16);
        try {
            device.launch("fill_normal_bf16", 16, 1, 256, w, 64L * 64, 1L, 1f);
            device.launch("fill_normal_bf16", 16, 1, 256, x, 64L * 16, 2L, 1f);
            int status = gemmEx(w, x, y, 16, 64, 64, false);
            device.synchronize();
            if (status == 0) return null;
            int sgemm = cublas.cublasSgemm_v2(handle, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N, 16, 16, 16, one,
                    new FloatPointer(at(y.address())), 16, new FloatPointer(at(y.address())), 16, zero, new FloatPointer(at(y.address() + 4 * 256)), 16);
            int pedantic = cublas.cublasGemmEx(handle, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N, 64, 16, 64, one,
                    at(w.address()), cudart.CUDA_R_16BF, 64, at(x.address()), cudart.CUDA_R_16BF, 64, zero,
                    at(y.address()), cudart.CUDA_R_32F, 64, cublas.CUBLAS_COMPUTE_32F_PEDANTIC, cublas.CUBLAS_GEMM_DEFAULT);
            int bf16out = cublas.cublasGemmEx(handle, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N, 64, 16, 64, one,
                    at(w.address()), cudart.CUDA_R_16BF, 64, at(x.address()), cudart.CUDA_R_16BF, 64, zero,
                    at(w.address()), cudart.CUDA_R_16BF, 64, cublas.CUBLAS_COMPUTE_32F, cublas.CUBLAS_GEMM_DEFAULT);
            device.synchronize();
            return "cublasGemmEx(bf16, bf16 -> f32, COMPUTE_32F) status " + status + "; probes: Sgemm " + sgemm
                    + ", COMPUTE_32F_PEDANTIC " + pedantic + ", bf16 output " + bf16out + "; cuBLAS version " + version();
        } catch (RuntimeException e) {
            return e.toString();
        } finally {
            device.free(w);
            device.free(x);
            device.free(y);
        }
    }

    private String version() {
        int[] v = new int[1];
        cublas.cublasGetVersion_v2(handle, v);
        return String.valueOf(v[0]);
    }

    /**
     * A JavaCPP pointer at a raw device address. (The parameter must not be called {@code address}: inside the
     * anonymous subclass that name is Pointer's own field, and the pointer would stay NULL — the cause of the
     * CUBLAS_STATUS_INVALID_VALUE seen on the H100 on 2026-11-22.)
     */
    static Pointer at(long raw) {
        return new Pointer() {
            {
                address = raw;
            }
        };
    }

    /**
     * Row-major {@code y[T, N] (+)= x[T, K] · W[N, K]ᵀ} with bf16 W and x, f32 y and f32 accumulation.
     * In cuBLAS's column-major terms: yᵀ (N×T) = op_T(W as K×N) · xᵀ (K×T).
     */
    public void matmulBf16(DeviceBuffer w, DeviceBuffer x, DeviceBuffer y, int tokens, int n, int k, boolean accumulate) {
        check(gemmEx(w, x, y, tokens, n, k, accumulate), "cublasGemmEx");
    }

    private int gemmEx(DeviceBuffer w, DeviceBuffer x, DeviceBuffer y, int tokens, int n, int k, boolean accumulate) {
        device.requireOwned(w, "GEMM weight");
        device.requireOwned(x, "GEMM input");
        device.requireOwned(y, "GEMM output");
        device.makeCurrent();
        return (cublas.cublasGemmEx(handle, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N, n, tokens, k, one,
                at(w.address()), cudart.CUDA_R_16BF, k,
                at(x.address()), cudart.CUDA_R_16BF, k,
                accumulate ? one : zero,
                at(y.address()), cudart.CUDA_R_32F, n,
                cublas.CUBLAS_COMPUTE_32F, cublas.CUBLAS_GEMM_DEFAULT));
    }

    /**
     * {@code parts[2][T, N] = [x; xLo] · Wᵀ}: the products of W with a split activation's two bf16 parts (x and the
     * part {@code loOffset} elements after it) in one strided-batched GEMM whose two batches share W (stride 0), so W
     * is streamed once for both where two GEMMs streamed it twice. f32 outputs, f32 accumulation, no accumulate:
     * the caller adds the parts.
     */
    public void matmulBf16Pair(DeviceBuffer w, DeviceBuffer x, long loOffset, DeviceBuffer parts, int tokens, int n, int k) {
        device.requireOwned(w, "GEMM weight");
        device.requireOwned(x, "GEMM input");
        device.requireOwned(parts, "GEMM output");
        device.makeCurrent();
        check(cublas.cublasGemmStridedBatchedEx(handle, cublas.CUBLAS_OP_T, cublas.CUBLAS_OP_N, n, tokens, k, one,
                at(w.address()), cudart.CUDA_R_16BF, k, 0L,
                at(x.address()), cudart.CUDA_R_16BF, k, loOffset,
                zero,
                at(parts.address()), cudart.CUDA_R_32F, n, (long) tokens * n,
                2, cublas.CUBLAS_COMPUTE_32F, cublas.CUBLAS_GEMM_DEFAULT), "cublasGemmStridedBatchedEx");
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
