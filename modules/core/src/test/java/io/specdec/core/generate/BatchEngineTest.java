package io.specdec.core.generate;

import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.AdaptiveGamma;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.NgramDrafter;
import io.specdec.core.speculative.TreeDrafter;
import io.specdec.core.testing.FakeLanguageModel;
import io.specdec.core.testing.FakeLanguageModel.LogitsFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import java.util.function.Supplier;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Continuous batching must not change any request's output: each request, batched with others that join and leave
 * at different steps, gets exactly the tokens, finish reason and speculation counts it gets alone from
 * {@link Generator} — greedy and sampled with a seed — while the target runs one forward per step.
 */
class BatchEngineTest {
    static final int V = 40;
    static final LogitsFunction TARGET = FakeLanguageModel.random(V, 2.0, 1);
    static final LogitsFunction DRAFT = FakeLanguageModel.noisy(TARGET, 0.6, 2);
    static final LogitsFunction REPETITIVE = FakeLanguageModel.repetitive(V, 1.5, 9);
    static final TextDecoder LETTERS = token -> String.valueOf((char) ('a' + token % 26));

    record Setup(String name, LogitsFunction target, Function<FakeLanguageModel, Drafter> drafter,
                 Supplier<GammaPolicy> gamma) {
        @Override public String toString() { return name; }
    }

    static Stream<Arguments> setups() {
        return Stream.of(
                new Setup("plain", TARGET, d -> null, () -> null),
                new Setup("model draft, gamma 4", TARGET, ModelDrafter::new, () -> GammaPolicy.fixed(4)),
                new Setup("model draft, adaptive gamma", TARGET, ModelDrafter::new,
                        () -> new AdaptiveGamma(1, 6, 3, 0.7).withFixedCostRatio(0.2)),
                new Setup("n-gram, gamma 3", REPETITIVE, d -> new NgramDrafter(1, 3), () -> GammaPolicy.fixed(3)),
                new Setup("tree 2x2x2", TARGET, d -> new TreeDrafter(d, 2, 2, 2), () -> GammaPolicy.fixed(3))
        ).map(Arguments::of);
    }

    record Request(int[] prompt, SamplingParams params, int joinAtStep) { }

    static List<Request> requests() {
        List<Request> out = new ArrayList<>();
        SamplingParams greedy = SamplingParams.greedy();
        out.add(new Request(new int[] {3, 17, 5, 22, 9}, greedy.withMaxTokens(40), 0));
        out.add(new Request(new int[] {1}, greedy.withMaxTokens(25), 0));
        out.add(new Request(new int[] {4, 4, 8, 15, 16, 23, 42 % V, 7, 7, 7, 1, 2, 3, 4, 5, 6, 7, 8}, greedy.toBuilder()
                .maxTokens(30).repetitionPenalty(1.3).frequencyPenalty(0.4).build(), 2));
        out.add(new Request(new int[] {9, 8, 7}, SamplingParams.defaults().toBuilder().seed(11L).maxTokens(35)
                .temperature(0.8).topK(12).build(), 1));
        out.add(new Request(new int[] {2, 5}, SamplingParams.defaults().toBuilder().seed(12L).maxTokens(30)
                .topP(0.9).minP(0.02).presencePenalty(0.3).build(), 5));
        out.add(new Request(new int[] {6, 6, 6}, greedy.toBuilder().maxTokens(50).stopStrings(List.of("q", "zz")).build(), 3));
        out.add(new Request(new int[] {11, 12}, greedy.toBuilder().maxTokens(50).stopTokenIds(Set.of(7, 13)).build(), 0));
        return out;
    }

