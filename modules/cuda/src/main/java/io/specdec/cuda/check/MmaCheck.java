package io.specdec.cuda.check;

import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.ModelConfig;
import io.specdec.cuda.Cublas;
import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.CudaTransformer;
import io.specdec.cuda.DeviceWeights;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;

/**
 * GpuCheck mode {@code mma CONFIG LABEL}: verify-sized forwards (1..16 tokens, every row's argmax, CUDA graphs on) with
 * the matmuls on the CUDA-core GEMV vs the tensor-core skinny GEMM, on random bf16 weights of a config's shape after a
 * 128-token prompt. Prints per size the median ms of each path and its cost relative to a GEMV decode step (the
 * speculative bound assumes 1.0), and the two paths' logits against each other (relative L2, argmax agreement); then
 * that a verify row equals its decode step on each path, and that the tensor-core path's logits are the same bits with
 * SwiGLU in the gate/up epilogue as with swiglu_bf16.
 */
final class MmaCheck {
    private MmaCheck() {
    }

    /** Tokens of the verify passes checked against decode steps: two token groups (9..16 take gemm_skinny_mma16). */
    private static final int VERIFY = 12;

    static void run(CudaDevice device, Cublas cublas, Path configJson, String label) {
        ModelConfig c = GpuCheck.configOf(configJson);
        DeviceWeights w = DeviceWeights.random(device, c, 1);
        try (CudaTransformer m = new CudaTransformer(device, cublas, c, w, 512, 16)) {
            SplittableRandom r = new SplittableRandom(5);
            int[] prompt = r.ints(128, 0, c.vocabSize()).toArray();
            KvSequence s = m.newSequence();
            m.forwardArgmax(List.of(SequenceInput.chainLastLogits(s, prompt)));
            // 12: verify passes of 9..16 tokens take the two-group kernels (gemm_skinny_mma16), whose second group
            // must add up as a decode step does too
            int[] toks = r.ints(VERIFY, 0, c.vocabSize()).toArray();
            int[] eight = Arrays.copyOf(toks, 8);
            double[][] ms = new double[2][17];
            for (int path = 0; path < 2; path++) {
                m.useTensorCoresFrom(path == 0 ? 0 : 1);
                for (int t = 1; t <= 16; t++) ms[path][t] = medianMs(m, s, r.ints(t, 0, c.vocabSize()).toArray());
            }
            // the same 8-token forward on both paths: logits of every row
            m.useTensorCoresFrom(0);
            float[][] gemv = forwardAll(m, s, eight);
            m.useTensorCoresFrom(1);
            float[][] mma = forwardAll(m, s, eight);
            m.useTensorCoresFrom(0);
            double maxRel = 0;
            int agree = 0;
            for (int i = 0; i < 8; i++) {
                maxRel = Math.max(maxRel, relL2(mma[i], gemv[i]));
                if (GpuCheck.argmax(mma[i]) == GpuCheck.argmax(gemv[i])) agree++;
            }
            // what speculative greedy == target greedy needs: a verify row equals the decode step at its position
            for (int path = 0; path < 2; path++) {
                m.useTensorCoresFrom(path == 0 ? 0 : 1);
                int len = s.length();
                float[][] stepwise = new float[VERIFY][];
                for (int i = 0; i < VERIFY; i++) stepwise[i] = m.forward(SequenceInput.chainLastLogits(s, new int[]{toks[i]}))[0];
                s.truncate(len);
                float[][] verify = forwardAll(m, s, toks);
                double maxAbs = maxAbsDiff(verify, stepwise);
                GpuCheck.emit(String.format("{\"check\":\"verify-equals-decode-%s-%s\",\"path\":\"%s\",\"rows\":" + VERIFY + ","
                        + "\"max_abs_diff\":%.3e,\"bitwise\":%b,\"pass\":%b}", label, path == 0 ? "gemv" : "mma",
                        path == 0 ? "gemv" : "mma (decode too)", maxAbs, maxAbs == 0, maxAbs == 0));
            }
            // SwiGLU in the gate/up epilogue (on by default where the MLP is at most 8192 wide) vs its own kernel: the same bits for a decode step and a verify pass
            m.useTensorCoresFrom(1);
            boolean epilogueDefault = m.swigluEpilogue();
            float[][][] byEpilogue = new float[2][][];
            for (int e = 0; e < 2; e++) {
                m.useSwigluEpilogue(e == 1);
                float[][] verify = forwardAll(m, s, toks);
                float[][] rows = Arrays.copyOf(verify, VERIFY + 1);
                rows[VERIFY] = forwardAll(m, s, new int[]{toks[0]})[0];
                byEpilogue[e] = rows;
            }
            m.useSwigluEpilogue(epilogueDefault);
            double epilogueDiff = maxAbsDiff(byEpilogue[1], byEpilogue[0]);
            GpuCheck.emit(String.format("{\"check\":\"swiglu-epilogue-equals-kernel-%s\",\"rows\":\"" + VERIFY + " verify + 1 decode\","
                    + "\"max_abs_diff\":%.3e,\"bitwise\":%b,\"pass\":%b}", label, epilogueDiff, epilogueDiff == 0, epilogueDiff == 0));
            m.useTensorCoresFrom(0);
            double decode = ms[0][1];
            for (int t = 1; t <= 16; t++) {
                GpuCheck.emit(String.format("{\"check\":\"mma-verify-%s-t%d\",\"model\":\"%s\",\"tokens\":%d,\"gemv_ms\":%.4f,"
                                + "\"mma_ms\":%.4f,\"mma_speedup\":%.3f,\"gemv_vs_decode\":%.3f,\"mma_vs_decode\":%.3f,\"pass\":true}",
                        label, t, label, t, ms[0][t], ms[1][t], ms[0][t] / ms[1][t], ms[0][t] / decode, ms[1][t] / decode));
            }
            GpuCheck.emit(String.format("{\"check\":\"mma-vs-gemv-logits-%s\",\"tokens\":8,\"max_rel_l2\":%.3e,"
                    + "\"argmax_equal\":%d,\"rows\":8,\"pass\":%b}", label, maxRel, agree, maxRel < 1e-2 && agree >= 7));
            s.release();
        } finally {
            w.free(device);
        }
    }

