package io.specdec.cuda;

import io.specdec.core.model.ModelConfig;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdevice_attribute;
import jcuda.driver.JCudaDriver;

/**
 * Split-K ("flash-decoding") attention for forwards of up to {@code maxTokens} tokens (decode, verify, served batch
 * steps; CudaTransformer sets 128, longer prefill chunks take attention_paged): the key range of each (token,
 * head) is cut into splits, one block each ({@code attention_split}), and a second kernel merges their partial
 * (max, sum, output) states ({@code attention_split_combine}). With one block per (token, head), a decode step of an
 * 8B model fills 32 blocks on a GPU of 132 SMs, each walking the whole context; splitting lets long contexts use the
 * whole GPU. Masks and the sliding window are those of {@code attention_paged}.
 *
 * <p>Graph capture: the grid is fixed ({@link #maxSplits} splits per head) and the kernels read each row's key count
 * from the forward's metadata, splitting it into chunks of {@link #chunk} keys; splits past the context exit at once,
 * so one captured graph serves every context length. The chunking depends only on the key count, so a verify row
 * adds up in the same order as the decode step at the same position would (which the speculative greedy == target
 * greedy guarantee relies on). {@code -Dspecdec.cuda.noSplitK=true} turns it off (for comparisons).
 *
 * <p>Where the head size is 64, 128 or 256 and at most 8 query heads share a KV head, the grouped kernels
 * ({@code attention_gqa_hd*}) run instead: one block per (token, KV head, split of 128·n keys) for all the query heads
 * of the group, the last block of a row merging the splits, so one launch instead of two and each K/V row read once
 * a group ({@value #NO_GQA_PROPERTY}{@code =true} keeps the per-head kernels, for comparisons).
 */
public final class SplitKAttention implements AutoCloseable {
    public static final String DISABLE_PROPERTY = "specdec.cuda.noSplitK";
    public static final String NO_GQA_PROPERTY = "specdec.cuda.noGqaAttention";
    public static final String MAX_SPLITS_PROPERTY = "specdec.cuda.attentionMaxSplits";
    /** SPLIT_MIN_KEYS in the kernels: a split is worth its partial state only over this many keys. */
    static final int MIN_KEYS = 256;
    static final int MAX_SPLITS = 32;
    private static final int THREADS = 128;   // ATT_WARPS * 32

    private final CudaDevice device;
    private final int maxTokens, maxSplits, heads, kvHeads, headDim;
    private final int manyAfter = Integer.getInteger(MANY_AFTER_PROPERTY, CudaTransformer.SAME_KERNEL_AS_DECODE_MAX_TOKENS);
    private final DeviceBuffer partials, stats;
    /** The grouped kernel for this model's head size, or null where the per-head kernels run. */
    private final String grouped;
    /** Benchmark ablation ({@link CudaTransformer#ABLATE_PROPERTY} ATTENTION_NOOP): an empty kernel of the same grid. */
    private final boolean noop = System.getProperty(CudaTransformer.ABLATE_PROPERTY, "").contains("ATTENTION_NOOP");
    /** Grouped kernel: splits finished per (token, KV head); zero between launches. */
    private final DeviceBuffer counters;

    private SplitKAttention(CudaDevice device, int maxTokens, int maxSplits, int heads, int kvHeads, int headDim,
                            String grouped) {
        this.device = device;
        this.maxTokens = maxTokens;
        this.maxSplits = maxSplits;
        this.heads = heads;
        this.kvHeads = kvHeads;
        this.headDim = headDim;
        this.grouped = grouped;
        long states = (long) maxTokens * heads * maxSplits;
        partials = device.allocate(4L * states * headDim);
        stats = device.allocate(8L * states);
        if (grouped != null) {
            counters = device.allocate(4L * maxTokens * kvHeads);
            device.copyToDevice(counters, new int[maxTokens * kvHeads]);
            device.preload(grouped, grouped + MANY_SUFFIX);
            if (noop) device.preload("attention_noop");
        } else {
            counters = null;
            device.preload("attention_split", "attention_split_combine");
        }
    }

    /**
     * Split-K for forwards of up to {@code maxTokens} tokens of models shaped like {@code config}, or null when
     * turned off with {@value #DISABLE_PROPERTY}. Its scratch is allocated here, once, so captured graphs stay valid.
     */
    public static SplitKAttention create(CudaDevice device, ModelConfig config, int maxTokens) {
        if (Boolean.getBoolean(DISABLE_PROPERTY)) return null;
        String grouped = Boolean.getBoolean(NO_GQA_PROPERTY) ? null : groupedKernel(config.heads(), config.kvHeads(), config.headDim());
        int sms = multiprocessors(device);
        int splits = grouped != null ? maxSplits(sms, config.kvHeads()) : maxSplits(sms, config.heads());
        splits = Integer.getInteger(MAX_SPLITS_PROPERTY, splits);   // benchmarks: how the grid size matters
        return new SplitKAttention(device, maxTokens, splits, config.heads(), config.kvHeads(), config.headDim(), grouped);
    }

