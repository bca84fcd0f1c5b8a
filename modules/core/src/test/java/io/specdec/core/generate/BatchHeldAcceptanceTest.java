package io.specdec.core.generate;

import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.testing.FakeLanguageModel;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Served batches verify sampled drafts where their logits are ({@link io.specdec.core.backend.LanguageModel#forwardEach},
 * batched {@link io.specdec.core.backend.LanguageModel#forwardSampledHolding}): a mixed batch — temperature-only
 * requests (held), a greedy one (argmax), one with log-probabilities and one with top-k (host rows) — emits, request by
 * request, plus one without a drafter (plain sampled steps) — emits, request by request, the tokens of the same batch on a backend that holds nothing (the host path), with the default verifier
 * and with an all-rows-at-once decision like the fused kernel's; the held requests' draft steps share one forward per
 * position, and every held buffer is closed when its request ends.
 */
class BatchHeldAcceptanceTest {
    record Request(int[] prompt, SamplingParams params, boolean logprobs, boolean plain) {
        Request(int[] prompt, SamplingParams params, boolean logprobs) {
            this(prompt, params, logprobs, false);
        }
    }

    static List<Request> requests() {
        List<Request> out = new ArrayList<>();
        for (long seed = 1; seed <= 5; seed++) {
            out.add(new Request(new int[] {1, (int) seed, 7, 2}, HeldAcceptanceTest.T08.withSeed(seed).withMaxTokens(40), false));
        }
        out.add(new Request(new int[] {1, 9, 3}, SamplingParams.greedy().withMaxTokens(30).withIgnoreEos(true), false));
        out.add(new Request(new int[] {1, 4, 4}, HeldAcceptanceTest.T08.withSeed(11L).withMaxTokens(30), true));
        out.add(new Request(new int[] {1, 6}, HeldAcceptanceTest.T08.withSeed(12L).withTopK(5).withMaxTokens(30), false));
        // no drafter: every step a plain sampled one, drawn where the logits are
        out.add(new Request(new int[] {1, 8, 5}, HeldAcceptanceTest.T08.withSeed(13L).withMaxTokens(30), false, true));
        return out;
    }

    /** Every request's output, running them all in one engine until each finished. */
    static Map<Integer, List<Integer>> serve(io.specdec.core.backend.LanguageModel target, io.specdec.core.backend.LanguageModel draft) {
        BatchEngine engine = new BatchEngine(target, 64);
        List<Request> rs = requests();
        Map<BatchSequence, Integer> index = new HashMap<>();
        for (int i = 0; i < rs.size(); i++) {
            Request r = rs.get(i);
            index.put(engine.add(r.prompt(), r.params(), r.plain() ? null : new ModelDrafter(draft),
                    r.plain() ? null : GammaPolicy.fixed(4), null, r.logprobs(),
                    r.logprobs() ? 2 : 0), i);
        }
        return drain(engine, index);
    }

    /** Steps {@code engine} until every request in {@code index} finished; each request's tokens, by its index. */
    static Map<Integer, List<Integer>> drain(BatchEngine engine, Map<BatchSequence, Integer> index) {
        Map<Integer, List<Integer>> out = new HashMap<>();
        int finished = 0;
        for (int step = 0; finished < index.size(); step++) {
            assertThat(step).as("the batch finishes within 400 steps").isLessThan(400);
            for (StepUpdate u : engine.step()) {
                assertThat(u.failure()).as("request %d", index.get(u.sequence())).isNull();
                for (int t : u.tokens()) out.computeIfAbsent(index.get(u.sequence()), k -> new ArrayList<>()).add(t);
                if (u.finishReason() != null) finished++;
            }
        }
        return out;
    }

    @Test
    void aMixedBatchWithHeldDraftsEmitsTheHostPathsTokens() {
        Map<Integer, List<Integer>> host = serve(HeldAcceptanceTest.model(HeldAcceptanceTest.TARGET),
                HeldAcceptanceTest.model(HeldAcceptanceTest.DRAFT));
        for (boolean allRows : new boolean[] {false, true}) {
            HeldAcceptanceTest.Holding target = new HeldAcceptanceTest.Holding(HeldAcceptanceTest.model(HeldAcceptanceTest.TARGET), allRows);
            HeldAcceptanceTest.Holding draft = new HeldAcceptanceTest.Holding(HeldAcceptanceTest.model(HeldAcceptanceTest.DRAFT), allRows);
            Map<Integer, List<Integer>> held = serve(target, draft);
            for (int i = 0; i < requests().size(); i++) {
                assertThat(held.get(i)).as("request %d, all rows at once %b", i, allRows).isNotEmpty()
                        .containsExactlyElementsOf(host.get(i));
            }
            assertThat(target.opened).as("held buffers: the five temperature-only requests without log-probabilities").isEqualTo(5);
            assertThat(target.everyHeld).as("every held buffer closed when its request ended").allMatch(h -> h.closed);
            assertThat(target.heldVerified).as("held chains verified where the logits are").isPositive();
            assertThat(target.sampledRows).as("plain sampled steps drawn where the logits are").isGreaterThanOrEqualTo(30);
            assertThat(draft.largestHeldStep).as("the five held requests' draft steps share one forward").isEqualTo(5);
        }
    }
}
