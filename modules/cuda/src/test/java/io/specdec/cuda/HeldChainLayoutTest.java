package io.specdec.cuda;

import io.specdec.core.backend.HeldRound;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvBlockStore;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeScaling;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.SpeculativeSampler;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The host half of held chain rounds (no GPU): the γ draft steps described up front differ from the host-driven
 * loop's, step by step, only in the placeholder id of token slot 0, so the device computes the same forwards once
 * that slot holds the previous step's id; a batch of rounds likewise, position by position; and the decision ints
 * decode as the acceptance kernels lay them out.
 */
class HeldChainLayoutTest {
    static final int BLOCK = 4;

    @Test
    void draftStepsDescribedUpFrontDifferOnlyInTheirTokenSlot() {
        for (int window : new int[] {0, 6}) {
            ModelConfig c = config(window);
            int[] context = {5, 9, 2, 7, 7, 1, 3};
            int[] ids = {11, 4, 30, 8, 19};   // what the draft "produced" at steps 0..4
            int gamma = ids.length;

            // the host-driven loop: catch up, then one real id per step, appended and described one after another
            KvSequence host = new PagedKvCache(64, BLOCK, KvBlockStore.NONE).newSequence();
            host.append(Arrays.copyOf(context, 5), new int[] {0, 1, 2, 3, 4});
            List<int[]> hostMeta = new java.util.ArrayList<>();
            SequenceInput in = SequenceInput.chainLastLogits(host, Arrays.copyOfRange(context, 5, 7));
            for (int i = 0; i < gamma; i++) {
                hostMeta.add(CudaTransformer.describe(c, List.of(in), CudaTransformer.append(c, List.of(in))).meta());
                in = SequenceInput.chainLastLogits(host, new int[] {ids[i]});
            }

            // the held round: the same catch-up, then γ-1 placeholder steps, all described before anything runs
            KvSequence held = new PagedKvCache(64, BLOCK, KvBlockStore.NONE).newSequence();
            held.append(Arrays.copyOf(context, 5), new int[] {0, 1, 2, 3, 4});
            List<SequenceInput> steps = ModelDrafter.heldSteps(SequenceInput.chainLastLogits(held, Arrays.copyOfRange(context, 5, 7)), gamma);
            HeldRoundsLayout layout = HeldRoundsLayout.of(c, List.of(new HeldRound(steps, GREEDY, null, CHAIN)));
            List<CudaTransformer.Step> described = layout.steps();

            for (int i = 0; i < gamma; i++) {
                int[] expected = hostMeta.get(i).clone(), got = described.get(i).meta().clone();
                if (i > 0) {
                    assertThat(got[0]).as("placeholder of step " + i).isZero();
                    got[0] = ids[i - 1];   // what chain_take_ids writes there on the device
                }
                assertThat(got).as("window " + window + ", step " + i).containsExactly(expected);
                assertThat(layout.nextSlot(i, 0)).as("step " + i + "'s id goes to token slot 0 of step " + (i + 1))
                        .isEqualTo(i + 1 < gamma ? layout.offsets()[i + 1] : -1);
                assertThat(Arrays.copyOfRange(layout.metadata(), layout.offsets()[i], layout.offsets()[i + 1]))
                        .containsExactly(described.get(i).meta());
            }
            assertThat(held.length()).isEqualTo(host.length());
        }
    }

