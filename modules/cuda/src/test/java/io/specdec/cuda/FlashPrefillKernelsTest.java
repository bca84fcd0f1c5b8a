package io.specdec.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The tensor-core prefill attention (native/flash_prefill.cuh) as the Java side chooses and launches it: every kernel
 * name {@link CudaTransformer#flashKernelName} can return is instantiated with its head size and element type, the
 * block's row count matches the grid the host computes, the output goes through store_act (split activations' second
 * part), and the kernel is launched normally (it has no pdl_wait). Which forwards take it: larger than decode/verify
 * forwards, causal rows only. Reads the sources (no GPU needed); GpuCheck flash and cpu check the values on a GPU.
 */
class FlashPrefillKernelsTest {

    @Test
    void everyKernelTheHostNamesExistsWithItsHeadSizeAndType() throws IOException {
        String src = KernelSources.all();
        for (int hd : new int[]{32, 64, 128}) {
            for (KvCacheFormat f : List.of(KvCacheFormat.BF16, KvCacheFormat.FP16)) {
                String name = CudaTransformer.flashKernelName(hd, 0, f);
                boolean half = f == KvCacheFormat.FP16;
                assertThat(name).endsWith(half ? "_f16" : "hd" + hd);
                assertThat(src).as(name).contains("FA_KERNEL(" + name + ", " + hd + ", " + half + ")");
                assertThat(CudaDevice.PROGRAMMATIC_KERNELS).as("launched normally: no pdl_wait in it").doesNotContain(name);
            }
        }
        assertThat(KernelSources.body(src, "attention_prefill_body")).contains("store_act(out").doesNotContain("pdl_wait");
        assertThat(src).contains("#define FA_ROWS " + CudaTransformer.FLASH_ROWS + "\n");
    }

    @Test
    void modelsTheKernelCannotServeKeepAttentionPaged() {
        assertThat(CudaTransformer.flashKernelName(256, 0, KvCacheFormat.FP16)).isNull();
        assertThat(CudaTransformer.flashKernelName(96, 0, KvCacheFormat.BF16)).isNull();
        assertThat(CudaTransformer.flashKernelName(128, 4096, KvCacheFormat.FP16)).as("sliding window").isNull();
        assertThat(CudaTransformer.flashKernelName(128, 0, KvCacheFormat.SPLIT)).as("split KV").isNull();
    }

    @Test
    void onlyCausalForwardsLargerThanADecodeStepTakeIt() {
        assertThat(CudaTransformer.flashApplies(plan(200, 200, false))).isTrue();
        assertThat(CudaTransformer.flashApplies(plan(221, 150, false))).as("a batch with a long chunk").isTrue();
        assertThat(CudaTransformer.flashApplies(plan(200, 200, true))).as("a tree mask").isFalse();
        assertThat(CudaTransformer.flashApplies(plan(16, 16, false))).as("a verify of γ 15").isFalse();
        assertThat(CudaTransformer.flashApplies(plan(64, 1, false))).as("64 decode rows").isFalse();
    }

    private static CudaTransformer.Plan plan(int tokens, int longestChunk, boolean masks) {
        return new CudaTransformer.Plan(tokens, 1, 1, new int[]{1}, longestChunk, masks);
    }
}
