package io.specdec.cuda;

import io.specdec.core.backend.AttentionMask;
import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvBlockStore;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeStyle;

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
 */
public final class CudaTransformer implements LanguageModel {
    /** The skinny GEMM kernel handles up to this many tokens per pass (graphs cover forwards up to this size). */
    static final int SKINNY_MAX_TOKENS = 8;
    /**
     * Forwards up to this many tokens (decode, and verification of γ up to 15) run every matmul on the skinny kernel,
     * in passes of 8, so a verify forward computes each row exactly as a decode step would: with cuBLAS (another
     * summation order) a 9-token verify of a random 8B model disagreed with its own greedy decode (run 2,
     * bench/results/cuda-h100-2026-11-22-run2). Only larger forwards (prefill chunks) go to cuBLAS.
     */
    static final int SAME_KERNEL_AS_DECODE_MAX_TOKENS = 16;

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
    private final boolean useGraphs;
    private final SplitKAttention splitK;
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
        if (config.headDim() > 256) throw new IllegalArgumentException("head dim " + config.headDim() + " > 256 is not supported");
        this.device = device;
        this.cublas = cublas;
        this.config = config;
        this.weights = weights;
        this.blockSize = blockSize;
        this.skinnyGemm = !Boolean.getBoolean("specdec.cuda.cublasOnly");
        this.useGraphs = !Boolean.getBoolean("specdec.cuda.noGraphs");
        int blocks = Math.max(1, (kvTokens + blockSize - 1) / blockSize);
        long slotBytes = 2L * config.kvDim();
        keys = new DeviceBuffer[config.layers()];
        values = new DeviceBuffer[config.layers()];
        for (int l = 0; l < config.layers(); l++) {
            keys[l] = device.allocate(slotBytes * blocks * blockSize);
            values[l] = device.allocate(slotBytes * blocks * blockSize);
        }
        this.cache = new PagedKvCache(blocks, blockSize, new KvBlockStore() {
            @Override public void copyBlock(int source, int target) {
                long n = slotBytes * blockSize;
                for (int l = 0; l < keys.length; l++) {
                    device.copy(keys[l].slice(target * n, n), keys[l].slice(source * n, n), n);
                    device.copy(values[l].slice(target * n, n), values[l].slice(source * n, n), n);
                }
            }

            @Override public void copySlot(int sourceSlot, int targetSlot) {
                for (int l = 0; l < keys.length; l++) {
                    device.copy(keys[l].slice(targetSlot * slotBytes, slotBytes), keys[l].slice(sourceSlot * slotBytes, slotBytes), slotBytes);
                    device.copy(values[l].slice(targetSlot * slotBytes, slotBytes), values[l].slice(sourceSlot * slotBytes, slotBytes), slotBytes);
                }
            }
        });
        device.preload("embed_gather", "rmsnorm_bf16", "qkv_rope_append", "attention_paged", "swiglu_bf16", "gemv_bf16",
                "argmax_rows");
        splitK = SplitKAttention.create(device, config, SAME_KERNEL_AS_DECODE_MAX_TOKENS);
        double[] inv = config.ropeScaling().inverseFrequencies(config.headDim(), config.ropeTheta());
        inverseFrequencies = device.allocate(8L * inv.length);
        device.copyToDevice(inverseFrequencies, inv);
    }

    @Override public ModelConfig config() { return config; }

    @Override public KvSequence newSequence() { return cache.newSequence(); }

    public PagedKvCache cache() { return cache; }

    public DeviceWeights weights() { return weights; }

    public CudaDevice device() { return device; }

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
    public int[] forwardArgmax(List<SequenceInput> batch) {
        Plan plan = prepare(batch);
        execute(plan, plan.rows > 0);
        if (plan.rows == 0) return new int[0];
        int[] out = new int[plan.rows];
        device.copyToHost(out, ws.argmax, plan.rows);
        return out;
    }

    /** Runs the forward, leaving the requested rows' logits in the workspace; returns the rows per input. */
    private int[] run(List<SequenceInput> batch) {
        Plan plan = prepare(batch);
        execute(plan, false);
        return plan.rowsPerInput;
    }

    /**
     * Enqueues the forward: small steps (decode, verify of up to 8 tokens: every matmul on the skinny kernel) replay a
     * CUDA graph captured on first use of their shape, so a step costs one launch instead of ~10 per layer. The
     * kernels' arguments depend only on the shape (metadata offsets are fixed per shape, everything else is read from
     * the uploaded metadata), so a graph stays valid until the workspace is reallocated.
     */
    private void execute(Plan plan, boolean argmax) {
        long key = ((long) plan.tokens << 40) | ((long) plan.rows << 20) | ((long) plan.sequences << 1) | (argmax ? 1 : 0);
        boolean graphable = useGraphs && skinnyGemm && plan.tokens <= SKINNY_MAX_TOKENS && !notGraphable.contains(key);
        if (!graphable) {
            enqueue(plan, argmax);
            return;
        }
        if (graphWorkspace != ws) {
            for (jcuda.driver.CUgraphExec g : graphs.values()) device.destroyGraph(g);
            graphs.clear();
            graphWorkspace = ws;
        }
        jcuda.driver.CUgraphExec graph = graphs.get(key);
        if (graph == null) {
            try {
                device.beginCapture();
                enqueue(plan, argmax);
                graph = device.endCapture();
                graphs.put(key, graph);
            } catch (RuntimeException e) {
                device.abandonCapture();
                notGraphable.add(key);
                System.err.println("[specdec cuda] capturing a " + plan.tokens + "-token step failed, running it without a graph: " + e);
                enqueue(plan, argmax);
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
    private record Plan(int tokens, int rows, int sequences, int[] rowsPerInput) {
        int oPos() { return tokens; }
        int oSlot() { return 2 * tokens; }
        int oTokMeta() { return 3 * tokens; }
        int oSeqMeta() { return 6 * tokens; }
        int oRows() { return 6 * tokens + 6 * sequences; }
        int oVariable() { return oRows() + rows; }
    }

    private Plan prepare(List<SequenceInput> batch) {
        int tokens = 0, rows = 0, variable = 0;
        for (SequenceInput in : batch) {
            for (int token : in.tokens()) {
                if (token < 0 || token >= config.vocabSize()) {
                    throw new IllegalArgumentException("token id " + token + " outside the vocabulary of " + config.vocabSize());
                }
            }
            tokens += in.tokens().length;
            rows += in.logitRows().length;
        }
        // Append first: block tables and slots are final only afterwards.
        int[] chunkStart = new int[batch.size()];
        for (int b = 0; b < batch.size(); b++) {
            SequenceInput in = batch.get(b);
            chunkStart[b] = in.sequence().append(in.tokens(), in.positions());
            variable += in.sequence().blockCount();
            if (config.slidingWindow() > 0) variable += in.sequence().length();
            if (in.mask() instanceof AttentionMask.Explicit) {
                int n = in.tokens().length;
                variable += n * ((n + 31) / 32);
            }
        }
        Plan plan = new Plan(tokens, rows, batch.size(), new int[batch.size()]);
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
        ensureWorkspace(tokens, rows, meta.length);
        device.copyToDevice(ws.meta, meta);
        lastRows = rows;
        return plan;
    }

    /** Enqueues the whole forward (and the argmax of the logit rows when asked); launches only, no copies. */
    private void enqueue(Plan plan, boolean argmax) {
        int dim = config.dim(), qDim = config.queryDim(), kvDim = config.kvDim(), hidden = config.hiddenDim();
        int heads = config.heads(), kvHeads = config.kvHeads(), hd = config.headDim();
        int tokens = plan.tokens, rows = plan.rows;
        DeviceBuffer m = ws.meta;
        DeviceBuffer mTokens = m.slice(0, 4L * tokens), mPositions = m.slice(4L * plan.oPos(), 4L * tokens);
        DeviceBuffer mSlots = m.slice(4L * plan.oSlot(), 4L * tokens), mTokMeta = m.slice(4L * plan.oTokMeta(), 12L * tokens);
        DeviceBuffer mSeqMeta = m.slice(4L * plan.oSeqMeta(), 24L * plan.sequences), mRows = m.slice(4L * plan.oRows(), 4L * rows);
        float eps = config.rmsNormEps();
        int interleaved = config.ropeStyle() == RopeStyle.INTERLEAVED ? 1 : 0;
        float scale = (float) (1.0 / Math.sqrt(hd));
        device.launch("embed_gather", tokens, 1, 256, mTokens, weights.embedding(), ws.x, dim);
        for (int l = 0; l < config.layers(); l++) {
            DeviceWeights.Layer w = weights.layers().get(l);
            device.launch("rmsnorm_bf16", tokens, 1, 256, ws.x, null, w.attentionNorm(), ws.xb, dim, eps);
            matmul(w.wqkv(), ws.xb, ws.qkv, tokens, qDim + 2 * kvDim, dim, false);
            device.launch("qkv_rope_append", tokens, 1, 256, ws.qkv, w.bqkv(), w.qNorm(), w.kNorm(), inverseFrequencies,
                    mPositions, mSlots, ws.q, keys[l], values[l], heads, kvHeads, hd, interleaved, eps);
            if (splitK != null && splitK.covers(tokens)) splitK.enqueue(ws.q, keys[l], values[l], ws.attention, mTokMeta,
                    mSeqMeta, m, tokens, heads, kvHeads, hd, blockSize, config.slidingWindow(), scale);
            else device.launch("attention_paged", tokens, heads, 128, ws.q, keys[l], values[l], ws.attention, mTokMeta,
                    mSeqMeta, m, m, m, heads, kvHeads, hd, blockSize, config.slidingWindow(), scale);
            matmul(w.wo(), ws.attention, ws.x, tokens, dim, qDim, true);
            device.launch("rmsnorm_bf16", tokens, 1, 256, ws.x, null, w.ffnNorm(), ws.xb, dim, eps);
            matmul(w.wGateUp(), ws.xb, ws.gateUp, tokens, 2 * hidden, dim, false);
            long n = (long) tokens * hidden;
            device.launch("swiglu_bf16", (int) Math.min(4096, (n + 255) / 256), 1, 256, ws.gateUp, ws.hidden, hidden, n);
            matmul(w.wDown(), ws.hidden, ws.x, tokens, dim, hidden, true);
        }
        if (rows > 0) {
            device.launch("rmsnorm_bf16", rows, 1, 256, ws.x, mRows, weights.finalNorm(), ws.xb, dim, eps);
            matmul(weights.output(), ws.xb, ws.logits, rows, config.vocabSize(), dim, false);
            if (argmax) device.launch("argmax_rows", rows, 1, 1024, ws.logits, config.vocabSize(), ws.argmax);
        }
    }

    /**
     * y[T, N] (+)= x[T, K] · W[N, K]ᵀ: the skinny kernel for decode/verify sizes (and, where cuBLAS is unusable, for
     * every size, 8 tokens per pass), cuBLAS otherwise.
     */
    private void matmul(DeviceBuffer w, DeviceBuffer x, DeviceBuffer y, int tokens, int n, int k, boolean accumulate) {
        boolean skinny = skinnyGemm && tokens <= SAME_KERNEL_AS_DECODE_MAX_TOKENS;
        if (k % 8 == 0 && (skinny || cublas == null || cublas.problem() != null)) {
            for (int t0 = 0; t0 < tokens; t0 += SKINNY_MAX_TOKENS) {
                int c = Math.min(SKINNY_MAX_TOKENS, tokens - t0);
                device.launch("gemv_bf16", (n + 7) / 8, 1, 256, w, x.slice(2L * t0 * k, 2L * c * k),
                        y.slice(4L * t0 * n, 4L * c * n), n, k, c, accumulate ? 1 : 0);
            }
        } else {
            cublas.matmulBf16(w, x, y, tokens, n, k, accumulate);
        }
    }

    /** Per-forward device scratch, grown on demand. */
    private final class Workspace {
        final int tokens, rows, metaInts;
        final DeviceBuffer x, xb, qkv, q, attention, gateUp, hidden, logits, argmax, meta;

        Workspace(int tokens, int rows, int metaInts) {
            this.tokens = tokens;
            this.rows = rows;
            this.metaInts = metaInts;
            int dim = config.dim(), qDim = config.queryDim(), kvDim = config.kvDim(), h = config.hiddenDim();
            int wide = Math.max(tokens, rows);
            x = device.allocate(4L * tokens * dim);
            xb = device.allocate(2L * wide * dim);
            qkv = device.allocate(4L * tokens * (qDim + 2 * kvDim));
            q = device.allocate(4L * tokens * qDim);
            attention = device.allocate(2L * tokens * qDim);
            gateUp = device.allocate(8L * tokens * h);
            hidden = device.allocate(2L * tokens * h);
            logits = device.allocate(4L * Math.max(1, rows) * config.vocabSize());
            argmax = device.allocate(4L * Math.max(1, rows));
            meta = device.allocate(4L * metaInts);
        }

        void free() {
            for (DeviceBuffer b : List.of(x, xb, qkv, q, attention, gateUp, hidden, logits, argmax, meta)) device.free(b);
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

    @Override public void close() {
        for (jcuda.driver.CUgraphExec g : graphs.values()) device.destroyGraph(g);
        graphs.clear();
        if (ws != null) ws.free();
        ws = null;
        if (splitK != null) splitK.close();
        for (int l = 0; l < keys.length; l++) {
            device.free(keys[l]);
            device.free(values[l]);
        }
        device.free(inverseFrequencies);
    }
}
