package io.specdec.core.generate;

import io.specdec.core.backend.AttentionMask;
import io.specdec.core.backend.HeldChain;
import io.specdec.core.backend.HeldRound;
import io.specdec.core.backend.RowResult;
import io.specdec.core.backend.RowUse;
import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.sampling.LogitsProcessor;
import io.specdec.core.sampling.Sampler;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.sampling.TokenHistory;
import io.specdec.core.speculative.ChainDraft;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.SpeculativeSampler;
import io.specdec.core.testing.FakeLanguageModel;
import io.specdec.core.testing.FakeLanguageModel.LogitsFunction;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The hook that keeps a whole chain round where the models run ({@link LanguageModel#holdDraftChain},
 * {@link LanguageModel#draftHeldChain}, {@link LanguageModel#verifyHeldChain}): with a host stand-in for a GPU that,
 * like the CUDA backend, leaves placeholder ids in both KV sequences' records, greedy output equals the target's own
 * greedy output and sampled output equals the step-by-step path's for the same seed. The fake models read their
 * context back from the KV records, so a placeholder left where a real id belongs changes their logits.
 */
class HeldChainTest {
    static final int V = 16;
    static final LogitsFunction TARGET = FakeLanguageModel.random(V, 1.5, 41);
    static final LogitsFunction DRAFT = FakeLanguageModel.noisy(TARGET, 1.0, 42);
    static final int[] PROMPT = {1, 5, 2, 7};
    static final SamplingParams GREEDY = SamplingParams.defaults().withTemperature(0).withMaxTokens(50).withIgnoreEos(true);
    static final SamplingParams T08 = GREEDY.withTemperature(0.8);

    @Test
    void greedyHeldChainEqualsTargetGreedy() {
        GenerationResult plain = Generator.plain(model(TARGET)).generate(PROMPT, GREEDY, null);
        Holding target = new Holding(model(TARGET)), draft = new Holding(model(DRAFT));
        GenerationResult held = Generator.speculative(target, new ModelDrafter(draft), 4).generate(PROMPT, GREEDY, null);
        assertThat(held.tokens()).containsExactly(plain.tokens());
        assertThat(held.draftTokens()).isEqualTo("host-stand-in");
        assertThat(held.acceptance()).isEqualTo("stand-in-greedy");
        assertThat(target.rounds).isGreaterThan(5);
        assertThat(held.stats().accepted()).isLessThan(held.stats().drafted());   // rejections happened
    }

    @Test
    void sampledHeldChainEqualsTheStepByStepPath() {
        for (long seed = 0; seed < 20; seed++) {
            SamplingParams p = T08.withSeed(seed);
            GenerationResult host = Generator.speculative(model(TARGET), new ModelDrafter(model(DRAFT)), 3).generate(PROMPT, p, null);
            GenerationResult held = Generator.speculative(new Holding(model(TARGET)), new ModelDrafter(new Holding(model(DRAFT))), 3)
                    .generate(PROMPT, p, null);
            assertThat(held.tokens()).as("seed " + seed).containsExactly(host.tokens());
            assertThat(held.stats().accepted()).isEqualTo(host.stats().accepted());
            assertThat(held.acceptance()).isEqualTo("stand-in-sampled");
            assertThat(host.draftTokens()).isEqualTo("host");
        }
    }

    @Test
    void heldStepsFollowTheFirstInputOneTokenAtATime() {
        FakeLanguageModel m = model(DRAFT);
        KvSequence s = m.newSequence();
        SequenceInput first = SequenceInput.chainLastLogits(s, new int[] {3, 4, 5});
        List<SequenceInput> steps = ModelDrafter.heldSteps(first, 4);
        assertThat(steps).hasSize(4);
        assertThat(steps.getFirst()).isSameAs(first);
        for (int i = 1; i < 4; i++) {
            assertThat(steps.get(i).positions()).containsExactly(2 + i);
            assertThat(steps.get(i).logitRows()).containsExactly(0);
            assertThat(steps.get(i).sequence()).isSameAs(s);
        }
    }

    static FakeLanguageModel model(LogitsFunction f) {
        return new FakeLanguageModel("fake", V, 512, Set.of(), f);
    }

    /** The ids and logits of one round, where a GPU backend keeps them in device memory. */
    static final class HostChain implements HeldChain {
        final boolean greedy;
        int[] ids = new int[0];
        float[][] rows = new float[0][];

        boolean closed;

        HostChain(boolean greedy) { this.greedy = greedy; }

        @Override public String acceptance() { return greedy ? "stand-in-greedy" : "stand-in-sampled"; }

        @Override public String draftTokens() { return "host-stand-in"; }

        @Override public void close() { closed = true; }
    }

    /** A model that drafts and verifies held chains, leaving placeholder (0) ids in its KV records as a GPU does. */
    static final class Holding implements LanguageModel {
        final FakeLanguageModel model;
        /** Whether it tells a batch scheduler that it verifies held chains in batches. */
        final boolean batches;
        int rounds;
        int batchedDraftForwards;
        final List<HostChain> opened = new java.util.ArrayList<>();

        Holding(FakeLanguageModel model) { this(model, true); }

        Holding(FakeLanguageModel model, boolean batches) {
            this.model = model;
            this.batches = batches;
        }

        @Override public ModelConfig config() { return model.config(); }

        @Override public KvSequence newSequence() { return model.newSequence(); }

        @Override public List<float[][]> forward(List<SequenceInput> batch) { return model.forward(batch); }

        @Override public Optional<HeldChain> holdDraftChain(LanguageModel draft, SamplingParams params) {
            if (!(draft instanceof Holding)) return Optional.empty();
            HostChain chain = new HostChain(params.isGreedy());
            opened.add(chain);
            return Optional.of(chain);
        }

        @Override public void draftHeldChain(List<SequenceInput> steps, SamplingParams params, double[] uniforms, HeldChain held) {
            draftHeldChains(List.of(new HeldRound(steps, params, uniforms, held)));
        }

        /** Draft position i of every round in one forward, as a GPU batches them; placeholders left in the records. */
        @Override public void draftHeldChains(List<HeldRound> rounds) {
            int longest = 0;
            int[] placeholdersFrom = new int[rounds.size()];
            for (int r = 0; r < rounds.size(); r++) {
                HostChain chain = (HostChain) rounds.get(r).chain();
                chain.ids = new int[rounds.get(r).gamma()];
                chain.rows = new float[rounds.get(r).gamma()][];
                longest = Math.max(longest, rounds.get(r).gamma());
                placeholdersFrom[r] = -1;
            }
            for (int i = 0; i < longest; i++) {
                List<Integer> active = new java.util.ArrayList<>();
                List<SequenceInput> inputs = new java.util.ArrayList<>();
                for (int r = 0; r < rounds.size(); r++) {
                    HeldRound round = rounds.get(r);
                    if (i >= round.gamma()) continue;
                    SequenceInput s = round.steps().get(i);
                    if (i > 0) {
                        assertThat(s.tokens()).containsExactly(0);
                        s = new SequenceInput(s.sequence(), new int[] {((HostChain) round.chain()).ids[i - 1]}, s.positions(), s.mask(), s.logitRows());
                        if (placeholdersFrom[r] < 0) placeholdersFrom[r] = s.sequence().length();
                    }
                    active.add(r);
                    inputs.add(s);
                }
                batchedDraftForwards++;
                List<float[][]> logits = model.forward(inputs);
                for (int k = 0; k < active.size(); k++) {
                    HeldRound round = rounds.get(active.get(k));
                    HostChain chain = (HostChain) round.chain();
                    float[] row = logits.get(k)[0];
                    chain.rows[i] = row;
                    chain.ids[i] = round.params().isGreedy() ? LogitsProcessor.argmax(row)
                            : Sampler.inverseCdf(new LogitsProcessor(round.params()).probabilities(row, TokenHistory.empty()), round.uniforms()[i]);
                }
            }
            for (int r = 0; r < rounds.size(); r++) {
                KvSequence seq = rounds.get(r).steps().getFirst().sequence();
                if (placeholdersFrom[r] >= 0) seq.relabel(placeholdersFrom[r], new int[seq.length() - placeholdersFrom[r]]);
            }
        }

        @Override public SpeculativeSampler.Outcome verifyHeldChain(SequenceInput input, HeldChain held, SamplingParams params,
                                                                   Sampler sampler) {
            assertThat(input.tokens().length).isEqualTo(((HostChain) held).ids.length + 1);
            RowResult r = forwardEach(List.of(input), List.of(new RowUse.HeldChainVerify(held, params, sampler))).getFirst();
            return ((RowResult.Verified) r).outcome();
        }

        @Override public boolean verifiesHeldChainsInBatches() { return batches; }

        /** One forward; held chains' placeholders replaced by their ids and left in the records afterwards, as on a GPU. */
        @Override public List<RowResult> forwardEach(List<SequenceInput> batch, List<RowUse> uses) {
            List<SequenceInput> real = new java.util.ArrayList<>(batch.size());
            int[] placeholdersAt = new int[batch.size()];
            for (int i = 0; i < batch.size(); i++) {
                SequenceInput in = batch.get(i);
                placeholdersAt[i] = -1;
                if (uses.get(i) instanceof RowUse.HeldChainVerify h) {
                    int[] ids = ((HostChain) h.chain()).ids;
                    int gamma = ids.length, n = in.tokens().length;
                    assertThat(in.logitRows()).hasSize(gamma + 1);
                    assertThat(Arrays.copyOfRange(in.tokens(), n - gamma, n)).containsOnly(0);
                    int[] tokens = in.tokens().clone();
                    System.arraycopy(ids, 0, tokens, n - gamma, gamma);
                    placeholdersAt[i] = in.sequence().length() + n - gamma;
                    in = new SequenceInput(in.sequence(), tokens, in.positions(), in.mask(), in.logitRows());
                }
                real.add(in);
            }
            List<float[][]> logits = model.forward(real);
            List<RowResult> out = new java.util.ArrayList<>(batch.size());
            for (int i = 0; i < batch.size(); i++) {
                float[][] rows = logits.get(i);
                out.add(switch (uses.get(i)) {
                    case RowUse.Rows r -> new RowResult.Rows(rows);
                    case RowUse.Argmax a -> new RowResult.Argmax(LanguageModel.argmaxOfRows(List.<float[][]>of(rows)));
                    case RowUse.Sampled u -> new RowResult.Sampled(LanguageModel.sampleOnHost(rows, u));
                    case RowUse.HeldVerify h -> throw new AssertionError("the stand-in holds no draft logits");
                    case RowUse.HeldChainVerify h -> {
                        int gamma = ((HostChain) h.chain()).ids.length;
                        batch.get(i).sequence().relabel(placeholdersAt[i], new int[gamma]);
                        rounds++;
                        yield new RowResult.Verified(decide((HostChain) h.chain(), rows, h.params(), h.sampler()));
                    }
                });
            }
            return out;
        }

        private static SpeculativeSampler.Outcome decide(HostChain chain, float[][] logits, SamplingParams params, Sampler sampler) {
            int gamma = chain.ids.length;
            int[] x = Arrays.copyOf(chain.ids, gamma);
            if (params.isGreedy()) return SpeculativeSampler.Outcome.greedy(x, LanguageModel.argmaxOfRows(List.<float[][]>of(logits)), 0);
            LogitsProcessor processor = new LogitsProcessor(params);
            double[][] q = new double[gamma][];
            for (int i = 0; i < gamma; i++) q[i] = processor.probabilities(chain.rows[i], TokenHistory.empty());
            return SpeculativeSampler.verify(new ChainDraft(x, q), i -> processor.probabilities(logits[i], TokenHistory.empty()),
                    false, sampler);
        }

        @Override public void close() { }
    }
}
