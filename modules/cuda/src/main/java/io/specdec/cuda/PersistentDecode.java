package io.specdec.cuda;

import io.specdec.core.model.ModelConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * The persistent decode kernel (native/persistent_decode.cuh, {@value #PROPERTY}): every layer of a one-token,
 * one-sequence decode step in one launch whose blocks stay resident and meet at grid-wide barriers, instead of ~8
 * dependent kernels a layer. It runs the graph path's own block bodies on the same block indices, so its output equals
 * the graph path's bit for bit (and verify passes, which keep the graph path, still equal decode steps) as long as
 * every matrix has the warps per tile it has here: {@link SkinnyGemmPlan} gives the few-tile matrices 8 warps when
 * this is on (the kernel runs tiles of 4 or 8 warps in blocks of 8).
 *
 * <p>It covers what the 1B-to-8B Llama shapes need and nothing more; {@link #unsupported} names what a model lacks and
 * the graph path runs instead: head size 64 or 128, a grouped split-K attention, an fp16 or bf16 cache (not split),
 * width 1024..4096 in whole KiB, the SwiGLU epilogue, one GPU.
 */
public final class PersistentDecode implements AutoCloseable {
    static final String PROPERTY = "specdec.cuda.persistentDecode";
    /**
     * Diagnostics and benchmark ablations only (persistent_decode.cuh's PD_* flags; 0 in use): 1 = attention in one
     * half of each block, 2/4/8 = leave out attention / the GEMMs / the norms and RoPE (wrong output, timing only),
     * 16 = every thread fences after each grid barrier, 32 = blocks back off between polls of a barrier.
     */
    public static final String FLAGS_PROPERTY = "specdec.cuda.persistentFlags";
    private final int flags = Integer.getInteger(FLAGS_PROPERTY, 0);
    /** Diagnostics: block 0 stamps the GPU's ns clock as it leaves each grid barrier of every step ({@link #trace}). */
    public static final String TRACE_PROPERTY = "specdec.cuda.persistentTrace";
    /** The phases between a layer's grid barriers, in order (the trace's columns). */
    public static final List<String> PHASES = List.of("norm+qkv", "rope", "attention", "o", "norm+gate/up", "down");
    private final DeviceBuffer trace;
    /**
     * MiB of each layer's MLP up rows that L2 fetches while RoPE and attention run (with the o projection's weights;
     * 0 = no prefetch). Benchmarks pick it; see persistent_decode.cuh.
     */
    public static final String PREFETCH_MIB_PROPERTY = "specdec.cuda.persistentPrefetchMiB";
    private final long prefetchUp = (long) Integer.getInteger(PREFETCH_MIB_PROPERTY, 0) << 20;
    static final int THREADS = 256;   // PD_THREADS
    /** Blocks per multiprocessor the kernel asks for (__launch_bounds__(PD_THREADS, 2)). */
    static final int BLOCKS_PER_SM = 2;
    /** The grid barrier's words (arrivals, exits; the release word PD_RELEASE_WORD = 32 on a cache line of its own). */
    static final int BARRIER_WORDS = 64;
    /** Blocks per multiprocessor to launch, 1 or 2 (benchmarks; default 2, what the kernel's launch bounds ask for). */
    public static final String BLOCKS_PER_SM_PROPERTY = "specdec.cuda.persistentBlocksPerSm";
    /** Device pointers per layer in the table (struct PdLayer). */
    static final int LAYER_POINTERS = 11;

    private final CudaDevice device;
    private final ModelConfig config;
    private final String kernel;
    private final int grid;
    private final DeviceBuffer layerTable, barrier;
    private final int sQkv, sO, sGateUp, sDown;

    private PersistentDecode(CudaDevice device, ModelConfig config, String kernel, int grid, DeviceBuffer layerTable,
                             DeviceBuffer barrier, SkinnyGemmPlan plan) {
        this.device = device;
        this.config = config;
        this.kernel = kernel;
        this.grid = grid;
        this.layerTable = layerTable;
        this.barrier = barrier;
        sQkv = plan.warps(config.queryDim() + 2 * config.kvDim());
        sO = plan.warps(config.dim());
        sGateUp = plan.warps(2 * config.hiddenDim());
        sDown = plan.warps(config.dim());
        trace = Boolean.getBoolean(TRACE_PROPERTY) ? device.allocate(8L * (PHASES.size() * config.layers() + 1)) : null;
    }

    /**
     * The last step's barrier stamps ({@value #TRACE_PROPERTY}): ns from the kernel's start to block 0 leaving each
     * barrier, layer by layer in {@link #PHASES} order; null when not traced.
     */
    long[] trace() {
        if (trace == null) return null;
        int n = PHASES.size() * config.layers() + 1;
        int[] words = new int[2 * n];
        device.synchronize();
        device.copyToHost(words, trace, words.length);
        long[] at = new long[n - 1];
        long start = (words[0] & 0xffffffffL) | ((long) words[1] << 32);
        for (int i = 1; i < n; i++) at[i - 1] = ((words[2 * i] & 0xffffffffL) | ((long) words[2 * i + 1] << 32)) - start;
        return at;
    }

    /** Whether {@value #PROPERTY} asks for it (default off). */
    static boolean requested() {
        return Boolean.getBoolean(PROPERTY);
    }

    /** The kernel for this head size and cache format. */
    static String kernelName(int headDim, KvCacheFormat format) {
        return "decode_persistent_hd" + headDim + (format == KvCacheFormat.FP16 ? "_f16" : "");
    }

    /** Why the kernel cannot run this model in this configuration, or empty when it can. */
    static Optional<String> unsupported(ModelConfig config, KvCacheFormat format, boolean groupedAttention,
                                        boolean swigluEpilogue, boolean vectorNorm, SkinnyGemmPlan plan) {
        List<String> why = new ArrayList<>();
        if (config.headDim() != 64 && config.headDim() != 128) why.add("head size " + config.headDim() + " (64 or 128)");
        if (!groupedAttention) why.add("no grouped split-K attention for these heads");
        if (format == KvCacheFormat.SPLIT) why.add("split KV cache");
        if (config.dim() % 1024 != 0 || config.dim() > 4096) why.add("width " + config.dim() + " (1024..4096 in whole KiB)");
        if (!swigluEpilogue) why.add("SwiGLU epilogue off");
        if (!vectorNorm) why.add("vector RMSNorm off");
        if (config.hiddenDim() % 32 != 0) why.add("hidden size " + config.hiddenDim() + " (a multiple of 32)");
        int[] rows = {config.queryDim() + 2 * config.kvDim(), config.dim(), 2 * config.hiddenDim()};
        for (int n : rows) {
            int w = plan.warps(n);
            if (w != 4 && w != 8) why.add(w + " warps per tile of a " + n + "-row matrix (4 or 8)");
        }
        return why.isEmpty() ? Optional.empty() : Optional.of(String.join(", ", why));
    }

    /**
     * The kernel for this model on {@code device} with its layer table uploaded, or null where
     * {@link #unsupported} names a reason (logged) or no block fits a multiprocessor.
     */
    static PersistentDecode create(CudaDevice device, ModelConfig config, DeviceWeights weights, DeviceBuffer[] keys,
                                   DeviceBuffer[] values, KvCacheFormat format, boolean groupedAttention,
                                   boolean swigluEpilogue, boolean vectorNorm, SkinnyGemmPlan plan) {
        Optional<String> why = unsupported(config, format, groupedAttention, swigluEpilogue, vectorNorm, plan);
        if (why.isPresent()) {
            System.err.println("[specdec] " + PROPERTY + ": not for this model (" + why.get() + "); decode steps keep the graph path");
            return null;
        }
        String kernel = kernelName(config.headDim(), format);
        device.preload(kernel);
        int resident = Math.min(Integer.getInteger(BLOCKS_PER_SM_PROPERTY, BLOCKS_PER_SM), device.residentBlocks(kernel, THREADS));
        if (resident < 1) {
            System.err.println("[specdec] " + PROPERTY + ": " + kernel + " fits no multiprocessor; decode steps keep the graph path");
            return null;
        }
        DeviceBuffer table = device.allocate(8L * LAYER_POINTERS * config.layers());
        device.copyToDevice(table, layerTable(weights.layers(), keys, values));
        DeviceBuffer barrier = device.allocate(4L * BARRIER_WORDS);
        device.copyToDevice(barrier, new int[BARRIER_WORDS]);
        return new PersistentDecode(device, config, kernel, resident * device.multiprocessors(), table, barrier, plan);
    }

    /** struct PdLayer per layer as 32-bit words (little-endian halves of each pointer; 0 for an absent tensor). */
    static int[] layerTable(List<DeviceWeights.Layer> layers, DeviceBuffer[] keys, DeviceBuffer[] values) {
        int[] words = new int[2 * LAYER_POINTERS * layers.size()];
        for (int l = 0; l < layers.size(); l++) {
            DeviceWeights.Layer w = layers.get(l);
            DeviceBuffer[] order = {w.attentionNorm(), w.wqkv(), w.wo(), w.ffnNorm(), w.wGateUp(), w.wDown(), keys[l],
                    values[l], w.bqkv(), w.qNorm(), w.kNorm()};
            for (int i = 0; i < LAYER_POINTERS; i++) {
                long address = order[i] == null ? 0L : order[i].address();
                int at = 2 * (l * LAYER_POINTERS + i);
                words[at] = (int) address;
                words[at + 1] = (int) (address >>> 32);
            }
        }
        return words;
    }

    /** Blocks of the launch (all resident at once). */
    int grid() { return grid; }

    /**
     * Enqueues the layers of a one-token step: x holds the embedded token and ends as the residual before the final
     * norm. The buffers and offsets are the graph path's (CudaTransformer's workspace and the step's metadata).
     */
    void enqueue(Buffers b, SplitKAttention attention, DeviceBuffer inverseFrequencies, DeviceBuffer kvSaturations,
                 int blockSize) {
        device.launch(kernel, grid, 1, THREADS, layerTable, b.x(), b.qkv(), b.q(), b.attention(), b.hidden(),
                inverseFrequencies, b.positions(), b.slots(), b.tokMeta(), b.seqMeta(), b.meta(), kvSaturations,
                attention.partials(), attention.stats(), attention.counters(), barrier, config.layers(), config.dim(),
                config.hiddenDim(), config.heads(), config.kvHeads(), blockSize, config.slidingWindow(),
                attention.maxSplits(), config.ropeStyle() == io.specdec.core.model.RopeStyle.INTERLEAVED ? 1 : 0, sQkv, sO,
                sGateUp, sDown, config.rmsNormEps(), (float) (1.0 / Math.sqrt(config.headDim())), b.xbLo(),
                b.attentionLo(), b.hiddenLo(), flags, trace, prefetchUp);
    }

    /** The step's workspace and metadata views the kernel reads and writes. */
    record Buffers(DeviceBuffer x, DeviceBuffer qkv, DeviceBuffer q, DeviceBuffer attention,
                   DeviceBuffer hidden, DeviceBuffer positions, DeviceBuffer slots, DeviceBuffer tokMeta,
                   DeviceBuffer seqMeta, DeviceBuffer meta, long xbLo, long attentionLo, long hiddenLo) {
    }

    @Override public void close() {
        device.free(layerTable);
        device.free(barrier);
        if (trace != null) device.free(trace);
    }
}