    /** Median ms of a forward of {@code tokens} (argmax of every row) at the sequence's current length. */
    private static double medianMs(CudaTransformer m, KvSequence s, int[] tokens) {
        int len = s.length();
        double[] t = new double[25];
        for (int rep = 0; rep < t.length + 3; rep++) {
            long t0 = System.nanoTime();
            m.forwardArgmax(List.of(SequenceInput.chainAllLogits(s, tokens)));
            double dt = (System.nanoTime() - t0) / 1e6;
            s.truncate(len);
            if (rep >= 3) t[rep - 3] = dt;
        }
        Arrays.sort(t);
        return t[t.length / 2];
    }

    private static float[][] forwardAll(CudaTransformer m, KvSequence s, int[] tokens) {
        int len = s.length();
        float[][] out = m.forward(SequenceInput.chainAllLogits(s, tokens));
        s.truncate(len);
        return out;
    }

    /** The largest |a - b| over every element of the rows a and b have in common. */
    private static double maxAbsDiff(float[][] a, float[][] b) {
        double max = 0;
        for (int i = 0; i < Math.min(a.length, b.length); i++) {
            for (int v = 0; v < a[i].length; v++) max = Math.max(max, Math.abs(a[i][v] - b[i][v]));
        }
        return max;
    }

    private static double relL2(float[] a, float[] b) {
        double d = 0, n = 0;
        for (int i = 0; i < a.length; i++) {
            d += (double) (a[i] - b[i]) * (a[i] - b[i]);
            n += (double) b[i] * b[i];
        }
        return Math.sqrt(d / n);
    }
}
