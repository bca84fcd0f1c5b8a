package io.specdec.cuda;

import java.util.Locale;

/**
 * Which matmul inputs carry a second bf16 part ({@value #PROPERTY}; {@code prefill} by default). A split input is
 * written as bf16 hi and bf16 lo = bf16(x - hi) (store_act in the kernels) and its matmul adds W·lo, so the input
 * keeps ~16 mantissa bits instead of bf16's 8. The skinny decode/verify passes do so at no measurable cost (they stream
 * weights; the second part is L2-resident); a cuBLAS pass pays a second product over W. Measured on an H100
 * (bench/results/cuda-h100-2026-11-24-session13-flash): only {@link #PREFILL} put the random Llama-3-8B shape within
 * bf16 tolerance of fp32 transformers over 256 greedy steps (3.1e-3, 256/256 vs 3.6e-2, 251/256 with
 * {@link #DECODE}), for 10.2 → 14.5 ms of 8B prefill at 128 tokens and 65 → 111 ms at 2,048.
 */
public enum SplitActivations {
    /** bf16 inputs everywhere. */
    OFF,
    /** The skinny decode/verify passes only ({@code decode}, or {@code true}: the default before session 13). */
    DECODE,
    /** Those, and the cuBLAS passes of every forward with a prompt chunk of more than 16 tokens: the default. */
    PREFILL,
    /**
     * Every cuBLAS pass too, the batched decode steps of 17+ served sequences included: those pay the second product
     * (served 1B shape at 64 streams 18,525 → 13,701 tok/s), so it is opt-in.
     */
    ALL;

    public static final String PROPERTY = "specdec.cuda.splitActivations";

    /** Whether any matmul input is split (the workspaces then hold second parts). */
    public boolean any() { return this != OFF; }

    /** Whether the cuBLAS passes of a forward whose longest chunk has {@code longestChunk} tokens add W·lo. */
    public boolean cublasPasses(int longestChunk) {
        return this == ALL || (this == PREFILL && longestChunk > CudaTransformer.SAME_KERNEL_AS_DECODE_MAX_TOKENS);
    }

    /** The mode the system properties ask for ({@link #PREFILL} when unset). */
    public static SplitActivations fromSystemProperties() {
        String value = System.getProperty(PROPERTY);
        return value == null ? PREFILL : parse(value);
    }

    public static SplitActivations parse(String value) {
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "false" -> OFF;
            case "decode", "true" -> DECODE;
            case "prefill" -> PREFILL;
            case "all" -> ALL;
            default -> throw new IllegalArgumentException(PROPERTY + " must be prefill, decode (or true), all or false, got " + value);
        };
    }
}
