package io.specdec.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * gemm_skinny_mma_norm must give the bits of rmsnorm_vec_bf16 + gemm_skinny_mma (verify passes keep that pair): the
 * same norm code at the norm kernel's 256 threads and the same tile code. Reads the sources (no GPU needed); GpuCheck
 * mma's verify-equals-decode checks the bits on a GPU.
 */
class NormInQkvKernelTest {
    @Test
    void theFusedQkvGemmRunsTheNormKernelsCodeAtItsBlockSize() throws IOException {
        String src = KernelSources.all();
        String body = KernelSources.body(src, "gemm_skinny_mma_norm");
        assertThat(body).contains("rmsnorm_vec<2>(x, nullptr, norm, xs, K, eps, split ? K : 0, scratch, 0)")
                .contains("skinny_tile_partials<1, true>(mmaPartial, tile, split ? K : 0)")
                .contains("pdl_wait()");
        // rmsnorm_vec indexes threadIdx.x + 256 * j: the block must be the norm kernel's 256 threads
        assertThat(KernelSources.body(src, "rmsnorm_vec")).contains("threadIdx.x + 256 * j");
        assertThat(CudaTransformer.NORM_IN_QKV_WARPS * 32).isEqualTo(256);
        assertThat(src).contains("__launch_bounds__(256, 3)\ngemm_skinny_mma_norm(");
        assertThat(CudaDevice.PROGRAMMATIC_KERNELS).contains("gemm_skinny_mma_norm");
    }
}
