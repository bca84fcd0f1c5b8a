package io.specdec.cuda.check;

import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.ModelConfig;
import io.specdec.cuda.Cublas;
import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.CudaTransformer;
import io.specdec.cuda.DeviceWeights;

import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;

/**
 * GpuCheck mode {@code persistent CONFIG LABEL} (run with {@code -Dspecdec.cuda.persistentDecode=true}): the persistent
 * decode kernel against the graph path on random bf16 weights of a config's shape, one model, toggled with
 * {@link CudaTransformer#usePersistentDecode}. Checks that greedy decode steps give the same logits bit for bit after a
 * 128-token prompt and after a 1,000-token one (many attention splits), and that a 12-token verify pass (graph path)
 * equals 12 persistent decode steps; then times graph decode both ways in interleaved rounds (128-token prompt, 256
 * steps; the graph path here has 8 warps on every tile, as the persistent kernel's bits need).
 */
final class PersistentCheck {
    private PersistentCheck() {
    }

    static void run(CudaDevice device, Cublas cublas, Path configJson, String label) {
        ModelConfig c = GpuCheck.configOf(configJson);
        DeviceWeights w = DeviceWeights.random(device, c, 1);
        try (CudaTransformer m = new CudaTransformer(device, cublas, c, w, 1400, 16)) {
            if (!m.persistentDecode()) {
                GpuCheck.emit("{\"check\":\"persistent-" + label + "\",\"error\":\"persistent decode not set up (see log)\",\"pass\":false}");
                return;
            }
            SplittableRandom r = new SplittableRandom(7);
            for (int promptLen : new int[]{128, 1000}) {
                int steps = promptLen == 128 ? 48 : 8;
                int[] prompt = r.ints(promptLen, 0, c.vocabSize()).toArray();
                float[][][] logits = new float[3][][];
                int[][] ids = new int[3][];
                long[] pending = new long[3];
                for (int path = 0; path < 3; path++) {   // graph, persistent, graph again (state left behind?)
                    m.usePersistentDecode(path == 1);
                    KvSequence s = m.newSequence();
                    int next = m.forwardArgmax(List.of(SequenceInput.chainLastLogits(s, prompt)))[0];
                    logits[path] = new float[steps][];
                    ids[path] = new int[steps];
                    for (int i = 0; i < steps; i++) {
                        logits[path][i] = m.forward(SequenceInput.chainLastLogits(s, new int[]{next}))[0];
                        next = GpuCheck.argmax(logits[path][i]);
                        ids[path][i] = next;
                    }
                    pending[path] = m.pendingAttentionMerges();
                    s.release();
                }
                double diff = maxAbsDiff(logits[0], logits[1]), after = maxAbsDiff(logits[0], logits[2]);
                boolean sameIds = java.util.Arrays.equals(ids[0], ids[1]);
                GpuCheck.emit(String.format("{\"check\":\"persistent-equals-graph-%s-prompt%d\",\"steps\":%d,"
                                + "\"max_abs_diff\":%.3e,\"bitwise\":%b,\"same_ids\":%b,\"pending_merges\":[%d,%d,%d],\"graph_after_diff\":%.3e,\"flags\":%d,\"pass\":%b}",
                        label, promptLen, steps, diff, diff == 0, sameIds, pending[0], pending[1], pending[2], after,
                        Integer.getInteger(io.specdec.cuda.PersistentDecode.FLAGS_PROPERTY, 0),
                        diff == 0 && after == 0 && sameIds && pending[0] == 0 && pending[1] == 0 && pending[2] == 0));
            }
            verifyEqualsDecode(m, c, r, label);
            timing(device, c, w, m, label);
        } finally {
            w.free(device);
        }
    }

    /** A 12-token verify pass on the graph path against 12 persistent decode steps at the same positions. */
    private static void verifyEqualsDecode(CudaTransformer m, ModelConfig c, SplittableRandom r, String label) {
        m.usePersistentDecode(true);
        KvSequence s = m.newSequence();
        m.forwardArgmax(List.of(SequenceInput.chainLastLogits(s, r.ints(128, 0, c.vocabSize()).toArray())));
        int[] toks = r.ints(12, 0, c.vocabSize()).toArray();
        int len = s.length();
        float[][] stepwise = new float[toks.length][];
        for (int i = 0; i < toks.length; i++) stepwise[i] = m.forward(SequenceInput.chainLastLogits(s, new int[]{toks[i]}))[0];
        s.truncate(len);
        float[][] verify = m.forward(SequenceInput.chainAllLogits(s, toks));
        s.release();
        double diff = maxAbsDiff(verify, stepwise);
        GpuCheck.emit(String.format("{\"check\":\"verify-equals-persistent-decode-%s\",\"rows\":%d,\"max_abs_diff\":%.3e,"
                + "\"bitwise\":%b,\"pass\":%b}", label, toks.length, diff, diff == 0, diff == 0));
    }

    /** Graph decode ms/token on each path, three interleaved rounds (decode-bench lines, gemm = the path). */
    private static void timing(CudaDevice device, ModelConfig c, DeviceWeights w, CudaTransformer m, String label) {
        double bw = GpuCheck.copyBandwidth(device);
        long readBytes = w.matrixBytes() - (c.tiedEmbeddings() ? 0 : 2L * c.vocabSize() * c.dim());
        for (int round = 1; round <= 3; round++) {
            for (int path = 0; path < 2; path++) {
                m.usePersistentDecode(path == 1);
                GpuCheck.benchVariant(device, c, w, m, label, (path == 1 ? "persistent" : "graph-8-warps") + "-round" + round,
                        128, 256, bw, readBytes, 2 * c.parameterCount(), 0);
            }
        }
        m.usePersistentDecode(true);
        if (m.persistentTrace() != null) phases(m, c, label);
    }

    /** Where a persistent step's time goes ({@link io.specdec.cuda.PersistentDecode#TRACE_PROPERTY}): µs per phase. */
    private static void phases(CudaTransformer m, ModelConfig c, String label) {
        KvSequence s = m.newSequence();
        int next = m.forwardArgmax(List.of(SequenceInput.chainLastLogits(s, new SplittableRandom(3).ints(128, 0, c.vocabSize()).toArray())))[0];
        List<String> names = io.specdec.cuda.PersistentDecode.PHASES;
        double[][] us = new double[names.size()][c.layers() * 16];
        for (int step = 0; step < 16; step++) {
            next = m.forwardArgmax(List.of(SequenceInput.chainLastLogits(s, new int[]{next})))[0];
            long[] at = m.persistentTrace();
            for (int k = 0; k < at.length; k++) us[k % names.size()][step * c.layers() + k / names.size()] = (at[k] - (k == 0 ? 0 : at[k - 1])) / 1e3;
        }
        s.release();
        StringBuilder json = new StringBuilder("{\"check\":\"persistent-phases-" + label + "\",\"unit\":\"us median over layers and 16 steps\"");
        double total = 0;
        for (int p = 0; p < names.size(); p++) {
            double[] v = us[p].clone();
            java.util.Arrays.sort(v);
            total += v[v.length / 2];
            json.append(String.format(",\"%s\":%.2f", names.get(p), v[v.length / 2]));
        }
        GpuCheck.emit(json.append(String.format(",\"layer\":%.2f,\"pass\":true}", total)).toString());
    }

    private static double maxAbsDiff(float[][] a, float[][] b) {
        double max = 0;
        for (int i = 0; i < Math.min(a.length, b.length); i++) {
            for (int v = 0; v < a[i].length; v++) max = Math.max(max, Math.abs(a[i][v] - b[i][v]));
        }
        return max;
    }
}
