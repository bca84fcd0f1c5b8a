package io.specdec.cuda;

/**
 * The fused decode GEMVs (issue #4; {@code -Dspecdec.cuda.fusedDecode=true}, off by default): RMSNorm in the prologue
 * of the q/k/v and gate/up GEMVs ({@code gemv_norm_bf16}), SwiGLU in the epilogue of gate/up
 * ({@code gemv_norm_swiglu_bf16}, writing the bf16 hidden rows directly). The kernels repeat the unfused kernels'
 * arithmetic in the same order, so the fused forward gives the unfused one's logits bit for bit (native/ says why).
 * Each block keeps the pass's normalized rows in shared memory ({@code 2 * dim} bytes a token), so the tokens of one
 * pass are bounded by the shared memory the device allows a block.
 *
 * @param tokensPerPass tokens one launch handles (1..8), 0 where the fused path cannot run for this model
 */
public record FusedDecode(int tokensPerPass) {
    public static final String PROPERTY = "specdec.cuda.fusedDecode";
    static final String NORM_KERNEL = "gemv_norm_bf16";
    static final String SWIGLU_KERNEL = "gemv_norm_swiglu_bf16";
    /** The block the kernels need: rmsnorm_bf16's, whose reduction order the prologue repeats. */
    static final int BLOCK = 256;
    static final int ROWS_PER_BLOCK = BLOCK / 32;

    static final FusedDecode OFF = new FusedDecode(0);

    /**
     * The fused path for a model of width {@code dim} on {@code device}, or {@link #OFF} when the property is not set
     * or the rows do not fit; raises the kernels' shared memory limit as far as a full pass needs.
     */
    static FusedDecode open(CudaDevice device, int dim) {
        if (!Boolean.getBoolean(PROPERTY) || dim % 8 != 0) return OFF;
        device.preload(NORM_KERNEL, SWIGLU_KERNEL, kernel(NORM_KERNEL, 1), kernel(SWIGLU_KERNEL, 1));
        int want = sharedBytes(CudaTransformer.SKINNY_MAX_TOKENS, dim);
        int allowed = Math.min(device.allowDynamicShared(NORM_KERNEL, want), device.allowDynamicShared(SWIGLU_KERNEL, want));
        int single = sharedBytes(1, dim);   // the _t1 twins hold one row
        if (Math.min(device.allowDynamicShared(kernel(NORM_KERNEL, 1), single),
                device.allowDynamicShared(kernel(SWIGLU_KERNEL, 1), single)) < single) return OFF;
        return new FusedDecode(tokensPerPass(dim, allowed));
    }

    /** Tokens per launch for rows of {@code dim} with {@code sharedBytes} of shared memory a block: at most 8. */
    static int tokensPerPass(int dim, int sharedBytes) {
        if (dim <= 0 || dim % 8 != 0) return 0;   // 16-byte loads of bf16 rows
        return Math.max(0, Math.min(CudaTransformer.SKINNY_MAX_TOKENS, sharedBytes / (2 * dim)));
    }

    /**
     * The entry point of {@code kernel} for a pass of {@code tokens}: the {@code _t1} twin (same parameters, fewer
     * registers, so more blocks an SM) for a single token, else the one for 1..8 tokens.
     */
    static String kernel(String kernel, int tokens) {
        return tokens == 1 ? kernel + "_t1" : kernel;
    }

    /** Dynamic shared memory of a launch over {@code tokens} rows of {@code dim}. */
    static int sharedBytes(int tokens, int dim) {
        return 2 * tokens * dim;
    }

    /** Blocks of a launch with {@code n} outputs a token (one warp an output). */
    static int grid(int n) {
        return (n + ROWS_PER_BLOCK - 1) / ROWS_PER_BLOCK;
    }

    /** Whether a forward of {@code tokens} tokens runs its q/k/v and gate/up GEMVs fused. */
    boolean covers(int tokens) {
        return tokensPerPass > 0 && tokens <= CudaTransformer.SAME_KERNEL_AS_DECODE_MAX_TOKENS;
    }

    /** The token count of each launch for a forward of {@code tokens}: passes of {@link #tokensPerPass}, in order. */
    int[] passes(int tokens) {
        int n = (tokens + tokensPerPass - 1) / tokensPerPass;
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = Math.min(tokensPerPass, tokens - i * tokensPerPass);
        return p;
    }
}
