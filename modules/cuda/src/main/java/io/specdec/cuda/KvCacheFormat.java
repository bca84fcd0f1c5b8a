package io.specdec.cuda;

import java.util.Locale;

/**
 * How the CUDA backend stores each cached key and value element ({@value #PROPERTY}; fp16 by default). Every kernel
 * that writes or reads the cache takes the format (store_kv and the {@code kvHalf} / {@code kvLo} arguments in the
 * kernels). Measured on an H100 (bench/results/cuda-h100-2026-11-24-session12-fp16kv): fp16 brought the random
 * Llama-3-8B shape closer to fp32 transformers than bf16 (max rel. L2 3.6e-2 vs 4.2e-2, 251 vs 244 of 256 greedy
 * steps; with split activations {@code all}, 3.1e-3 and 256/256 vs 2.5e-2 and 245/256), the CUDA backend closer to the
 * CPU backend on four model families, at the same decode time.
 */
public enum KvCacheFormat {
    /** bf16, the type of the weights and of HF transformers' cache for a bf16 model. */
    BF16,
    /**
     * bf16 hi plus bf16 lo = bf16(x - hi) in a second half of each layer's buffer (~16 mantissa bits): twice the
     * memory and the bytes attention reads. The older switch {@value #SPLIT_KV_PROPERTY}{@code =true} selects it too.
     */
    SPLIT,
    /**
     * IEEE fp16 in the same two bytes, the default: 11 mantissa bits instead of 8, so rounding is 8x smaller at no cost
     * in memory or bandwidth; the range ends at 65504, where values saturate (a Llama-family K/V element sits orders of
     * magnitude below; a model whose keys or values approach it should run with {@code bf16}).
     */
    FP16;

    public static final String PROPERTY = "specdec.cuda.kvCache";
    public static final String SPLIT_KV_PROPERTY = "specdec.cuda.splitKv";

    /** Halves of a layer's buffer that hold parts of each element. */
    public int parts() { return this == SPLIT ? 2 : 1; }

    /** Whether the elements are fp16 (kernel argument {@code kvHalf}). */
    public boolean half() { return this == FP16; }

    /** The format the system properties ask for: {@value #PROPERTY} = fp16 (default), bf16 or split. */
    public static KvCacheFormat fromSystemProperties() {
        String value = System.getProperty(PROPERTY);
        boolean legacySplit = Boolean.getBoolean(SPLIT_KV_PROPERTY);
        if (value == null) return legacySplit ? SPLIT : FP16;
        KvCacheFormat format = parse(value);
        if (legacySplit && format != SPLIT) {
            throw new IllegalArgumentException(SPLIT_KV_PROPERTY + "=true contradicts " + PROPERTY + "=" + value);
        }
        return format;
    }

    public static KvCacheFormat parse(String value) {
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "bf16" -> BF16;
            case "split" -> SPLIT;
            case "fp16" -> FP16;
            default -> throw new IllegalArgumentException(PROPERTY + " must be fp16, bf16 or split, got " + value);
        };
    }
}
