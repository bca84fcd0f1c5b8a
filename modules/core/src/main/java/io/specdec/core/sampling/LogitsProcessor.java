package io.specdec.core.sampling;

import java.util.Arrays;

/**
 * Turns one row of logits into the probability distribution a request samples from, in a fixed order: repetition
 * penalty (whole context), presence/frequency penalties (generated tokens), temperature, top-k, top-p, min-p.
 * Greedy requests get a one-hot distribution at the argmax of the penalized logits, so the speculative code can treat
 * both modes as "a distribution". The same processor scores target and draft rows (docs/ALGORITHMS.md §1).
 * Stateless apart from its parameters; safe to share.
 */
public final class LogitsProcessor {
    private final SamplingParams params;

    public LogitsProcessor(SamplingParams params) {
        this.params = params;
    }

    public SamplingParams params() { return params; }

    /** The processed distribution over {@code logits.length} tokens; the input array is not modified. */
    public double[] probabilities(float[] logits, TokenHistory history) {
        double[] x = new double[logits.length];
        for (int i = 0; i < x.length; i++) {
            float v = logits[i];
            if (Float.isNaN(v)) throw new IllegalArgumentException("logit " + i + " is NaN");
            x[i] = v;
        }
        if (params.hasPenalties()) applyPenalties(x, history);
        if (params.isGreedy()) return oneHot(x.length, argmax(x));

        double max = Double.NEGATIVE_INFINITY;
        for (double v : x) max = Math.max(max, v);
        if (max == Double.NEGATIVE_INFINITY) {
            throw new IllegalArgumentException("every logit is -infinity: nothing can be sampled");
        }
        double[] p = new double[x.length];
        double sum = 0;
        for (int i = 0; i < x.length; i++) {
            double e = Math.exp((x[i] - max) / params.temperature());
            p[i] = e;
            sum += e;
        }
        for (int i = 0; i < p.length; i++) p[i] /= sum;
        if (params.topK() > 0 || params.topP() < 1) truncateSorted(p);
        if (params.minP() > 0) applyMinP(p);
        return p;
    }

    /** Index of the largest value; the lowest index wins ties, so greedy decoding is deterministic. */
    public static int argmax(double[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    public static int argmax(float[] values) {
        int best = 0;
        for (int i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
        return best;
    }

    public static double[] oneHot(int size, int index) {
        double[] p = new double[size];
        p[index] = 1;
        return p;
    }

    private void applyPenalties(double[] x, TokenHistory history) {
        int[] tokens = history.tokens();
        if (params.repetitionPenalty() != 1 && history.length() > 0) {
            int[] distinct = Arrays.copyOf(tokens, history.length());
            Arrays.sort(distinct);
            for (int i = 0; i < distinct.length; i++) {
                if (i > 0 && distinct[i] == distinct[i - 1]) continue;
                int t = distinct[i];
                if (t < 0 || t >= x.length) continue;
                x[t] = x[t] > 0 ? x[t] / params.repetitionPenalty() : x[t] * params.repetitionPenalty();
            }
        }
        if ((params.presencePenalty() != 0 || params.frequencyPenalty() != 0) && history.generatedCount() > 0) {
            int[] generated = Arrays.copyOfRange(tokens, history.promptLength(), history.length());
            Arrays.sort(generated);
            for (int i = 0; i < generated.length; ) {
                int t = generated[i];
                int j = i;
                while (j < generated.length && generated[j] == t) j++;
                if (t >= 0 && t < x.length) x[t] -= params.presencePenalty() + params.frequencyPenalty() * (j - i);
                i = j;
            }
        }
    }

    /** Top-k then top-p over the tokens sorted by probability (ties: lower index first); renormalizes. */
    private void truncateSorted(double[] p) {
        // Sort key: the probability's float bits (monotone for non-negative floats) above the inverted index.
        long[] keys = new long[p.length];
        for (int i = 0; i < p.length; i++) {
            keys[i] = ((long) Float.floatToIntBits((float) p[i]) << 32) | (Integer.MAX_VALUE - i);
        }
        Arrays.sort(keys);
        int keep = params.topK() > 0 ? Math.min(params.topK(), p.length) : p.length;
        if (params.topP() < 1) {
            // top-p measures mass within the top-k survivors (renormalized), as HF and vLLM do
            double keptMass = 0;
            for (int n = 0; n < keep; n++) keptMass += p[indexOf(keys[keys.length - 1 - n])];
            double cumulative = 0;
            int n = 0;
            while (n < keep) {
                cumulative += p[indexOf(keys[keys.length - 1 - n])];
                n++;
                if (cumulative >= params.topP() * keptMass) break;
            }
            keep = n;
        }
        double[] kept = new double[p.length];
        double sum = 0;
        for (int n = 0; n < keep; n++) {
            int i = indexOf(keys[keys.length - 1 - n]);
            kept[i] = p[i];
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) p[i] = kept[i] / sum;
    }

    private static int indexOf(long key) {
        return Integer.MAX_VALUE - (int) (key & 0xFFFFFFFFL);
    }

    private void applyMinP(double[] p) {
        double max = 0;
        for (double v : p) max = Math.max(max, v);
        double threshold = params.minP() * max;
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            if (p[i] < threshold) p[i] = 0;
            sum += p[i];
        }
        for (int i = 0; i < p.length; i++) p[i] /= sum;
    }
}
