package io.specdec.core.generate;

import io.specdec.core.backend.HeldLogits;
import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.sampling.LogitsProcessor;
import io.specdec.core.sampling.Sampler;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.sampling.TokenHistory;
import io.specdec.core.speculative.ChainDraft;
import io.specdec.core.speculative.ChainUniforms;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.SpeculativeSampler;
import io.specdec.core.testing.FakeLanguageModel;
import io.specdec.core.testing.FakeLanguageModel.LogitsFunction;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The hook that lets a backend verify a sampled chain where the logits are ({@link LanguageModel#holdDraftLogits},
 * {@link LanguageModel#forwardSampledHolding}, {@link LanguageModel#verifyHeld}): a backend that does not implement it
 * keeps today's host path, and one that does (here a host stand-in for a GPU) emits the host path's tokens for the
 * same seed, both with the default verifier and with an all-rows-at-once decision like the fused kernel's.
 */
class HeldAcceptanceTest {
    static final int V = 16;
    static final LogitsFunction TARGET = FakeLanguageModel.random(V, 1.5, 31);
    static final LogitsFunction DRAFT = FakeLanguageModel.noisy(TARGET, 1.0, 32);
    static final int[] PROMPT = {1, 5, 2, 7};
    static final SamplingParams T08 = SamplingParams.defaults().withTemperature(0.8).withMaxTokens(60).withIgnoreEos(true);

    @Test
    void aBackendWithoutTheHookHoldsNothingAndVerifiesOnTheHost() {
        FakeLanguageModel target = model(TARGET), draft = model(DRAFT);
        assertThat(target.holdDraftLogits(draft, T08)).isEmpty();
        assertThatThrownBy(() -> draft.forwardSampledHolding(null, T08, 0.5, null, 0))
                .isInstanceOf(UnsupportedOperationException.class);
        GenerationResult r = Generator.speculative(target, new ModelDrafter(draft), 4).generate(PROMPT, T08.withSeed(3L), null);
        assertThat(r.acceptance()).isEqualTo("host");
    }

    @Test
    void defaultVerifyHeldIsTheHostSpeculativeSampler() {
        FakeLanguageModel target = model(TARGET);
        LogitsProcessor processor = new LogitsProcessor(T08);
        int[] x = {3, 9, 4};
        HostHeld held = new HostHeld("test");
        for (int i = 0; i < x.length; i++) held.rows[i] = DRAFT.logits(new int[] {1, i});
        double[][] q = new double[x.length][];
        for (int i = 0; i < x.length; i++) q[i] = processor.probabilities(held.rows[i], TokenHistory.empty());
        for (long seed = 0; seed < 50; seed++) {
            KvSequence a = target.newSequence(), b = target.newSequence();
            int[] input = {1, 3, 9, 4};
            Sampler sa = Sampler.seeded(seed), sb = Sampler.seeded(seed);
            SpeculativeSampler.Outcome got = target.verifyHeld(SequenceInput.chainAllLogits(a, input), x, held, T08, sa);
            float[][] logits = target.forward(SequenceInput.chainAllLogits(b, input));
            SpeculativeSampler.Outcome expected = SpeculativeSampler.verify(new ChainDraft(x, q),
                    i -> processor.probabilities(logits[i], TokenHistory.empty()), false, sb);
            assertThat(got.accepted()).isEqualTo(expected.accepted());
            assertThat(got.emitted()).containsExactly(expected.emitted());
            assertThat(sa.uniform()).isEqualTo(sb.uniform());
            a.release();
            b.release();
        }
    }

    @Test
    void heldDraftsEmitTheHostPathTokens() {
        for (boolean allRows : new boolean[] {false, true}) {
            for (long seed = 1; seed <= 20; seed++) {
                SamplingParams params = T08.withSeed(seed);
                int[] host = Generator.speculative(model(TARGET), new ModelDrafter(model(DRAFT)), 4)
                        .generate(PROMPT, params, null).tokens();
                Holding target = new Holding(model(TARGET), allRows), draft = new Holding(model(DRAFT), allRows);
                GenerationResult held = Generator.speculative(target, new ModelDrafter(draft), 4).generate(PROMPT, params, null);
                assertThat(held.acceptance()).isEqualTo(allRows ? "all-rows" : "held-default");
                assertThat(held.tokens()).as("seed %d, all rows at once %b", seed, allRows).containsExactly(host);
                assertThat(target.opened).isEqualTo(1);
                assertThat(target.lastHeld.closed).isTrue();
            }
        }
    }

    @Test
    void sampledRequestsWithTruncationStayOnTheHostPath() {
        Holding target = new Holding(model(TARGET), false), draft = new Holding(model(DRAFT), false);
        GenerationResult r = Generator.speculative(target, new ModelDrafter(draft), 4)
                .generate(PROMPT, T08.withTopK(5).withSeed(2L), null);
        assertThat(r.acceptance()).isEqualTo("host");
        assertThat(target.opened).isZero();
    }

    @Test
    void aDrafterRefusesHeldDistributionsForTruncatedSampling() {
        ModelDrafter drafter = new ModelDrafter(model(DRAFT));
        drafter.begin(T08.withTopP(0.9), Sampler.seeded(1L), V);
        assertThatThrownBy(() -> drafter.holdDistributions(new HostHeld("x"))).isInstanceOf(IllegalArgumentException.class);
        drafter.end();
    }

    static FakeLanguageModel model(LogitsFunction f) {
        return new FakeLanguageModel("fake", V, 512, Set.of(), f);
    }

    /** Held rows on the host: what a GPU backend keeps in device memory. */
    static final class HostHeld implements HeldLogits {
        final float[][] rows = new float[64][];
        final String name;
        boolean closed;

        HostHeld(String name) { this.name = name; }

        @Override public int vocab() { return V; }

        @Override public float[] row(int i) { return rows[i].clone(); }

        @Override public String acceptance() { return name; }

        @Override public void close() { closed = true; }
    }

    /**
     * A model that keeps draft rows ({@link HostHeld}) and verifies them either with the interface's default or, like
     * the fused kernel, deciding every row at once from {@link ChainUniforms}.
     */
    static final class Holding implements LanguageModel {
        final FakeLanguageModel model;
        final boolean allRows;
        int opened;
        HostHeld lastHeld;
        final List<HostHeld> everyHeld = new java.util.ArrayList<>();

        Holding(FakeLanguageModel model, boolean allRows) {
            this.model = model;
            this.allRows = allRows;
        }

        @Override public ModelConfig config() { return model.config(); }

        @Override public KvSequence newSequence() { return model.newSequence(); }

        @Override public List<float[][]> forward(List<SequenceInput> batch) { return model.forward(batch); }

        @Override public Optional<HeldLogits> holdDraftLogits(LanguageModel draft, SamplingParams params) {
            if (!params.isTemperatureOnly() || !(draft instanceof Holding)) return Optional.empty();
            opened++;
            lastHeld = new HostHeld(allRows ? "all-rows" : "held-default");
            everyHeld.add(lastHeld);
            return Optional.of(lastHeld);
        }

        @Override public int forwardSampledHolding(SequenceInput input, SamplingParams params, double uniform, HeldLogits held, int row) {
            float[] logits = forward(input)[0];
            ((HostHeld) held).rows[row] = logits;
            return Sampler.inverseCdf(new LogitsProcessor(params).probabilities(logits, TokenHistory.empty()), uniform);
        }

        /** Batched held draft steps: one forward for all of them (the largest batch is kept for checks). */
        int largestHeldStep;
        /** forwardEach calls, and the held verifications they decided. */
        int eachCalls, heldVerified, sampledRows;

        @Override public int[] forwardSampledHolding(List<SequenceInput> batch, SamplingParams params, double[] uniforms,
                                                   List<HeldLogits> held, int[] rows) {
            largestHeldStep = Math.max(largestHeldStep, batch.size());
            List<float[][]> logits = forward(batch);
            int[] out = new int[batch.size()];
            for (int i = 0; i < out.length; i++) {
                float[] row = logits.get(i)[0];
                ((HostHeld) held.get(i)).rows[rows[i]] = row;
                out[i] = Sampler.inverseCdf(new LogitsProcessor(params).probabilities(row, TokenHistory.empty()), uniforms[i]);
            }
            return out;
        }

        @Override public List<io.specdec.core.backend.RowResult> forwardEach(List<SequenceInput> batch,
                                                                              List<io.specdec.core.backend.RowUse> uses) {
            eachCalls++;
            if (!allRows) {
                List<io.specdec.core.backend.RowResult> out = LanguageModel.super.forwardEach(batch, uses);
                heldVerified += (int) out.stream().filter(r -> r instanceof io.specdec.core.backend.RowResult.Verified).count();
                sampledRows += (int) out.stream().filter(r -> r instanceof io.specdec.core.backend.RowResult.Sampled).count();
                return out;
            }
            List<float[][]> logits = forward(batch);
            List<io.specdec.core.backend.RowResult> out = new java.util.ArrayList<>();
            for (int i = 0; i < batch.size(); i++) {
                float[][] rows = logits.get(i);
                out.add(switch (uses.get(i)) {
                    case io.specdec.core.backend.RowUse.Rows r -> new io.specdec.core.backend.RowResult.Rows(rows);
                    case io.specdec.core.backend.RowUse.Argmax a -> {
                        int[] ids = new int[rows.length];
                        for (int k = 0; k < rows.length; k++) ids[k] = LogitsProcessor.argmax(rows[k]);
                        yield new io.specdec.core.backend.RowResult.Argmax(ids);
                    }
                    case io.specdec.core.backend.RowUse.Sampled u -> {
                        sampledRows++;
                        yield new io.specdec.core.backend.RowResult.Sampled(LanguageModel.sampleOnHost(rows, u));
                    }
                    case io.specdec.core.backend.RowUse.HeldVerify h -> {
                        heldVerified++;
                        yield new io.specdec.core.backend.RowResult.Verified(allRowsDecision(rows, h.tokens(), h.held(),
                                h.params(), h.sampler()));
                    }
                    case io.specdec.core.backend.RowUse.HeldChainVerify h -> throw new AssertionError("this stand-in opens no held chains");
                });
            }
            return out;
        }

        @Override public SpeculativeSampler.Outcome verifyHeld(SequenceInput input, int[] tokens, HeldLogits held,
                                                              SamplingParams params, Sampler sampler) {
            if (!allRows) return LanguageModel.super.verifyHeld(input, tokens, held, params, sampler);
            return allRowsDecision(forward(input), tokens, held, params, sampler);
        }

        /** Every row decided at once from {@link ChainUniforms}, as the fused kernel decides. */
        static SpeculativeSampler.Outcome allRowsDecision(float[][] logits, int[] tokens, HeldLogits held,
                                                          SamplingParams params, Sampler sampler) {
            LogitsProcessor processor = new LogitsProcessor(params);
            int gamma = tokens.length;
            double[][] p = new double[gamma + 1][], q = new double[gamma][];
            for (int i = 0; i <= gamma; i++) p[i] = processor.probabilities(logits[i], TokenHistory.empty());
            for (int i = 0; i < gamma; i++) q[i] = processor.probabilities(held.row(i), TokenHistory.empty());
            ChainUniforms u = ChainUniforms.draw(sampler, gamma);
            SpeculativeSampler.Outcome outcome = io.specdec.core.speculative.ChainUniformsTest.allRows(p, q, tokens, u.accept(), u.sample());
            u.settle(sampler, outcome.accepted());
            return outcome;
        }

        @Override public void close() { }
    }
}
