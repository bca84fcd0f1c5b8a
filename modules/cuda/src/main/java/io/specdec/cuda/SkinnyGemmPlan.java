package io.specdec.cuda;

/**
 * Warps per 16-row tile of a tensor-core skinny pass over W[n, k] (gemm_skinny_mma, gemm_skinny_mma_swiglu). It
 * depends on n only, never on the pass's token count, so a verify row adds up exactly as its decode step does.
 *
 * <p>Why more warps for few tiles: a matrix of at most one tile a multiprocessor (the Llama-3.2-1B shape's o and down
 * projections: 128 tiles on an H100's 132) runs one block an SM, and its warps each keep one batch of weights in
 * flight, so the SM's share of the stream is latency-bound. 16 warps instead of 8 made the 1B shape's graph decode
 * 4.4% faster (1.334 → 1.275 ms, three interleaved rounds) and left the 8B shape (whose matrices have 256+ tiles)
 * alone (bench/results/cuda-h100-2026-11-23-session10-pipeline). {@value #FEW_TILE_WARPS_PROPERTY} overrides it (4, 8
 * or 16). Larger matrices keep 8 (fewer than 512 tiles) or 4 warps: 16 would not fit their grid in one wave.
 */
final class SkinnyGemmPlan {
    static final String FEW_TILE_WARPS_PROPERTY = "specdec.cuda.fewTileWarps";

    private final int multiprocessors;
    private final int fewTileWarps;

    SkinnyGemmPlan(CudaDevice device) {
        this(device.multiprocessors(), Integer.getInteger(FEW_TILE_WARPS_PROPERTY, 16));
    }

    SkinnyGemmPlan(int multiprocessors, int fewTileWarps) {
        if (fewTileWarps != 4 && fewTileWarps != 8 && fewTileWarps != 16) {
            throw new IllegalArgumentException(FEW_TILE_WARPS_PROPERTY + " must be 4, 8 or 16, got " + fewTileWarps);
        }
        this.multiprocessors = multiprocessors;
        this.fewTileWarps = fewTileWarps;
    }

    /** Warps per 16-row tile of a pass over W of n rows: with few tiles, more warps split k further. */
    int warps(int n) {
        int tiles = n / 16;
        if (tiles <= multiprocessors) return fewTileWarps;
        return tiles >= 512 ? 4 : 8;
    }
}
