package io.specdec.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.math.BigInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The one-kernel MLP's launch plan and the invariants its kernel text relies on (no GPU needed). On a GPU, GpuCheck
 * mma compares it with the two-kernel MLP and checks verify rows against decode steps bit for bit.
 */
class FusedMlpPlanTest {
    @Test
    void theLlama1bShapeTakesFourTilesABlockInOneWaveOfAnH100() {
        FusedMlpPlan p = FusedMlpPlan.of("auto", 2048, 8192, 132, 4);
        assertThat(p).isEqualTo(new FusedMlpPlan(4, 128, 4));
        // 48 KB: no opt-in to more shared memory, and no large carveout forced on the kernels around it
        assertThat(p.sharedBytes(1)).isLessThanOrEqualTo(48 * 1024);
        assertThat(p.sharedBytes(2)).isLessThanOrEqualTo(48 * 1024);
    }

    @Test
    void wideModelsAreFusedOnlyWhenAskedAndOnlyWhereATileBudgetFits() {
        assertThat(FusedMlpPlan.of("auto", 4096, 14336, 132, 4)).isNull();
        // the 8B shape's 896 tiles would need 7 a block for one wave: more than the kernel holds in registers
        assertThat(FusedMlpPlan.of("true", 4096, 14336, 132, 4)).isNull();
        assertThat(FusedMlpPlan.of("true", 4096, 14336, 264, 4)).isEqualTo(new FusedMlpPlan(4, 224, 4));
        assertThat(FusedMlpPlan.of("false", 2048, 8192, 132, 4)).isNull();
        assertThat(FusedMlpPlan.of("true", 2048, 8200, 132, 4)).as("hidden not a multiple of 16").isNull();
        // a smaller GPU: more tiles a block, up to the kernel's 4
        FusedMlpPlan small = FusedMlpPlan.of("true", 2048, 8192, 128, 4);
        assertThat(small).isEqualTo(new FusedMlpPlan(4, 128, 4));
        assertThat(FusedMlpPlan.of("true", 2048, 8192, 108, 4)).as("an A100: 5 a block").isNull();
        FusedMlpPlan tiny = FusedMlpPlan.of("true", 1024, 4096, 1024, 16);
        assertThat(tiny.blocks()).isEqualTo(256);
        assertThatThrownBy(() -> FusedMlpPlan.of("yes", 2048, 8192, 132, 4)).hasMessageContaining(FusedMlpPlan.PROPERTY);
    }

    @Test
    void theFixedPointSumCannotOverflowWithinTheBlockBudget() throws IOException {
        String src = KernelSources.all();
        long scale = define(src, "MLP_ACC_SCALE"), limit = define(src, "MLP_ACC_LIMIT");
        assertThat(define(src, "MLP_MAX_TILES")).isEqualTo(FusedMlpPlan.MAX_TILES);
        // every block adds less than limit·scale in magnitude to an element; int64 holds MAX_BLOCKS of them
        BigInteger worst = BigInteger.valueOf(limit).multiply(BigInteger.valueOf(scale)).multiply(BigInteger.valueOf(FusedMlpPlan.MAX_BLOCKS));
        assertThat(worst).isLessThanOrEqualTo(BigInteger.valueOf(Long.MAX_VALUE).add(BigInteger.ONE));
        String add = KernelSources.body(src, "mlp_acc_add");
        assertThat(add).contains("fabsf(v) < MLP_ACC_LIMIT").contains("atomicOr(r + dim, 1ull)");
    }

    @Test
    void theNormFoldsTheSumZeroesItAndThenNormalizesWithTheVectorNormsCode() throws IOException {
        String src = KernelSources.all();
        String fold = KernelSources.body(src, "rmsnorm_vec_acc");
        assertThat(fold).contains("ar[2 * i] = make_longlong2(0, 0)").contains("ar[2 * i + 1] = make_longlong2(0, 0)")
                .contains("[dim] = 0").contains("rmsnorm_vec_store<V>(v, w, out, blockIdx.x, dim, eps, lo, scratch)");
        // the mark is read before any thread of the row clears it
        assertThat(fold.indexOf("const bool bad")).isLessThan(fold.indexOf("__syncthreads()"));
        assertThat(fold.indexOf("__syncthreads()")).isLessThan(fold.indexOf("[dim] = 0"));
        assertThat(CudaDevice.PROGRAMMATIC_KERNELS).contains("mlp_fused_mma", "mlp_fused_mma16", "rmsnorm_vec_acc_bf16");
    }

    @Test
    void phaseOneRepeatsTheSwigluEpiloguesArithmetic() throws IOException {
        String src = KernelSources.all();
        String fused = KernelSources.body(src, "mlp_fused_mma");
        String swiglu = KernelSources.body(src, "gemm_skinny_mma_swiglu");
        assertThat(swiglu).contains("g / (1.0f + expf(-g)) * u");
        assertThat(fused).contains("gs / (1.0f + expf(-gs)) * us")
                .contains("for (int w = 0; w < S; w++) gs += qs[w * 128 * G + e]")
                .contains("for (int w = 0; w < S; w++) us += qs[(S + w) * 128 * G + e]")
                // nothing the kernel before writes is read before the wait: only weights are requested early
                .contains("pdl_wait()");
        int wait = fused.indexOf("pdl_wait()");
        assertThat(fused.substring(0, wait)).doesNotContain("skinny_tile_partials").doesNotContain("acc[");
    }

    private static long define(String src, String name) {
        Matcher m = Pattern.compile("#define " + name + "\\s+([0-9.]+)f?").matcher(src);
        assertThat(m.find()).as(name).isTrue();
        return (long) Double.parseDouble(m.group(1));
    }
}
