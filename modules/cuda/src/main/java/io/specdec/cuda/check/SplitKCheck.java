package io.specdec.cuda.check;

import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeScaling;
import io.specdec.core.model.RopeStyle;
import io.specdec.cuda.Cublas;
import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.CudaTransformer;
import io.specdec.cuda.DeviceBuffer;
import io.specdec.cuda.DeviceWeights;
import io.specdec.cuda.KvCacheFormat;
import io.specdec.cuda.SplitKAttention;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

/**
 * GpuCheck mode {@code splitk [CONFIG.json LABEL]}: split-K attention against attention_paged on the same paged cache
 * (random K/V, a shuffled block table) for decode, chain verify, a tree mask and a sliding window at long contexts
 * (max relative L2 error per (token, head) row); with a config, also decode ms/token at 128 and 4096 tokens of
 * context with and without split-K on random weights, and the relative error of the first decode step's logits.
 */
final class SplitKCheck {
    private SplitKCheck() {
    }

    static final int BLOCK = 16;

    /** One attention call: {@code parents} null for a causal chain, else the tree of the chunk's tokens. */
    record Case(String name, int heads, int kvHeads, int hd, int context, int tokens, int[] parents, int window) {
    }

    static List<Case> cases() {
        int[] tree = {-1, 0, 0, 1, 1, 2, -1};
        return List.of(
                new Case("decode", 32, 8, 128, 4096, 1, null, 0),
                new Case("verify-chain-5", 32, 8, 128, 4096, 5, null, 0),
                new Case("verify-tree-7", 32, 8, 128, 4096, 7, tree, 0),
                new Case("decode-window-1000", 32, 8, 128, 4096, 1, null, 1000),
                new Case("decode-hd64", 32, 8, 64, 4096, 1, null, 0),
                new Case("decode-hd256", 16, 4, 256, 2000, 1, null, 0),
                new Case("decode-mha-hd96", 12, 12, 96, 4096, 1, null, 0),
                new Case("decode-short", 32, 8, 128, 128, 1, null, 0),
                new Case("decode-384", 32, 8, 128, 384, 1, null, 0),
                new Case("verify-chain-8-hd64-300", 32, 8, 64, 300, 8, null, 0),
                new Case("decode-mha-hd128", 16, 16, 128, 1000, 1, null, 0),
                new Case("decode-group8-70b", 64, 8, 128, 2000, 1, null, 0),
                new Case("verify-tree-7-short", 32, 8, 128, 100, 7, tree, 0),
                new Case("decode-long-odd", 32, 8, 128, 20001, 2, null, 0),
                // more tokens than a verify pass: the grouped kernels' _many entry points
                new Case("chain-24-many", 32, 8, 128, 600, 24, null, 0),
                new Case("chain-40-hd64-many", 32, 8, 64, 2000, 40, null, 0),
                // short contexts: every group size the grouped kernel takes (1, 2, 3, 4, 8 query heads a KV head), a
                // tree at hd 64, hd 256, a window, one key, and a served batch step's size
                new Case("verify-chain-8-hd64-515", 32, 8, 64, 515, 8, null, 0),
                new Case("verify-tree-7-hd64-260", 32, 8, 64, 260, 7, tree, 0),
                new Case("decode-hd256-190", 16, 4, 256, 190, 1, null, 0),
                new Case("decode-group8-300", 64, 8, 128, 300, 1, null, 0),
                new Case("decode-group3-333", 24, 8, 128, 333, 1, null, 0),
                new Case("decode-mha-200", 16, 16, 128, 200, 1, null, 0),
                new Case("decode-group2-257", 16, 8, 64, 257, 1, null, 0),
                new Case("decode-window-400-100", 32, 8, 128, 400, 1, null, 100),
                new Case("decode-one-key", 32, 8, 64, 1, 1, null, 0),
                new Case("chain-24-many-200", 32, 8, 128, 200, 24, null, 0));
    }