    /** The grouped kernels that also read the K/V rows' second parts (split KV) end in this. */
    static final String KVLO_SUFFIX = "_kvlo";
    /** The grouped kernels that read an fp16 cache ({@link KvCacheFormat#FP16}) end in this. */
    static final String F16_SUFFIX = "_f16";

    /** Looks up the entry points for a cache stored as {@code format} ahead of graph capture (a model calls this once). */
    public void preload(KvCacheFormat format) {
        String suffix = suffix(format);
        if (grouped != null && !suffix.isEmpty()) device.preload(grouped + suffix, grouped + MANY_SUFFIX + suffix);
        String rope = ropeKernel(format);
        if (rope != null) device.preload(rope);
    }

    /** The grouped kernels that rope their own heads for one-token steps ({@link #enqueueDecodeWithRope}) end in this, before the cache's suffix. */
    static final String ROPE_SUFFIX = "_rope";

    /**
     * The grouped kernel with RoPE/append folded in for a cache stored as {@code format}, or null where there is none
     * (per-head kernels, split KV, the benchmark's empty-kernel ablation).
     */
    String ropeKernel(KvCacheFormat format) {
        return grouped == null || noop ? null : ropeKernelName(grouped, format);
    }

    /** Grouped kernel {@code grouped}'s RoPE/append twin for a cache stored as {@code format}, or null (split KV). */
    static String ropeKernelName(String grouped, KvCacheFormat format) {
        return format == KvCacheFormat.SPLIT ? null : grouped + ROPE_SUFFIX + suffix(format);
    }

    private static String suffix(KvCacheFormat format) {
        return switch (format) {
            case BF16 -> "";
            case SPLIT -> KVLO_SUFFIX;
            case FP16 -> F16_SUFFIX;
        };
    }

    /** The grouped kernels for forwards of more tokens than a verify pass (served batch steps) end in this. */
    static final String MANY_SUFFIX = "_many";
    /**
     * Forwards of more tokens than this take the {@value #MANY_SUFFIX} entry points (default
     * {@link CudaTransformer#SAME_KERNEL_AS_DECODE_MAX_TOKENS}; GpuCheck splitk sets 0 to compare the two on the same
     * input).
     */
    public static final String MANY_AFTER_PROPERTY = "specdec.cuda.gqaManyAfterTokens";

    /**
     * The entry point of grouped kernel {@code grouped} for a forward of {@code tokens}: up to {@code manyAfter} tokens
     * (decode, verify) the one that requests a whole key tile at once, else its {@value #MANY_SUFFIX} twin with fewer
     * registers (more blocks an SM for large grids). They group loads differently and add up in the same order, so
     * their outputs are equal bit for bit (GpuCheck splitk compares them); the split is for speed only.
     */
    static String forTokens(String grouped, int tokens, int manyAfter) {
        return tokens <= manyAfter ? grouped : grouped + MANY_SUFFIX;
    }

    /** The grouped kernel for these heads, or null where it does not apply (head size, group of more than 8). */
    static String groupedKernel(int heads, int kvHeads, int headDim) {
        if (kvHeads <= 0 || heads % kvHeads != 0 || heads / kvHeads > 8) return null;
        return switch (headDim) {
            case 64, 128, 256 -> "attention_gqa_hd" + headDim;
            default -> null;
        };
    }

    /**
     * Splits per head (per KV head for the grouped kernel): enough that a one-token step puts about two blocks on
     * every SM, at most {@value #MAX_SPLITS}.
     */
    static int maxSplits(int multiprocessors, int heads) {
        return Math.clamp((2L * multiprocessors + heads - 1) / heads, 1, MAX_SPLITS);
    }

    /** Keys per split for a row of {@code keys} keys (split_chunk in the kernels; the two must agree). */
    static int chunk(int keys, int maxSplits) {
        int per = (keys + maxSplits - 1) / maxSplits;
        per = (per + 31) & ~31;
        return Math.max(per, MIN_KEYS);
    }

    /** Splits that hold keys of a row of {@code keys} keys. */
    public static int splits(int keys, int maxSplits) {
        int c = chunk(keys, maxSplits);
        return (keys + c - 1) / c;
    }

    private static int multiprocessors(CudaDevice device) {
        device.makeCurrent();
        CUdevice d = new CUdevice();
        JCudaDriver.cuCtxGetDevice(d);
        int[] count = new int[1];
        JCudaDriver.cuDeviceGetAttribute(count, CUdevice_attribute.CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT, d);
        return count[0];
    }

    public int maxSplits() { return maxSplits; }

    /** Whether the grouped kernel runs (else the per-head split and combine kernels). */
    public boolean grouped() { return grouped != null; }

    /** Splits that hold keys of a row of {@code keys} keys, as the kernel in use cuts it. */
    public int splitsOf(int keys) {
        if (grouped == null) return splits(keys, maxSplits);
        int c = groupedChunk(keys, maxSplits, heads / kvHeads);
        return (keys + c - 1) / c;
    }

