package io.specdec.core.parallel;

import io.specdec.core.backend.HeldChain;
import io.specdec.core.backend.HeldRound;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.sampling.Sampler;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.sampling.TokenHistory;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.SpeculativeSampler;
import io.specdec.core.testing.FakeLanguageModel;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * EasySpec's held rounds (drafted where the replica runs, ids never on the host): which steps run fuzzy, as the step
 * path would run them, and what the calibration marks then say. The replica here records the calls and appends the
 * steps to the sequences as a device model does.
 */
class EasySpecHeldRoundsTest {

    /** A layer-parallel stand-in: remembers which first steps of each held batch were exact, and appends every step. */
    private static final class Recording implements LayerParallelModel {
        final FakeLanguageModel inner = new FakeLanguageModel("draft", 50, 4096, Set.of(), FakeLanguageModel.random(50, 1, 7));
        final List<String> exactFirst = new ArrayList<>();

        @Override public LayerGroupPlan plan() { return LayerGroupPlan.parse("0-1"); }

        @Override public int replicas() { return 2; }

        @Override public List<float[][]> forwardFuzzy(List<SequenceInput> batch) { return inner.forward(batch); }

        @Override public ModelConfig config() { return inner.config(); }

        @Override public KvSequence newSequence() { return inner.newSequence(); }

        @Override public List<float[][]> forward(List<SequenceInput> batch) { return inner.forward(batch); }

        @Override public void draftHeldChains(List<HeldRound> rounds, boolean[] exact) {
            exactFirst.add(java.util.Arrays.toString(exact));
            for (HeldRound r : rounds) {
                for (SequenceInput step : r.steps()) step.sequence().append(step.tokens(), step.positions());
            }
        }

        @Override public void close() { }
    }

    private static final HeldChain CHAIN = new HeldChain() {
        @Override public String acceptance() { return "test"; }

        @Override public String draftTokens() { return "test"; }

        @Override public void close() { }
    };

    private static HeldRound round(EasySpecDraftModel easy, KvSequence seq, int[] catchUp, boolean allAccepted, int gamma) {
        SequenceInput first = easy.startRound(SequenceInput.chainLastLogits(seq, catchUp), allAccepted);
        return new HeldRound(ModelDrafter.heldSteps(first, gamma), SamplingParams.greedy(), null, CHAIN);
    }

    @Test
    void aNewSequenceStartsExactThenEveryRoundCalibratesItsFirstStep() {
        Recording replica = new Recording();
        EasySpecDraftModel easy = new EasySpecDraftModel(replica, CalibrationPolicy.EVERY_ROUND);
        KvSequence seq = easy.newSequence();
        easy.draftHeldChains(List.of(round(easy, seq, new int[] {1, 2, 3, 4}, true, 3)));
        assertThat(replica.exactFirst).containsExactly("[true]");   // a prompt is always fed exactly
        assertThat(seq.length()).isEqualTo(4 + 2);
        assertThat(easy.stats()).isEqualTo(new EasySpecDraftModel.Stats(4, 2, 0, 0));

        // the round's first draft was accepted, the second not: the context keeps 4 + 1 tokens, then the bonus
        seq.truncate(5);
        easy.draftHeldChains(List.of(round(easy, seq, new int[] {9}, false, 3)));
        assertThat(replica.exactFirst).containsExactly("[true]", "[true]");
        // calibration re-fed the one fuzzily computed token (slot 4) with the bonus: 2 exact, then 2 fuzzy
        assertThat(easy.stats()).isEqualTo(new EasySpecDraftModel.Stats(6, 4, 1, 1));
    }

    @Test
    void withoutCalibrationEveryStepAfterThePromptRunsFuzzy() {
        Recording replica = new Recording();
        EasySpecDraftModel easy = new EasySpecDraftModel(replica, CalibrationPolicy.NEVER);
        KvSequence seq = easy.newSequence();
        easy.draftHeldChains(List.of(round(easy, seq, new int[] {1, 2, 3}, true, 2)));
        seq.truncate(4);
        easy.draftHeldChains(List.of(round(easy, seq, new int[] {7}, true, 4)));
        assertThat(replica.exactFirst).containsExactly("[true]", "[false]");
        assertThat(easy.stats()).isEqualTo(new EasySpecDraftModel.Stats(3, 1 + 1 + 3, 0, 0));
    }

    @Test
    void aHeldRoundNotFullyAcceptedMakesTheDrafterCalibrateTheNextOne() {
        // the drafter never saw a held round's ids: it must learn the mismatch from the round's outcome
        Recording replica = new Recording();
        EasySpecDraftModel easy = new EasySpecDraftModel(replica, CalibrationPolicy.EVERY_MISMATCH);
        ModelDrafter drafter = new ModelDrafter(easy);
        drafter.begin(SamplingParams.greedy(), new Sampler(new java.util.SplittableRandom(1)), 50);
        drafter.holdChain(CHAIN);
        int[] context = new int[32];
        for (int i = 0; i < 4; i++) context[i] = i + 1;
        easy.draftHeldChains(List.of(drafter.startHeldRound(new TokenHistory(context, 4, 4), 3)));
        context[4] = 11;   // one of three drafts accepted, then the target's replacement
        context[5] = 12;
        drafter.settleHeldRound(new SpeculativeSampler.Outcome(1, new int[] {11, 12}));
        easy.draftHeldChains(List.of(drafter.startHeldRound(new TokenHistory(context, 6, 4), 3)));
        for (int i = 0; i < 4; i++) context[6 + i] = 20 + i;   // all three accepted, then the bonus
        drafter.settleHeldRound(new SpeculativeSampler.Outcome(3, new int[] {20, 21, 22, 23}));
        easy.draftHeldChains(List.of(drafter.startHeldRound(new TokenHistory(context, 10, 4), 3)));
        assertThat(replica.exactFirst).containsExactly("[true]", "[true]", "[false]");
        assertThat(easy.stats().calibrations()).isEqualTo(1);
    }

    @Test
    void aBatchRunsItsExactFirstStepsApartFromItsFuzzyOnes() {
        Recording replica = new Recording();
        EasySpecDraftModel easy = new EasySpecDraftModel(replica, CalibrationPolicy.EVERY_MISMATCH);
        KvSequence a = easy.newSequence(), b = easy.newSequence();
        easy.draftHeldChains(List.of(round(easy, a, new int[] {1, 2}, true, 2), round(easy, b, new int[] {3, 4}, true, 2)));
        a.truncate(3);
        b.truncate(3);
        // a's last round was all accepted (fuzzy first step), b's was not (calibrates: its fuzzy token re-fed exactly);
        // as on the step path, only b's first step runs exact (the model runs the two kinds as two forwards)
        easy.draftHeldChains(List.of(round(easy, a, new int[] {5}, true, 2), round(easy, b, new int[] {6}, false, 2)));
        assertThat(replica.exactFirst).containsExactly("[true, true]", "[false, true]");
        assertThat(easy.stats()).isEqualTo(new EasySpecDraftModel.Stats(2 + 2 + 2, 1 + 1 + 1 + 1 + 1, 1, 1));
        // and a later all-accepted round of both is fuzzy from its first step
        a.truncate(a.length() - 1);
        b.truncate(b.length() - 1);
        easy.draftHeldChains(List.of(round(easy, a, new int[] {8}, true, 2), round(easy, b, new int[] {8}, true, 2)));
        assertThat(replica.exactFirst).containsExactly("[true, true]", "[false, true]", "[false, false]");
    }
}