    static void run(CudaDevice device, Cublas cublas, Path configJson, String label) {
        System.clearProperty(SplitKAttention.DISABLE_PROPERTY);
        double worst = 0;
        String worstCase = "-";
        for (Case k : cases()) {
            double e = kernels(device, k);
            if (Double.isNaN(e) || e > worst) { worst = e; worstCase = k.name(); }
        }
        GpuCheck.emit(String.format("{\"check\":\"splitk-vs-paged\",\"cases\":%d,\"worst_case\":\"%s\",\"max_rel_l2\":%.2e,"
                + "\"pass\":%b}", cases().size(), worstCase, worst, worst <= 1e-2));
        fp16Saturation(device);
        if (configJson != null) decode(device, cublas, GpuCheck.configOf(configJson), label);
    }

    /**
     * qkv_rope_append into an fp16 cache (kvHalf) with three K/V values beyond fp16's range (a key of 1e6 and one of
     * -2e5, a value of 7e4) among ordinary ones: the three are stored as ±65504, counted in kvSaturated, and the rest
     * stored as fp16 roundings of themselves.
     */
    static void fp16Saturation(CudaDevice device) {
        int heads = 2, kvHeads = 1, hd = 64, qDim = heads * hd, kvDim = kvHeads * hd, slot = 3;
        float[] row = new float[qDim + 2 * kvDim];
        for (int i = 0; i < row.length; i++) row[i] = 0.25f + i / 1024f;
        row[qDim] = 1e6f;              // key dim 0 (position 0: RoPE leaves it as is)
        row[qDim + 5] = -2e5f;         // key dim 5
        row[qDim + kvDim + 2] = 7e4f;  // value dim 2
        DeviceBuffer qkv = device.allocate(4L * row.length), inv = device.allocate(8L * hd / 2), meta = device.allocate(8),
                q = device.allocate(4L * qDim), kc = device.allocate(2L * (slot + 1) * kvDim),
                vc = device.allocate(2L * (slot + 1) * kvDim), count = device.allocate(4);
        try {
            device.copyToDevice(qkv, row);
            double[] freq = new double[hd / 2];
            for (int j = 0; j < freq.length; j++) freq[j] = Math.pow(10000, -2.0 * j / hd);
            device.copyToDevice(inv, freq);
            device.copyToDevice(meta, new int[]{0, slot});   // position 0, slot 3
            device.copyToDevice(count, new int[1]);
            device.launch("qkv_rope_append", 1, 1, 256, qkv, null, null, null, inv, meta.slice(0, 4), meta.slice(4, 4), q,
                    kc, vc, heads, kvHeads, hd, 0, 1e-5f, 0L, 1, count, 0);
            int[] n = new int[1];
            device.copyToHost(n, count, 1);
            float[] k = fp16ToHost(device, kc.slice(2L * slot * kvDim, 2L * kvDim), kvDim);
            float[] v = fp16ToHost(device, vc.slice(2L * slot * kvDim, 2L * kvDim), kvDim);
            int wrong = 0;
            for (int i = 0; i < kvDim; i++) {
                float ke = i == 0 ? 65504f : i == 5 ? -65504f : Float.float16ToFloat(Float.floatToFloat16(row[qDim + i]));
                float ve = i == 2 ? 65504f : Float.float16ToFloat(Float.floatToFloat16(row[qDim + kvDim + i]));
                if (k[i] != ke) wrong++;
                if (v[i] != ve) wrong++;
            }
            GpuCheck.emit(String.format("{\"check\":\"fp16-kv-saturation\",\"saturated_counted\":%d,\"expected\":3,"
                    + "\"elements_wrong\":%d,\"key0\":%.1f,\"key5\":%.1f,\"value2\":%.1f,\"pass\":%b}", n[0], wrong, k[0], k[5],
                    v[2], n[0] == 3 && wrong == 0));
        } finally {
            for (DeviceBuffer b : List.of(qkv, inv, meta, q, kc, vc, count)) device.free(b);
        }
    }

    static float[] fp16ToHost(CudaDevice device, DeviceBuffer b, int count) {
        return halvesToHost(device, b, count, bits -> Float.float16ToFloat((short) bits));
    }

