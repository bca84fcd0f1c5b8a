package io.specdec.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * rmsnorm_vec_add_bf16 stands in for add_f32 + rmsnorm_vec_bf16 in EasySpec layer groups (CudaTransformer.fuzzyLayers),
 * so it must add as add_f32 does (residual + attention output, one f32 add an element), store the sum back into the
 * residual, and normalize the sum with rmsnorm_vec's own code. Reads the sources (no GPU needed); on a GPU,
 * MultiGpuCheck's easyspec exact-equals-single compares the layer-parallel model with the plain one bit for bit.
 */
class ResidualAddNormKernelTest {
    @Test
    void theFusedAddIsAddF32sAddFollowedByTheNormKernelsCode() throws IOException {
        String src = KernelSources.all();
        assertThat(KernelSources.body(src, "add_f32")).contains("y[i] += x[i]");
        String add = KernelSources.body(src, "rmsnorm_vec_add");
        assertThat(add).contains("v[j].x + a[j].x").contains("xr[threadIdx.x + 256 * j] = v[j]")
                .contains("rmsnorm_vec_store<V>(v, w, out, blockIdx.x, dim, eps, lo, scratch)");
        assertThat(KernelSources.body(src, "rmsnorm_vec")).contains("rmsnorm_vec_store<V>(v, w, out, blockIdx.x, dim, eps, lo, scratch)");
        assertThat(CudaDevice.PROGRAMMATIC_KERNELS).contains("rmsnorm_vec_add_bf16");
    }
}
