package io.specdec.core.generate;

import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.AdaptiveGamma;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.NgramDrafter;
import io.specdec.core.speculative.SpeculationStats;
import io.specdec.core.speculative.TreeDrafter;
import io.specdec.core.testing.FakeLanguageModel;
import io.specdec.core.testing.FakeLanguageModel.LogitsFunction;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.Arrays;
import java.util.Set;
import java.util.function.Function;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** Under greedy decoding speculation must reproduce the target's own greedy output token for token. */
class GreedySpeculationTest {
    static final int V = 40;
    static final LogitsFunction TARGET = FakeLanguageModel.random(V, 2.0, 1);
    static final LogitsFunction REPETITIVE = FakeLanguageModel.repetitive(V, 1.5, 9);
    static final int[] PROMPT = {3, 17, 5, 22, 9};

    static FakeLanguageModel model(String name, LogitsFunction f) {
        return new FakeLanguageModel(name, V, 512, Set.of(), f);
    }

    /** A named drafter setup: the target it runs against and how to build drafter + gamma policy. */
    record Setup(String name, LogitsFunction target, Function<FakeLanguageModel[], Drafter> drafter, GammaPolicy gamma,
                 LogitsFunction draftFunction) {
        @Override public String toString() { return name; }
    }

    static Stream<Arguments> setups() {
        return Stream.of(
                new Setup("good draft, gamma 4", TARGET, m -> new ModelDrafter(m[0]), GammaPolicy.fixed(4),
                        FakeLanguageModel.noisy(TARGET, 0.4, 2)),
                new Setup("bad draft, gamma 3", TARGET, m -> new ModelDrafter(m[0]), GammaPolicy.fixed(3),
                        FakeLanguageModel.noisy(TARGET, 4.0, 3)),
                new Setup("adversarial draft, gamma 5", TARGET, m -> new ModelDrafter(m[0]), GammaPolicy.fixed(5),
                        FakeLanguageModel.adversarial(TARGET)),
                new Setup("nearly uniform draft, gamma 2", TARGET, m -> new ModelDrafter(m[0]), GammaPolicy.fixed(2),
                        FakeLanguageModel.nearlyUniform(V, 4)),
                new Setup("identical draft, gamma 6", TARGET, m -> new ModelDrafter(m[0]), GammaPolicy.fixed(6), TARGET),
                new Setup("n-gram 1..3, gamma 4", REPETITIVE, m -> new NgramDrafter(1, 3), GammaPolicy.fixed(4), null),
                new Setup("tree 3x2x2, good draft", TARGET, m -> new TreeDrafter(m[0], 3, 2, 2), GammaPolicy.fixed(3),
                        FakeLanguageModel.noisy(TARGET, 0.8, 5)),
                new Setup("tree 2^4, bad draft", TARGET, m -> TreeDrafter.of(m[0], 2, 4), GammaPolicy.fixed(4),
                        FakeLanguageModel.noisy(TARGET, 3.0, 6)),
                new Setup("adaptive gamma, good draft", TARGET, m -> new ModelDrafter(m[0]),
                        new AdaptiveGamma(1, 8, 2, 0.7), FakeLanguageModel.noisy(TARGET, 0.4, 7)),
                new Setup("adaptive gamma, bad draft", TARGET, m -> new ModelDrafter(m[0]),
                        new AdaptiveGamma(1, 8, 6, 0.7).withFixedCostRatio(0.3), FakeLanguageModel.noisy(TARGET, 4.0, 8))
        ).map(Arguments::of);
    }

