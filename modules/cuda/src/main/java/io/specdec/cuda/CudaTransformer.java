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
    /** Decode and verify batches up to this many tokens use the skinny GEMM kernel, larger ones cuBLAS. */
    static final int SKINNY_MAX_TOKENS = 8;

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
    private Workspace ws;
    private int lastRows;

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
        run(batch);
        if (lastRows == 0) return new int[0];
        device.launch("argmax_rows", lastRows, 1, 1024, ws.logits, config.vocabSize(), ws.argmax);
        int[] out = new int[lastRows];
        device.copyToHost(out, ws.argmax, lastRows);
        return out;
    }

    /** Runs the forward, leaving the requested rows' logits in the workspace; returns the rows per input. */
    private int[] run(List<SequenceInput> batch) {
        int dim = config.dim(), qDim = config.queryDim(), kvDim = config.kvDim(), hidden = config.hiddenDim();
        int heads = config.heads(), kvHeads = config.kvHeads(), hd = config.headDim();
        int tokens = 0, rows = 0, tableInts = 0, posInts = 0, maskInts = 0;
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
            tableInts += in.sequence().blockCount();
            if (config.slidingWindow() > 0) posInts += in.sequence().length();
            if (in.mask() instanceof AttentionMask.Explicit) {
                int n = in.tokens().length;
                maskInts += n * ((n + 31) / 32);
            }
        }
        // One metadata upload: tokens | positions | slots | tokMeta(3T) | seqMeta(6B) | tables | slotPos | masks | rows
        int oTok = 0, oPos = tokens, oSlot = 2 * tokens, oTokMeta = 3 * tokens, oSeqMeta = 6 * tokens;
        int oTable = oSeqMeta + 6 * batch.size(), oSlotPos = oTable + tableInts, oMask = oSlotPos + posInts;
        int oRows = oMask + maskInts;
        int[] meta = new int[oRows + rows];
        int t = 0, table = oTable, slotPos = oSlotPos, mask = oMask, row = oRows;
        int[] rowsPerInput = new int[batch.size()];
        for (int b = 0; b < batch.size(); b++) {
            SequenceInput in = batch.get(b);
            KvSequence seq = in.sequence();
            int n = in.tokens().length;
            int words = (n + 31) / 32;
            int[] s = {chunkStart[b], n, table, config.slidingWindow() > 0 ? slotPos : 0,
                    in.mask() instanceof AttentionMask.Explicit ? mask : -1, words};
            System.arraycopy(s, 0, meta, oSeqMeta + 6 * b, 6);
            for (int blk : seq.blockTable()) meta[table++] = blk;
            if (config.slidingWindow() > 0) for (int j = 0; j < seq.length(); j++) meta[slotPos++] = seq.positionAt(j);
            if (in.mask() instanceof AttentionMask.Explicit e) {
                for (int qi = 0; qi < n; qi++) {
                    for (int k = 0; k < n; k++) if (e.allows(qi, k)) meta[mask + qi * words + (k >> 5)] |= 1 << (k & 31);
                }
                mask += n * words;
            }
            for (int r : in.logitRows()) meta[row++] = t + r;
            rowsPerInput[b] = in.logitRows().length;
            for (int c = 0; c < n; c++, t++) {
                meta[oTok + t] = in.tokens()[c];
                meta[oPos + t] = in.positions()[c];
                meta[oSlot + t] = seq.physicalSlot(chunkStart[b] + c);
                meta[oTokMeta + 3 * t] = b;
                meta[oTokMeta + 3 * t + 1] = c;
                meta[oTokMeta + 3 * t + 2] = in.positions()[c];
            }
        }
        ensureWorkspace(tokens, rows, meta.length);
        device.copyToDevice(ws.meta, meta);
        DeviceBuffer m = ws.meta;
        DeviceBuffer mTokens = m.slice(4L * oTok, 4L * tokens), mPositions = m.slice(4L * oPos, 4L * tokens);
        DeviceBuffer mSlots = m.slice(4L * oSlot, 4L * tokens), mTokMeta = m.slice(4L * oTokMeta, 12L * tokens);
        DeviceBuffer mSeqMeta = m.slice(4L * oSeqMeta, 24L * batch.size()), mTables = m.slice(4L * oTable, 4L * tableInts);
        DeviceBuffer mSlotPos = m.slice(4L * oSlotPos, 4L * posInts), mMasks = m.slice(4L * oMask, 4L * maskInts);
        DeviceBuffer mRows = m.slice(4L * oRows, 4L * rows);

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
            device.launch("attention_paged", tokens, heads, 128, ws.q, keys[l], values[l], ws.attention, mTokMeta,
                    mSeqMeta, mTables, mSlotPos, mMasks, heads, kvHeads, hd, blockSize, config.slidingWindow(), scale);
            matmul(w.wo(), ws.attention, ws.x, tokens, dim, qDim, true);
            device.launch("rmsnorm_bf16", tokens, 1, 256, ws.x, null, w.ffnNorm(), ws.xb, dim, eps);
            matmul(w.wGateUp(), ws.xb, ws.gateUp, tokens, 2 * hidden, dim, false);
            long n = (long) tokens * hidden;
            device.launch("swiglu_bf16", (int) Math.min(4096, (n + 255) / 256), 1, 256, ws.gateUp, ws.hidden, hidden, n);
            matmul(w.wDown(), ws.hidden, ws.x, tokens, dim, hidden, true);
        }
        lastRows = rows;
        if (rows > 0) {
            device.launch("rmsnorm_bf16", rows, 1, 256, ws.x, mRows, weights.finalNorm(), ws.xb, dim, eps);
            matmul(weights.output(), ws.xb, ws.logits, rows, config.vocabSize(), dim, false);
        }
        return rowsPerInput;
    }

    /** y[T, N] (+)= x[T, K] · W[N, K]ᵀ: the skinny kernel for decode/verify sizes, cuBLAS otherwise. */
    private void matmul(DeviceBuffer w, DeviceBuffer x, DeviceBuffer y, int tokens, int n, int k, boolean accumulate) {
        if (skinnyGemm && tokens <= SKINNY_MAX_TOKENS && k % 8 == 0) {
            device.launch("gemv_bf16", (n + 7) / 8, 1, 256, w, x, y, n, k, tokens, accumulate ? 1 : 0);
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
        if (ws != null) ws.free();
        ws = null;
        for (int l = 0; l < keys.length; l++) {
            device.free(keys[l]);
            device.free(values[l]);
        }
        device.free(inverseFrequencies);
    }
}
