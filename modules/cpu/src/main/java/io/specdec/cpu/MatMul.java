package io.specdec.cpu;

import io.specdec.core.tensor.Tensor;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * {@code out[t][o] = sum_i W[o][i] * x[t][i]} for a batch of T activation rows, split over the executor by output
 * rows. One token: a streaming dot product per weight row (memory-bound). Several tokens: each group of four
 * weight rows is expanded to floats once and multiplied with four tokens at a time from registers, so the weights
 * are read from memory once per batch (prefill and verification become compute-bound).
 */
final class MatMul {
    private static final VectorSpecies<Float> F = WeightRows.F;
    private static final int L = WeightRows.L;
    private static final int ROWS = 4;
    private static final int TOKENS = 4;

    private MatMul() {
    }

    /**
     * @param x   T rows of {@code w.columns()} floats, row-major
     * @param out T rows of {@code w.rows()} floats, row-major (overwritten)
     */
    static void apply(ParallelExecutor executor, Tensor w, float[] x, int tokens, float[] out) {
        int rows = w.rows();
        int in = w.columns();
        if (tokens == 1) {
            // at least ~256 KiB of weights per chunk: waking a worker for less costs more than it saves
            long rowBytes = Math.max(1, w.data().byteSize() / rows);
            int grain = (int) Math.max(16, (256 << 10) / rowBytes);
            executor.parallelFor(rows, grain, (start, end) -> WeightRows.matVec(w, x, out, start, end));
            return;
        }
        int groups = (rows + ROWS - 1) / ROWS;
        // at least ~2 MFLOP per chunk
        int grain = (int) Math.max(1, (1L << 21) / Math.max(1L, 2L * ROWS * in * tokens));
        executor.parallelFor(groups, grain, (start, end) -> {
            float[] scratch = new float[ROWS * in];
            for (int g = start; g < end; g++) {
                int r0 = g * ROWS;
                int n = Math.min(ROWS, rows - r0);
                for (int k = 0; k < n; k++) WeightRows.expand(w, r0 + k, scratch, k * in);
                if (n < ROWS) java.util.Arrays.fill(scratch, n * in, ROWS * in, 0f);
                int t = 0;
                for (; t + TOKENS <= tokens; t += TOKENS) tile4x4(scratch, x, t, in, out, rows, r0, n);
                for (; t < tokens; t++) tile4x1(scratch, x, t, in, out, rows, r0, n);
            }
        });
    }

    private static void tile4x4(float[] w, float[] x, int t, int in, float[] out, int rows, int r0, int n) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        int x0 = t * in, x1 = x0 + in, x2 = x1 + in, x3 = x2 + in;
        int i = 0;
        for (; i <= in - L; i += L) {
            FloatVector w0 = FloatVector.fromArray(F, w, i);
            FloatVector w1 = FloatVector.fromArray(F, w, in + i);
            FloatVector w2 = FloatVector.fromArray(F, w, 2 * in + i);
            FloatVector w3 = FloatVector.fromArray(F, w, 3 * in + i);
            FloatVector v = FloatVector.fromArray(F, x, x0 + i);
            c00 = w0.fma(v, c00); c10 = w1.fma(v, c10); c20 = w2.fma(v, c20); c30 = w3.fma(v, c30);
            v = FloatVector.fromArray(F, x, x1 + i);
            c01 = w0.fma(v, c01); c11 = w1.fma(v, c11); c21 = w2.fma(v, c21); c31 = w3.fma(v, c31);
            v = FloatVector.fromArray(F, x, x2 + i);
            c02 = w0.fma(v, c02); c12 = w1.fma(v, c12); c22 = w2.fma(v, c22); c32 = w3.fma(v, c32);
            v = FloatVector.fromArray(F, x, x3 + i);
            c03 = w0.fma(v, c03); c13 = w1.fma(v, c13); c23 = w2.fma(v, c23); c33 = w3.fma(v, c33);
        }
        float[][] c = {
                {VectorMath.sum(c00), VectorMath.sum(c01), VectorMath.sum(c02), VectorMath.sum(c03)},
                {VectorMath.sum(c10), VectorMath.sum(c11), VectorMath.sum(c12), VectorMath.sum(c13)},
                {VectorMath.sum(c20), VectorMath.sum(c21), VectorMath.sum(c22), VectorMath.sum(c23)},
                {VectorMath.sum(c30), VectorMath.sum(c31), VectorMath.sum(c32), VectorMath.sum(c33)}};
        for (; i < in; i++) {
            for (int r = 0; r < ROWS; r++) {
                for (int k = 0; k < TOKENS; k++) c[r][k] += w[r * in + i] * x[(t + k) * in + i];
            }
        }
        for (int r = 0; r < n; r++) {
            for (int k = 0; k < TOKENS; k++) out[(t + k) * rows + r0 + r] = c[r][k];
        }
    }

    private static void tile4x1(float[] w, float[] x, int t, int in, float[] out, int rows, int r0, int n) {
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0;
        int xo = t * in;
        int i = 0;
        for (; i <= in - L; i += L) {
            FloatVector v = FloatVector.fromArray(F, x, xo + i);
            c0 = FloatVector.fromArray(F, w, i).fma(v, c0);
            c1 = FloatVector.fromArray(F, w, in + i).fma(v, c1);
            c2 = FloatVector.fromArray(F, w, 2 * in + i).fma(v, c2);
            c3 = FloatVector.fromArray(F, w, 3 * in + i).fma(v, c3);
        }
        float[] c = {VectorMath.sum(c0), VectorMath.sum(c1),
                VectorMath.sum(c2), VectorMath.sum(c3)};
        for (; i < in; i++) {
            for (int r = 0; r < ROWS; r++) c[r] += w[r * in + i] * x[xo + i];
        }
        for (int r = 0; r < n; r++) out[t * rows + r0 + r] = c[r];
    }
}
