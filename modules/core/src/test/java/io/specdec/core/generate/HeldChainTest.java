package io.specdec.core.generate;

import io.specdec.core.backend.AttentionMask;
import io.specdec.core.backend.HeldChain;
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

        HostChain(boolean greedy) { this.greedy = greedy; }

        @Override public String acceptance() { return greedy ? "stand-in-greedy" : "stand-in-sampled"; }

        @Override public String draftTokens() { return "host-stand-in"; }

        @Override public void close() { }
    }

    /** A model that drafts and verifies held chains, leaving placeholder (0) ids in its KV records as a GPU does. */
    static final class Holding implements LanguageModel {
        final FakeLanguageModel model;
        int rounds;

        Holding(FakeLanguageModel model) { this.model = model; }

        @Override public ModelConfig config() { return model.config(); }

        @Override public KvSequence newSequence() { return model.newSequence(); }

        @Override public List<float[][]> forward(List<SequenceInput> batch) { return model.forward(batch); }

        @Override public Optional<HeldChain> holdDraftChain(LanguageModel draft, SamplingParams params) {
            if (!(draft instanceof Holding)) return Optional.empty();
            return Optional.of(new HostChain(params.isGreedy()));
        }

        @Override public void draftHeldChain(List<SequenceInput> steps, SamplingParams params, double[] uniforms, HeldChain held) {
            HostChain chain = (HostChain) held;
            LogitsProcessor processor = new LogitsProcessor(params);
            int gamma = steps.size();
            chain.ids = new int[gamma];
            chain.rows = new float[gamma][];
            KvSequence seq = steps.getFirst().sequence();
            int placeholdersFrom = -1;
            for (int i = 0; i < gamma; i++) {
                SequenceInput s = steps.get(i);
                if (i > 0) {
                    s = new SequenceInput(s.sequence(), new int[] {chain.ids[i - 1]}, s.positions(), s.mask(), s.logitRows());
                    if (placeholdersFrom < 0) placeholdersFrom = seq.length();
                }
                float[] row = model.forward(s)[0];
                chain.rows[i] = row;
                chain.ids[i] = params.isGreedy() ? io.specdec.core.sampling.LogitsProcessor.argmax(row)
                        : Sampler.inverseCdf(processor.probabilities(row, TokenHistory.empty()), uniforms[i]);
            }
            if (placeholdersFrom >= 0) seq.relabel(placeholdersFrom, new int[seq.length() - placeholdersFrom]);
        }

        @Override public SpeculativeSampler.Outcome verifyHeldChain(SequenceInput input, HeldChain held, SamplingParams params,
                                                                   Sampler sampler) {
            HostChain chain = (HostChain) held;
            rounds++;
            int gamma = input.tokens().length - 1;
            assertThat(Arrays.copyOfRange(input.tokens(), 1, gamma + 1)).containsOnly(0);
            int[] tokens = input.tokens().clone();
            System.arraycopy(chain.ids, 0, tokens, 1, gamma);
            KvSequence seq = input.sequence();
            int start = seq.length();
            float[][] logits = model.forward(new SequenceInput(seq, tokens, input.positions(), AttentionMask.CAUSAL, input.logitRows()));
            seq.relabel(start + 1, new int[gamma]);
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