    /** Whether the grouped kernel's _many entry point gives {@code expected} (the default entry's output) bit for bit. */
    private static boolean sameAsMany(CudaDevice device, ModelConfig shape, int t, float[] expected, DeviceBuffer qd,
                                      DeviceBuffer kc, DeviceBuffer vc, DeviceBuffer tokMeta, DeviceBuffer seqMeta,
                                      DeviceBuffer md, Case k, float scale) {
        String before = System.getProperty(SplitKAttention.MANY_AFTER_PROPERTY);
        System.setProperty(SplitKAttention.MANY_AFTER_PROPERTY, "0");
        DeviceBuffer out = device.allocate(2L * expected.length);
        try (SplitKAttention many = SplitKAttention.create(device, shape, t)) {
            many.enqueue(qd, kc, vc, out, 0L, tokMeta, seqMeta, md, t, k.heads(), k.kvHeads(), k.hd(), BLOCK, k.window(), scale, KvCacheFormat.BF16, 0L);
            return java.util.Arrays.equals(expected, bf16ToHost(device, out, expected.length));
        } finally {
            device.free(out);
            if (before == null) System.clearProperty(SplitKAttention.MANY_AFTER_PROPERTY);
            else System.setProperty(SplitKAttention.MANY_AFTER_PROPERTY, before);
        }
    }