    static FakeLanguageModel model(String name, LogitsFunction f) {
        return new FakeLanguageModel(name, V, 256, Set.of(), f);
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void batchedOutputEqualsOneAtATimeOutput(Setup setup) {
        List<Request> requests = requests();
        List<GenerationResult> alone = new ArrayList<>();
        for (Request r : requests) {
            FakeLanguageModel target = model("target", setup.target());
            FakeLanguageModel draft = model("draft", DRAFT);
            Drafter drafter = setup.drafter().apply(draft);
            Generator g = new Generator(target, drafter, drafter == null ? null : setup.gamma().get());
            alone.add(g.generate(r.prompt(), r.params(), TokenListener.NONE, LETTERS));
        }

        FakeLanguageModel target = model("target", setup.target());
        FakeLanguageModel draft = model("draft", DRAFT);
        BatchEngine engine = new BatchEngine(target, 4);
        Map<Long, Integer> indexOf = new HashMap<>();
        Map<Integer, StringBuilder> text = new HashMap<>();
        Map<Integer, List<Integer>> tokens = new HashMap<>();
        Map<Integer, StepUpdate> last = new HashMap<>();
        int step = 0;
        int maxBatch = 0;
        while (last.size() < requests.size()) {
            for (int i = 0; i < requests.size(); i++) {
                Request r = requests.get(i);
                if (r.joinAtStep() == step) {
                    Drafter drafter = setup.drafter().apply(draft);
                    BatchSequence s = engine.add(r.prompt(), r.params(), drafter, drafter == null ? null : setup.gamma().get(),
                            LETTERS, false, 0);
                    indexOf.put(s.id(), i);
                    text.put(i, new StringBuilder());
                    tokens.put(i, new ArrayList<>());
                }
            }
            maxBatch = Math.max(maxBatch, engine.size());
            for (StepUpdate u : engine.step()) {
                int i = indexOf.get(u.sequence().id());
                for (int t : u.tokens()) tokens.get(i).add(t);
                text.get(i).append(u.text());
                if (u.last()) {
                    assertThat(u.failure()).isNull();
                    text.get(i).append(u.trailingText());
                    last.put(i, u);
                }
            }
            step++;
            assertThat(step).isLessThan(1000);
        }
        assertThat(maxBatch).isGreaterThanOrEqualTo(4);
        assertThat(target.forwards()).as("one target forward per step").isEqualTo(engine.steps());
        if (setup.name().startsWith("model draft")) {
            // one argmax forward for the greedy rounds and one logits forward for the sampled ones per draft position
            assertThat(draft.forwards()).as("draft forwards batched across requests: at most 2 gamma per step")
                    .isLessThanOrEqualTo(engine.steps() * 2 * 6);
        }
        for (int i = 0; i < requests.size(); i++) {
            GenerationResult expected = alone.get(i);
            assertThat(tokens.get(i)).as("request %d tokens", i)
                    .containsExactlyElementsOf(java.util.Arrays.stream(expected.tokens()).boxed().toList());
            assertThat(last.get(i).finishReason()).as("request %d finish", i).isEqualTo(expected.finishReason());
            assertThat(text.get(i).toString()).as("request %d text", i).isEqualTo(expected.text());
            assertThat(last.get(i).stats().accepted()).isEqualTo(expected.stats().accepted());
            assertThat(last.get(i).stats().drafted()).isEqualTo(expected.stats().drafted());
            assertThat(last.get(i).stats().targetForwards()).isEqualTo(expected.stats().targetForwards());
        }
        assertThat(engine.size()).isZero();
        assertThat(target.blocksInUse()).as("target KV blocks after all finished").isZero();
        assertThat(draft.blocksInUse()).as("draft KV blocks after all finished").isZero();
    }

    @Test
    void removingARequestFreesItsBlocksAndLeavesTheOthersUntouched() {
        FakeLanguageModel target = model("target", TARGET);
        FakeLanguageModel draft = model("draft", DRAFT);
        int[] prompt = {3, 17, 5, 22, 9};
        SamplingParams params = SamplingParams.greedy().withMaxTokens(40);
        int[] expected = Generator.plain(model("t", TARGET)).generate(prompt, params, TokenListener.NONE).tokens();

        BatchEngine engine = new BatchEngine(target, 64);
        BatchSequence kept = engine.add(prompt, params, new ModelDrafter(draft), GammaPolicy.fixed(3), null, false, 0);
        BatchSequence cancelled = engine.add(new int[] {1, 2, 3, 4, 5, 6, 7, 8}, params, new ModelDrafter(draft),
                GammaPolicy.fixed(3), null, false, 0);
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < 3; i++) for (StepUpdate u : engine.step()) if (u.sequence() == kept) for (int t : u.tokens()) out.add(t);
        assertThat(cancelled.targetSequence().blockCount()).isPositive();
        engine.remove(cancelled);
        assertThat(cancelled.targetSequence().isReleased()).isTrue();
        while (engine.size() > 0) for (StepUpdate u : engine.step()) for (int t : u.tokens()) out.add(t);
        assertThat(out).containsExactlyElementsOf(java.util.Arrays.stream(expected).boxed().toList());
        assertThat(target.blocksInUse()).isZero();
        assertThat(draft.blocksInUse()).isZero();
    }

