package io.specdec.cuda;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** The fused decode path's launch arithmetic (no GPU needed). */
class FusedDecodeTest {

    @Test
    void aFullPassOfEightTokensFitsWhereTheDeviceAllowsItsRows() {
        // H100/H200 opt-in limit (227 KB): 8 rows of Llama-3-8B (dim 4096) and of a 70B (dim 8192) fit
        assertThat(FusedDecode.tokensPerPass(4096, 232_448 - 128)).isEqualTo(8);
        assertThat(FusedDecode.tokensPerPass(8192, 232_448 - 128)).isEqualTo(8);
        // without the opt-in (48 KB) an 8B row pass holds 5 tokens; a 1B (dim 2048) pass still holds 8
        assertThat(FusedDecode.tokensPerPass(4096, 48 * 1024 - 128)).isEqualTo(5);
        assertThat(FusedDecode.tokensPerPass(2048, 48 * 1024 - 128)).isEqualTo(8);
        assertThat(FusedDecode.sharedBytes(8, 4096)).isEqualTo(65_536);
    }

    @Test
    void rowsThatAreNotWholeSixteenByteChunksOrDoNotFitTurnTheFusedPathOff() {
        assertThat(FusedDecode.tokensPerPass(4100, 1 << 20)).isZero();
        assertThat(FusedDecode.tokensPerPass(1 << 20, 48 * 1024)).isZero();
        assertThat(FusedDecode.OFF.covers(1)).isFalse();
    }

    @Test
    void passesCoverTheForwardsTokensInOrder() {
        FusedDecode eight = new FusedDecode(8), five = new FusedDecode(5);
        assertThat(eight.passes(1)).containsExactly(1);
        assertThat(eight.passes(8)).containsExactly(8);
        assertThat(eight.passes(13)).containsExactly(8, 5);
        assertThat(five.passes(16)).containsExactly(5, 5, 5, 1);
        assertThat(eight.covers(CudaTransformer.SAME_KERNEL_AS_DECODE_MAX_TOKENS)).isTrue();
        assertThat(eight.covers(CudaTransformer.SAME_KERNEL_AS_DECODE_MAX_TOKENS + 1)).isFalse();
    }

    @Test
    void singleTokenPassesTakeTheT1Twin() {
        assertThat(FusedDecode.kernel(FusedDecode.NORM_KERNEL, 1)).isEqualTo("gemv_norm_bf16_t1");
        assertThat(FusedDecode.kernel(FusedDecode.SWIGLU_KERNEL, 1)).isEqualTo("gemv_norm_swiglu_bf16_t1");
        assertThat(FusedDecode.kernel(FusedDecode.SWIGLU_KERNEL, 2)).isEqualTo("gemv_norm_swiglu_bf16");
    }

    @Test
    void oneWarpPerOutputEightToABlock() {
        assertThat(FusedDecode.grid(14336)).isEqualTo(1792);
        assertThat(FusedDecode.grid(6144)).isEqualTo(768);
        assertThat(FusedDecode.grid(3073)).isEqualTo(385);
    }
}
