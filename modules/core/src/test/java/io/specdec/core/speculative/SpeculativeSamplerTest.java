package io.specdec.core.speculative;

import io.specdec.core.sampling.LogitsProcessor;
import io.specdec.core.sampling.Sampler;
import io.specdec.core.testing.ChiSquare;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

/** Chain acceptance (docs/ALGORITHMS.md §1) on explicit distributions, no model involved. */
class SpeculativeSamplerTest {
    static final int V = 6;
    static final int TRIALS = 20_000;
    /** Losslessness tests pass when the chi-square p-value exceeds this; negative controls must fall below it. */
    static final double P_THRESHOLD = 0.001;

    static double[] randomDistribution(SplittableRandom r, double scale) {
        double[] p = new double[V];
        double s = 0;
        for (int i = 0; i < V; i++) s += p[i] = Math.exp(scale * r.nextGaussian());
        for (int i = 0; i < V; i++) p[i] /= s;
        return p;
    }

    // target: p1, then p2[x1], p3[x2]; draft: q1, q2[x1], deliberately different
    final SplittableRandom r = new SplittableRandom(2024);
    final double[] p1 = randomDistribution(r, 1.2);
    final double[][] p2 = new double[V][];
    final double[][] p3 = new double[V][];
    final double[] q1 = randomDistribution(r, 1.5);
    final double[][] q2 = new double[V][];

    {
        for (int i = 0; i < V; i++) {
            p2[i] = randomDistribution(r, 1.2);
            p3[i] = randomDistribution(r, 1.2);
            q2[i] = randomDistribution(r, 1.5);
        }
    }

    double[] pairDistribution() {
        double[] e = new double[V * V];
        for (int a = 0; a < V; a++) for (int b = 0; b < V; b++) e[a * V + b] = p1[a] * p2[a][b];
        return e;
    }

    /** Runs one round and, if it emitted a single token, draws the second from the target as the next round would. */
    int[] firstTwo(ChainDraft draft, Sampler s) {
        int[] x = draft.tokens();
        SpeculativeSampler.Outcome o = SpeculativeSampler.verify(draft,
                i -> i == 0 ? p1 : i == 1 ? p2[x[0]] : p3[x[1]], false, s);
        int first = o.emitted()[0];
        int second = o.emitted().length > 1 ? o.emitted()[1] : s.sample(p2[first]);
        return new int[] {first, second};
    }

    @Test
    void speculativeSamplingFirstTokenMatchesTargetDistribution() {
        Sampler s = Sampler.seeded(1L);
        long[] first = new long[V];
        long[] pairs = new long[V * V];
        for (int t = 0; t < TRIALS; t++) {
            int x1 = s.sample(q1);
            int x2 = s.sample(q2[x1]);
            int[] y = firstTwo(new ChainDraft(new int[] {x1, x2}, new double[][] {q1, q2[x1]}), s);
            first[y[0]]++;
            pairs[y[0] * V + y[1]]++;
        }
        ChiSquare.Result one = ChiSquare.test(first, p1);
        ChiSquare.Result two = ChiSquare.test(pairs, pairDistribution());
        assertThat(one.pValue()).as("first token %s", one).isGreaterThan(P_THRESHOLD);
        assertThat(two.pValue()).as("pairs %s", two).isGreaterThan(P_THRESHOLD);
    }

    @Test
    void deterministicProposalsAreLossless() {
        Sampler s = Sampler.seeded(2L);
        long[] pairs = new long[V * V];
        int accepted = 0;
        for (int t = 0; t < TRIALS; t++) {
            // a fixed guess, like prompt lookup: q is a point mass
            SpeculativeSampler.Outcome o = SpeculativeSampler.verify(ChainDraft.deterministic(new int[] {2, 4}),
                    i -> i == 0 ? p1 : i == 1 ? p2[2] : p3[4], false, s);
            accepted += o.accepted() > 0 ? 1 : 0;
            int a = o.emitted()[0];
            int b = o.emitted().length > 1 ? o.emitted()[1] : s.sample(p2[a]);
            pairs[a * V + b]++;
        }
        assertThat(ChiSquare.test(pairs, pairDistribution()).pValue()).isGreaterThan(P_THRESHOLD);
        assertThat((double) accepted / TRIALS).isCloseTo(p1[2], within(0.02));
    }

    @Test
    void negativeControlGreedyDraftWithSoftmaxQIsRejected() {
        // Not lossless: the draft takes argmax q but the ratio uses softmax q as if x had been sampled from it.
        Sampler s = Sampler.seeded(3L);
        long[] first = new long[V];
        for (int t = 0; t < TRIALS; t++) {
            int x1 = LogitsProcessor.argmax(q1);
            int x2 = LogitsProcessor.argmax(q2[x1]);
            first[firstTwo(new ChainDraft(new int[] {x1, x2}, new double[][] {q1, q2[x1]}), s)[0]]++;
        }
        ChiSquare.Result result = ChiSquare.test(first, p1);
        assertThat(result.pValue()).as("%s", result).isLessThan(P_THRESHOLD);
    }

    @Test
    void greedyAcceptsUpToTheFirstMismatchThenEmitsTheTargetArgmax() {
        double[][] rows = {
                LogitsProcessor.oneHot(V, 3), LogitsProcessor.oneHot(V, 1), LogitsProcessor.oneHot(V, 5), LogitsProcessor.oneHot(V, 0)};
        SpeculativeSampler.Outcome o = SpeculativeSampler.verify(
                new ChainDraft(new int[] {3, 1, 2}, new double[][] {q1, q1, q1}), i -> rows[i], true, Sampler.seeded(0L));
        assertThat(o.accepted()).isEqualTo(2);
        assertThat(o.emitted()).containsExactly(3, 1, 5);

        SpeculativeSampler.Outcome all = SpeculativeSampler.verify(ChainDraft.deterministic(new int[] {3, 1, 5}),
                i -> rows[i], true, Sampler.seeded(0L));
        assertThat(all.accepted()).isEqualTo(3);
        assertThat(all.emitted()).containsExactly(3, 1, 5, 0);
    }

    @Test
    void emptyDraftSamplesFromTheFirstRow() {
        SpeculativeSampler.Outcome o = SpeculativeSampler.verify(ChainDraft.empty(),
                i -> LogitsProcessor.oneHot(V, 4), false, Sampler.seeded(0L));
        assertThat(o.accepted()).isZero();
        assertThat(o.emitted()).containsExactly(4);
    }

    @Test
    void rowsAfterARejectionAreNeverProcessed() {
        int[] asked = new int[1];
        SpeculativeSampler.verify(ChainDraft.deterministic(new int[] {0, 0, 0}),
                i -> { asked[0] = Math.max(asked[0], i); return LogitsProcessor.oneHot(V, 1); }, false, Sampler.seeded(0L));
        assertThat(asked[0]).isZero();
    }
}
