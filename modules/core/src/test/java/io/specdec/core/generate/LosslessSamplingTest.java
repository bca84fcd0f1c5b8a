package io.specdec.core.generate;

import io.specdec.core.sampling.LogitsProcessor;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.sampling.TokenHistory;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.NgramDrafter;
import io.specdec.core.speculative.TreeDrafter;
import io.specdec.core.testing.ChiSquare;
import io.specdec.core.testing.FakeLanguageModel;
import io.specdec.core.testing.FakeLanguageModel.LogitsFunction;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * End-to-end losslessness (docs/ALGORITHMS.md §1, §2): over {@value #TRIALS} seeded requests with a deliberately
 * mismatched draft, the first token and the first pair of tokens follow the target's own processed distribution.
 * Threshold: chi-square p-value &gt; {@value #P_THRESHOLD} (bins with expected count &lt; 5 pooled); the negative controls
 * in SpeculativeSamplerTest and TreeVerifierTest show the same statistic rejects non-lossless variants.
 */
class LosslessSamplingTest {
    static final int V = 8;
    static final int TRIALS = 20_000;
    static final double P_THRESHOLD = 0.001;
    static final LogitsFunction TARGET = FakeLanguageModel.random(V, 1.5, 21);
    static final LogitsFunction BAD_DRAFT = FakeLanguageModel.noisy(TARGET, 2.5, 22);
    static final int[] PROMPT = {1, 5, 2};

    static FakeLanguageModel model(String name, LogitsFunction f) {
        return new FakeLanguageModel(name, V, 256, Set.of(), f);
    }

    /** Counts of (first, second) output token over many seeds. */
    static long[] pairCounts(int[] prompt, SamplingParams params, Function<FakeLanguageModel, Drafter> drafter, int gamma,
                             LogitsFunction draftFunction) {
        FakeLanguageModel target = model("target", TARGET);
        FakeLanguageModel draft = model("draft", draftFunction);
        Generator generator = new Generator(target, drafter.apply(draft), GammaPolicy.fixed(gamma));
        SplittableRandom seeds = new SplittableRandom(4242);
        long[] pairs = new long[V * V];
        for (int t = 0; t < TRIALS; t++) {
            int[] out = generator.generate(prompt, params.withSeed(seeds.nextLong()).withMaxTokens(gamma + 1),
                    TokenListener.NONE).tokens();
            pairs[out[0] * V + out[1]]++;
        }
        assertThat(target.blocksInUse()).isZero();
        assertThat(draft.blocksInUse()).isZero();
        return pairs;
    }

    /** The target's own processed distribution of (first, second) token. */
    static double[] targetPairs(int[] prompt, SamplingParams params) {
        LogitsProcessor processor = new LogitsProcessor(params);
        FakeLanguageModel target = model("reference", TARGET);
        double[] first = processor.probabilities(target.logits(prompt), TokenHistory.of(prompt, prompt.length));
        double[] pairs = new double[V * V];
        for (int a = 0; a < V; a++) {
            if (first[a] == 0) continue;
            int[] extended = Arrays.copyOf(prompt, prompt.length + 1);
            extended[prompt.length] = a;
            double[] second = processor.probabilities(target.logits(extended), TokenHistory.of(extended, prompt.length));
            for (int b = 0; b < V; b++) pairs[a * V + b] = first[a] * second[b];
        }
        return pairs;
    }

    static long[] firstOf(long[] pairs) {
        long[] first = new long[V];
        for (int i = 0; i < pairs.length; i++) first[i / V] += pairs[i];
        return first;
    }

    static double[] firstOf(double[] pairs) {
        double[] first = new double[V];
        for (int i = 0; i < pairs.length; i++) first[i / V] += pairs[i];
        return first;
    }

    static void assertMatches(long[] observedPairs, double[] expectedPairs) {
        ChiSquare.Result first = ChiSquare.test(firstOf(observedPairs), firstOf(expectedPairs));
        ChiSquare.Result pairs = ChiSquare.test(observedPairs, expectedPairs);
        assertThat(first.pValue()).as("first token: %s", first).isGreaterThan(P_THRESHOLD);
        assertThat(pairs.pValue()).as("first two tokens: %s", pairs).isGreaterThan(P_THRESHOLD);
    }

    @Test
    void speculativeSamplingFirstTokenMatchesTargetDistribution() {
        SamplingParams params = SamplingParams.defaults();
        assertMatches(pairCounts(PROMPT, params, ModelDrafter::new, 3, BAD_DRAFT), targetPairs(PROMPT, params));
    }

    @Test
    void processedDistributionWithTemperatureTopKTopPMinPAndPenaltiesIsPreserved() {
        SamplingParams params = SamplingParams.builder().temperature(0.8).topK(6).topP(0.9).minP(0.02)
                .repetitionPenalty(1.3).presencePenalty(0.3).frequencyPenalty(0.2).build();
        double[] expected = targetPairs(PROMPT, params);
        assertThat(Arrays.stream(expected).filter(p -> p == 0).count()).as("truncation removes some pairs").isPositive();
        assertMatches(pairCounts(PROMPT, params, ModelDrafter::new, 3, BAD_DRAFT), expected);
    }

    @Test
    void adversarialDraftIsStillLossless() {
        SamplingParams params = SamplingParams.defaults().withTemperature(1.2);
        assertMatches(pairCounts(PROMPT, params, ModelDrafter::new, 2, FakeLanguageModel.adversarial(TARGET)),
                targetPairs(PROMPT, params));
    }

    @Test
    void treeDrafterWithSampledChildrenIsLossless() {
        SamplingParams params = SamplingParams.defaults();
        assertMatches(pairCounts(PROMPT, params, d -> new TreeDrafter(d, 3, 2), 2, BAD_DRAFT), targetPairs(PROMPT, params));
    }

    @Test
    void treeDrafterWithTopKAndTopPIsLossless() {
        SamplingParams params = SamplingParams.builder().temperature(0.7).topK(5).topP(0.95).build();
        assertMatches(pairCounts(PROMPT, params, d -> new TreeDrafter(d, 2, 2, 2), 3, BAD_DRAFT),
                targetPairs(PROMPT, params));
    }

    @Test
    void ngramDrafterUnderSamplingIsLossless() {
        int[] prompt = {1, 5, 2, 1, 5}; // "1 5" recurs: prompt lookup proposes 2 1 5
        SamplingParams params = SamplingParams.defaults();
        assertMatches(pairCounts(prompt, params, d -> new NgramDrafter(1, 2), 3, TARGET), targetPairs(prompt, params));
    }
}