    @Test
    void returnsLogprobsOfTheRawTargetDistribution() {
        FakeLanguageModel target = model("target", TARGET);
        BatchEngine engine = new BatchEngine(target, 64);
        int[] prompt = {3, 17, 5};
        engine.add(prompt, SamplingParams.greedy().withMaxTokens(3), null, null, null, true, 3);
        List<StepUpdate> updates = new ArrayList<>();
        while (engine.size() > 0) updates.addAll(engine.step());
        StepUpdate first = updates.getFirst();
        float[] logits = target.logits(prompt);
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) max = Math.max(max, v);
        double sum = 0;
        for (float v : logits) sum += Math.exp(v - max);
        double expected = logits[first.tokens()[0]] - max - Math.log(sum);
        assertThat(first.logprobs()[0]).isCloseTo(expected, org.assertj.core.data.Offset.offset(1e-9));
        assertThat(first.topTokens()[0]).hasSize(3).startsWith(first.tokens()[0]); // greedy: the top token
    }

    @Test
    void rejectsInvalidRequestsWithoutTakingBlocks() {
        FakeLanguageModel target = model("target", TARGET);
        BatchEngine engine = new BatchEngine(target, 64);
        SamplingParams p = SamplingParams.greedy();
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> engine.add(new int[0], p, null, null, null, false, 0))
                .hasMessageContaining("empty");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> engine.add(new int[] {V}, p, null, null, null, false, 0))
                .hasMessageContaining("outside the vocabulary");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> engine.add(new int[256], p, null, null, null, false, 0))
                .hasMessageContaining("context");
        assertThat(engine.size()).isZero();
        assertThat(target.blocksInUse()).isZero();
    }

    /** Counts which kind of target forward the engine asks for. */
    static final class ForwardKinds implements io.specdec.core.backend.LanguageModel {
        final FakeLanguageModel inner;
        int logits;
        int argmax;

        ForwardKinds(FakeLanguageModel inner) { this.inner = inner; }

        @Override public io.specdec.core.model.ModelConfig config() { return inner.config(); }

        @Override public io.specdec.core.kv.KvSequence newSequence() { return inner.newSequence(); }

        @Override public List<float[][]> forward(List<io.specdec.core.backend.SequenceInput> batch) {
            logits++;
            return inner.forward(batch);
        }

        @Override public int[] forwardArgmax(List<io.specdec.core.backend.SequenceInput> batch) {
            argmax++;
            return inner.forwardArgmax(batch);
        }

        @Override public void close() { }
    }

    /**
     * Greedy chains need only each row's argmax (as in Generation): a batch of greedy requests without penalties or
     * logprobs takes ids from forwardArgmax (on a GPU only ids leave the device) with the same output as alone; one
     * request asking for logprobs brings the batch back to full logits.
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("setups")
    void greedyBatchesTakeArgmaxIdsOnlyAndMatchOneAtATime(Setup setup) {
        if (setup.name().startsWith("tree")) return; // trees verify from full logits
        SamplingParams greedy = SamplingParams.greedy();
        List<Request> requests = List.of(new Request(new int[] {3, 17, 5, 22, 9}, greedy.withMaxTokens(30), 0),
                new Request(new int[] {1}, greedy.withMaxTokens(20), 1),
                new Request(new int[] {11, 12}, greedy.toBuilder().maxTokens(40).stopTokenIds(Set.of(7, 13)).build(), 3));
        for (boolean withLogprobs : new boolean[] {false, true}) {
            FakeLanguageModel draft = model("draft", DRAFT);
            ForwardKinds target = new ForwardKinds(model("target", setup.target()));
            BatchEngine engine = new BatchEngine(target, 4);
            List<BatchSequence> running = new ArrayList<>();
            for (int step = 0; running.size() < requests.size() || running.stream().anyMatch(r -> !r.finished()); step++) {
                for (Request r : requests) {
                    if (r.joinAtStep() != step) continue;
                    Drafter drafter = setup.drafter().apply(draft);
                    running.add(engine.add(r.prompt(), r.params(), drafter, drafter == null ? null : setup.gamma().get(),
                            LETTERS, withLogprobs && running.isEmpty(), withLogprobs ? 2 : 0));
                }
                engine.step();
                assertThat(step).isLessThan(1000);
            }
            for (int i = 0; i < requests.size(); i++) {
                Request r = requests.get(i);
                FakeLanguageModel alone = model("target", setup.target());
                Drafter drafter = setup.drafter().apply(model("draft", DRAFT));
                GenerationResult expected = new Generator(alone, drafter, drafter == null ? null : setup.gamma().get())
                        .generate(r.prompt(), r.params(), TokenListener.NONE, LETTERS);
                assertThat(running.get(i).output()).as("request %d", i).containsExactly(expected.tokens());
            }
            if (withLogprobs) assertThat(target.logits).as("full-logits forwards with a logprobs request").isPositive();
            else assertThat(target.logits).as("full-logits forwards of an all-greedy batch").isZero();
            assertThat(target.argmax + target.logits).isEqualTo((int) engine.steps());
        }
    }

    /**
     * Batched chain drafting takes greedy rounds' draft ids from the draft's forwardArgmax (no logits row leaves a
     * GPU) and keeps full rows for sampled rounds; the outputs stay those of one request at a time.
     */
    @Test
    void greedyDraftRoundsTakeArgmaxIdsAndSampledOnesTakeRows() {
        SamplingParams greedy = SamplingParams.greedy();
        SamplingParams sampled = SamplingParams.defaults().toBuilder().seed(21L).temperature(0.9).maxTokens(25).build();
        List<Request> greedyOnly = List.of(new Request(new int[] {3, 17, 5, 22, 9}, greedy.withMaxTokens(30), 0),
                new Request(new int[] {1}, greedy.withMaxTokens(20), 1));
        List<Request> mixed = new ArrayList<>(greedyOnly);
        mixed.add(new Request(new int[] {9, 8, 7}, sampled, 0));
        for (List<Request> requests : List.of(greedyOnly, mixed)) {
            ForwardKinds draft = new ForwardKinds(model("draft", DRAFT));
            BatchEngine engine = new BatchEngine(model("target", TARGET), 4);
            Map<Request, BatchSequence> running = new HashMap<>();
            for (int step = 0; running.size() < requests.size() || running.values().stream().anyMatch(r -> !r.finished()); step++) {
                for (Request r : requests) {
                    if (r.joinAtStep() == step) {
                        running.put(r, engine.add(r.prompt(), r.params(), new ModelDrafter(draft), GammaPolicy.fixed(3),
                                LETTERS, false, 0));
                    }
                }
                engine.step();
                assertThat(step).isLessThan(1000);
            }
            for (int i = 0; i < requests.size(); i++) {
                Request r = requests.get(i);
                GenerationResult expected = new Generator(model("target", TARGET), new ModelDrafter(model("draft", DRAFT)),
                        GammaPolicy.fixed(3)).generate(r.prompt(), r.params(), TokenListener.NONE, LETTERS);
                assertThat(running.get(r).output()).as("request %d", i).containsExactly(expected.tokens());
            }
            assertThat(draft.argmax).as("argmax draft forwards").isPositive();
            if (requests == greedyOnly) assertThat(draft.logits).as("logits draft forwards, greedy only").isZero();
            else assertThat(draft.logits).as("logits draft forwards with a sampled request").isPositive();
        }
    }
}