    /** Runs one case and returns the largest relative L2 error of a (token, head) row (a plain line says more). */
    static double kernels(CudaDevice device, Case k) {
        SplittableRandom r = new SplittableRandom(k.name().hashCode());
        int qDim = k.heads() * k.hd(), kvDim = k.kvHeads() * k.hd(), n = k.context(), t = k.tokens(), prefix = n - t;
        int blocks = (n + BLOCK - 1) / BLOCK;
        ModelConfig shape = RandomHostModels.config(qDim, 4 * qDim, 1, k.heads(), k.kvHeads(), 1000, RopeStyle.HALF,
                new RopeScaling.None(), false, false, false, k.window());
        // metadata as CudaTransformer lays it out: tokMeta 3T | seqMeta 6 | block table | slot positions | masks
        int words = (t + 31) / 32;
        int oSeq = 3 * t, oTable = oSeq + 6, oPos = oTable + blocks, oMask = oPos + n;
        int[] meta = new int[oMask + (k.parents() == null ? 0 : t * words)];
        int[] depth = new int[t];
        for (int c = 0; c < t; c++) depth[c] = k.parents() == null ? c : k.parents()[c] < 0 ? 0 : depth[k.parents()[c]] + 1;
        for (int c = 0; c < t; c++) {
            meta[3 * c] = 0;
            meta[3 * c + 1] = c;
            meta[3 * c + 2] = prefix + depth[c];
        }
        meta[oSeq] = prefix;
        meta[oSeq + 1] = t;
        meta[oSeq + 2] = oTable;
        meta[oSeq + 3] = oPos;
        meta[oSeq + 4] = k.parents() == null ? -1 : oMask;
        meta[oSeq + 5] = words;
        int[] perm = new int[blocks];
        for (int b = 0; b < blocks; b++) perm[b] = b;
        for (int b = blocks - 1; b > 0; b--) { int j = r.nextInt(b + 1), x = perm[b]; perm[b] = perm[j]; perm[j] = x; }
        System.arraycopy(perm, 0, meta, oTable, blocks);
        for (int j = 0; j < n; j++) meta[oPos + j] = j < prefix ? j : prefix + depth[j - prefix];
        if (k.parents() != null) {
            for (int c = 0; c < t; c++) {
                for (int a = c; a >= 0; a = k.parents()[a]) meta[oMask + c * words + (a >> 5)] |= 1 << (a & 31);
            }
        }
        float[] q = new float[t * qDim];
        for (int i = 0; i < q.length; i++) q[i] = (float) r.nextGaussian();
        long slots = (long) blocks * BLOCK;
        DeviceBuffer kc = device.allocate(2 * slots * kvDim), vc = device.allocate(2 * slots * kvDim);
        DeviceBuffer qd = device.allocate(4L * q.length), md = device.allocate(4L * meta.length);
        // outputs as split activations: bf16 hi [t, qDim], then bf16 lo (x - hi) at outLo elements on
        long outLo = (long) t * qDim;
        DeviceBuffer paged = device.allocate(4L * t * qDim), split = device.allocate(4L * t * qDim);
        try (SplitKAttention splitK = SplitKAttention.create(device, shape, t)) {
            device.launch("fill_normal_bf16", 4096, 1, 256, kc, slots * kvDim, 1L + r.nextLong(), 1f);
            device.launch("fill_normal_bf16", 4096, 1, 256, vc, slots * kvDim, 2L + r.nextLong(), 1f);
            device.copyToDevice(qd, q);
            device.copyToDevice(md, meta);
            DeviceBuffer tokMeta = md.slice(0, 12L * t), seqMeta = md.slice(4L * oSeq, 24);
            float scale = (float) (1 / Math.sqrt(k.hd()));
            device.launch("attention_paged", t, k.heads(), 128, qd, kc, vc, paged, tokMeta, seqMeta, md, md, md,
                    k.heads(), k.kvHeads(), k.hd(), BLOCK, k.window(), scale, outLo, 0L, 0);
            splitK.enqueue(qd, kc, vc, split, outLo, tokMeta, seqMeta, md, t, k.heads(), k.kvHeads(), k.hd(), BLOCK, k.window(), scale, KvCacheFormat.BF16, 0L);
            float[] a = bf16ToHost(device, paged, t * qDim), b = bf16ToHost(device, split, t * qDim);
            // hi + lo of both kernels: f32 attention by two summation orders, so far closer than the bf16 parts
            float[] aFull = plusLo(a, bf16ToHost(device, paged.slice(2 * outLo, 2 * outLo), t * qDim));
            float[] bFull = plusLo(b, bf16ToHost(device, split.slice(2 * outLo, 2 * outLo), t * qDim));
            // again: the grouped kernel's last block resets the split counters, so a second launch (a graph replay)
            // must give the same bits
            splitK.enqueue(qd, kc, vc, split, outLo, tokMeta, seqMeta, md, t, k.heads(), k.kvHeads(), k.hd(), BLOCK, k.window(), scale, KvCacheFormat.BF16, 0L);
            if (!java.util.Arrays.equals(b, bf16ToHost(device, split, t * qDim))) {
                System.out.printf("  split-K %s: a second launch gave different values%n", k.name());
                return Double.NaN;
            }
            // the grouped kernels' _many twins (served batch steps) must give the few-token kernels' bits
            if (splitK.grouped() && !sameAsMany(device, shape, t, b, qd, kc, vc, tokMeta, seqMeta, md, k, scale)) {
                System.out.printf("  split-K %s: the _many entry point gave different values%n", k.name());
                return Double.NaN;
            }
            if (LATENCY_CASE.equals(k.name())) {
                latency(device, "attention-" + (splitK.grouped() ? "grouped" : "per-head"), () -> splitK.enqueue(qd, kc,
                        vc, split, outLo, tokMeta, seqMeta, md, t, k.heads(), k.kvHeads(), k.hd(), BLOCK, k.window(), scale,
                        KvCacheFormat.BF16, 0L));
                DeviceBuffer x = device.allocate(4L * qDim), w = device.allocate(4L * qDim), xb = device.allocate(2L * qDim);
                try {
                    device.launch("fill_f32", 16, 1, 256, x, (long) qDim, 1f);
                    device.launch("fill_f32", 16, 1, 256, w, (long) qDim, 1f);
                    latency(device, "rmsnorm", () -> device.launch("rmsnorm_bf16", 1, 1, 256, x, null, w, xb, qDim, 1e-5f, 0L));
                } finally {
                    for (DeviceBuffer z : List.of(x, w, xb)) device.free(z);
                }
            }
            double worst = worstRowError(a, b, t * k.heads(), k.hd()), worstFull = worstRowError(aFull, bFull, t * k.heads(), k.hd());
            System.out.printf("  split-K %s (%s): context %d, %d tokens, %d of %d splits, max rel L2 %.2e (hi + lo: %.2e)%n",
                    k.name(), splitK.grouped() ? "grouped" : "per head", n, t, splitK.splitsOf(n), splitK.maxSplits(), worst,
                    worstFull);
            if (!(worstFull <= SPLIT_PARTS_TOLERANCE)) {
                System.out.printf("  split-K %s: hi + lo differ by %.2e (> %.0e): a kernel's second output part is wrong%n",
                        k.name(), worstFull, SPLIT_PARTS_TOLERANCE);
                return Double.NaN;
            }
            if (!splitKvAgrees(device, splitK, k, aFull, qd, kc, vc, tokMeta, seqMeta, md, t, slots, scale, r)) return Double.NaN;
            if (!fp16Agrees(device, splitK, k, aFull, bFull, qd, kc, vc, tokMeta, seqMeta, md, t, slots, scale)) return Double.NaN;
            return worst;
        } finally {
            for (DeviceBuffer x : List.of(kc, vc, qd, md, paged, split)) device.free(x);
        }
    }