    static int[] plainGreedy(LogitsFunction target, SamplingParams params) {
        FakeLanguageModel t = model("target", target);
        return Generator.plain(t).generate(PROMPT, params, TokenListener.NONE).tokens();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void greedySpeculationEqualsTargetGreedy(Setup setup) {
        for (SamplingParams params : new SamplingParams[] {
                SamplingParams.greedy().withMaxTokens(80),
                SamplingParams.greedy().toBuilder().maxTokens(60).repetitionPenalty(1.3).frequencyPenalty(0.4).build()}) {
            int[] expected = plainGreedy(setup.target(), params);
            FakeLanguageModel target = model("target", setup.target());
            FakeLanguageModel draft = model("draft", setup.draftFunction() == null ? setup.target() : setup.draftFunction());
            Generator generator = new Generator(target, setup.drafter().apply(new FakeLanguageModel[] {draft}), setup.gamma());

            GenerationResult result = generator.generate(PROMPT, params, TokenListener.NONE);

            assertThat(result.tokens()).as(setup.name()).containsExactly(expected);
            assertThat(result.finishReason()).isEqualTo(FinishReason.LENGTH);
            SpeculationStats stats = result.stats();
            if (setup.name().startsWith("identical")) {
                assertThat(stats.acceptanceRate()).as("an identical draft is always accepted").isEqualTo(1.0);
            }
            if (setup.name().contains("good") || setup.name().startsWith("n-gram")) {
                assertThat(stats.accepted()).as("speculation actually happened").isPositive();
                assertThat(stats.tokensPerTargetForward()).isGreaterThan(1.1);
            }
            assertThat(stats.emitted()).isEqualTo(expected.length);
            assertThat(stats.targetForwards()).isEqualTo(target.forwards() - 1); // minus the prompt prefill
            assertThat(target.blocksInUse()).as("target KV freed").isZero();
            assertThat(draft.blocksInUse()).as("draft KV freed").isZero();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void targetKvHoldsTheContextMinusItsLastTokenAfterEveryStep(Setup setup) {
        FakeLanguageModel target = model("target", setup.target());
        FakeLanguageModel draft = model("draft", setup.draftFunction() == null ? setup.target() : setup.draftFunction());
        Generator generator = new Generator(target, setup.drafter().apply(new FakeLanguageModel[] {draft}), setup.gamma());
        SamplingParams params = SamplingParams.defaults().withSeed(5L).withMaxTokens(50);
        try (Generation g = generator.start(PROMPT, params, TokenListener.NONE, null)) {
            assertThat(g.targetSequence().tokens()).containsExactly(Arrays.copyOf(PROMPT, PROMPT.length - 1));
            while (g.step()) {
                int[] context = g.context();
                assertThat(g.targetSequence().tokens()).containsExactly(Arrays.copyOf(context, context.length - 1));
            }
            int[] context = g.context();
            assertThat(g.targetSequence().tokens()).containsExactly(Arrays.copyOf(context, context.length - 1));
            assertThat(Arrays.copyOfRange(context, PROMPT.length, context.length)).containsExactly(g.result().tokens());
            if (generator.drafter() instanceof TreeDrafter) {
                // forks of the draft tree are released each round: only the main draft sequence holds blocks
                assertThat(draft.sequences().stream().filter(s -> !s.isReleased()).count()).isEqualTo(1);
            }
        }
        assertThat(target.blocksInUse()).isZero();
        assertThat(draft.blocksInUse()).isZero();
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void statsAreConsistent(Setup setup) {
        FakeLanguageModel target = model("target", setup.target());
        FakeLanguageModel draft = model("draft", setup.draftFunction() == null ? setup.target() : setup.draftFunction());
        Generator generator = new Generator(target, setup.drafter().apply(new FakeLanguageModel[] {draft}), setup.gamma());
        GenerationResult r = generator.generate(PROMPT, SamplingParams.defaults().withSeed(9L).withMaxTokens(64),
                TokenListener.NONE);
        SpeculationStats s = r.stats();
        assertThat(s.accepted()).isLessThanOrEqualTo(s.drafted());
        assertThat(s.emitted()).isEqualTo(r.tokens().length);
        assertThat(s.targetForwards()).isEqualTo(target.forwards() - 1);
        assertThat(s.tokensPerTargetForward()).isEqualTo((double) s.emitted() / s.targetForwards());
        assertThat(s.rounds()).isLessThanOrEqualTo(s.targetForwards());
        // every round emits its accepted tokens plus one (the last round may be cut by maxTokens)
        assertThat(s.emitted()).isLessThanOrEqualTo(s.accepted() + s.targetForwards());
        assertThat(s.emitted()).isGreaterThanOrEqualTo(s.targetForwards());
        long acceptedOverPositions = 0;
        for (int i = 0; i < s.draftedAtPosition().length; i++) {
            assertThat(s.acceptedAtPosition()[i]).isLessThanOrEqualTo(s.draftedAtPosition()[i]);
            assertThat(s.draftedAtPosition()[i]).isLessThanOrEqualTo(s.rounds());
            if (i > 0) assertThat(s.acceptedAtPosition()[i]).isLessThanOrEqualTo(s.acceptedAtPosition()[i - 1]);
            acceptedOverPositions += s.acceptedAtPosition()[i];
        }
        assertThat(acceptedOverPositions).isEqualTo(s.accepted()); // one accepted token per accepted position
        for (double a : s.acceptancePerPosition()) assertThat(a).isBetween(0.0, 1.0);
    }
}
