package io.specdec.cuda;

import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Split-K's layout rules (no GPU), and the kernels against attention_paged (GPU). */
class SplitKAttentionTest {

    @Test
    void splitsCoverEveryKeyWithinTheFixedGrid() {
        for (int maxSplits : new int[]{1, 3, 9, 16, 32}) {
            for (int keys = 1; keys <= 70_000; keys += keys < 2048 ? 1 : 97) {
                int chunk = SplitKAttention.chunk(keys, maxSplits), splits = SplitKAttention.splits(keys, maxSplits);
                assertThat(chunk % 32).as("chunk is whole tiles of 32 keys").isZero();
                assertThat(chunk).isGreaterThanOrEqualTo(SplitKAttention.MIN_KEYS);
                assertThat(splits).as("keys %d, max %d", keys, maxSplits).isBetween(1, maxSplits);
                assertThat((long) splits * chunk).isGreaterThanOrEqualTo(keys);
                assertThat((long) (splits - 1) * chunk).isLessThan(keys);   // no split is empty
            }
        }
    }

    @Test
    void shortContextsTakeOneSplitLongOnesUseTheGrid() {
        assertThat(SplitKAttention.splits(128, 9)).isEqualTo(1);
        assertThat(SplitKAttention.splits(256, 9)).isEqualTo(1);
        assertThat(SplitKAttention.splits(257, 9)).isEqualTo(2);
        assertThat(SplitKAttention.splits(4096, 9)).isEqualTo(9);
        assertThat(SplitKAttention.splits(4096, 32)).isEqualTo(16);
    }

    @Test
    void aOneTokenStepPutsAboutTwoBlocksOnEverySm() {
        assertThat(SplitKAttention.maxSplits(132, 32)).isEqualTo(9);     // H100, Llama-3 8B / 3.2 1B: 288 blocks
        assertThat(SplitKAttention.maxSplits(132, 4)).isEqualTo(SplitKAttention.MAX_SPLITS);
        assertThat(SplitKAttention.maxSplits(16, 64)).isEqualTo(1);
    }

    @Test
    void everyRopeTwinTheHostNamesExistsAndWaitsAsAProgrammaticDependent() throws java.io.IOException {
        String src = KernelSources.all();
        for (int hd : new int[]{64, 128, 256}) {
            String grouped = SplitKAttention.groupedKernel(32, 8, hd);
            for (KvCacheFormat f : new KvCacheFormat[]{KvCacheFormat.BF16, KvCacheFormat.FP16}) {
                String name = SplitKAttention.ropeKernelName(grouped, f);
                assertThat(src).contains("ATTENTION_GQA_ROPE_KERNEL(" + name + ", " + hd / 32 + ", ");
                assertThat(CudaDevice.PROGRAMMATIC_KERNELS).contains(name);
            }
            // split KV has no twin: its decode steps keep qkv_rope_append
            assertThat(SplitKAttention.ropeKernelName(grouped, KvCacheFormat.SPLIT)).isNull();
        }
        // the twin ropes with rope_head (qkv_rope_append's own code) and hands the grouped body its queries
        String twin = KernelSources.body(src, "attention_gqa_hd64_rope");
        assertThat(twin).contains("rope_head(").contains("attention_gqa<DPL, BATCH, false, HALF, true>");
        assertThat(KernelSources.body(src, "qkv_rope_append")).contains("rope_head(");
    }

    @Test
    void groupedSplitsAreWholeTilesPerWarpAndNeverEmpty() {
        for (int group : new int[]{1, 2, 4, 8}) {
            int unit = group >= 4 ? 32 : 128 / group;
            for (int maxSplits : new int[]{1, 4, 32}) {
                for (int keys = 1; keys <= 40_000; keys += keys < 1024 ? 1 : 61) {
                    int chunk = SplitKAttention.groupedChunk(keys, maxSplits, group);
                    int splits = (keys + chunk - 1) / chunk;
                    assertThat(chunk % unit).isZero();
                    assertThat(splits).as("keys %d, max %d", keys, maxSplits).isBetween(1, maxSplits);
                    assertThat((long) (splits - 1) * chunk).isLessThan(keys);
                }
            }
        }
        assertThat(SplitKAttention.groupedChunk(384, 32, 4)).isEqualTo(32);    // Llama 3 decode at 384 keys: 12 splits
        assertThat(SplitKAttention.groupedChunk(384, 32, 1)).isEqualTo(128);   // MHA: 4 warps share a head's tiles
        assertThat(SplitKAttention.groupedChunk(4096, 32, 4)).isEqualTo(128);
    }

    @Test
    void theGroupedKernelTakesHeadSizes64To256AndGroupsOfUpTo8() {
        assertThat(SplitKAttention.groupedKernel(32, 8, 128)).isEqualTo("attention_gqa_hd128");
        assertThat(SplitKAttention.groupedKernel(32, 8, 64)).isEqualTo("attention_gqa_hd64");
        assertThat(SplitKAttention.groupedKernel(64, 8, 128)).isEqualTo("attention_gqa_hd128");
        assertThat(SplitKAttention.groupedKernel(16, 16, 256)).isEqualTo("attention_gqa_hd256");
        assertThat(SplitKAttention.groupedKernel(12, 12, 96)).isNull();     // head size
        assertThat(SplitKAttention.groupedKernel(32, 2, 128)).isNull();     // 16 query heads a KV head
        assertThat(SplitKAttention.groupedKernel(12, 8, 128)).isNull();     // not whole groups
        // decode and verify passes (up to 16 tokens) share one entry point; served batch steps take the lean twin
        int verifyMax = CudaTransformer.SAME_KERNEL_AS_DECODE_MAX_TOKENS;
        assertThat(SplitKAttention.forTokens("attention_gqa_hd128", 1, verifyMax)).isEqualTo("attention_gqa_hd128");
        assertThat(SplitKAttention.forTokens("attention_gqa_hd128", 16, verifyMax)).isEqualTo("attention_gqa_hd128");
        assertThat(SplitKAttention.forTokens("attention_gqa_hd128", 17, verifyMax)).isEqualTo("attention_gqa_hd128_many");
        assertThat(SplitKAttention.forTokens("attention_gqa_hd128", 1, 0)).isEqualTo("attention_gqa_hd128_many");
    }

    @Test
    @Tag("gpu")
    void splitKMatchesAttentionPagedOnLongContextsWithEveryMask() throws Exception {
        GpuAvailable.require("splitKMatchesAttentionPagedOnLongContextsWithEveryMask");
        assertThat(CudaTransformerTest.capture("splitk")).contains("\"check\":\"splitk-vs-paged\"").doesNotContain("\"pass\":false");
    }
}