    /**
     * A batch of rounds of γ 3, 5 and 2 (the catch-ups of different lengths): position i's forward holds the rounds
     * still drafting, and with each round's id written at {@link HeldRoundsLayout#nextSlot} every position's metadata
     * equals that of a host-driven batch fed the real ids, so the device runs the same forwards.
     */
    @Test
    void aBatchOfRoundsDescribedUpFrontMatchesTheHostDrivenBatch() {
        ModelConfig c = config(0);
        int[][] contexts = {{5, 9, 2, 7}, {1, 2, 3, 4, 5, 6, 7, 8, 9}, {8, 8}};
        int[] known = {3, 5, 1};   // tokens already in each draft cache
        int[] gammas = {3, 5, 2};
        int[][] ids = {{11, 4, 30}, {8, 19, 2, 6, 40}, {7, 3}};
        PagedKvCache hostCache = new PagedKvCache(256, BLOCK, KvBlockStore.NONE), heldCache = new PagedKvCache(256, BLOCK, KvBlockStore.NONE);
        List<KvSequence> host = new java.util.ArrayList<>(), held = new java.util.ArrayList<>();
        List<HeldRound> rounds = new java.util.ArrayList<>();
        for (int r = 0; r < 3; r++) {
            int[] positions = java.util.stream.IntStream.range(0, known[r]).toArray();
            KvSequence h = hostCache.newSequence(), d = heldCache.newSequence();
            h.append(Arrays.copyOf(contexts[r], known[r]), positions);
            d.append(Arrays.copyOf(contexts[r], known[r]), positions);
            host.add(h);
            held.add(d);
            SequenceInput first = SequenceInput.chainLastLogits(d, Arrays.copyOfRange(contexts[r], known[r], contexts[r].length));
            rounds.add(new HeldRound(ModelDrafter.heldSteps(first, gammas[r]), GREEDY, null, CHAIN));
        }
        HeldRoundsLayout layout = HeldRoundsLayout.of(c, rounds);
        assertThat(layout.forwards()).isEqualTo(5);
        int[] all = layout.metadata().clone();
        for (int i = 0; i < layout.forwards(); i++) {
            for (int r : layout.members().get(i)) {
                int slot = layout.nextSlot(i, r);
                if (slot >= 0) all[slot] = ids[r][i];   // what chain_take_ids writes on the device
                else assertThat(i + 1).as("round " + r + " ends at position " + i).isEqualTo(gammas[r]);
            }
        }
        for (int i = 0; i < 5; i++) {
            int at = i;
            int[] members = java.util.stream.IntStream.range(0, 3).filter(r -> gammas[r] > at).toArray();
            assertThat(layout.members().get(i)).containsExactly(members);
            List<SequenceInput> batch = new java.util.ArrayList<>();
            for (int r : members) {
                batch.add(i == 0 ? SequenceInput.chainLastLogits(host.get(r), Arrays.copyOfRange(contexts[r], known[r], contexts[r].length))
                        : SequenceInput.chainLastLogits(host.get(r), new int[] {ids[r][i - 1]}));
            }
            int[] expected = CudaTransformer.describe(c, batch, CudaTransformer.append(c, batch)).meta();
            assertThat(Arrays.copyOfRange(all, layout.offsets()[i], layout.offsets()[i + 1])).as("position " + i).containsExactly(expected);
        }
        for (int r = 0; r < 3; r++) assertThat(held.get(r).length()).isEqualTo(host.get(r).length());

        // the one upload: metadata, then each position's chain_take_ids table, then its draws' uniforms (f64, aligned)
        List<HeldRound> sampled = new java.util.ArrayList<>();
        for (int r = 0; r < 3; r++) {
            double[] u = new double[gammas[r]];
            for (int i = 0; i < u.length; i++) u[i] = 0.125 * (r + 1) + 0.01 * i;
            sampled.add(new HeldRound(rounds.get(r).steps(), r == 1 ? GREEDY : GREEDY.withTemperature(0.8), r == 1 ? null : u, CHAIN));
        }
        HeldRoundsLayout.Staged staged = layout.staged(sampled);
        assertThat(Arrays.copyOf(staged.ints(), layout.metadata().length)).containsExactly(layout.metadata());
        for (int i = 0; i < 5; i++) {
            int[] members = layout.members().get(i);
            assertThat(staged.uniformAt()[i] % 2).as("8-byte aligned").isZero();
            for (int k = 0; k < members.length; k++) {
                int r = members[k], t = staged.tableAt()[i] + 3 * k, u = staged.uniformAt()[i] + 2 * k;
                assertThat(new int[] {staged.ints()[t], staged.ints()[t + 1], staged.ints()[t + 2]})
                        .containsExactly(r, layout.nextSlot(i, r), r == 1 ? 1 : 0);
                long bits = (staged.ints()[u] & 0xffffffffL) | ((long) staged.ints()[u + 1] << 32);
                assertThat(Double.longBitsToDouble(bits)).isEqualTo(r == 1 ? 0 : sampled.get(r).uniforms()[i]);
            }
        }
    }

    @Test
    void decisionIntsDecodeToTheOutcome() {
        int[] ints = {0, 2, 17, 4, 99, -5, -5};   // status, a = 2, x1 x2 accepted, 99 the replacement
        SpeculativeSampler.Outcome o = ChainDecision.decode(ints, 4, 128).outcome();
        assertThat(o.accepted()).isEqualTo(2);
        assertThat(o.emitted()).containsExactly(17, 4, 99);
        SpeculativeSampler.Outcome all = ChainDecision.decode(new int[] {0, 3, 1, 2, 3, 4}, 3, 128).outcome();
        assertThat(all.emitted()).containsExactly(1, 2, 3, 4);
        assertThat(ChainDecision.ints(5)).isEqualTo(8);
    }

