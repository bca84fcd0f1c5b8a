package io.specdec.core.generate;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.ModelDrafter;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Served batches keep whole chain rounds where the models run ({@link LanguageModel#draftHeldChains},
 * {@link io.specdec.core.backend.RowUse.HeldChainVerify}): with a stand-in that, like a GPU, leaves placeholder ids in
 * both models' KV records and reads its context back from them, a mixed batch — greedy and temperature-only requests
 * (held chains), one with penalties and one with log-probabilities (host rows), one without a drafter, one with a long
 * prompt prefilled over several steps — emits, request by request, exactly the tokens of a backend that holds nothing
 * (and the greedy ones the target's own greedy tokens). The held rounds' draft steps share one forward per position,
 * every chain is closed when its request ends, and a model that does not verify held chains in batches gets none.
 */
class BatchHeldChainTest {
    record Request(int[] prompt, SamplingParams params, boolean logprobs, boolean drafted) { }

    static final SamplingParams GREEDY = HeldChainTest.GREEDY.withMaxTokens(40);

    static List<Request> requests() {
        List<Request> out = new ArrayList<>();
        for (int i = 0; i < 3; i++) out.add(new Request(new int[] {1, 3 + i, 2}, GREEDY.withMaxTokens(30 + 5 * i), false, true));
        for (long seed = 1; seed <= 3; seed++) out.add(new Request(new int[] {1, (int) seed, 7}, HeldChainTest.T08.withSeed(seed).withMaxTokens(40), false, true));
        out.add(new Request(new int[] {1, 9, 3}, GREEDY.toBuilder().repetitionPenalty(1.3).build(), false, true));
        out.add(new Request(new int[] {1, 4, 4}, HeldChainTest.T08.withSeed(11L).withMaxTokens(30), true, true));
        out.add(new Request(new int[] {1, 8, 5}, HeldChainTest.T08.withSeed(13L).withMaxTokens(30), false, false));
        int[] longPrompt = new int[40];
        for (int i = 0; i < longPrompt.length; i++) longPrompt[i] = 1 + (i * 7) % 15;
        out.add(new Request(longPrompt, GREEDY, false, true));
        return out;
    }

    /** Every request's output, all of them served in one engine (prefill chunks of 16) until each finished. */
    static Map<Integer, List<Integer>> serve(LanguageModel target, LanguageModel draft) {
        BatchEngine engine = new BatchEngine(target, 16);
        List<Request> rs = requests();
        Map<BatchSequence, Integer> index = new HashMap<>();
        for (int i = 0; i < rs.size(); i++) {
            Request r = rs.get(i);
            index.put(engine.add(r.prompt(), r.params(), r.drafted() ? new ModelDrafter(draft) : null,
                    r.drafted() ? GammaPolicy.fixed(4) : null, null, r.logprobs(), r.logprobs() ? 2 : 0), i);
        }
        return BatchHeldAcceptanceTest.drain(engine, index);
    }

    @Test
    void aMixedBatchWithHeldChainsEmitsTheHostPathsTokens() {
        Map<Integer, List<Integer>> host = serve(HeldChainTest.model(HeldChainTest.TARGET), HeldChainTest.model(HeldChainTest.DRAFT));
        HeldChainTest.Holding target = new HeldChainTest.Holding(HeldChainTest.model(HeldChainTest.TARGET));
        HeldChainTest.Holding draft = new HeldChainTest.Holding(HeldChainTest.model(HeldChainTest.DRAFT));
        Map<Integer, List<Integer>> held = serve(target, draft);
        List<Request> rs = requests();
        for (int i = 0; i < rs.size(); i++) {
            assertThat(held.get(i)).as("request %d", i).isNotEmpty().containsExactlyElementsOf(host.get(i));
            if (rs.get(i).params().isGreedy() && !rs.get(i).params().hasPenalties()) {
                GenerationResult alone = Generator.plain(HeldChainTest.model(HeldChainTest.TARGET)).generate(rs.get(i).prompt(), rs.get(i).params(), null);
                assertThat(held.get(i)).as("greedy request %d = the target's greedy tokens", i).containsExactly(box(alone.tokens()));
            }
        }
        assertThat(target.opened).as("chains: 3 greedy + 3 temperature-only + the long greedy prompt; penalties and"
                + " log-probabilities take the host path").hasSize(7);
        assertThat(target.opened).as("every chain closed when its request ended").allMatch(c -> c.closed);
        assertThat(target.rounds).as("held rounds verified in the batch").isGreaterThan(20);
        assertThat(draft.batchedDraftForwards).as("one draft forward per position, not per request and position")
                .isLessThan(target.rounds);
    }

    @Test
    void aModelThatDoesNotVerifyHeldChainsInBatchesGetsNone() {
        Map<Integer, List<Integer>> host = serve(HeldChainTest.model(HeldChainTest.TARGET), HeldChainTest.model(HeldChainTest.DRAFT));
        HeldChainTest.Holding target = new HeldChainTest.Holding(HeldChainTest.model(HeldChainTest.TARGET), false);
        HeldChainTest.Holding draft = new HeldChainTest.Holding(HeldChainTest.model(HeldChainTest.DRAFT), false);
        Map<Integer, List<Integer>> out = serve(target, draft);
        assertThat(target.opened).isEmpty();
        for (int i = 0; i < requests().size(); i++) assertThat(out.get(i)).as("request %d", i).containsExactlyElementsOf(host.get(i));
    }

    private static Integer[] box(int[] a) {
        Integer[] out = new Integer[a.length];
        for (int i = 0; i < a.length; i++) out[i] = a[i];
        return out;
    }
}
