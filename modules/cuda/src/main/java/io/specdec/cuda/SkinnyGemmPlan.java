package io.specdec.cuda;

import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * How a tensor-core skinny pass over W[n, k] is launched: warps per 16-row tile and which instantiation of the kernel
 * (gemm_skinny_mma / gemm_skinny_mma_swiglu, or their {@code _pipelined} twins, which request a warp's next batch of
 * weights before multiplying the current one). Neither choice depends on the pass's token count, and the twins add the
 * same products in the same order, so a verify row still equals its decode step bit for bit.
 *
 * <p>{@value #PIPELINED_PROPERTY}: {@code auto} (the default) takes the twin where its grid still fits the GPU in one
 * wave (the twin needs more registers, so fewer of its blocks fit a multiprocessor; a second wave would cost more than
 * the deeper pipeline saves), {@code true} everywhere, {@code false} nowhere. {@value #FEW_TILE_WARPS_PROPERTY}: warps
 * per tile of a matrix with no more tiles than the GPU has multiprocessors (default 8, as for any matrix of fewer than
 * 512 tiles; 16 splits k further).
 */
final class SkinnyGemmPlan {
    static final String PIPELINED_PROPERTY = "specdec.cuda.skinnyPipelined";
    static final String FEW_TILE_WARPS_PROPERTY = "specdec.cuda.fewTileWarps";

    private final CudaDevice device;
    private final String pipelined;
    private final int multiprocessors;
    private final int fewTileWarps;
    /** Kernel chosen per (kernel, blocks): the occupancy query is not asked again on every launch. */
    private final Map<String, String> chosen = new ConcurrentHashMap<>();

    SkinnyGemmPlan(CudaDevice device) {
        this.device = device;
        this.pipelined = System.getProperty(PIPELINED_PROPERTY, "false");
        if (!List.of("auto", "true", "false").contains(pipelined)) {
            throw new IllegalArgumentException(PIPELINED_PROPERTY + " must be auto, true or false, got " + pipelined);
        }
        this.fewTileWarps = Integer.getInteger(FEW_TILE_WARPS_PROPERTY, 16);
        if (fewTileWarps != 4 && fewTileWarps != 8 && fewTileWarps != 16) {
            throw new IllegalArgumentException(FEW_TILE_WARPS_PROPERTY + " must be 4, 8 or 16, got " + fewTileWarps);
        }
        this.multiprocessors = device.multiprocessors();
    }

    /** Warps per 16-row tile of a pass over W of n rows: with few tiles, more warps split k further. */
    int warps(int n) {
        int tiles = n / 16;
        if (tiles <= multiprocessors) return fewTileWarps;
        return tiles >= 512 ? 4 : 8;
    }

    /** The plain GEMM kernel for a pass over W of n rows ({@code gemm_skinny_mma} or its pipelined twin). */
    String gemmKernel(int n) {
        return kernel("gemm_skinny_mma", n / 16, warps(n), warps(n) * 128 * 4);
    }

    /** The gate/up + SwiGLU kernel for W = [gate; up] of 2·hidden rows, launched over hidden / 16 tiles. */
    String swigluKernel(int hidden) {
        int warps = warps(2 * hidden);
        return kernel("gemm_skinny_mma_swiglu", hidden / 16, warps, 2 * warps * 128 * 4);
    }

    private String kernel(String plain, int blocks, int warps, int sharedBytes) {
        String twin = plain + "_pipelined";
        return switch (pipelined) {
            case "true" -> twin;
            case "false" -> plain;
            default -> chosen.computeIfAbsent(plain + ":" + blocks, key ->
                    blocks <= multiprocessors * device.blocksPerMultiprocessor(twin, 32 * warps, sharedBytes) ? twin : plain);
        };
    }
}
