package io.specdec.cuda;

import io.specdec.core.backend.AttentionMask;
import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvBlockStore;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.parallel.LayerGroupPlan;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * The Llama-family transformer on one GPU, with the forward semantics of the CPU backend's CpuTransformer (GQA,
 * RoPE style and scaling, q/k/v bias, q/k norm, sliding window, causal and tree masks). The KV cache lives in device
 * memory (bf16, one K and one V buffer per layer, indexed by physical slot) and is driven by core's
 * {@link PagedKvCache} block tables, so forks, truncation and tree compaction work as on the CPU. A forward uploads
 * one small metadata array, runs every layer on the device, and copies back only the requested logit rows (or,
 * through {@link #forwardArgmax}, only their argmax).
 *
 * <p>In a multi-GPU model the same class is one rank ({@link ParallelRole}): the KV block bookkeeping is then shared
 * (appended once per forward by the model, {@link #append}/{@link #describe}; each rank uploads the same metadata and
 * copies blocks on its own device through {@link #kvStore}), and the forward adds the role's collectives.
 */
public final class CudaTransformer implements LanguageModel {
    /** gemv_bf16 and the one-group tensor-core kernels handle up to this many tokens per pass. */
    static final int SKINNY_MAX_TOKENS = 8;
    /**
     * Tensor-core passes take up to this many tokens (9..16 in the two-group kernels gemm_skinny_mma16 and
     * gemm_skinny_mma_swiglu16, one weight stream for both groups), so the verify pass of γ up to 15 streams the
     * weights once instead of twice: at γ = 8 a verify of 9 tokens had cost two decode steps.
     * {@value #MMA_PASS_TOKENS_PROPERTY}{@code =8} keeps passes of 8 (comparisons).
     */
    static final int SKINNY_MMA_MAX_TOKENS = 16;
    public static final String MMA_PASS_TOKENS_PROPERTY = "specdec.cuda.mmaPassTokens";
    private final int mmaPassTokens =
            Integer.getInteger(MMA_PASS_TOKENS_PROPERTY, SKINNY_MMA_MAX_TOKENS) <= SKINNY_MAX_TOKENS
                    ? SKINNY_MAX_TOKENS : SKINNY_MMA_MAX_TOKENS;
    /** Forwards up to this many tokens are captured as CUDA graphs. */
    static final int GRAPH_MAX_TOKENS = 16;
    /**
     * Forwards up to this many tokens (decode, and verification of γ up to 15) run every matmul on the skinny kernel,
     * in passes of up to 16, so a verify forward computes each row exactly as a decode step would: with cuBLAS (another
     * summation order) a 9-token verify of a random 8B model disagreed with its own greedy decode (run 2,
     * bench/results/cuda-h100-2026-11-22-run2). Only larger forwards (prefill chunks) go to cuBLAS.
     */
    static final int SAME_KERNEL_AS_DECODE_MAX_TOKENS = 16;
    /**
     * Forwards up to this many tokens take split-K / grouped attention (one row per token, each with its own keys), so
     * a served batch step of up to 128 sequences does too; larger forwards (prefill chunks) take attention_paged.
     */
    static final int SPLIT_ATTENTION_MAX_TOKENS = 128;

    private final CudaDevice device;
    private final Cublas cublas;
    private final ModelConfig config;
    private final DeviceWeights weights;
    private final PagedKvCache cache;
    private final DeviceBuffer[] keys;
    private final DeviceBuffer[] values;
    private final DeviceBuffer inverseFrequencies;
    private final int blockSize;
    private final boolean skinnyGemm;
    private volatile boolean useGraphs;
    /**
     * Passes of at least this many tokens (up to 8) run their matmuls on the tensor cores (gemm_skinny_mma) instead of
     * the CUDA-core GEMV; 0 = never. Default 1 (every decode and verify pass; {@code specdec.cuda.mmaFromTokens}
     * overrides): a verify pass of γ+1 tokens then costs 1.02-1.06x a decode step instead of 1.1-1.7x, which brought
     * speculative decoding to 0.90-1.0 of the analytic bound at α = 0.8 (bench/results/cuda-h100-2026-11-23-mma), for
     * 2.7% slower plain decode of the 8B shape (1.6% faster for 1B). Decode uses it too because a verify row must add up
     * exactly as the decode step at its position does (speculative greedy == target greedy, bit for bit).
     */
    private volatile int mmaFromTokens;
    private final SplitKAttention splitK;
    /**
     * Whether greedy rows of small forwards take argmax_rows_split ({@value #SPLIT_ARGMAX_PROPERTY}, default true): one
     * block reading a 128K-vocabulary row took ~29 µs of an H100 decode step.
     */
    private final boolean splitArgmax = !System.getProperty(SPLIT_ARGMAX_PROPERTY, "true").equals("false");
    public static final String SPLIT_ARGMAX_PROPERTY = "specdec.cuda.splitArgmax";
    private static final int ARGMAX_SLICES = 32;
    private static final int ARGMAX_SPLIT_MAX_ROWS = 64;
    /** Warps per tile of the tensor-core skinny passes. */
    private final SkinnyGemmPlan skinnyPlan;
    /**
     * Whether the skinny GEMM's warps request their first weights before waiting on the kernel before them (a
     * programmatic dependent only). {@value #EARLY_WEIGHTS_PROPERTY}: {@code auto} (the default) = on for models of
     * width at most {@value #EARLY_WEIGHTS_MAX_DIM}, {@code true}, {@code false}. Measured on an H100 in three
     * interleaved rounds (bench/results/cuda-h100-2026-11-24-session12-final/early): the 1B shape's decode 3.8% faster
     * (median 1.259 -> 1.211 ms), the 8B shape's 0.7% slower (5.955 -> 6.008 ms), where a warp's first batch is a small
     * part of its weights and the early loads queue ahead of the latency-bound attention and norms they overlap.
     */
    private final boolean earlyWeights;
    public static final String EARLY_WEIGHTS_PROPERTY = "specdec.cuda.earlyWeights";
    /** {@code auto} requests weights early for models no wider than this (the Llama-3.2-1B shape; not 8B's 4096). */
    public static final int EARLY_WEIGHTS_MAX_DIM = 2048;
    /**
     * Whether gate/up passes on the tensor cores compute SwiGLU in their epilogue (gemm_skinny_mma_swiglu: one kernel
     * and one dependent launch fewer per layer, bit-identical to gemm_skinny_mma + swiglu_bf16).
     * {@value #SWIGLU_EPILOGUE_PROPERTY}: {@code auto} (the default) = on where the MLP is at most 8192 wide, {@code
     * true}, {@code false}. Why auto: on an H100 the epilogue made the Llama-3.2-1B shape's decode 1.4-2.4% faster and
     * the Llama-3-8B shape's (hidden 14336) 0.4-1.1% slower in three runs of interleaved rounds
     * (bench/results/cuda-h100-2026-11-23-session9-swiglu).
     */
    private volatile boolean swigluEpilogue;
    public static final String SWIGLU_EPILOGUE_PROPERTY = "specdec.cuda.swigluEpilogue";
    /** The fused norm/SwiGLU GEMVs for decode and verify ({@link FusedDecode#PROPERTY}), or {@link FusedDecode#OFF}. */
    private final FusedDecode fused;
    /** Which matmul inputs carry a second bf16 part ({@link SplitActivations}; off while the fused decode path is on). */
    private final SplitActivations split;
    /** Whether any does (the workspaces hold second parts). */
    private final boolean splitActivations;
    /** Whether the forward being enqueued has its cuBLAS passes add W·lo (set as {@link #enqueue} begins). */
    private boolean splitCublas;
    public static final String SPLIT_ACTIVATIONS_PROPERTY = SplitActivations.PROPERTY;
    /**
     * With split cuBLAS passes ({@link SplitActivations#PREFILL}, {@link SplitActivations#ALL}): W·hi and W·lo as one
     * strided-batched GEMM over W (streamed once) into two f32 parts that add_pair_f32 adds to y ({@code pair}, the
     * default), or as two accumulating GEMMs ({@code two}, the way it was before session 13; kept to measure against).
     */
    private final boolean pairedPrefill;
    public static final String SPLIT_PREFILL_GEMM_PROPERTY = "specdec.cuda.splitPrefillGemm";
    /**
     * Matmuls of up to this many rows take the paired GEMM, larger ones the two GEMMs. H100, Llama-3-8B shape
     * (bench/results/cuda-h100-2026-11-24-session13-flash): a 128-token prefill 16.3 → 14.5 ms with the pair (the
     * weights, streamed once, bound it), a 2,048-token one 111 → 119 ms (compute bound: the pair saves no arithmetic
     * and adds its summing pass). The crossover lies where 2T rows reach the GPU's flop/byte ratio (~300 on an H100).
     */
    static final int PAIRED_PREFILL_MAX_TOKENS = 256;
    /**
     * The tensor-core prefill attention kernel for this model ({@value #FLASH_PREFILL_PROPERTY}, default true): heads
     * 32, 64 or 128 wide, no sliding window, a bf16 or fp16 cache (not split KV); null where it does not apply, and
     * those forwards take attention_paged. Why: attention_paged walks each row's keys on the CUDA cores, one block per
     * (token, head): a 2,048-token prompt of the Llama-3-8B shape spent ~1 s there on an H100.
     */
    private final String flashKernel;
    public static final String FLASH_PREFILL_PROPERTY = "specdec.cuda.flashPrefill";
    /** Query rows of a prefill attention block (FA_ROWS in flash_prefill.cuh). */
    static final int FLASH_ROWS = 64;
    /** Forwards whose longest chunk is shorter keep attention_paged (a block's 64 rows would be mostly padding). */
    static final int FLASH_MIN_CHUNK = 16;
    /**
     * How K/V elements are stored ({@link KvCacheFormat}, {@value KvCacheFormat#PROPERTY}): fp16 by default (a bf16
     * cache's bytes, rounded 8x less); bf16 on request; split KV (opt-in) stores bf16 hi plus bf16 lo = bf16(x - hi)
     * ({@code store_act}), the lo parts {@code kvLo} elements after the hi parts of each layer's buffer, and attention
     * adds both (twice the memory and attention's bytes). Why not bf16: its rounding was most of the 8B shape's error
     * against fp32 transformers once matmul inputs were split (bench/README.md, sessions 6, 7 and 12).
     */
    private final KvCacheFormat kvFormat;
    /** With split KV, where the second parts start in each layer's buffer, in elements; else 0. */
    private final long kvLo;
    /**
     * fp16 cache: K/V values beyond ±65504 that store_kv saturated (one int on the device, never reset), read after
     * every ungraphed forward (prefills, large batches) and every {@value #KV_SATURATION_CHECK_EVERY}th forward, at the
     * start of the next one, when the stream is idle anyway; the first nonzero count is logged. Else null.
     */
    private final DeviceBuffer kvSaturations;
    private static final int KV_SATURATION_CHECK_EVERY = 256;
    private long forwardsSinceKvCheck;
    private boolean kvCheckDue, kvSaturationReported;
    private static final System.Logger LOG = System.getLogger(CudaTransformer.class.getName());
    public static final String SPLIT_KV_PROPERTY = KvCacheFormat.SPLIT_KV_PROPERTY;
    /** RMSNorm through the compact rmsnorm_vec_bf16 ({@link #norm}); {@code -Dspecdec.cuda.scalarNorm=true} turns it off. */
    private final boolean vectorNorm;
    /** Told where each stage of a forward begins (GpuCheck's decode-profile); forwards run without graphs meanwhile. */
    private volatile StageListener stageListener;
    /** Device sampling for plain sampled steps, created on first use. */
    private DeviceSampler sampler;
    /** Fused chain acceptance for held drafts ({@link #verifyHeld}), created on first use. */
    private FusedAcceptance acceptance;
    /** Where this model (as a draft) keeps a batch's held rounds ({@link #draftHeldChains}); created on first use. */
    private HeldRoundsArena arena;
    private final ParallelRole role;
    /** Rows of the output layer this rank holds: the vocabulary, or its part on a tensor-parallel shard. */
    private final int outputRows;
    private Workspace ws;
    private int lastRows;
    /** Captured forwards by shape (tokens, rows, sequences, argmax), valid for the workspace they were captured on. */
    private final java.util.Map<Long, jcuda.driver.CUgraphExec> graphs = new java.util.HashMap<>();
    private final java.util.Set<Long> notGraphable = new java.util.HashSet<>();
    private Workspace graphWorkspace;

    /**
     * @param kvTokens  tokens the KV cache holds across all sequences
     * @param blockSize tokens per KV block
     */
    public CudaTransformer(CudaDevice device, Cublas cublas, ModelConfig config, DeviceWeights weights, int kvTokens,
                           int blockSize) {
        this(device, cublas, config, weights, blocksFor(kvTokens, blockSize), blockSize, null, ParallelRole.SINGLE);
    }

    static int blocksFor(int kvTokens, int blockSize) {
        return Math.max(1, (kvTokens + blockSize - 1) / blockSize);
    }

    /**
     * One rank of a multi-GPU model: K/V buffers for {@code blocks} blocks, driven by {@code sharedCache} (whose
     * store must call this rank's {@link #kvStore}) or by a cache of its own when null.
     */
    CudaTransformer(CudaDevice device, Cublas cublas, ModelConfig config, DeviceWeights weights, int blocks, int blockSize,
                    PagedKvCache sharedCache, ParallelRole role) {
        if (config.headDim() > 256) throw new IllegalArgumentException("head dim " + config.headDim() + " > 256 is not supported");
        this.role = role;
        this.outputRows = role instanceof ParallelRole.TensorShard ts ? config.vocabSize() / ts.size() : config.vocabSize();
        this.device = device;
        this.cublas = cublas;
        this.config = config;
        this.weights = weights;
        this.blockSize = blockSize;
        this.skinnyGemm = !Boolean.getBoolean("specdec.cuda.cublasOnly");
        // ranks sharing a GPU share its context: one rank capturing a graph would fail the others' synchronous copies
        this.useGraphs = !Boolean.getBoolean("specdec.cuda.noGraphs") && !Collectives.sharedGpuRanks();
        this.mmaFromTokens = Integer.getInteger("specdec.cuda.mmaFromTokens", 1);
        String epilogue = System.getProperty(SWIGLU_EPILOGUE_PROPERTY, "auto");
        if (!List.of("auto", "true", "false").contains(epilogue)) {
            throw new IllegalArgumentException(SWIGLU_EPILOGUE_PROPERTY + " must be auto, true or false, got " + epilogue);
        }
        this.swigluEpilogue = epilogue.equals("auto") ? config.hiddenDim() <= 8192 : epilogue.equals("true");
        long slotBytes = 2L * config.kvDim();
        kvFormat = KvCacheFormat.fromSystemProperties();
        kvLo = kvFormat == KvCacheFormat.SPLIT ? (long) blocks * blockSize * config.kvDim() : 0;
        int parts = kvFormat.parts();
        kvSaturations = kvFormat.half() ? device.allocate(4) : null;
        if (kvSaturations != null) device.copyToDevice(kvSaturations, new int[1]);
        keys = new DeviceBuffer[config.layers()];
        values = new DeviceBuffer[config.layers()];
        for (int l = 0; l < config.layers(); l++) {
            keys[l] = device.allocate(parts * slotBytes * blocks * blockSize);
            values[l] = device.allocate(parts * slotBytes * blocks * blockSize);
        }
        this.cache = sharedCache != null ? sharedCache : new PagedKvCache(blocks, blockSize, kvStore());
        device.preload("embed_gather", "rmsnorm_bf16", "qkv_rope_append", "attention_paged", "swiglu_bf16", "gemv_bf16",
                "argmax_rows", "argmax_rows_split");
        if (role != ParallelRole.SINGLE) device.preload("add_f32", "gather_vocab_parts");
        splitK = SplitKAttention.create(device, config, SPLIT_ATTENTION_MAX_TOKENS);
        if (splitK != null) splitK.preload(kvFormat);
        String early = System.getProperty(EARLY_WEIGHTS_PROPERTY, "auto");
        if (!List.of("auto", "true", "false").contains(early)) {
            throw new IllegalArgumentException(EARLY_WEIGHTS_PROPERTY + " must be auto, true or false, got " + early);
        }
        earlyWeights = device.programmaticLaunches()
                && (early.equals("auto") ? config.dim() <= EARLY_WEIGHTS_MAX_DIM : early.equals("true"));
        skinnyPlan = new SkinnyGemmPlan(device);
        fused = skinnyGemm ? FusedDecode.open(device, config.dim()) : FusedDecode.OFF;
        vectorNorm = config.dim() % 1024 == 0 && config.dim() <= 8192 && fused == FusedDecode.OFF
                && !Boolean.getBoolean("specdec.cuda.scalarNorm");
        if (vectorNorm) device.preload("rmsnorm_vec_bf16", "rmsnorm_vec_add_bf16");
        split = fused == FusedDecode.OFF ? SplitActivations.fromSystemProperties() : SplitActivations.OFF;
        splitActivations = split.any();
        String gemm = System.getProperty(SPLIT_PREFILL_GEMM_PROPERTY, "pair");
        if (!List.of("pair", "two").contains(gemm)) {
            throw new IllegalArgumentException(SPLIT_PREFILL_GEMM_PROPERTY + " must be pair or two, got " + gemm);
        }
        pairedPrefill = split.cublasPasses(Integer.MAX_VALUE) && gemm.equals("pair");
        if (pairedPrefill) device.preload("add_pair_f32");
        flashKernel = "false".equals(System.getProperty(FLASH_PREFILL_PROPERTY, "true")) ? null
                : flashKernelName(config.headDim(), config.slidingWindow(), kvFormat);
        if (flashKernel != null) device.preload(flashKernel);
        double[] inv = config.ropeScaling().inverseFrequencies(config.headDim(), config.ropeTheta());
        inverseFrequencies = device.allocate(8L * inv.length);
        device.copyToDevice(inverseFrequencies, inv);
    }

    /** Copies this transformer's K/V (every layer, both parts with split KV) on its own device, as the block manager asks. */
    KvBlockStore kvStore() {
        long slotBytes = 2L * config.kvDim();
        return new KvBlockStore() {
            @Override public void copyBlock(int source, int target) {
                long n = slotBytes * blockSize;
                copy(target * n, source * n, n);
            }

            @Override public void copySlot(int sourceSlot, int targetSlot) {
                copy(targetSlot * slotBytes, sourceSlot * slotBytes, slotBytes);
            }

            private void copy(long to, long from, long bytes) {
                copyPart(0, to, from, bytes);
                if (kvLo != 0) copyPart(2 * kvLo, to, from, bytes);   // the second parts, 2 * kvLo bytes on
            }

            private void copyPart(long part, long to, long from, long bytes) {
                for (int l = 0; l < keys.length; l++) {
                    device.copy(keys[l].slice(part + to, bytes), keys[l].slice(part + from, bytes), bytes);
                    device.copy(values[l].slice(part + to, bytes), values[l].slice(part + from, bytes), bytes);
                }
            }
        };
    }

    @Override public ModelConfig config() { return config; }

    @Override public KvSequence newSequence() { return cache.newSequence(); }

    public PagedKvCache cache() { return cache; }

    public DeviceWeights weights() { return weights; }

    public CudaDevice device() { return device; }

    public ParallelRole role() { return role; }

    /** Turns CUDA graph replay of small steps on or off (default: on unless {@code specdec.cuda.noGraphs}). */
    public void useGraphs(boolean on) { this.useGraphs = on && !Collectives.sharedGpuRanks(); }

    /**
     * Runs passes of at least {@code tokens} tokens (2..8; 0 = never) on the tensor-core skinny GEMM. Drops the
     * captured graphs, which hold the kernels of the previous choice.
     */
    public void useTensorCoresFrom(int tokens) {
        if (tokens < 0) throw new IllegalArgumentException("tokens must be >= 0: " + tokens);
        this.mmaFromTokens = tokens;
        dropGraphs();
    }

    /** Whether tensor-core gate/up passes compute SwiGLU in their epilogue ({@link #SWIGLU_EPILOGUE_PROPERTY}). */
    public boolean swigluEpilogue() { return swigluEpilogue; }

    /**
     * Computes SwiGLU in the epilogue of tensor-core gate/up passes (on) or in a kernel of its own (off). Drops the
     * captured graphs, which hold the kernels of the previous choice.
     */
    public void useSwigluEpilogue(boolean on) {
        this.swigluEpilogue = on;
        dropGraphs();
    }

    /** Whether decode and verify forwards run the fused norm/SwiGLU GEMVs ({@link FusedDecode}). */
    public boolean fusedDecode() { return fused.tokensPerPass() > 0; }

    /** Whether the skinny GEMMs request their first weights before their programmatic wait ({@link #EARLY_WEIGHTS_PROPERTY}). */
    public boolean earlyWeights() { return earlyWeights; }

    /** How this transformer's KV cache stores its elements ({@link KvCacheFormat#PROPERTY}). */
    public KvCacheFormat kvCacheFormat() { return kvFormat; }

    /** Kernel argument kvHalf: 1 for an fp16 cache. */
    private int kvHalf() { return kvFormat.half() ? 1 : 0; }

    /** Whether matmul inputs carry a second bf16 part ({@link #SPLIT_ACTIVATIONS_PROPERTY}). */
    public boolean splitActivations() { return splitActivations; }

    /**
     * Whether the cuBLAS matmuls of forwards with a prompt chunk add the second part too
     * ({@link #SPLIT_ACTIVATIONS_PROPERTY}{@code =prefill}, the default, or {@code all}).
     */
    public boolean splitPrefill() { return split.cublasPasses(Integer.MAX_VALUE); }

    /** The attention kernel of forwards larger than split-K's (causal rows): the tensor-core one or attention_paged. */
    public String prefillAttentionKernel() { return flashKernel != null ? flashKernel : "attention_paged"; }

    /** Whether a split prefill's two products are one strided-batched GEMM ({@link #SPLIT_PREFILL_GEMM_PROPERTY}). */
    public boolean pairedPrefill() { return pairedPrefill; }

    /** The stages of a forward, in the order a layer runs them; the fused path skips NORM and SWIGLU. */
    public enum Stage { EMBED, NORM, QKV, ROPE_APPEND, ATTENTION, O_PROJ, GATE_UP, SWIGLU, DOWN, COLLECTIVE, HEAD }

    /** Told, as a forward is enqueued, where each stage's launches begin and where the forward ends. */
    public interface StageListener {
        void enter(Stage stage);

        void done();
    }

    /** Sets (or, with null, removes) the listener of every following forward's stages; those forwards run without graphs. */
    public void stageListener(StageListener listener) { this.stageListener = listener; }

    private void enter(Stage stage) {
        StageListener l = stageListener;
        if (l != null) l.enter(stage);
    }

    /**
     * Benchmark-only ablation ({@value #ABLATE_PROPERTY}=ATTENTION,NORM,QKV,...): the named stages (the layers'
     * matmuls too: QKV, O_PROJ, GATE_UP, DOWN) are left out of every forward, so a graph-mode timing shows what they
     * really cost. The output is garbage; never for serving.
     */
    public static final String ABLATE_PROPERTY = "specdec.cuda.benchAblate";
    private final java.util.Set<Stage> ablated = ablatedStages();

    private static java.util.Set<Stage> ablatedStages() {
        String v = System.getProperty(ABLATE_PROPERTY, "").trim();
        java.util.Set<Stage> out = java.util.EnumSet.noneOf(Stage.class);
        if (v.isEmpty()) return out;
        for (String name : v.split(",")) if (!name.trim().equals("ATTENTION_NOOP")) out.add(Stage.valueOf(name.trim()));
        return out;
    }

    private boolean ablated(Stage stage) {
        return !ablated.isEmpty() && ablated.contains(stage);
    }

    /** The logits of the last forward's requested rows, [rows, vocab] f32, valid until the next forward. */
    public DeviceBuffer deviceLogits() {
        return ws.logits.slice(0, 4L * lastRows * config.vocabSize());
    }

    @Override
    public List<float[][]> forward(List<SequenceInput> batch) {
        int[] rowsPerInput = run(batch);
        int vocab = config.vocabSize();
        float[] all = new float[lastRows * vocab];
        if (lastRows > 0) device.copyToHost(all, ws.logits, all.length);
        List<float[][]> result = new ArrayList<>(batch.size());
        int r = 0;
        for (int n : rowsPerInput) {
            float[][] out = new float[n][];
            for (int k = 0; k < n; k++, r++) out[k] = Arrays.copyOfRange(all, r * vocab, (r + 1) * vocab);
            result.add(out);
        }
        return result;
    }

    /** As {@link #forward}, but returns only the argmax (greedy token) of each requested row, in order. */
    /**
     * Samples on the device ({@link DeviceSampler}: the CPU path's rule with the same uniforms) unless the parameters
     * need the host path (or {@code -Dspecdec.cuda.hostSampling=true}); only the ids come back.
     */
    @Override
    public int[] forwardSampled(List<SequenceInput> batch, io.specdec.core.sampling.SamplingParams params, double[] uniforms) {
        if (Boolean.getBoolean("specdec.cuda.hostSampling") || DeviceSampler.unsupportedReason(params).isPresent()
                || config.vocabSize() > DeviceSampler.MAX_VOCAB) {
            return LanguageModel.super.forwardSampled(batch, params, uniforms);
        }
        int[] rows = run(batch);
        int n = 0;
        for (int r : rows) n += r;
        return deviceSampler(n).sample(ws.logits, n, config.vocabSize(), params, uniforms);
    }

    /**
     * Keeps a draft's logits on this GPU for {@link #verifyHeld} when the fused kernel can decide the request: a
     * single-GPU draft on this model's device with the same vocabulary, temperature-only sampling (the kernel applies
     * no top-k/top-p/min-p/penalties), and neither {@code -Dspecdec.cuda.hostAcceptance=true} nor
     * {@code -Dspecdec.cuda.hostSampling=true} (a held draft step samples on the device); otherwise empty, and the
     * chain is verified on the host as before. A draft on another GPU also stays on the host path (no peer copy yet).
     */
    @Override
    public java.util.Optional<io.specdec.core.backend.HeldLogits> holdDraftLogits(LanguageModel draft,
                                                                                  io.specdec.core.sampling.SamplingParams params) {
        if (role != ParallelRole.SINGLE) return java.util.Optional.empty();
        return holdFor(draft, params, config.vocabSize());
    }

    /**
     * The held-logits buffer for a single-GPU draft on this device, or empty when the fused kernel cannot decide the
     * request. {@code vocab}: the full vocabulary of the model whose logits this device holds after a forward (a
     * tensor-parallel rank 0 holds the gathered rows).
     */
    java.util.Optional<io.specdec.core.backend.HeldLogits> holdFor(LanguageModel draft, io.specdec.core.sampling.SamplingParams params,
                                                                   int vocab) {
        if (Boolean.getBoolean("specdec.cuda.hostAcceptance") || Boolean.getBoolean("specdec.cuda.hostSampling")
                || !params.isTemperatureOnly()) {
            return java.util.Optional.empty();
        }
        if (!(draft instanceof CudaTransformer d) || d.device != device || d.role != ParallelRole.SINGLE
                || d.config.vocabSize() != vocab || vocab > DeviceSampler.MAX_VOCAB) {
            return java.util.Optional.empty();
        }
        return java.util.Optional.of(new CudaHeldLogits(device, vocab, 8));
    }

    /**
     * A draft step sampled on the device (as {@link #forwardSampled}) whose logits row is also copied, on the device,
     * to row {@code row} of {@code held}.
     */
    @Override
    public int forwardSampledHolding(SequenceInput input, io.specdec.core.sampling.SamplingParams params, double uniform,
                                     io.specdec.core.backend.HeldLogits held, int row) {
        CudaHeldLogits h = heldHere(held, config.vocabSize());
        if (input.logitRows().length != 1) {
            throw new IllegalArgumentException("a held draft step asks for one logits row, got " + input.logitRows().length);
        }
        run(List.of(input));
        int vocab = config.vocabSize();
        // enqueued before the sampler's read-back, which waits for it
        device.copy(h.slot(row), ws.logits, 4L * vocab);
        return deviceSampler(1).sample(ws.logits, 1, vocab, params, new double[] {uniform})[0];
    }

    /**
     * Held draft steps of a batch in one forward: each input's row is copied, on the device, to its held buffer, and
     * all rows are drawn at once by the device sampler (one temperature), so only the ids come back.
     */
    @Override
    public int[] forwardSampledHolding(List<SequenceInput> batch, io.specdec.core.sampling.SamplingParams params,
                                       double[] uniforms, List<io.specdec.core.backend.HeldLogits> held, int[] rows) {
        if (uniforms.length != batch.size() || held.size() != batch.size() || rows.length != batch.size()) {
            throw new IllegalArgumentException("one uniform, held buffer and row per input");
        }
        int vocab = config.vocabSize();
        List<CudaHeldLogits> here = new ArrayList<>(batch.size());
        for (int i = 0; i < batch.size(); i++) {
            if (batch.get(i).logitRows().length != 1) {
                throw new IllegalArgumentException("a held draft step asks for one logits row, got " + batch.get(i).logitRows().length);
            }
            here.add(heldHere(held.get(i), vocab));
        }
        run(batch);
        // enqueued before the sampler's read-back, which waits for them
        for (int i = 0; i < batch.size(); i++) device.copy(here.get(i).slot(rows[i]), ws.logits.slice(4L * vocab * i, 4L * vocab), 4L * vocab);
        return deviceSampler(batch.size()).sample(ws.logits, batch.size(), vocab, params, uniforms);
    }

    /**
     * One forward over the batch, each input answered on this GPU the way it asks ({@link #answerEach}). Roles other
     * than a single GPU take the default (every row to the host); a tensor-parallel model answers on its rank 0.
     */
    @Override
    public List<io.specdec.core.backend.RowResult> forwardEach(List<SequenceInput> batch, List<io.specdec.core.backend.RowUse> uses) {
        if (role != ParallelRole.SINGLE) return LanguageModel.super.forwardEach(batch, uses);
        return answeredHere(batch, uses);
    }

    /**
     * {@link #forwardEach} answered on this GPU, which holds every row's whole-vocabulary logits after the forward: a
     * single GPU, or a tensor-parallel rank of a group over actors (each rank all-gathers the logits, so every rank
     * decides alike from its own draft replica's held rounds: nothing is broadcast).
     */
    List<io.specdec.core.backend.RowResult> answeredHere(List<SequenceInput> batch, List<io.specdec.core.backend.RowUse> uses) {
        int vocab = config.vocabSize();
        checkUses(batch, uses, vocab);
        checkKvSaturation();
        Step step = describe(config, batch, append(config, batch));
        // after the append, which may refuse the batch for a full cache (then no uniform was drawn)
        HeldVerifications held = HeldVerifications.of(batch, uses, device);
        boolean argmax = uses.stream().anyMatch(u -> u instanceof io.specdec.core.backend.RowUse.Argmax) || (held != null && held.anyGreedy());
        if (held == null) {
            Plan plan = load(step);
            execute(plan, argmax && plan.rows > 0, false);
            return answerEach(plan.rowsPerInput, uses, vocab, null, argmax && plan.rows > 0);
        }
        return verifyHeldPart(step, held, uses, 0, null, vocab);
    }

    /**
     * Rank {@code rank}'s part of a forward that verifies held rounds ({@link HeldVerifications}; on one GPU the only
     * rank, with a tensor-parallel target every rank, {@link CudaTensorParallelModel#forwardEach}): rank 0 uploads the
     * rounds' tables with the metadata (one host copy) and fills the verify's token slots from the held ids; the token
     * slots are NCCL-broadcast from rank 0 to every rank; the forward; rank 0 (which holds every row's logits)
     * decides every round and answers every input. Returns rank 0's answers, null elsewhere.
     */
    List<io.specdec.core.backend.RowResult> verifyHeldPart(Step step, HeldVerifications held, List<io.specdec.core.backend.RowUse> uses,
                                                           int rank, Collectives comm, int vocab) {
        Plan plan = rank == 0 ? load(step, held.ints()) : load(step);
        DeviceBuffer tables = rank == 0 ? ws.meta.slice(4L * step.meta().length, 4L * held.ints().length) : null;
        if (rank == 0) held.fillTokens(tables, ws.meta);
        if (comm != null) comm.broadcast(ws.meta.slice(0, 4L * plan.tokens()), plan.tokens(), Nccl.Type.I32, 0);
        boolean argmax = held.anyGreedy() || uses.stream().anyMatch(u -> u instanceof io.specdec.core.backend.RowUse.Argmax);
        // one GPU: the argmax inside the forward's graph; a shard: on rank 0 after it (every rank runs the same graph)
        boolean inGraph = role == ParallelRole.SINGLE && argmax && plan.rows > 0;
        execute(plan, inGraph, false);
        if (rank != 0) return null;
        if (argmax && !inGraph && plan.rows > 0) argmaxRows(plan.rows, vocab);
        held.accept(tables, ws.argmax, ws.logits, vocab, fusedAcceptance(Math.max(1, held.longestSampled())));
        return answerEach(plan.rowsPerInput, uses, vocab, held, argmax);
    }

    /** Refuses, before any forward, uses that do not fit their inputs (a held verify's rows, its buffer's device). */
    void checkUses(List<SequenceInput> batch, List<io.specdec.core.backend.RowUse> uses, int vocab) {
        if (uses.size() != batch.size()) throw new IllegalArgumentException("one row use per input: " + uses.size() + " != " + batch.size());
        for (int i = 0; i < batch.size(); i++) {
            if (uses.get(i) instanceof io.specdec.core.backend.RowUse.HeldVerify h) {
                checkVerify(batch.get(i), h.tokens(), h.params());
                heldHere(h.held(), vocab);
            }
        }
    }

    /**
     * The answers to a forward whose rows' logits (the whole vocabulary: gathered on a tensor-parallel rank 0) are in
     * this GPU's workspace: held drafts decided by {@link FusedAcceptance} on their rows (γ+2 ints back each), argmax
     * inputs by one {@code argmax_rows} over all rows (ids back), and only {@link io.specdec.core.backend.RowUse.Rows}
     * inputs copy their logits rows to the host.
     */
    List<io.specdec.core.backend.RowResult> answerEach(int[] rowsPerInput, List<io.specdec.core.backend.RowUse> uses, int vocab,
                                                      HeldVerifications held, boolean argmaxDone) {
        int rows = 0;
        for (int n : rowsPerInput) rows += n;
        int[] argmax = null;
        if (rows > 0 && uses.stream().anyMatch(u -> u instanceof io.specdec.core.backend.RowUse.Argmax)) {
            if (!argmaxDone) argmaxRows(rows, vocab);
            argmax = readArgmax(rows);
        }
        io.specdec.core.speculative.SpeculativeSampler.Outcome[] decided = held == null ? null : held.decide(vocab);
        List<io.specdec.core.backend.RowResult> out = new ArrayList<>(uses.size());
        int first = 0;
        for (int i = 0; i < uses.size(); i++) {
            int n = rowsPerInput[i];
            DeviceBuffer mine = n == 0 ? null : ws.logits.slice(4L * vocab * first, 4L * vocab * n);
            switch (uses.get(i)) {
                case io.specdec.core.backend.RowUse.Argmax a -> out.add(new io.specdec.core.backend.RowResult.Argmax(
                        n == 0 ? new int[0] : Arrays.copyOfRange(argmax, first, first + n)));
                case io.specdec.core.backend.RowUse.Rows r -> {
                    float[] part = new float[n * vocab];
                    if (n > 0) device.copyToHost(part, mine, part.length);
                    out.add(new io.specdec.core.backend.RowResult.Rows(split(part, new int[] {n}, vocab).getFirst()));
                }
                case io.specdec.core.backend.RowUse.Sampled u -> {
                    if (n != 1) throw new IllegalArgumentException("a sampled step asks for one logits row, got " + n);
                    boolean onDevice = !Boolean.getBoolean("specdec.cuda.hostSampling")
                            && DeviceSampler.unsupportedReason(u.params()).isEmpty() && vocab <= DeviceSampler.MAX_VOCAB;
                    if (onDevice) {
                        out.add(new io.specdec.core.backend.RowResult.Sampled(deviceSampler(1).sample(mine, 1, vocab,
                                u.params(), new double[] {u.uniform()})[0]));
                    } else {   // truncations the device sampler does not do: this row on the host
                        float[] row = new float[vocab];
                        device.copyToHost(row, mine, vocab);
                        out.add(new io.specdec.core.backend.RowResult.Sampled(LanguageModel.sampleOnHost(new float[][] {row}, u)));
                    }
                }
                case io.specdec.core.backend.RowUse.HeldVerify h -> out.add(new io.specdec.core.backend.RowResult.Verified(
                        acceptHeld(mine, h.tokens(), h.held(), h.params(), h.sampler(), vocab)));
                case io.specdec.core.backend.RowUse.HeldChainVerify h -> {
                    if (decided == null) throw new IllegalStateException("a held round is answered only where it was verified (verifyHeldPart)");
                    out.add(new io.specdec.core.backend.RowResult.Verified(decided[i]));
                }
            }
            first += n;
        }
        return out;
    }

    /**
     * Verifies a held draft with {@link FusedAcceptance}: the verify forward's γ+1 logits rows and the draft's γ rows
     * stay on this GPU; the request's uniforms are drawn as the host path draws them ({@link ChainUniforms}) and the
     * host reads back γ+2 ints.
     */
    @Override
    public io.specdec.core.speculative.SpeculativeSampler.Outcome verifyHeld(SequenceInput input, int[] tokens,
            io.specdec.core.backend.HeldLogits held, io.specdec.core.sampling.SamplingParams params,
            io.specdec.core.sampling.Sampler sampler) {
        checkVerify(input, tokens, params);
        heldHere(held, config.vocabSize());
        run(List.of(input));
        return acceptHeld(tokens, held, params, sampler, config.vocabSize());
    }

    static void checkVerify(SequenceInput input, int[] tokens, io.specdec.core.sampling.SamplingParams params) {
        int gamma = tokens.length;
        if (!params.isTemperatureOnly()) throw new IllegalArgumentException("verifyHeld takes temperature-only sampling, got " + params);
        if (gamma < 1) throw new IllegalArgumentException("verifyHeld needs at least one draft token");
        if (input.logitRows().length != gamma + 1) {
            throw new IllegalArgumentException("a verify of " + gamma + " draft tokens asks for " + (gamma + 1)
                    + " logits rows, got " + input.logitRows().length);
        }
    }

    /**
     * The fused acceptance test of the last forward's γ+1 logits rows (on this device: the whole vocabulary, gathered
     * on a tensor-parallel rank 0) against the held draft rows; draws the request's uniforms as the host path does.
     */
    io.specdec.core.speculative.SpeculativeSampler.Outcome acceptHeld(int[] tokens, io.specdec.core.backend.HeldLogits held,
            io.specdec.core.sampling.SamplingParams params, io.specdec.core.sampling.Sampler sampler, int vocab) {
        return acceptHeld(ws.logits, tokens, held, params, sampler, vocab);
    }

    /** As above, the target's γ+1 rows at {@code pLogits} (an input's rows within a batch's workspace). */
    private io.specdec.core.speculative.SpeculativeSampler.Outcome acceptHeld(DeviceBuffer pLogits, int[] tokens,
            io.specdec.core.backend.HeldLogits held, io.specdec.core.sampling.SamplingParams params,
            io.specdec.core.sampling.Sampler sampler, int vocab) {
        CudaHeldLogits h = heldHere(held, vocab);
        int gamma = tokens.length;
        FusedAcceptance acceptance = fusedAcceptance(gamma);
        io.specdec.core.speculative.ChainUniforms u = io.specdec.core.speculative.ChainUniforms.draw(sampler, gamma);
        // a temperature that underflows float still samples, as in DeviceSampler
        float temperature = Math.max((float) params.temperature(), Float.MIN_NORMAL);
        io.specdec.core.speculative.SpeculativeSampler.Outcome outcome = acceptance.verify(pLogits, h.rows(gamma), tokens,
                u.accept(), u.sample(), vocab, temperature);
        u.settle(sampler, outcome.accepted());
        return outcome;
    }

    private FusedAcceptance fusedAcceptance(int gamma) {
        if (acceptance == null || acceptance.maxGamma() < gamma) {
            if (acceptance != null) acceptance.close();
            acceptance = new FusedAcceptance(device, Math.max(8, gamma));
        }
        return acceptance;
    }

    /**
     * The γ draft steps of a held chain round on this GPU (a draft beside its target, see {@link CudaHeldChain}):
     * {@link #draftHeldChains} with one round.
     */
    @Override
    public void draftHeldChain(List<SequenceInput> steps, io.specdec.core.sampling.SamplingParams params, double[] uniforms,
                               io.specdec.core.backend.HeldChain held) {
        draftHeldChains(List.of(new io.specdec.core.backend.HeldRound(steps, params, uniforms, held)));
    }

    /**
     * The held rounds of a batch on this GPU, draft position by draft position. The rounds are ordered greedy first,
     * then by temperature, so that at every position each kind's rows are contiguous. Every step of every round is
     * appended and described first (positions and slots are known; the ids after each round's first step are
     * placeholders); ONE upload carries all the metadata, the per-position tables and the draws' uniforms
     * ({@link HeldRoundsLayout#staged}). Then position i of every round still drafting runs as one forward (same
     * kernels and graphs as a host-driven step; an EasySpec batch whose first steps differ in exactness runs position 0
     * as two, {@link #draftHeldChains(List, boolean[])}); each run of sampled rows of one temperature is copied to the rounds'
     * held logits and drawn by one sample_rows launch; one {@code chain_take_ids} launch takes every member's id
     * (argmax or draw) into the arena and into its token slot of position i+1's staged metadata. Only enqueues: nothing
     * is read back, the host does not wait.
     */
    @Override
    public void draftHeldChains(List<io.specdec.core.backend.HeldRound> rounds) {
        draftHeldChains(rounds, null);
    }

    /**
     * As {@link #draftHeldChains(List)} with EasySpec's layer-parallel steps (a layer replica whose every rank computes
     * the logits, so each rank takes its own ids): round r's first step exact when {@code exactFirst[r]}, fuzzy if not,
     * every later step fuzzy; {@code exactFirst} null: every step exact.
     */
    void draftHeldChains(List<io.specdec.core.backend.HeldRound> rounds, boolean[] exactFirst) {
        HeldBatch batch = HeldBatch.of(config, rounds, exactFirst);
        List<CudaHeldChain> chains = new ArrayList<>(batch.ordered().size());
        for (io.specdec.core.backend.HeldRound r : batch.ordered()) chains.add(CudaHeldChain.here(r.chain(), device));
        draftHeld(batch, chains);
    }

    /**
     * A batch of held rounds ordered greedy first, then by temperature, every step appended to its sequence and the
     * forwards described ({@link HeldRoundsLayout}, with each forward's exactness): built once on the caller's thread,
     * then drafted by one model or by every replica of a layer-parallel draft ({@link CudaLayerParallelModel#draftHeldChains}).
     */
    record HeldBatch(List<io.specdec.core.backend.HeldRound> ordered, HeldRoundsLayout layout, int longest) {
        /** Every step exact. */
        static HeldBatch of(ModelConfig config, List<io.specdec.core.backend.HeldRound> rounds) {
            return of(config, rounds, null);
        }

        /** {@code exactFirst}: per round of {@code rounds} (in their order), see {@link HeldRoundsLayout#of}; null: all exact. */
        static HeldBatch of(ModelConfig config, List<io.specdec.core.backend.HeldRound> rounds, boolean[] exactFirst) {
            if (exactFirst != null && exactFirst.length != rounds.size()) throw new IllegalArgumentException("one exactness per round");
            Integer[] order = new Integer[rounds.size()];
            for (int i = 0; i < order.length; i++) order[i] = i;
            java.util.Arrays.sort(order, java.util.Comparator.comparingDouble(i -> rounds.get(i).params().isGreedy() ? -1 : rounds.get(i).params().temperature()));
            List<io.specdec.core.backend.HeldRound> ordered = new ArrayList<>(rounds.size());
            boolean[] orderedExact = exactFirst == null ? null : new boolean[rounds.size()];
            java.util.Set<io.specdec.core.backend.HeldChain> seen = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
            int longest = 0;
            for (int k = 0; k < order.length; k++) {
                io.specdec.core.backend.HeldRound r = rounds.get(order[k]);
                for (SequenceInput st : r.steps()) {
                    if (st.logitRows().length != 1) throw new IllegalArgumentException("a draft step asks for one logits row, got " + st.logitRows().length);
                }
                if (!seen.add(r.chain())) throw new IllegalArgumentException("one held chain drafts one round at a time");
                longest = Math.max(longest, r.gamma());
                ordered.add(r);
                if (orderedExact != null) orderedExact[k] = exactFirst[order[k]];
            }
            return new HeldBatch(List.copyOf(ordered), HeldRoundsLayout.of(config, ordered, orderedExact), longest);
        }
    }

    /**
     * Drafts {@code batch} on this GPU, round k's ids kept by {@code chains.get(k)} (the request's chain, or on another
     * replica of a layer-parallel draft its stand-in there, {@link CudaHeldChain#standIn}); each forward exact or fuzzy
     * as the layout says.
     */
    void draftHeld(HeldBatch batch, List<CudaHeldChain> chains) {
        boolean anyFuzzy = false;
        for (boolean f : batch.layout().fuzzy()) anyFuzzy |= f;
        if (anyFuzzy && !(role instanceof ParallelRole.LayerReplica)) {
            throw new IllegalStateException("fuzzy held draft steps need a layer replica, not " + role);
        }
        if (role instanceof ParallelRole.LayerReplica lr && lr.rank() != 0 && !lr.everyRankLogits()) {
            throw new IllegalStateException("a held round needs the draft's ids on every replica: " + role + " computes no logits");
        }
        int vocab = config.vocabSize();
        List<io.specdec.core.backend.HeldRound> ordered = batch.ordered();
        HeldRoundsLayout layout = batch.layout();
        for (int r = 0; r < ordered.size(); r++) {
            CudaHeldChain chain = chains.get(r);
            if (chain.device() != device) throw new IllegalArgumentException("a held chain of GPU " + chain.device().ordinal() + " drafted on GPU " + device.ordinal());
            if (chain.greedy() != ordered.get(r).params().isGreedy()) throw new IllegalArgumentException("the held chain was opened for other sampling than " + ordered.get(r).params());
            if (vocab != chain.vocab()) throw new IllegalArgumentException("draft vocabulary " + vocab + " != " + chain.vocab());
        }
        ensureWorkspace(layout.maxTokens(), layout.maxRows(), layout.maxMetaInts());
        if (arena == null) {
            arena = new HeldRoundsArena(device);
            LOG.log(System.Logger.Level.INFO, "held chain rounds on GPU " + device.ordinal() + ": draft ids stay on the device");
        }
        arena.begin(ordered.size(), batch.longest());
        for (int r = 0; r < ordered.size(); r++) chains.get(r).bind(arena, r, ordered.get(r).gamma());
        HeldRoundsLayout.Staged staged = layout.staged(ordered);
        DeviceBuffer up = arena.stage(staged.ints());
        int[] offsets = layout.offsets();
        for (int f = 0; f < layout.forwards(); f++) {
            Plan plan = layout.steps().get(f).plan();
            int[] members = layout.members().get(f);
            int column = layout.column(f);
            device.copy(ws.meta, up.slice(4L * offsets[f], 4L * (offsets[f + 1] - offsets[f])), 4L * (offsets[f + 1] - offsets[f]));
            lastRows = plan.rows();
            execute(plan, ordered.get(members[0]).params().isGreedy(), layout.fuzzy()[f]);
            // runs of sampled rows of one temperature: rows to the held logits, one draw launch each
            for (int a = 0; a < members.length; ) {
                io.specdec.core.sampling.SamplingParams p = ordered.get(members[a]).params();
                int b = a + 1;
                while (b < members.length && ordered.get(members[b]).params().temperature() == p.temperature()) b++;
                if (!p.isGreedy()) {
                    for (int k = a; k < b; k++) {
                        CudaHeldLogits q = chains.get(members[k]).logits();   // null on a stand-in: the target reads the request's
                        if (q != null) device.copy(q.slot(column), ws.logits.slice(4L * vocab * k, 4L * vocab), 4L * vocab);
                    }
                    deviceSampler(b - a).launchRows(ws.logits.slice(4L * vocab * a, 4L * vocab * (b - a)), b - a, vocab, p,
                            up.slice(4L * (staged.uniformAt()[f] + 2 * a), 8L * (b - a)), arena.scratch().slice(4L * a, 4L * (b - a)));
                }
                a = b;
            }
            device.launch("chain_take_ids", (members.length + 127) / 128, 1, 128, ws.argmax, arena.scratch(),
                    up.slice(4L * staged.tableAt()[f], 12L * members.length), members.length, column, arena.ids(), arena.gammaCapacity(),
                    up, vocab, arena.decisions(), arena.stride());
        }
    }

    /** The draft ids of the held batch last drafted here, {@code gammas[k]} of round k (a diagnostic read: it waits for the GPU). */
    int[][] heldIds(int[] gammas) {
        int[][] out = new int[gammas.length][];
        for (int k = 0; k < gammas.length; k++) {
            out[k] = new int[gammas[k]];
            device.copyToHost(out[k], arena.ids(k, gammas[k]), gammas[k]);
        }
        return out;
    }

    /**
     * A held chain for a draft beside this model on its GPU ({@link CudaHeldChain#open}); a model on one GPU only
     * (a tensor-parallel target opens its own, {@link CudaTensorParallelModel#holdDraftChain}).
     */
    @Override
    public java.util.Optional<io.specdec.core.backend.HeldChain> holdDraftChain(LanguageModel draft,
                                                                              io.specdec.core.sampling.SamplingParams params) {
        if (role != ParallelRole.SINGLE) return java.util.Optional.empty();
        return CudaHeldChain.open(device, draft, params, config.vocabSize());
    }

    /** A held round verified on this GPU: the ids go into the verify's token slots there, only the decision comes back. */
    @Override
    public io.specdec.core.speculative.SpeculativeSampler.Outcome verifyHeldChain(SequenceInput input,
            io.specdec.core.backend.HeldChain held, io.specdec.core.sampling.SamplingParams params,
            io.specdec.core.sampling.Sampler sampler) {
        if (role != ParallelRole.SINGLE) return LanguageModel.super.verifyHeldChain(input, held, params, sampler);
        io.specdec.core.backend.RowResult r = forwardEach(List.of(input),
                List.of(new io.specdec.core.backend.RowUse.HeldChainVerify(held, params, sampler))).getFirst();
        return ((io.specdec.core.backend.RowResult.Verified) r).outcome();
    }

    /** On one GPU, {@link #forwardEach} verifies held rounds ({@link io.specdec.core.backend.RowUse.HeldChainVerify}). */
    @Override
    public boolean verifiesHeldChainsInBatches() {
        return role == ParallelRole.SINGLE;
    }

    private CudaHeldLogits heldHere(io.specdec.core.backend.HeldLogits held, int vocab) {
        if (!(held instanceof CudaHeldLogits h) || h.device() != device || h.vocab() != vocab) {
            throw new IllegalArgumentException("draft logits held elsewhere (" + held + ") cannot be read on GPU " + device.ordinal());
        }
        return h;
    }

    private DeviceSampler deviceSampler(int rows) {
        if (sampler == null || sampler.maxRows() < rows) {
            if (sampler != null) sampler.close();
            sampler = new DeviceSampler(device, Math.max(rows, 16));
        }
        return sampler;
    }

    @Override
    public int[] forwardArgmax(List<SequenceInput> batch) {
        Plan plan = prepare(batch);
        execute(plan, plan.rows > 0, false);
        return readArgmax(plan.rows);
    }

    /** Runs the forward, leaving the requested rows' logits in the workspace; returns the rows per input. */
    private int[] run(List<SequenceInput> batch) {
        Plan plan = prepare(batch);
        execute(plan, false, false);
        return plan.rowsPerInput;
    }

    /**
     * EasySpec's fuzzy forward of a layer replica that is a rank of its own (its peers in other threads or processes run
     * the same call on their GPUs): the logits of the requested rows. See {@link CudaDraftRank}.
     */
    List<float[][]> forwardFuzzy(List<SequenceInput> batch) {
        Plan plan = fuzzyPlan(batch);
        execute(plan, false, true);
        return split(readLogits(plan.rows), plan.rowsPerInput, config.vocabSize());
    }

    /** As {@link #forwardFuzzy}, the argmax of each requested row. */
    int[] forwardFuzzyArgmax(List<SequenceInput> batch) {
        Plan plan = fuzzyPlan(batch);
        execute(plan, plan.rows > 0, true);
        return readArgmax(plan.rows);
    }

    private Plan fuzzyPlan(List<SequenceInput> batch) {
        if (!(role instanceof ParallelRole.LayerReplica lr) || !lr.everyRankLogits()) {
            throw new IllegalStateException("a fuzzy forward of its own needs a layer replica that computes its logits");
        }
        return prepare(batch);
    }

    /**
     * A multi-GPU model's rank part: runs a forward whose batch the model has already appended and described
     * ({@link #append}, {@link #describe}), exact or (layer replicas only) fuzzy; the logits or their argmax stay on the
     * device for {@link #readLogits}/{@link #readArgmax}.
     */
    void run(Step step, boolean argmax, boolean fuzzy) {
        if (fuzzy && !(role instanceof ParallelRole.LayerReplica)) throw new IllegalStateException("a fuzzy forward needs a layer replica");
        execute(load(step), argmax && step.plan().rows > 0, fuzzy);
    }

    int[] readArgmax(int rows) {
        if (rows == 0) return new int[0];
        int[] out = new int[rows];
        device.copyToHost(out, ws.argmax, rows);
        return out;
    }

    float[] readLogits(int rows) {
        float[] all = new float[rows * config.vocabSize()];
        if (rows > 0) device.copyToHost(all, ws.logits, all.length);
        return all;
    }

    /** Splits [rows, vocab] logits into per-input row arrays. */
    static List<float[][]> split(float[] all, int[] rowsPerInput, int vocab) {
        List<float[][]> result = new ArrayList<>(rowsPerInput.length);
        int r = 0;
        for (int n : rowsPerInput) {
            float[][] out = new float[n][];
            for (int k = 0; k < n; k++, r++) out[k] = Arrays.copyOfRange(all, r * vocab, (r + 1) * vocab);
            result.add(out);
        }
        return result;
    }

    /**
     * Enqueues the forward: small steps (decode, verify of up to 16 tokens: every matmul on the skinny kernel) replay a
     * CUDA graph captured on first use of their shape, so a step costs one launch instead of ~10 per layer. The
     * kernels' arguments depend only on the shape (metadata offsets are fixed per shape, everything else is read from
     * the uploaded metadata), so a graph stays valid until the workspace is reallocated.
     */
    private void execute(Plan plan, boolean argmax, boolean fuzzy) {
        long key = ((long) plan.tokens << 40) | ((long) plan.rows << 20) | ((long) plan.sequences << 2) | (fuzzy ? 2 : 0) | (argmax ? 1 : 0);
        boolean graphable = useGraphs && role.capturable() && stageListener == null && skinnyGemm && plan.tokens <= GRAPH_MAX_TOKENS
                && !notGraphable.contains(key);
        if (!graphable) {
            kvCheckDue = true;   // prefills write K/V in bulk: look at the saturation count before the next forward
            enqueue(plan, argmax, fuzzy);
            return;
        }
        if (graphWorkspace != ws) {
            dropGraphs();
            graphWorkspace = ws;
        }
        jcuda.driver.CUgraphExec graph = graphs.get(key);
        if (graph == null) {
            try {
                device.beginCapture();
                enqueue(plan, argmax, fuzzy);
                graph = device.endCapture();
                graphs.put(key, graph);
            } catch (RuntimeException e) {
                device.abandonCapture();
                notGraphable.add(key);
                System.err.println("[specdec cuda] capturing a " + plan.tokens + "-token step failed, running it without a graph: " + e);
                enqueue(plan, argmax, fuzzy);
                return;
            }
        }
        device.launchGraph(graph);
    }

    /**
     * One forward's shape and where its metadata lies in the workspace's metadata buffer. The fixed-size parts come
     * first (tokens | positions | slots | tokMeta 3T | seqMeta 6B | logit rows), the growing ones after (block
     * tables | slot positions | masks, addressed by absolute offsets stored in seqMeta), so a decode step's kernel
     * arguments stay the same from step to step and the step can be replayed as a CUDA graph.
     */
    record Plan(int tokens, int rows, int sequences, int[] rowsPerInput, int longestChunk, boolean explicitMasks) {
        int oPos() { return tokens; }
        int oSlot() { return 2 * tokens; }
        int oTokMeta() { return 3 * tokens; }
        int oSeqMeta() { return 6 * tokens; }
        int oRows() { return 6 * tokens + 6 * sequences; }
        int oVariable() { return oRows() + rows; }
    }

    /** A forward's shape and metadata, built once after its batch was appended; every rank of a model uploads the same. */
    record Step(Plan plan, int[] meta) {
    }

    private Plan prepare(List<SequenceInput> batch) {
        checkKvSaturation();
        return load(describe(config, batch, append(config, batch)));
    }

    /** K/V values an fp16 cache saturated so far (0 for other formats; reads the device: waits for the stream). */
    public long kvSaturations() {
        if (kvSaturations == null) return 0;
        int[] n = new int[1];
        device.copyToHost(n, kvSaturations, 1);
        return Integer.toUnsignedLong(n[0]);
    }

    /** Logs, once, that an fp16 cache saturated values (see {@link #kvSaturations}); called as a forward begins. */
    private void checkKvSaturation() {
        if (kvSaturations == null || kvSaturationReported) return;
        if (!kvCheckDue && ++forwardsSinceKvCheck < KV_SATURATION_CHECK_EVERY) return;
        kvCheckDue = false;
        forwardsSinceKvCheck = 0;
        long n = kvSaturations();
        if (n == 0) return;
        kvSaturationReported = true;
        LOG.log(System.Logger.Level.WARNING, n + " key/value elements exceeded the fp16 KV cache's range (±65504) and"
                + " were saturated, so this model's attention is distorted; run it with -D" + KvCacheFormat.PROPERTY
                + "=bf16");
    }

    /**
     * Appends every input's tokens to its sequence (the one change a forward makes to the shared block bookkeeping)
     * and returns where each chunk starts. Append first: block tables and slots are final only afterwards.
     */
    static int[] append(ModelConfig config, List<SequenceInput> batch) {
        for (SequenceInput in : batch) {
            for (int token : in.tokens()) {
                if (token < 0 || token >= config.vocabSize()) {
                    throw new IllegalArgumentException("token id " + token + " outside the vocabulary of " + config.vocabSize());
                }
            }
        }
        int[] chunkStart = new int[batch.size()];
        for (int b = 0; b < batch.size(); b++) {
            SequenceInput in = batch.get(b);
            chunkStart[b] = in.sequence().append(in.tokens(), in.positions());
        }
        return chunkStart;
    }

    /** The metadata of an appended batch (reads the sequences, changes nothing). */
    static Step describe(ModelConfig config, List<SequenceInput> batch, int[] chunkStart) {
        int tokens = 0, rows = 0, variable = 0, longest = 0;
        boolean masks = false;
        for (int b = 0; b < batch.size(); b++) {
            SequenceInput in = batch.get(b);
            tokens += in.tokens().length;
            longest = Math.max(longest, in.tokens().length);
            masks |= in.mask() instanceof AttentionMask.Explicit;
            rows += in.logitRows().length;
            variable += in.sequence().blockCount();
            if (config.slidingWindow() > 0) variable += in.sequence().length();
            if (in.mask() instanceof AttentionMask.Explicit) {
                int n = in.tokens().length;
                variable += n * ((n + 31) / 32);
            }
        }
        Plan plan = new Plan(tokens, rows, batch.size(), new int[batch.size()], longest, masks);
        int[] meta = new int[plan.oVariable() + variable];
        int t = 0, v = plan.oVariable(), row = plan.oRows();
        for (int b = 0; b < batch.size(); b++) {
            SequenceInput in = batch.get(b);
            KvSequence seq = in.sequence();
            int n = in.tokens().length;
            int words = (n + 31) / 32;
            int sm = plan.oSeqMeta() + 6 * b;
            meta[sm] = chunkStart[b];
            meta[sm + 1] = n;
            meta[sm + 2] = v;
            for (int blk : seq.blockTable()) meta[v++] = blk;
            meta[sm + 3] = v;
            if (config.slidingWindow() > 0) for (int j = 0; j < seq.length(); j++) meta[v++] = seq.positionAt(j);
            meta[sm + 4] = -1;
            meta[sm + 5] = words;
            if (in.mask() instanceof AttentionMask.Explicit e) {
                meta[sm + 4] = v;
                for (int qi = 0; qi < n; qi++) {
                    for (int k = 0; k < n; k++) if (e.allows(qi, k)) meta[v + qi * words + (k >> 5)] |= 1 << (k & 31);
                }
                v += n * words;
            }
            for (int r : in.logitRows()) meta[row++] = t + r;
            plan.rowsPerInput[b] = in.logitRows().length;
            for (int c = 0; c < n; c++, t++) {
                meta[t] = in.tokens()[c];
                meta[plan.oPos() + t] = in.positions()[c];
                meta[plan.oSlot() + t] = seq.physicalSlot(chunkStart[b] + c);
                meta[plan.oTokMeta() + 3 * t] = b;
                meta[plan.oTokMeta() + 3 * t + 1] = c;
                meta[plan.oTokMeta() + 3 * t + 2] = in.positions()[c];
            }
        }
        return new Step(plan, meta);
    }

    /** As {@link #load(Step)}, with {@code extra} ints uploaded right after the metadata in the same copy. */
    private Plan load(Step step, int[] extra) {
        Plan plan = step.plan();
        int[] all = Arrays.copyOf(step.meta(), step.meta().length + extra.length);
        System.arraycopy(extra, 0, all, step.meta().length, extra.length);
        ensureWorkspace(plan.tokens, plan.rows, all.length);
        device.copyToDevice(ws.meta, all);
        lastRows = plan.rows;
        return plan;
    }

    /** Makes room for the step and uploads its metadata. */
    private Plan load(Step step) {
        Plan plan = step.plan();
        ensureWorkspace(plan.tokens, plan.rows, step.meta().length);
        device.copyToDevice(ws.meta, step.meta());
        lastRows = plan.rows;
        return plan;
    }

    /**
     * Enqueues the whole forward (and the argmax of the logit rows when asked); launches and collectives only, no
     * copies from or to the host. {@code fuzzy}: EasySpec's layer-parallel step (layer replicas only).
     */
    private void enqueue(Plan plan, boolean argmax, boolean fuzzy) {
        splitCublas = split.cublasPasses(plan.longestChunk());
        Launch k = new Launch(plan);
        enter(Stage.EMBED);
        // a normal launch (not programmatic): the forward's kernels start after the metadata copy has landed, which
        // lets RoPE/append and the grouped attention read it before their pdl_wait (CudaDevice#metaFirst)
        device.launch("embed_gather", plan.tokens, 1, 256, k.mTokens, weights.embedding(), ws.x, config.dim());
        if (fuzzy) {
            fuzzyLayers(k, (ParallelRole.LayerReplica) role);
        } else {
            // tensor-parallel ranks other than 0 overwrite the residual with their partial product; the all-reduce adds
            boolean accumulate = !(role instanceof ParallelRole.TensorShard ts) || ts.rank() == 0;
            for (int l = 0; l < config.layers(); l++) {
                attention(k, l, ws.x, accumulate);
                allReduce(k);
                mlp(k, l, accumulate, null);
                allReduce(k);
            }
        }
        head(k, argmax);
        StageListener l = stageListener;
        if (l != null) l.done();
    }

    /** One forward's metadata views, shared by the steps below. */
    private final class Launch {
        final int tokens, rows;
        final Plan plan;
        final DeviceBuffer mTokens, mPositions, mSlots, mTokMeta, mSeqMeta, mRows;

        Launch(Plan plan) {
            this.plan = plan;
            tokens = plan.tokens;
            rows = plan.rows;
            DeviceBuffer m = ws.meta;
            mTokens = m.slice(0, 4L * tokens);
            mPositions = m.slice(4L * plan.oPos(), 4L * tokens);
            mSlots = m.slice(4L * plan.oSlot(), 4L * tokens);
            mTokMeta = m.slice(4L * plan.oTokMeta(), 12L * tokens);
            mSeqMeta = m.slice(4L * plan.oSeqMeta(), 24L * plan.sequences);
            mRows = m.slice(4L * plan.oRows(), 4L * rows);
        }
    }

    /** out (+)= o_proj(Attention_l(RMSNorm(x))), appending layer l's K/V of the step's tokens. */
    private void attention(Launch k, int l, DeviceBuffer out, boolean accumulate) {
        int dim = config.dim(), qDim = config.queryDim(), kvDim = config.kvDim();
        int heads = config.heads(), kvHeads = config.kvHeads(), hd = config.headDim();
        int tokens = k.tokens;
        DeviceBuffer m = ws.meta;
        float eps = config.rmsNormEps();
        int interleaved = config.ropeStyle() == RopeStyle.INTERLEAVED ? 1 : 0;
        float scale = (float) (1.0 / Math.sqrt(hd));
        DeviceWeights.Layer w = weights.layers().get(l);
        if (fused.covers(tokens)) {
            enter(Stage.QKV);
            if (!ablated(Stage.QKV)) normMatmul(FusedDecode.NORM_KERNEL, w.attentionNorm(), w.wqkv(), ws.qkv, 4, tokens, qDim + 2 * kvDim);
        } else {
            enter(Stage.NORM);
            if (!ablated(Stage.NORM)) norm(tokens, null, w.attentionNorm());
            enter(Stage.QKV);
            if (!ablated(Stage.QKV)) matmul(w.wqkv(), ws.xb, lo(ws.xbLo, tokens), ws.qkv, tokens, qDim + 2 * kvDim, dim, false);
        }
        boolean ropeInAttention = ropeInAttention(k.plan);
        enter(Stage.ROPE_APPEND);
        if (!ablated(Stage.ROPE_APPEND) && !ropeInAttention) device.launch("qkv_rope_append", tokens, (heads + 2 * kvHeads + 7) / 8, 256, ws.qkv, w.bqkv(), w.qNorm(), w.kNorm(), inverseFrequencies,
                k.mPositions, k.mSlots, ws.q, keys[l], values[l], heads, kvHeads, hd, interleaved, eps, kvLo, kvHalf(),
                kvSaturations, device.metaFirst() ? 1 : 0);
        enter(Stage.ATTENTION);
        if (ablated(Stage.ATTENTION)) { /* benchmark ablation: left out */ }
        else if (ropeInAttention) splitK.enqueueDecodeWithRope(ws.qkv, w.bqkv(), w.qNorm(), w.kNorm(), inverseFrequencies,
                k.mPositions, k.mSlots, interleaved, eps, kvSaturations, keys[l], values[l], ws.attention,
                lo(ws.attentionLo, tokens), k.mTokMeta, k.mSeqMeta, m, blockSize, config.slidingWindow(), scale, kvFormat);
        else if (splitK != null && splitK.covers(tokens)) splitK.enqueue(ws.q, keys[l], values[l], ws.attention,
                lo(ws.attentionLo, tokens), k.mTokMeta, k.mSeqMeta, m, tokens, heads, kvHeads, hd, blockSize, config.slidingWindow(),
                scale, kvFormat, kvLo);
        else if (flashPrefill(k.plan)) {
            int tiles = (k.plan.longestChunk() + FLASH_ROWS - 1) / FLASH_ROWS;
            device.launch(flashKernel, k.plan.sequences() * tiles, heads, 128, ws.q, keys[l], values[l], ws.attention,
                    k.mSeqMeta, m, tiles, heads, kvHeads, blockSize, scale, lo(ws.attentionLo, tokens));
        }
        else device.launch("attention_paged", tokens, heads, 128, ws.q, keys[l], values[l], ws.attention, k.mTokMeta,
                k.mSeqMeta, m, m, m, heads, kvHeads, hd, blockSize, config.slidingWindow(), scale, lo(ws.attentionLo, tokens), kvLo,
                kvHalf());
        enter(Stage.O_PROJ);
        if (!ablated(Stage.O_PROJ)) matmul(w.wo(), ws.attention, lo(ws.attentionLo, tokens), out, tokens, dim, qDim, accumulate);
    }

    /**
     * Whether this forward's attention ropes and appends its own token (SplitKAttention#enqueueDecodeWithRope) instead
     * of a qkv_rope_append before it: one token of one sequence (a decode step; verify passes keep the pair, which
     * gives the same bits), a grouped kernel for the cache, nothing ablated or timed stage by stage, and not turned off
     * with {@value #ROPE_IN_ATTENTION_PROPERTY}{@code =false}.
     */
    private boolean ropeInAttention(Plan plan) {
        return ropeInAttentionOn && plan.tokens == 1 && plan.sequences == 1 && !plan.explicitMasks && splitK != null
                && splitK.covers(1) && splitK.ropeKernel(kvFormat) != null && !ablated(Stage.ROPE_APPEND)
                && !ablated(Stage.ATTENTION) && stageListener == null;
    }

    public static final String ROPE_IN_ATTENTION_PROPERTY = "specdec.cuda.ropeInAttention";
    private final boolean ropeInAttentionOn = !System.getProperty(ROPE_IN_ATTENTION_PROPERTY, "true").equals("false");

    /**
     * Whether an EasySpec layer group adds an attention output to the residual inside the next MLP norm's kernel
     * (rmsnorm_vec_add_bf16) instead of with add_f32 before it: the vector norm applies and nothing is ablated.
     */
    private boolean addInNorm(int tokens) {
        return vectorNorm && !fused.covers(tokens) && !ablated(Stage.NORM);
    }

    /** x (+)= MLP_l(RMSNorm(x)), after x += residualAdd when given (an EasySpec group's attention output, see addInNorm). */
    private void mlp(Launch k, int l, boolean accumulate, DeviceBuffer residualAdd) {
        int dim = config.dim(), hidden = config.hiddenDim(), tokens = k.tokens;
        DeviceWeights.Layer w = weights.layers().get(l);
        if (fused.covers(tokens)) {
            enter(Stage.GATE_UP);
            if (!ablated(Stage.GATE_UP)) normMatmul(FusedDecode.SWIGLU_KERNEL, w.ffnNorm(), w.wGateUp(), ws.hidden, 2, tokens, hidden);
        } else {
            enter(Stage.NORM);
            if (residualAdd != null) device.launch("rmsnorm_vec_add_bf16", tokens, 1, 256, ws.x, residualAdd,
                    w.ffnNorm(), ws.xb, dim, config.rmsNormEps(), lo(ws.xbLo, tokens));
            else if (!ablated(Stage.NORM)) norm(tokens, null, w.ffnNorm());
            enter(Stage.GATE_UP);
            if (swigluEpilogue && hidden % 16 == 0 && !ablated(Stage.SWIGLU) && tensorCores(tokens, 2 * hidden, dim)) {
                if (!ablated(Stage.GATE_UP)) gateUpSwiglu(w.wGateUp(), lo(ws.xbLo, tokens), lo(ws.hiddenLo, tokens), tokens, hidden, dim);
                enter(Stage.DOWN);
                if (!ablated(Stage.DOWN)) matmul(w.wDown(), ws.hidden, lo(ws.hiddenLo, tokens), ws.x, tokens, dim, hidden, accumulate);
                return;
            }
            if (!ablated(Stage.GATE_UP)) matmul(w.wGateUp(), ws.xb, lo(ws.xbLo, tokens), ws.gateUp, tokens, 2 * hidden, dim, false);
            long n = (long) tokens * hidden;
            enter(Stage.SWIGLU);
            if (!ablated(Stage.SWIGLU)) device.launch("swiglu_bf16", (int) Math.min(4096, (n + 255) / 256), 1, 256,
                    ws.gateUp, ws.hidden, hidden, n, lo(ws.hiddenLo, tokens));
        }
        enter(Stage.DOWN);
        if (!ablated(Stage.DOWN)) matmul(w.wDown(), ws.hidden, lo(ws.hiddenLo, tokens), ws.x, tokens, dim, hidden, accumulate);
    }

    /**
     * xb[r] = bf16(RMSNorm(x[rows ? rows[r] : r]) * weight) for {@code count} rows. Widths of whole KiB up to 8192 take
     * the compact kernel (rmsnorm_vec_bf16); others, and the fused decode path (whose prologue repeats rmsnorm_bf16's
     * summation order bit for bit), take rmsnorm_bf16.
     */
    private void norm(int count, DeviceBuffer rows, DeviceBuffer weight) {
        int dim = config.dim();
        String kernel = vectorNorm ? "rmsnorm_vec_bf16" : "rmsnorm_bf16";
        device.launch(kernel, count, 1, 256, ws.x, rows, weight, ws.xb, dim, config.rmsNormEps(), lo(ws.xbLo, count));
    }

    /**
     * Whether a forward's attention takes the tensor-core prefill kernel (flash_prefill.cuh): larger than split-K's
     * forwards, causal rows only (tree verifies bring explicit masks), and a kernel for this model (see
     * {@link #flashKernel}).
     */
    private boolean flashPrefill(Plan plan) {
        return flashKernel != null && flashApplies(plan);
    }

    /** Whether a forward's rows suit the tensor-core prefill kernel (given one for the model). */
    static boolean flashApplies(Plan plan) {
        // never a forward of decode/verify size: those must run as their decode steps do
        return !plan.explicitMasks() && plan.tokens() > SAME_KERNEL_AS_DECODE_MAX_TOKENS && plan.longestChunk() >= FLASH_MIN_CHUNK;
    }

    /** The tensor-core prefill kernel for heads {@code hd} wide over a {@code format} cache, or null where none applies. */
    static String flashKernelName(int hd, int slidingWindow, KvCacheFormat format) {
        boolean fits = (hd == 32 || hd == 64 || hd == 128) && slidingWindow == 0 && format != KvCacheFormat.SPLIT;
        return fits ? "attention_prefill_hd" + hd + (format == KvCacheFormat.FP16 ? "_f16" : "") : null;
    }

    /** Tensor-parallel ranks: residual + Σ partial products on every rank. */
    private void allReduce(Launch k) {
        if (role instanceof ParallelRole.TensorShard ts && ts.size() > 1) {
            enter(Stage.COLLECTIVE);
            ts.comm().allReduceSum(ws.x, (long) k.tokens * config.dim());
        }
    }

    /**
     * EasySpec's fuzzy step over the layer plan (docs/ALGORITHMS.md §3): one-layer groups run exactly on every
     * replica; for a larger group each replica runs its layer's attention from the entry residual into its slot,
     * the slots are all-gathered, and every replica adds them, each followed by its layer's MLP, in layer order.
     */
    private void fuzzyLayers(Launch k, ParallelRole.LayerReplica lr) {
        LayerGroupPlan groups = lr.plan();
        long n = (long) k.tokens * config.dim();
        for (int g = 0; g < groups.groups().size(); g++) {
            int[] layers = groups.groups().get(g);
            if (layers.length == 1) {
                attention(k, layers[0], ws.x, true);
                mlp(k, layers[0], true, null);
                continue;
            }
            if (lr.replicas() == 1) {
                for (int j = 0; j < layers.length; j++) attention(k, layers[j], slot(j, n), false);
            } else {
                int mine = lr.attentionLayer(g);
                if (mine >= 0) attention(k, mine, slot(lr.rank(), n), false);
                enter(Stage.COLLECTIVE);
                lr.comm().allGather(slot(lr.rank(), n), ws.group.slice(0, 4L * n * lr.replicas()), n, Nccl.Type.F32);
            }
            for (int j = 0; j < layers.length; j++) {
                if (addInNorm(k.tokens)) {   // the add in the MLP norm's kernel: one launch fewer, the same bits
                    mlp(k, layers[j], true, slot(j, n));
                    continue;
                }
                enter(Stage.COLLECTIVE);
                device.launch("add_f32", (int) Math.min(1024, (n + 255) / 256), 1, 256, ws.x, slot(j, n), n);
                mlp(k, layers[j], true, null);
            }
        }
    }

    private DeviceBuffer slot(int i, long n) {
        return ws.group.slice(4L * n * i, 4L * n);
    }

    /**
     * Final norm of the requested rows, logits, argmax. A tensor-parallel shard computes its vocabulary part and
     * all-gathers the parts (in rank order: [parts][rows][V/N], reordered to [rows][V] unless there is one row); a
     * layer replica other than rank 0 computes none (unless it drafts for a scheduler of its own: {@code everyRankLogits}).
     */
    private void head(Launch k, boolean argmax) {
        int rows = k.rows, dim = config.dim(), vocab = config.vocabSize();
        if (rows == 0) return;
        if (role instanceof ParallelRole.LayerReplica lr && lr.rank() != 0 && !lr.everyRankLogits()) return;
        enter(Stage.HEAD);
        norm(rows, k.mRows, weights.finalNorm());
        if (role instanceof ParallelRole.TensorShard ts && ts.size() > 1) {
            long part = (long) rows * outputRows;
            matmul(weights.output(), ws.xb, lo(ws.xbLo, rows), ws.logitsPart, rows, outputRows, dim, false);
            if (rows == 1) {
                ts.comm().allGather(ws.logitsPart, ws.logits, part, Nccl.Type.F32);
            } else {
                ts.comm().allGather(ws.logitsPart, ws.gathered, part, Nccl.Type.F32);
                device.launch("gather_vocab_parts", rows, ts.size(), 256, ws.gathered, ws.logits, rows, outputRows);
            }
        } else {
            matmul(weights.output(), ws.xb, lo(ws.xbLo, rows), ws.logits, rows, vocab, dim, false);
        }
        if (argmax) argmaxRows(rows, vocab);
    }

    /**
     * ws.argmax[r] = the argmax of logits row r: a few rows (decode, verify) spread each row over
     * {@value #ARGMAX_SLICES} blocks (argmax_rows_split, the same ids), many rows take a block each.
     */
    private void argmaxRows(int rows, int vocab) {
        if (splitArgmax && rows <= ARGMAX_SPLIT_MAX_ROWS) {
            long slots = (long) ARGMAX_SPLIT_MAX_ROWS * ARGMAX_SLICES;   // values, then indices, then row counters
            device.launch("argmax_rows_split", ARGMAX_SLICES, rows, 256, ws.logits, vocab, ws.argmax, ws.argmaxParts,
                    ws.argmaxParts.slice(4 * slots, 4 * slots), ws.argmaxParts.slice(8 * slots, 4L * ARGMAX_SPLIT_MAX_ROWS));
        } else {
            device.launch("argmax_rows", rows, 1, 1024, ws.logits, vocab, ws.argmax);
        }
    }

    /**
     * Where the second part of a matmul input of {@code count} rows starts ({@code offset}, a workspace's), or 0 where
     * the matmul reading it takes cuBLAS in a forward without {@link #splitCublas}: it would not add W·lo, so its writers skip it.
     * Writers and their matmul take the same value, so a matmul never reads a second part its writer did not write.
     */
    private long lo(long offset, int count) {
        boolean skinnyPass = skinnyGemm && count <= SAME_KERNEL_AS_DECODE_MAX_TOKENS;
        return splitCublas || skinnyPass || cublas == null || cublas.problem() != null ? offset : 0;
    }

    /**
     * y[T, N] (+)= x[T, K] · W[N, K]ᵀ: the skinny kernel for decode/verify sizes (and, where cuBLAS is unusable, for
     * every size, in passes of {@link #skinnyPassTokens}), cuBLAS otherwise. {@code xLo}: where x's second part
     * starts, in elements after x (split activations), or 0; cuBLAS adds W·lo in a second product only when
     * {@link #splitCublas}.
     */
    private void matmul(DeviceBuffer w, DeviceBuffer x, long xLo, DeviceBuffer y, int tokens, int n, int k,
                        boolean accumulate) {
        if (skinnyPasses(tokens, k)) {
            int step = skinnyPassTokens(n, k);
            for (int t0 = 0; t0 < tokens; t0 += step) {
                int c = Math.min(step, tokens - t0);
                DeviceBuffer xs = x.slice(2L * t0 * k, 2L * c * k), ys = y.slice(4L * t0 * n, 4L * c * n);
                if (tensorCorePass(c, n, k)) {
                    int warps = skinnyPlan.warps(n), groups = tokenGroups(c);
                    device.launchShared(groups == 2 ? "gemm_skinny_mma16" : "gemm_skinny_mma", n / 16, 1, 32 * warps,
                            groups * warps * 128 * 4, w, xs, ys, n, k, c, accumulate ? 1 : 0, earlyWeights ? 1 : 0, xLo);
                } else {
                    device.launch("gemv_bf16", (n + 7) / 8, 1, 256, w, xs, ys, n, k, c, accumulate ? 1 : 0, xLo);
                }
            }
        } else if (xLo != 0 && splitCublas && pairedPrefill && tokens <= PAIRED_PREFILL_MAX_TOKENS) {
            long count = (long) tokens * n;
            cublas.matmulBf16Pair(w, x, xLo, ws.splitParts, tokens, n, k);
            device.launch("add_pair_f32", (int) Math.min(4096, (count + 255) / 256), 1, 256, y, ws.splitParts, count,
                    accumulate ? 1 : 0);
        } else {
            cublas.matmulBf16(w, x, y, tokens, n, k, accumulate);
            if (xLo != 0 && splitCublas) cublas.matmulBf16(w, x.slice(2 * xLo, 2L * tokens * k), y, tokens, n, k, true);
        }
    }

    /** Whether a matmul of {@code tokens} rows and inner size k runs in skinny passes (else cuBLAS). */
    private boolean skinnyPasses(int tokens, int k) {
        boolean skinny = skinnyGemm && tokens <= SAME_KERNEL_AS_DECODE_MAX_TOKENS;
        return k % 8 == 0 && (skinny || cublas == null || cublas.problem() != null);
    }

    /** Tokens per skinny pass over W[n, k]: 16 on the tensor cores, 8 on gemv_bf16. */
    private int skinnyPassTokens(int n, int k) {
        return tensorCorePass(SKINNY_MAX_TOKENS, n, k) ? mmaPassTokens : SKINNY_MAX_TOKENS;
    }

    /** Token groups of 8 of a tensor-core pass of c tokens (2: the *16 kernels). */
    private static int tokenGroups(int c) {
        return c > SKINNY_MAX_TOKENS ? 2 : 1;
    }

    /** Whether a skinny pass of c tokens over W[n, k] takes gemm_skinny_mma (else gemv_bf16). */
    private boolean tensorCorePass(int c, int n, int k) {
        int mmaFrom = mmaFromTokens;
        return mmaFrom > 0 && c >= mmaFrom && n % 16 == 0 && k % 32 == 0;
    }

    /** Whether every pass of a matmul of {@code tokens} rows over W[n, k] runs on the tensor cores. */
    private boolean tensorCores(int tokens, int n, int k) {
        if (!skinnyPasses(tokens, k)) return false;
        int step = skinnyPassTokens(n, k);
        int smallest = tokens % step == 0 ? step : tokens % step;
        return tensorCorePass(smallest, n, k);
    }

    /**
     * hidden (+ its second part at {@code hLo}) = silu(gate)·up of W = [gate; up] · xb, one gemm_skinny_mma_swiglu per
     * pass, with the warps per tile the unfused [gate; up] pass takes, so the result is the same bits.
     */
    private void gateUpSwiglu(DeviceBuffer w, long xLo, long hLo, int tokens, int hidden, int dim) {
        int warps = skinnyPlan.warps(2 * hidden);
        for (int t0 = 0; t0 < tokens; t0 += mmaPassTokens) {
            int c = Math.min(mmaPassTokens, tokens - t0), groups = tokenGroups(c);
            DeviceBuffer xs = ws.xb.slice(2L * t0 * dim, 2L * c * dim);
            DeviceBuffer hs = ws.hidden.slice(2L * t0 * hidden, 2L * c * hidden);
            device.launchShared(groups == 2 ? "gemm_skinny_mma_swiglu16" : "gemm_skinny_mma_swiglu", hidden / 16, 1,
                    32 * warps, groups * 2 * warps * 128 * 4, w, xs, hs, hidden, dim, c, earlyWeights ? 1 : 0, xLo, hLo);
        }
    }

    /**
     * The fused path's GEMV over RMSNorm(x) with the layer's norm weights {@code norm}: {@code kernel}
     * {@code gemv_norm_bf16} writes y[T, n] f32 (q/k/v, {@code outBytes} 4), {@code gemv_norm_swiglu_bf16} reads
     * W = [gate; up] (2n rows) and writes silu(gate)·up as bf16 [T, n] ({@code outBytes} 2). Passes of
     * {@link FusedDecode#tokensPerPass} tokens, each with its rows' normalized copy in shared memory.
     */
    private void normMatmul(String kernel, DeviceBuffer norm, DeviceBuffer w, DeviceBuffer out, int outBytes, int tokens,
                            int n) {
        int dim = config.dim();
        float eps = config.rmsNormEps();
        int t0 = 0;
        for (int c : fused.passes(tokens)) {
            DeviceBuffer x = ws.x.slice(4L * t0 * dim, 4L * c * dim);
            DeviceBuffer y = out.slice((long) outBytes * t0 * n, (long) outBytes * c * n);
            device.launchShared(FusedDecode.kernel(kernel, c), FusedDecode.grid(n), 1, FusedDecode.BLOCK,
                    FusedDecode.sharedBytes(c, dim), w, x, norm, y, n, dim, c, eps);
            t0 += c;
        }
    }

    /** Per-forward device scratch, grown on demand. */
    private final class Workspace {
        final int tokens, rows, metaInts;
        final DeviceBuffer x, xb, qkv, q, attention, gateUp, hidden, logits, argmax, meta;
        /** argmax_rows_split's slice results (floats, then ints) and per-row counters (zero between launches). */
        final DeviceBuffer argmaxParts;
        /** Split activations: where the second parts of xb, attention and hidden start, in elements (else 0). */
        final long xbLo, attentionLo, hiddenLo;
        /** Tensor-parallel shards: this rank's vocabulary part of the logits and the all-gathered parts (else null). */
        final DeviceBuffer logitsPart, gathered;
        /** Layer replicas: the all-gather slots of a group's attention outputs (else null). */
        final DeviceBuffer group;
        /** Paired split prefill: a cuBLAS matmul's two f32 products [2][T, N], for its widest N (else null). */
        final DeviceBuffer splitParts;

        Workspace(int tokens, int rows, int metaInts) {
            this.tokens = tokens;
            this.rows = rows;
            this.metaInts = metaInts;
            int dim = config.dim(), qDim = config.queryDim(), kvDim = config.kvDim(), h = config.hiddenDim();
            int wide = Math.max(tokens, rows);
            x = device.allocate(4L * tokens * dim);
            int parts = splitActivations ? 2 : 1;
            xbLo = splitActivations ? (long) wide * dim : 0;
            attentionLo = splitActivations ? (long) tokens * qDim : 0;
            hiddenLo = splitActivations ? (long) tokens * h : 0;
            xb = device.allocate(2L * parts * wide * dim);
            qkv = device.allocate(4L * tokens * (qDim + 2 * kvDim));
            q = device.allocate(4L * tokens * qDim);
            attention = device.allocate(2L * parts * tokens * qDim);
            gateUp = device.allocate(8L * tokens * h);
            hidden = device.allocate(2L * parts * tokens * h);
            logits = device.allocate(4L * Math.max(1, rows) * config.vocabSize());
            argmax = device.allocate(4L * Math.max(1, rows));
            argmaxParts = device.allocate(4L * ARGMAX_SPLIT_MAX_ROWS * (2 * ARGMAX_SLICES + 1));
            device.copyToDevice(argmaxParts, new int[ARGMAX_SPLIT_MAX_ROWS * (2 * ARGMAX_SLICES + 1)]);
            meta = device.allocate(4L * metaInts);
            boolean sharded = role instanceof ParallelRole.TensorShard ts && ts.size() > 1;
            int shards = sharded ? ((ParallelRole.TensorShard) role).size() : 0;
            logitsPart = sharded ? device.allocate(4L * Math.max(1, rows) * outputRows) : null;
            gathered = sharded ? device.allocate(4L * shards * Math.max(1, rows) * outputRows) : null;
            group = role instanceof ParallelRole.LayerReplica lr ? device.allocate(4L * lr.slots() * tokens * dim) : null;
            // the paired GEMM takes matmuls of up to PAIRED_PREFILL_MAX_TOKENS rows (larger ones take two GEMMs)
            long pairRows = Math.min(tokens, PAIRED_PREFILL_MAX_TOKENS), headRows = Math.min(Math.max(1, rows), PAIRED_PREFILL_MAX_TOKENS);
            long widest = Math.max(pairRows * Math.max(qDim + 2 * kvDim, Math.max(2 * h, dim)),
                    headRows * Math.max(config.vocabSize(), outputRows));
            splitParts = pairedPrefill ? device.allocate(8L * widest) : null;
        }

        void free() {
            for (DeviceBuffer b : List.of(x, xb, qkv, q, attention, gateUp, hidden, logits, argmax, argmaxParts, meta)) {
                device.free(b);
            }
            for (DeviceBuffer b : new DeviceBuffer[]{logitsPart, gathered, group, splitParts}) if (b != null) device.free(b);
        }
    }

    private void ensureWorkspace(int tokens, int rows, int metaInts) {
        if (ws != null && ws.tokens >= tokens && ws.rows >= rows && ws.metaInts >= metaInts) return;
        int t = ws == null ? tokens : Math.max(tokens, ws.tokens);
        int r = ws == null ? rows : Math.max(rows, ws.rows);
        int m = ws == null ? metaInts : Math.max(metaInts, ws.metaInts);
        if (ws != null) ws.free();
        ws = new Workspace(t, Math.max(r, 1), Math.max(m * 2, 1024));
    }

    /** Destroys the captured graphs (they hold a workspace's buffers and a choice of kernels). */
    private void dropGraphs() {
        for (jcuda.driver.CUgraphExec g : graphs.values()) device.destroyGraph(g);
        graphs.clear();
    }

    @Override public void close() {
        dropGraphs();
        if (ws != null) ws.free();
        ws = null;
        if (splitK != null) splitK.close();
        if (sampler != null) sampler.close();
        if (acceptance != null) acceptance.close();
        if (arena != null) arena.close();
        if (kvSaturations != null) device.free(kvSaturations);
        for (int l = 0; l < keys.length; l++) {
            device.free(keys[l]);
            device.free(values[l]);
        }
        device.free(inverseFrequencies);
    }
}
