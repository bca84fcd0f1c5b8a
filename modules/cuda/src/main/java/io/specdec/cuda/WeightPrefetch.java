package io.specdec.cuda;

import java.util.HashMap;
import java.util.Map;

/**
 * How much of a skinny GEMM's weights its first blocks ask L2 for before they wait on the kernel before them
 * ({@code gemm_skinny_mma} launched as a programmatic dependent): up to {@value #PROPERTY} MiB, spread over the blocks
 * that fit on the GPU at once, each taking the first bytes of its 16 rows because those are what it reads first.
 * Off by default ({@value #DEFAULT_MIB}): on an H100 every budget tried made decode slower (8B shape, graphs: 6.37 ms
 * a token without, 6.50 / 6.64 / 6.83 ms with 16 / 24 / 40 MiB; bench/results/cuda-h100-2026-11-23-pdl), so the
 * lines were not there when read, or pushed out what was. Kept for that comparison on other GPUs.
 */
public final class WeightPrefetch {
    static final String PROPERTY = "specdec.cuda.prefetchL2MiB";
    static final int DEFAULT_MIB = 0;
    /** Rows of less than this are not worth an instruction each. */
    private static final int MIN_ROW_BYTES = 512;

    /** Bytes of each of its 16 rows that each of the first {@code blocks} blocks prefetches (0, 0: none). */
    record Plan(int rowBytes, int blocks) {
        static final Plan NONE = new Plan(0, 0);
    }

    private final CudaDevice device;
    private final long budgetBytes;
    private final Map<Integer, Integer> residentByWarps = new HashMap<>();

    WeightPrefetch(CudaDevice device) {
        this.device = device;
        this.budgetBytes = device.programmaticLaunches() ? budgetMiB() << 20 : 0;
    }

    /** The configured budget in MiB (whether or not a device can use it). */
    public static long budgetMiB() {
        return Long.getLong(PROPERTY, DEFAULT_MIB);
    }

    /** The plan for an n x k weight matrix read by blocks of {@code warps} warps over 16 rows each. */
    Plan plan(int n, int k, int warps) {
        if (budgetBytes <= 0) return Plan.NONE;
        int resident = residentByWarps.computeIfAbsent(warps,
                w -> device.residentBlocks("gemm_skinny_mma", 32 * w, w * 128 * 4));
        return plan(n, k, resident, budgetBytes);
    }

    static Plan plan(int n, int k, int residentBlocks, long budgetBytes) {
        int blocks = Math.min(n / 16, residentBlocks);
        if (blocks <= 0 || budgetBytes <= 0) return Plan.NONE;
        long rowBytes = Math.min(2L * k, budgetBytes / (16L * blocks)) & ~15L;
        return rowBytes < MIN_ROW_BYTES ? Plan.NONE : new Plan((int) rowBytes, blocks);
    }
}
