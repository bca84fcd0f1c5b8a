package io.specdec.cpu;

import io.specdec.core.model.LayerWeights;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.tensor.Tensor;

/**
 * The transformer written the plainest way, in doubles, recomputing the whole sequence without a cache: an
 * independent reference for the optimized CPU forward (vector kernels, paged KV, batching, masks).
 */
final class ScalarReference {
    private final ModelConfig c;
    private final TransformerWeights w;

    ScalarReference(ModelConfig c, TransformerWeights w) {
        this.c = c;
        this.w = w;
    }

    /**
     * Logits after the last token when token i sits at position positions[i] and attends to the tokens
     * {@code visible[i]} (indices into the sequence, including itself).
     */
    double[] lastLogits(int[] tokens, int[] positions, boolean[][] visible) {
        int n = tokens.length;
        int dim = c.dim();
        double[][] x = new double[n][dim];
        for (int i = 0; i < n; i++) for (int d = 0; d < dim; d++) x[i][d] = w.tokenEmbedding().get((long) tokens[i] * dim + d);
        double[] inv = c.ropeScaling().inverseFrequencies(c.headDim(), c.ropeTheta());
        for (LayerWeights lw : w.layers()) {
            double[][] q = new double[n][], k = new double[n][], v = new double[n][];
            for (int i = 0; i < n; i++) {
                double[] h = rms(x[i], lw.attentionNorm());
                q[i] = add(matvec(lw.wq(), h), lw.bq());
                k[i] = add(matvec(lw.wk(), h), lw.bk());
                v[i] = add(matvec(lw.wv(), h), lw.bv());
                if (lw.qNorm() != null) perHead(q[i], lw.qNorm());
                if (lw.kNorm() != null) perHead(k[i], lw.kNorm());
                rope(q[i], positions[i], inv);
                rope(k[i], positions[i], inv);
            }
            int hd = c.headDim();
            int group = c.heads() / c.kvHeads();
            for (int i = 0; i < n; i++) {
                double[] att = new double[c.queryDim()];
                for (int h = 0; h < c.heads(); h++) {
                    int kvh = h / group;
                    double[] s = new double[n];
                    double max = Double.NEGATIVE_INFINITY;
                    for (int j = 0; j < n; j++) {
                        boolean ok = visible[i][j] && (c.slidingWindow() == 0 || positions[i] - positions[j] < c.slidingWindow());
                        if (!ok) { s[j] = Double.NEGATIVE_INFINITY; continue; }
                        double dot = 0;
                        for (int d = 0; d < hd; d++) dot += q[i][h * hd + d] * k[j][kvh * hd + d];
                        s[j] = dot / Math.sqrt(hd);
                        max = Math.max(max, s[j]);
                    }
                    double sum = 0;
                    for (int j = 0; j < n; j++) { s[j] = s[j] == Double.NEGATIVE_INFINITY ? 0 : Math.exp(s[j] - max); sum += s[j]; }
                    for (int j = 0; j < n; j++) for (int d = 0; d < hd; d++) att[h * hd + d] += s[j] / sum * v[j][kvh * hd + d];
                }
                double[] o = matvec(lw.wo(), att);
                for (int d = 0; d < dim; d++) x[i][d] += o[d];
            }
            for (int i = 0; i < n; i++) {
                double[] h = rms(x[i], lw.ffnNorm());
                double[] g = matvec(lw.wGate(), h);
                double[] u = matvec(lw.wUp(), h);
                for (int j = 0; j < g.length; j++) g[j] = g[j] / (1 + Math.exp(-g[j])) * u[j];
                double[] o = matvec(lw.wDown(), g);
                for (int d = 0; d < dim; d++) x[i][d] += o[d];
            }
        }
        return matvec(w.output(), rms(x[n - 1], w.finalNorm()));
    }

    private double[] rms(double[] x, Tensor weight) {
        double ss = 0;
        for (double v : x) ss += v * v;
        double scale = 1 / Math.sqrt(ss / x.length + c.rmsNormEps());
        double[] out = new double[x.length];
        for (int i = 0; i < x.length; i++) out[i] = x[i] * scale * weight.get(i);
        return out;
    }

    private void perHead(double[] y, Tensor weight) {
        int hd = c.headDim();
        for (int h = 0; h < y.length / hd; h++) {
            double[] head = java.util.Arrays.copyOfRange(y, h * hd, (h + 1) * hd);
            System.arraycopy(rms(head, weight), 0, y, h * hd, hd);
        }
    }

    private void rope(double[] y, int pos, double[] inv) {
        int hd = c.headDim();
        for (int h = 0; h < y.length / hd; h++) {
            for (int j = 0; j < hd / 2; j++) {
                int a = c.ropeStyle() == RopeStyle.INTERLEAVED ? h * hd + 2 * j : h * hd + j;
                int b = c.ropeStyle() == RopeStyle.INTERLEAVED ? a + 1 : a + hd / 2;
                double cos = Math.cos(pos * inv[j]), sin = Math.sin(pos * inv[j]);
                double x0 = y[a], x1 = y[b];
                y[a] = x0 * cos - x1 * sin;
                y[b] = x0 * sin + x1 * cos;
            }
        }
    }

    private static double[] matvec(Tensor m, double[] x) {
        int rows = m.rows(), cols = m.columns();
        double[] y = new double[rows];
        for (int r = 0; r < rows; r++) {
            double s = 0;
            for (int i = 0; i < cols; i++) s += m.get((long) r * cols + i) * x[i];
            y[r] = s;
        }
        return y;
    }

    private static double[] add(double[] y, Tensor bias) {
        if (bias != null) for (int i = 0; i < y.length; i++) y[i] += bias.get(i);
        return y;
    }
}
