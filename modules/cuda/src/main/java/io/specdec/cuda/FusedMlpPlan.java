package io.specdec.cuda;

import java.util.List;

/**
 * How a decode or verify pass runs its MLP as one kernel ({@code mlp_fused_mma}, native/fused_mlp.cuh): each block owns
 * {@link #tilesPerBlock} tiles of 16 hidden units, computes their SwiGLU activations with the gate/up skinny GEMM's own
 * code and then their share of the down projection, and adds it into a fixed-point accumulator that the next RMSNorm
 * ({@code rmsnorm_vec_acc_bf16}) folds into the residual. No block waits for another, so the down weights stream
 * without the grid-wide boundary between the gate/up and the down GEMM.
 *
 * <p>{@value #PROPERTY}: {@code auto} (the default; see {@link #AUTO_MAX_DIM}), {@code true}, {@code false}.
 *
 * @param tilesPerBlock 16-unit tiles a block (at most {@link #MAX_TILES})
 * @param blocks        the grid (at most {@link #MAX_BLOCKS}: the fixed-point sum's headroom)
 * @param gateUpWarps   warps per gate/up tile, as the unfused gate/up pass takes them (so h is its bits)
 */
record FusedMlpPlan(int tilesPerBlock, int blocks, int gateUpWarps) {
    static final String PROPERTY = "specdec.cuda.fusedMlp";
    /** Diagnostics: the kernel's mode bits (bit 0: L2-prefetch each warp's first down tiles before its wait). */
    static final String MODE_PROPERTY = "specdec.cuda.fusedMlpMode";
    static final int MAX_TILES = 4;
    static final int MAX_BLOCKS = 256;
    /** Warps a block (512 threads: the kernel's launch bound). */
    static final int WARPS = 16;
    /** {@code auto} fuses models no wider than this (the Llama-3.2-1B shape). */
    static final int AUTO_MAX_DIM = 2048;

    /**
     * The plan for an MLP of {@code hidden} units over rows of {@code dim} on a GPU of {@code multiprocessors}, with the
     * unfused gate/up pass's {@code gateUpWarps}, or null where the kernel does not apply (the property says no, or
     * the shapes do not fit it).
     */
    static FusedMlpPlan of(String setting, int dim, int hidden, int multiprocessors, int gateUpWarps) {
        if (!List.of("auto", "true", "false").contains(setting)) {
            throw new IllegalArgumentException(PROPERTY + " must be auto, true or false, got " + setting);
        }
        boolean on = setting.equals("true");
        if (!on || hidden % 16 != 0 || dim % 16 != 0 || WARPS % gateUpWarps != 0) return null;
        int tiles = hidden / 16;
        int perBlock = Math.max((tiles + multiprocessors - 1) / multiprocessors, (tiles + MAX_BLOCKS - 1) / MAX_BLOCKS);
        if (perBlock > MAX_TILES) return null;
        return new FusedMlpPlan(perBlock, (tiles + perBlock - 1) / perBlock, gateUpWarps);
    }

    /** The kernel for a pass of {@code tokenGroups} groups of 8 tokens (1 or 2). */
    static String kernel(int tokenGroups) {
        return tokenGroups == 2 ? "mlp_fused_mma16" : "mlp_fused_mma";
    }

    /** Dynamic shared memory of a pass of {@code tokenGroups}: the gate/up partial slots, then h's two parts. */
    int sharedBytes(int tokenGroups) {
        int groups = WARPS / gateUpWarps;
        int slots = groups * 2 * gateUpWarps * 128 * tokenGroups * 4;
        int h = 2 * 8 * tokenGroups * (16 * tilesPerBlock + 32) * 2;
        return slots + h;
    }

    /** Row stride, in int64 elements, of the accumulator: the row, its bad-value mark, 16-byte aligned. */
    static int accStride(int dim) {
        return dim + 2;
    }
}
