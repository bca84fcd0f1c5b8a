package io.specdec.core.sampling;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class LogitsProcessorTest {
    private static final float[] LOGITS = {1.0f, 3.0f, 2.0f, -1.0f, 0.5f};

    private static double[] softmax(double[] x, double t) {
        double max = Double.NEGATIVE_INFINITY;
        for (double v : x) max = Math.max(max, v);
        double[] p = new double[x.length];
        double s = 0;
        for (int i = 0; i < x.length; i++) s += p[i] = Math.exp((x[i] - max) / t);
        for (int i = 0; i < x.length; i++) p[i] /= s;
        return p;
    }

    private static double[] process(SamplingParams params, float[] logits, TokenHistory h) {
        return new LogitsProcessor(params).probabilities(logits, h);
    }

    @Test
    void greedyIsOneHotAtTheArgmaxLowestIndexWinningTies() {
        assertThat(process(SamplingParams.greedy(), LOGITS, TokenHistory.empty())).containsExactly(0, 1, 0, 0, 0);
        assertThat(process(SamplingParams.greedy(), new float[] {2, 5, 5}, TokenHistory.empty())).containsExactly(0, 1, 0);
    }

    @Test
    void temperatureScalesLogitsBeforeSoftmax() {
        double[] expected = softmax(new double[] {1, 3, 2, -1, 0.5}, 0.5);
        double[] p = process(SamplingParams.defaults().withTemperature(0.5), LOGITS, TokenHistory.empty());
        for (int i = 0; i < p.length; i++) assertThat(p[i]).isCloseTo(expected[i], within(1e-12));
    }

    @Test
    void topKKeepsTheKMostLikelyRenormalized() {
        double[] p = process(SamplingParams.defaults().withTopK(2), LOGITS, TokenHistory.empty());
        double[] full = softmax(new double[] {1, 3, 2, -1, 0.5}, 1);
        assertThat(p[0]).isZero();
        assertThat(p[3]).isZero();
        assertThat(p[4]).isZero();
        assertThat(p[1]).isCloseTo(full[1] / (full[1] + full[2]), within(1e-12));
    }

    @Test
    void topPKeepsTheSmallestSetReachingP() {
        double[] full = softmax(new double[] {1, 3, 2, -1, 0.5}, 1);
        // full ≈ [0.087, 0.644, 0.237, 0.012, 0.053]: 0.644 < 0.8 <= 0.644 + 0.237
        double[] p = process(SamplingParams.defaults().withTopP(0.8), LOGITS, TokenHistory.empty());
        assertThat(p[1]).isCloseTo(full[1] / (full[1] + full[2]), within(1e-12));
        assertThat(p[0] + p[3] + p[4]).isZero();
        double[] one = process(SamplingParams.defaults().withTopP(0.5), LOGITS, TokenHistory.empty());
        assertThat(one).containsExactly(0, 1, 0, 0, 0);
    }

    @Test
    void topPAfterTopKMeasuresMassWithinTheSurvivors() {
        // top-2 renormalized ≈ [0.731, 0.269]; top-p 0.7 then keeps only the first
        double[] p = process(SamplingParams.defaults().withTopK(2).withTopP(0.7), LOGITS, TokenHistory.empty());
        assertThat(p).containsExactly(0, 1, 0, 0, 0);
    }

    @Test
    void minPDropsTokensBelowAFractionOfTheMostLikely() {
        double[] full = softmax(new double[] {1, 3, 2, -1, 0.5}, 1);
        double[] p = process(SamplingParams.defaults().withMinP(0.2), LOGITS, TokenHistory.empty());
        // threshold 0.2 * 0.644 = 0.129: keeps tokens 1 and 2
        assertThat(p[0] + p[3] + p[4]).isZero();
        assertThat(p[2]).isCloseTo(full[2] / (full[1] + full[2]), within(1e-12));
    }

    @Test
    void repetitionPenaltyDividesPositiveAndMultipliesNegativeLogitsOfContextTokensOnce() {
        SamplingParams params = SamplingParams.builder().temperature(1).repetitionPenalty(2).build();
        // token 1 (logit 3) appears twice, token 3 (logit -1) once, in the prompt
        TokenHistory h = TokenHistory.of(new int[] {1, 3, 1}, 3);
        double[] p = process(params, LOGITS, h);
        double[] expected = softmax(new double[] {1, 1.5, 2, -2, 0.5}, 1);
        for (int i = 0; i < p.length; i++) assertThat(p[i]).isCloseTo(expected[i], within(1e-12));
    }

    @Test
    void presenceAndFrequencyPenaltiesCountGeneratedTokensOnly() {
        SamplingParams params = SamplingParams.builder().presencePenalty(0.5).frequencyPenalty(0.25).build();
        // prompt [2], generated [1, 1, 4]
        TokenHistory h = TokenHistory.of(new int[] {2, 1, 1, 4}, 1);
        double[] p = process(params, LOGITS, h);
        double[] expected = softmax(new double[] {1, 3 - 0.5 - 0.5, 2, -1, 0.5 - 0.5 - 0.25}, 1);
        for (int i = 0; i < p.length; i++) assertThat(p[i]).isCloseTo(expected[i], within(1e-12));
    }

    @Test
    void greedyAppliesPenaltiesBeforeTheArgmax() {
        SamplingParams params = SamplingParams.greedy().toBuilder().repetitionPenalty(2).build();
        // token 1: 3 -> 1.5 < 2 (token 2)
        assertThat(process(params, LOGITS, TokenHistory.of(new int[] {1}, 1))).containsExactly(0, 0, 1, 0, 0);
    }

    @Test
    void historyViewSeesOnlyItsLength() {
        SamplingParams params = SamplingParams.builder().repetitionPenalty(2).build();
        int[] tokens = {0, 1};
        double[] seesOnlyZero = process(params, LOGITS, new TokenHistory(tokens, 1, 1));
        double[] expected = softmax(new double[] {0.5, 3, 2, -1, 0.5}, 1);
        for (int i = 0; i < expected.length; i++) assertThat(seesOnlyZero[i]).isCloseTo(expected[i], within(1e-12));
    }

    @Test
    void negativeInfinityLogitsGetZeroProbabilityAndNanIsRejected() {
        double[] p = process(SamplingParams.defaults(), new float[] {0, Float.NEGATIVE_INFINITY, 0}, TokenHistory.empty());
        assertThat(p).containsExactly(0.5, 0, 0.5);
        assertThatThrownBy(() -> process(SamplingParams.defaults(), new float[] {0, Float.NaN}, TokenHistory.empty()))
                .hasMessageContaining("NaN");
    }
}