    /**
     * Split KV: the same keys and values (as hi parts) plus small random second parts at kvLo; attention_paged and
     * split-K, both reading the second parts, must agree (hi + lo outputs) as closely as without them, and differ from
     * the output without them (the second parts were read).
     */
    private static boolean splitKvAgrees(CudaDevice device, SplitKAttention splitK, Case k, float[] withoutLo, DeviceBuffer qd,
                                         DeviceBuffer kc, DeviceBuffer vc, DeviceBuffer tokMeta, DeviceBuffer seqMeta,
                                         DeviceBuffer md, int t, long slots, float scale, SplittableRandom r) {
        int qDim = k.heads() * k.hd(), kvDim = k.kvHeads() * k.hd();
        long kvLo = slots * kvDim, outLo = (long) t * qDim;
        DeviceBuffer k2 = device.allocate(4 * slots * kvDim), v2 = device.allocate(4 * slots * kvDim);
        DeviceBuffer paged = device.allocate(4L * t * qDim), split = device.allocate(4L * t * qDim);
        try {
            splitK.preload(KvCacheFormat.SPLIT);
            device.copy(k2, kc, 2 * slots * kvDim);
            device.copy(v2, vc, 2 * slots * kvDim);
            device.launch("fill_normal_bf16", 4096, 1, 256, k2.slice(2 * kvLo, 2 * kvLo), kvLo, 3L + r.nextLong(), 1f / 256);
            device.launch("fill_normal_bf16", 4096, 1, 256, v2.slice(2 * kvLo, 2 * kvLo), kvLo, 4L + r.nextLong(), 1f / 256);
            device.launch("attention_paged", t, k.heads(), 128, qd, k2, v2, paged, tokMeta, seqMeta, md, md, md,
                    k.heads(), k.kvHeads(), k.hd(), BLOCK, k.window(), scale, outLo, kvLo, 0);
            splitK.enqueue(qd, k2, v2, split, outLo, tokMeta, seqMeta, md, t, k.heads(), k.kvHeads(), k.hd(), BLOCK, k.window(),
                    scale, KvCacheFormat.SPLIT, kvLo);
            float[] a = plusLo(bf16ToHost(device, paged, t * qDim), bf16ToHost(device, paged.slice(2 * outLo, 2 * outLo), t * qDim));
            float[] b = plusLo(bf16ToHost(device, split, t * qDim), bf16ToHost(device, split.slice(2 * outLo, 2 * outLo), t * qDim));
            double agree = worstRowError(a, b, t * k.heads(), k.hd()), moved = worstRowError(withoutLo, a, t * k.heads(), k.hd());
            System.out.printf("  split-K %s, split KV: paged vs split-K %.2e, vs without the second parts %.2e%n", k.name(), agree, moved);
            if (!(agree <= SPLIT_PARTS_TOLERANCE) || !(moved > 10 * SPLIT_PARTS_TOLERANCE)) {
                System.out.printf("  split-K %s: split KV wrong (agree %.2e must be <= %.0e, effect %.2e must be > %.0e)%n",
                        k.name(), agree, SPLIT_PARTS_TOLERANCE, moved, 10 * SPLIT_PARTS_TOLERANCE);
                return false;
            }
            return true;
        } finally {
            for (DeviceBuffer x : List.of(k2, v2, paged, split)) device.free(x);
        }
    }

