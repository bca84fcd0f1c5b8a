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
                new Case("decode-mha-hd96", 12, 12, 96, 4096, 1, null, 0),
                new Case("decode-short", 32, 8, 128, 128, 1, null, 0),
                new Case("decode-long-odd", 32, 8, 128, 20001, 2, null, 0));
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
        if (configJson != null) decode(device, cublas, GpuCheck.configOf(configJson), label);
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
        DeviceBuffer paged = device.allocate(2L * t * qDim), split = device.allocate(2L * t * qDim);
        try (SplitKAttention splitK = SplitKAttention.create(device, shape, t)) {
            device.launch("fill_normal_bf16", 4096, 1, 256, kc, slots * kvDim, 1L + r.nextLong(), 1f);
            device.launch("fill_normal_bf16", 4096, 1, 256, vc, slots * kvDim, 2L + r.nextLong(), 1f);
            device.copyToDevice(qd, q);
            device.copyToDevice(md, meta);
            DeviceBuffer tokMeta = md.slice(0, 12L * t), seqMeta = md.slice(4L * oSeq, 24);
            float scale = (float) (1 / Math.sqrt(k.hd()));
            device.launch("attention_paged", t, k.heads(), 128, qd, kc, vc, paged, tokMeta, seqMeta, md, md, md,
                    k.heads(), k.kvHeads(), k.hd(), BLOCK, k.window(), scale);
            splitK.enqueue(qd, kc, vc, split, tokMeta, seqMeta, md, t, k.heads(), k.kvHeads(), k.hd(), BLOCK, k.window(), scale);
            float[] a = bf16ToHost(device, paged, t * qDim), b = bf16ToHost(device, split, t * qDim);
            double worst = 0;
            for (int row = 0; row < t * k.heads(); row++) {
                double num = 0, den = 0;
                for (int i = row * k.hd(); i < (row + 1) * k.hd(); i++) {
                    double d = b[i] - a[i];
                    num += d * d;
                    den += (double) a[i] * a[i];
                    if (Float.isNaN(b[i])) num = Double.POSITIVE_INFINITY;
                }
                worst = Math.max(worst, Math.sqrt(num / Math.max(den, 1e-30)));
            }
            System.out.printf("  split-K %s: context %d, %d tokens, %d of %d splits, max rel L2 %.2e%n", k.name(), n, t,
                    SplitKAttention.splits(n, splitK.maxSplits()), splitK.maxSplits(), worst);
            return worst;
        } finally {
            for (DeviceBuffer x : List.of(kc, vc, qd, md, paged, split)) device.free(x);
        }
    }

    static float[] bf16ToHost(CudaDevice device, DeviceBuffer b, int count) {
        int[] packed = new int[(count + 1) / 2];
        device.copyToHost(packed, b, packed.length);
        float[] out = new float[count];
        for (int i = 0; i < count; i++) out[i] = Float.intBitsToFloat(((packed[i / 2] >>> (16 * (i & 1))) & 0xffff) << 16);
        return out;
    }

    /** Decode ms/token at 128 and 4096 tokens of context, attention_paged vs split-K, random weights. */
    static void decode(CudaDevice device, Cublas cublas, ModelConfig c, String label) {
        DeviceWeights w = DeviceWeights.random(device, c, 1);
        int[] contexts = {128, 4096};
        int steps = 64;
        double[][] ms = new double[2][contexts.length];
        float[][][] firstLogits = new float[2][contexts.length][];
        int[][][] tokens = new int[2][contexts.length][steps];
        try {
            for (int variant = 0; variant < 2; variant++) {
                System.setProperty(SplitKAttention.DISABLE_PROPERTY, String.valueOf(variant == 0));
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
        }
        for (int ci = 0; ci < contexts.length; ci++) {
            double[] e = GpuCheck.compare(new float[][]{firstLogits[0][ci]}, new float[][]{firstLogits[1][ci]});
            int same = 0;
            while (same < steps && tokens[0][ci][same] == tokens[1][ci][same]) same++;
            GpuCheck.emit(String.format("{\"check\":\"splitk-decode\",\"model\":\"%s\",\"context\":%d,\"paged_ms\":%.3f,\"splitk_ms\":%.3f,"
                            + "\"speedup\":%.2f,\"logits_rel_l2\":%.2e,\"greedy_equal_prefix\":%d,\"steps\":%d}", label, contexts[ci],
                    ms[0][ci], ms[1][ci], ms[0][ci] / ms[1][ci], e[0], same, steps));
        }
    }
}