    @Test
    void refusesAFailedDraftStepOrAnImpossibleDecision() {
        assertThatThrownBy(() -> ChainDecision.decode(new int[] {1, 0, 3, 0, 0}, 2, 128)).hasMessageContaining("NaN");
        assertThatThrownBy(() -> ChainDecision.decode(new int[] {0, 3, 1, 2, 3}, 2, 128)).hasMessageContaining("3 accepted");
        assertThatThrownBy(() -> ChainDecision.decode(new int[] {0, 0, -1, 0, 0}, 2, 128)).hasMessageContaining("outside the vocabulary");
        assertThatThrownBy(() -> ChainDecision.decode(new int[] {0, 0}, 2, 128)).hasMessageContaining("leaves 5 ints");
    }

    /**
     * A layer-parallel draft in one process appends a batch of held rounds ONCE ({@link CudaTransformer.HeldBatch}) and
     * every replica drafts the same batch: the rounds come greedy first, then by temperature (each kind's rows
     * contiguous at every position), every step is appended to its sequence exactly once, and a chain drafting two
     * rounds of one batch, or a step asking for more than one row, is refused before anything is appended.
     */
    @Test
    void aHeldBatchIsOrderedAndAppendedOnceForEveryReplica() {
        ModelConfig c = config(0);
        PagedKvCache cache = new PagedKvCache(64, BLOCK, KvBlockStore.NONE);
        double[] temperatures = {0.8, 0, 0.5};
        int[] gammas = {3, 4, 2};
        List<HeldRound> rounds = new java.util.ArrayList<>();
        List<KvSequence> sequences = new java.util.ArrayList<>();
        for (int r = 0; r < 3; r++) {
            KvSequence seq = cache.newSequence();
            seq.append(new int[] {1, 2, 3}, new int[] {0, 1, 2});
            sequences.add(seq);
            io.specdec.core.sampling.SamplingParams p = temperatures[r] == 0 ? GREEDY : GREEDY.withTemperature(temperatures[r]);
            rounds.add(new HeldRound(ModelDrafter.heldSteps(SequenceInput.chainLastLogits(seq, new int[] {4 + r}), gammas[r]), p,
                    new double[] {0.1, 0.2, 0.3, 0.4}, chain()));
        }
        CudaTransformer.HeldBatch batch = CudaTransformer.HeldBatch.of(c, rounds);
        assertThat(batch.ordered()).extracting(h -> h.params().temperature()).containsExactly(0.0, 0.5, 0.8);
        assertThat(batch.longest()).isEqualTo(4);
        assertThat(batch.layout().forwards()).isEqualTo(4);
        for (int r = 0; r < 3; r++) assertThat(sequences.get(r).length()).as("round " + r).isEqualTo(3 + gammas[r]);

        KvSequence seq = cache.newSequence();
        HeldRound once = new HeldRound(ModelDrafter.heldSteps(SequenceInput.chainLastLogits(seq, new int[] {7}), 2), GREEDY, null, CHAIN);
        assertThatThrownBy(() -> CudaTransformer.HeldBatch.of(c, List.of(once, new HeldRound(once.steps(), GREEDY, null, CHAIN))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("one round at a time");
        SequenceInput twoRows = SequenceInput.chainAllLogits(seq, new int[] {7, 8});
        assertThatThrownBy(() -> CudaTransformer.HeldBatch.of(c, List.of(new HeldRound(List.of(twoRows), GREEDY, null, CHAIN))))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("one logits row");
        assertThat(seq.length()).as("nothing appended for a refused batch").isZero();
    }

    /**
     * An EasySpec batch where only some rounds' first step is exact (they calibrate): position 0 runs as two forwards,
     * the exact rounds first, then the fuzzy ones, as the step path runs them; every later position is one fuzzy
     * forward; both position-0 forwards send each round's id to its slot in position 1; the uniforms are per position.
     */
    @Test
    void mixedExactFirstStepsSplitPositionZeroIntoTwoForwards() {
        ModelConfig c = config(0);
        PagedKvCache cache = new PagedKvCache(64, BLOCK, KvBlockStore.NONE);
        int[] gammas = {3, 1, 2};
        boolean[] exactFirst = {false, true, true};
        List<HeldRound> rounds = new java.util.ArrayList<>();
        for (int r = 0; r < 3; r++) {
            KvSequence seq = cache.newSequence();
            seq.append(new int[] {1, 2}, new int[] {0, 1});
            rounds.add(new HeldRound(ModelDrafter.heldSteps(SequenceInput.chainLastLogits(seq, new int[] {3 + r}), gammas[r]),
                    GREEDY.withTemperature(0.7), new double[] {0.25 + r, 0.5 + r, 0.75 + r}, chain()));
        }
        HeldRoundsLayout layout = HeldRoundsLayout.of(c, rounds, exactFirst);
        assertThat(layout.forwards()).isEqualTo(4);
        assertThat(layout.columns()).containsExactly(0, 0, 1, 2);
        assertThat(layout.fuzzy()).containsExactly(false, true, true, true);
        assertThat(layout.members().get(0)).containsExactly(1, 2);
        assertThat(layout.members().get(1)).containsExactly(0);
        assertThat(layout.members().get(2)).containsExactly(0, 2);
        assertThat(layout.members().get(3)).containsExactly(0);
        // position 0's ids (from either forward) go to position 1's token slots; round 1 (γ 1) ends there
        assertThat(layout.nextSlot(0, 2)).isEqualTo(layout.offsets()[2] + 1);
        assertThat(layout.nextSlot(0, 1)).isEqualTo(-1);
        assertThat(layout.nextSlot(1, 0)).isEqualTo(layout.offsets()[2]);
        assertThat(layout.nextSlot(2, 0)).isEqualTo(layout.offsets()[3]);
        assertThat(layout.nextSlot(3, 0)).isEqualTo(-1);
        HeldRoundsLayout.Staged staged = layout.staged(rounds);
        double[] firstUniforms = new double[2];
        for (int k = 0; k < 2; k++) {
            int at = staged.uniformAt()[0] + 2 * k;
            firstUniforms[k] = Double.longBitsToDouble((staged.ints()[at] & 0xffffffffL) | ((long) staged.ints()[at + 1] << 32));
        }
        assertThat(firstUniforms).containsExactly(1.25, 2.25);   // rounds 1 and 2 at position 0
        int at = staged.uniformAt()[2] + 2;
        assertThat(Double.longBitsToDouble((staged.ints()[at] & 0xffffffffL) | ((long) staged.ints()[at + 1] << 32))).isEqualTo(2.5);
        for (int r = 0; r < 3; r++) assertThat(rounds.get(r).steps().getFirst().sequence().length()).isEqualTo(2 + gammas[r]);

        // all first steps alike: one forward per position, as before
        assertThat(HeldRoundsLayout.of(c, rounds(c, 2), new boolean[] {true, true}).columns()).containsExactly(0, 1);
        assertThat(HeldRoundsLayout.of(c, rounds(c, 2), null).fuzzy()).containsExactly(false, false);
    }

    private static List<HeldRound> rounds(ModelConfig c, int gamma) {
        PagedKvCache cache = new PagedKvCache(64, BLOCK, KvBlockStore.NONE);
        List<HeldRound> out = new java.util.ArrayList<>();
        for (int r = 0; r < 2; r++) {
            out.add(new HeldRound(ModelDrafter.heldSteps(SequenceInput.chainLastLogits(cache.newSequence(), new int[] {5}), gamma), GREEDY, null, chain()));
        }
        return out;
    }

    private static io.specdec.core.backend.HeldChain chain() {
        return new io.specdec.core.backend.HeldChain() {
            @Override public String acceptance() { return "none"; }
            @Override public String draftTokens() { return "none"; }
            @Override public void close() { }
        };
    }

    static final io.specdec.core.sampling.SamplingParams GREEDY = io.specdec.core.sampling.SamplingParams.greedy();

    /** A chain that is never run: the layout only needs the round's shape. */
    static final io.specdec.core.backend.HeldChain CHAIN = new io.specdec.core.backend.HeldChain() {
        @Override public String acceptance() { return "none"; }
        @Override public String draftTokens() { return "none"; }
        @Override public void close() { }
    };

    static ModelConfig config(int window) {
        return new ModelConfig("test", 64, 128, 2, 4, 2, 16, 128, 256, 1e-5f, 10000, new RopeScaling.None(), RopeStyle.HALF,
                true, false, false, window, 0, Set.of());
    }
}