    /**
     * fp16 cache ({@link KvCacheFormat#FP16}): the same keys and values rewritten as fp16 (bf16_to_f16_inplace; exact
     * for every bf16 value of fp16's normal range, i.e. all but the rare |x| < 6.1e-5 of these N(0, 1) samples), read by
     * attention_paged and split-K with kvHalf, must give what each kernel gave on the bf16 cache, within
     * {@value #FP16_SAME_VALUES_TOLERANCE} (rows touched by a rounded subnormal may move by the outputs' last bit; the
     * rows equal bit for bit are counted). A kernel that read the fp16 bits as bf16 would be off by O(1).
     */
    private static boolean fp16Agrees(CudaDevice device, SplitKAttention splitK, Case k, float[] pagedBf16, float[] splitBf16,
                                      DeviceBuffer qd, DeviceBuffer kc, DeviceBuffer vc, DeviceBuffer tokMeta,
                                      DeviceBuffer seqMeta, DeviceBuffer md, int t, long slots, float scale) {
        int qDim = k.heads() * k.hd(), kvDim = k.kvHeads() * k.hd();
        long outLo = (long) t * qDim, elements = slots * kvDim;
        DeviceBuffer k3 = device.allocate(2 * elements), v3 = device.allocate(2 * elements);
        DeviceBuffer paged = device.allocate(4L * t * qDim), split = device.allocate(4L * t * qDim);
        try {
            splitK.preload(KvCacheFormat.FP16);
            device.copy(k3, kc, 2 * elements);
            device.copy(v3, vc, 2 * elements);
            device.launch("bf16_to_f16_inplace", 4096, 1, 256, k3, elements);
            device.launch("bf16_to_f16_inplace", 4096, 1, 256, v3, elements);
            device.launch("attention_paged", t, k.heads(), 128, qd, k3, v3, paged, tokMeta, seqMeta, md, md, md,
                    k.heads(), k.kvHeads(), k.hd(), BLOCK, k.window(), scale, outLo, 0L, 1);
            splitK.enqueue(qd, k3, v3, split, outLo, tokMeta, seqMeta, md, t, k.heads(), k.kvHeads(), k.hd(), BLOCK, k.window(),
                    scale, KvCacheFormat.FP16, 0L);
            float[] a = plusLo(bf16ToHost(device, paged, t * qDim), bf16ToHost(device, paged.slice(2 * outLo, 2 * outLo), t * qDim));
            float[] b = plusLo(bf16ToHost(device, split, t * qDim), bf16ToHost(device, split.slice(2 * outLo, 2 * outLo), t * qDim));
            int rows = t * k.heads();
            int pagedSame = sameRows(pagedBf16, a, rows, k.hd()), splitSame = sameRows(splitBf16, b, rows, k.hd());
            double pagedError = worstRowError(pagedBf16, a, rows, k.hd()), splitError = worstRowError(splitBf16, b, rows, k.hd());
            System.out.printf("  split-K %s, fp16 cache: rows equal to the bf16 cache's paged %d/%d, split-K %d/%d; max rel L2 "
                    + "%.2e, %.2e%n", k.name(), pagedSame, rows, splitSame, rows, pagedError, splitError);
            if (!(pagedError <= FP16_SAME_VALUES_TOLERANCE) || !(splitError <= FP16_SAME_VALUES_TOLERANCE)) {
                System.out.printf("  split-K %s: the fp16 cache gave other values (tolerance %.0e)%n",
                        k.name(), FP16_SAME_VALUES_TOLERANCE);
                return false;
            }
            return true;
        } finally {
            for (DeviceBuffer x : List.of(k3, v3, paged, split)) device.free(x);
        }
    }