    /**
     * gqa_chunk in the kernels: units of one 32-key tile per warp of a head (4 warps share the {@code group} query
     * heads of a KV head: 32 keys for groups of 4 or more, 64 for 2, 128 for 1), as few per split as
     * {@code maxSplits} allow.
     */
    static int groupedChunk(int keys, int maxSplits, int group) {
        int unit = 32 * (group >= 4 ? 1 : 4 / group);
        int units = (keys + unit - 1) / unit;
        return ((units + maxSplits - 1) / maxSplits) * unit;
    }

    /** Whether a forward of {@code tokens} tokens goes through split-K. */
    public boolean covers(int tokens) {
        return tokens <= maxTokens;
    }

    /**
     * Enqueues attention for {@code tokens} tokens; arguments as attention_paged's (the metadata buffer {@code meta}
     * holds the block tables, slot positions and masks that {@code seqMeta} points into; {@code outLo}: where the
     * output's second part starts, in elements after {@code out}, or 0, as in CudaTransformer's split activations;
     * {@code format}: how the cache stores K/V; {@code kvLo}: with {@link KvCacheFormat#SPLIT}, where the K/V rows'
     * second parts start, in elements after {@code keys} and {@code values}, else 0). Launches only.
     */
    public void enqueue(DeviceBuffer q, DeviceBuffer keys, DeviceBuffer values, DeviceBuffer out, long outLo, DeviceBuffer tokMeta,
                        DeviceBuffer seqMeta, DeviceBuffer meta, int tokens, int heads, int kvHeads, int hd,
                        int blockSize, int window, float scale, KvCacheFormat format, long kvLo) {
        if (tokens > maxTokens || heads > this.heads || hd > headDim || (grouped != null && (heads != this.heads
                || kvHeads != this.kvHeads || hd != headDim))) {
            throw new IllegalArgumentException("split-K attention sized for " + maxTokens + " tokens, " + this.heads
                    + " heads of " + headDim + ", asked for " + tokens + ", " + heads + " of " + hd);
        }
        if (noop) {   // benchmark ablation: the grouped kernel's grid and shared memory, no work
            device.launch("attention_noop", tokens, (grouped != null ? kvHeads : heads) * maxSplits, THREADS, 0);
            return;
        }
        if (grouped != null) {
            device.launch(forTokens(grouped, tokens, manyAfter) + suffix(format), tokens, kvHeads * maxSplits,
                    THREADS, q, keys, values, out, partials, stats, counters, tokMeta, seqMeta, meta, meta, meta, heads, kvHeads,
                    blockSize, window, scale, maxSplits, outLo, kvLo, device.metaFirst() ? 1 : 0);
            return;
        }
        device.launch("attention_split", tokens, heads * maxSplits, THREADS, q, keys, values, partials, stats, tokMeta,
                seqMeta, meta, meta, meta, heads, kvHeads, hd, blockSize, window, scale, maxSplits, kvLo,
                format.half() ? 1 : 0);
        device.launch("attention_split_combine", tokens, heads, THREADS, partials, stats, out, tokMeta, seqMeta, heads,
                hd, maxSplits, outLo);
    }

    /**
     * Attention for a one-token step of one sequence with that token's RoPE/append folded in (the kernel from
     * {@link #ropeKernel}, which must exist): reads the q/k/v GEMM's row {@code qkv} instead of roped queries, and
     * appends the token's K/V row at {@code slots}' slot itself, so no qkv_rope_append runs before it. The other
     * arguments are {@link #enqueue}'s and qkv_rope_append's. The same bits as qkv_rope_append + {@link #enqueue}.
     */
    public void enqueueDecodeWithRope(DeviceBuffer qkv, DeviceBuffer bias, DeviceBuffer qNorm, DeviceBuffer kNorm,
                                      DeviceBuffer inverseFrequencies, DeviceBuffer positions, DeviceBuffer slots,
                                      int interleaved, float eps, DeviceBuffer kvSaturations, DeviceBuffer keys,
                                      DeviceBuffer values, DeviceBuffer out, long outLo, DeviceBuffer tokMeta,
                                      DeviceBuffer seqMeta, DeviceBuffer meta, int blockSize, int window, float scale,
                                      KvCacheFormat format) {
        device.launch(ropeKernel(format), 1, kvHeads * maxSplits, THREADS, qkv, bias, qNorm, kNorm, inverseFrequencies,
                positions, slots, interleaved, eps, kvSaturations, keys, values, out, partials, stats, counters, tokMeta,
                seqMeta, meta, meta, meta, heads, kvHeads, blockSize, window, scale, maxSplits, outLo,
                device.metaFirst() ? 1 : 0);
    }

    @Override public void close() {
        device.free(partials);
        device.free(stats);
        if (counters != null) device.free(counters);
    }
}