    /**
     * fp16 vs bf16 caches holding the same values: a rounded subnormal moves a score by ~1e-8, which can flip the last
     * bit of an output's second part (~8e-6 of the value).
     */
    static final double FP16_SAME_VALUES_TOLERANCE = 1e-5;

    private static int sameRows(float[] a, float[] b, int rows, int hd) {
        int same = 0;
        for (int row = 0; row < rows; row++) {
            if (java.util.Arrays.equals(a, row * hd, (row + 1) * hd, b, row * hd, (row + 1) * hd)) same++;
        }
        return same;
    }

    /** Split activations: hi + lo of two attention kernels agree to f32 rounding, far below bf16's 4e-3. */
    static final double SPLIT_PARTS_TOLERANCE = 1e-4;

    private static float[] plusLo(float[] hi, float[] lo) {
        float[] out = new float[hi.length];
        for (int i = 0; i < out.length; i++) out[i] = hi[i] + lo[i];
        return out;
    }

    /** The largest relative L2 error of a row of {@code width} values of {@code b} against {@code a}. */
    private static double worstRowError(float[] a, float[] b, int rows, int width) {
        double worst = 0;
        for (int row = 0; row < rows; row++) {
            double num = 0, den = 0;
            for (int i = row * width; i < (row + 1) * width; i++) {
                double d = b[i] - a[i];
                num += d * d;
                den += (double) a[i] * a[i];
                if (Float.isNaN(b[i])) num = Double.POSITIVE_INFINITY;
            }
            worst = Math.max(worst, Math.sqrt(num / Math.max(den, 1e-30)));
        }
        return worst;
    }

    /** The case whose kernels {@link #latency} times (a decode step of the 8B shape at 384 keys). */
    static final String LATENCY_CASE = "decode-384";

    /**
     * µs of one launch of {@code kernel}: back to back (hot caches), right after a 256 MB copy (L2 evicted) and right
     * after writing 8 GB from the SMs (as a decode step's weight stream does between two attentions: L2 and address
     * translations cold).
     */
    static void latency(CudaDevice device, String name, Runnable kernel) {
        int reps = 20;
        for (int i = 0; i < 5; i++) kernel.run();
        double hot = device.time(() -> { for (int i = 0; i < 100; i++) kernel.run(); }) * 1e3 / 100;
        double[] after = new double[2];
        long[] bytes = {256L << 20, 8L << 30};
        for (int v = 0; v < 2; v++) {
            DeviceBuffer a = device.allocate(bytes[v]), b = device.allocate(v == 0 ? bytes[v] : 16);
            try {
                jcuda.driver.CUevent e0 = device.newEvent(), e1 = device.newEvent();
                double sum = 0;
                for (int i = 0; i < reps; i++) {
                    if (v == 0) device.copy(b, a, bytes[v]);                                  // copy engine
                    else device.launch("fill_f32", 4096, 1, 256, a, bytes[v] / 4, 0f);      // SM stores over 8 GB
                    device.record(e0);
                    kernel.run();
                    device.record(e1);
                    sum += device.elapsedMs(e0, e1) * 1e3;
                }
                after[v] = sum / reps;
                device.destroyEvent(e0);
                device.destroyEvent(e1);
            } finally {
                device.free(a);
                device.free(b);
            }
        }
        GpuCheck.emit(String.format("{\"check\":\"kernel-latency\",\"kernel\":\"%s\",\"hot_us\":%.2f,"
                + "\"after_256MB_copy_us\":%.2f,\"after_8GB_stream_us\":%.2f}", name, hot, after[0], after[1]));
    }

    static float[] bf16ToHost(CudaDevice device, DeviceBuffer b, int count) {
        return halvesToHost(device, b, count, bits -> Float.intBitsToFloat(bits << 16));
    }

    /** {@code count} 16-bit device values, each widened by {@code widen} (given its bits in the low half of an int). */
    private static float[] halvesToHost(CudaDevice device, DeviceBuffer b, int count,
                                        java.util.function.IntToDoubleFunction widen) {
        int[] packed = new int[(count + 1) / 2];
        device.copyToHost(packed, b, packed.length);
        float[] out = new float[count];
        for (int i = 0; i < count; i++) out[i] = (float) widen.applyAsDouble((packed[i / 2] >>> (16 * (i & 1))) & 0xffff);
        return out;
    }

    /**
     * Decode ms/token at 128, 384 and 4096 tokens of context: attention_paged, per-head split-K and the grouped kernel
     * (random weights); logits and greedy ids of the latter two against attention_paged's.
     */
    static void decode(CudaDevice device, Cublas cublas, ModelConfig c, String label) {
        DeviceWeights w = DeviceWeights.random(device, c, 1);
        int[] contexts = {128, 384, 4096};
        String[] variants = {"paged", "splitk", "grouped"};
        int steps = 64;
        double[][] ms = new double[variants.length][contexts.length];
        float[][][] firstLogits = new float[variants.length][contexts.length][];
        int[][][] tokens = new int[variants.length][contexts.length][steps];
        try {
            for (int variant = 0; variant < variants.length; variant++) {
                System.setProperty(SplitKAttention.DISABLE_PROPERTY, String.valueOf(variant == 0));
                System.setProperty(SplitKAttention.NO_GQA_PROPERTY, String.valueOf(variant == 1));
                try (CudaTransformer model = new CudaTransformer(device, cublas, c, w, contexts[contexts.length - 1] + steps + 64, BLOCK)) {
                    for (int ci = 0; ci < contexts.length; ci++) {
                        int[] prompt = new SplittableRandom(contexts[ci]).ints(contexts[ci], 0, c.vocabSize()).toArray();
                        KvSequence seq = model.newSequence();
                        model.forwardArgmax(List.of(SequenceInput.chainLastLogits(seq, prompt)));
                        firstLogits[variant][ci] = model.forward(List.of(SequenceInput.chainLastLogits(seq, new int[]{1}))).getFirst()[0];
                        int next = GpuCheck.argmax(firstLogits[variant][ci]);
                        for (int s = 0; s < 8; s++) next = model.forwardArgmax(List.of(SequenceInput.chainLastLogits(seq, new int[]{next})))[0];
                        long t0 = System.nanoTime();
                        for (int s = 0; s < steps; s++) {
                            next = model.forwardArgmax(List.of(SequenceInput.chainLastLogits(seq, new int[]{next})))[0];
                            tokens[variant][ci][s] = next;
                        }
                        ms[variant][ci] = (System.nanoTime() - t0) / 1e6 / steps;
                        seq.release();
                    }
                }
            }
        } finally {
            System.clearProperty(SplitKAttention.DISABLE_PROPERTY);
            System.clearProperty(SplitKAttention.NO_GQA_PROPERTY);
        }
        for (int ci = 0; ci < contexts.length; ci++) {
            double[] e = GpuCheck.compare(new float[][]{firstLogits[0][ci]}, new float[][]{firstLogits[1][ci]});
            double[] eg = GpuCheck.compare(new float[][]{firstLogits[0][ci]}, new float[][]{firstLogits[2][ci]});
            int same = 0, sameGrouped = 0;
            while (same < steps && tokens[0][ci][same] == tokens[1][ci][same]) same++;
            while (sameGrouped < steps && tokens[0][ci][sameGrouped] == tokens[2][ci][sameGrouped]) sameGrouped++;
            GpuCheck.emit(String.format("{\"check\":\"splitk-decode\",\"model\":\"%s\",\"context\":%d,\"paged_ms\":%.3f,"
                            + "\"splitk_ms\":%.3f,\"grouped_ms\":%.3f,\"speedup\":%.2f,\"grouped_speedup\":%.2f,"
                            + "\"logits_rel_l2\":%.2e,\"grouped_logits_rel_l2\":%.2e,\"greedy_equal_prefix\":%d,"
                            + "\"grouped_greedy_equal_prefix\":%d,\"steps\":%d}", label, contexts[ci], ms[0][ci], ms[1][ci],
                    ms[2][ci], ms[0][ci] / ms[1][ci], ms[0][ci] / ms[2][ci], e[0], eg[0], same, sameGrouped, steps));
        }
    }
}
