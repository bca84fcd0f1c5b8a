package io.specdec.cpu;

import io.specdec.core.generate.GenerationResult;
import io.specdec.core.generate.Generator;
import io.specdec.core.generate.TokenListener;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.CardDrafter;
import io.specdec.core.speculative.GammaPolicy;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * CARD (docs/ALGORITHMS.md §4) on CPU devices: the draft grows its candidate tree on a thread group of its own while
 * the target verifies. Whatever the timing, the output equals the target's own greedy output, and the drafter's
 * query-and-correct finds the target's tokens in the tree.
 */
class CardDrafterTest {
    private static final int[] PROMPT = {0, 77, 301, 12, 1500, 33, 900, 7, 64, 2048};

    @Test
    void cardDraftingIsLosslessAndHitsItsTree() {
        try (LoadedModel target = BundledModels.load("target"); LoadedModel draft = BundledModels.load("draft");
             ParallelExecutor targetDevice = new ParallelExecutor(1, "card-target");
             ParallelExecutor draftDevice = new ParallelExecutor(1, "card-draft")) {
            SamplingParams greedy = SamplingParams.greedy().withMaxTokens(96).withIgnoreEos(true);
            CpuTransformer t = new CpuTransformer(target.config(), target.weights(), targetDevice, 2048, CpuModels.BLOCK_SIZE);
            int[] expected = Generator.plain(t).generate(PROMPT, greedy, TokenListener.NONE).tokens();
            for (int width : new int[] {1, 4}) {
                CardDrafter card = new CardDrafter(new CpuTransformer(draft.config(), draft.weights(), draftDevice, 2048,
                        CpuModels.BLOCK_SIZE), width, 8);
                GenerationResult r = new Generator(t, card, GammaPolicy.fixed(6)).generate(PROMPT, greedy, TokenListener.NONE);
                card.end();
                assertThat(r.tokens()).as("CARD width " + width).containsExactly(expected);
                System.out.printf("[card] width %d: acceptance %.3f, %.2f tokens per target forward, %s%n", width,
                        r.stats().acceptanceRate(), r.stats().tokensPerTargetForward(), card.stats());
                assertThat(card.stats().expansions()).isPositive();
            }
            // sampling: every emitted token is a target sample; the run is reproducible in length and finishes
            CardDrafter card = new CardDrafter(new CpuTransformer(draft.config(), draft.weights(), draftDevice, 2048,
                    CpuModels.BLOCK_SIZE), 4, 8);
            GenerationResult sampled = new Generator(t, card, GammaPolicy.fixed(6)).generate(PROMPT,
                    SamplingParams.defaults().withSeed(7L).withMaxTokens(64).withIgnoreEos(true), TokenListener.NONE);
            card.end();
            assertThat(sampled.tokens()).hasSize(64);
        }
    }

    /**
     * The benchmark-only proposal override (acceptance injection): told the target's continuation, the tree holds it
     * and every proposed token is accepted; told a wrong token, none is. The output is the target's either way.
     */
    @Test
    void proposalOverrideSteersTheTreeWithoutChangingTheOutput() {
        try (LoadedModel target = BundledModels.load("target"); LoadedModel draft = BundledModels.load("draft");
             ParallelExecutor targetDevice = new ParallelExecutor(1, "card-target");
             ParallelExecutor draftDevice = new ParallelExecutor(1, "card-draft")) {
            SamplingParams greedy = SamplingParams.greedy().withMaxTokens(48).withIgnoreEos(true);
            CpuTransformer t = new CpuTransformer(target.config(), target.weights(), targetDevice, 2048, CpuModels.BLOCK_SIZE);
            // the continuation runs past the 48 tokens asked, so a last round's proposals never fall off its end
            int[] longer = Generator.plain(t).generate(PROMPT, greedy.withMaxTokens(64), TokenListener.NONE).tokens();
            int[] expected = java.util.Arrays.copyOf(longer, 48);
            int[] truth = java.util.Arrays.copyOf(PROMPT, PROMPT.length + longer.length);
            System.arraycopy(longer, 0, truth, PROMPT.length, longer.length);
            for (boolean right : new boolean[] {true, false}) {
                CardDrafter card = new CardDrafter(new CpuTransformer(draft.config(), draft.weights(), draftDevice, 2048,
                        CpuModels.BLOCK_SIZE), 2, 6).withProposalOverride((path, proposed) -> {
                    int n = path.length;
                    boolean onTruth = n < truth.length && java.util.Arrays.equals(path, 0, n, truth, 0, n);
                    if (!onTruth) return proposed;
                    return right ? truth[n] : (truth[n] + 1) % target.config().vocabSize();
                });
                // a target slowed to 15 ms a forward, so the drafter's tree has grown when the target asks for it
                GenerationResult r = new Generator(slowed(t), card, GammaPolicy.fixed(4)).generate(PROMPT, greedy, TokenListener.NONE);
                card.end();
                assertThat(r.tokens()).containsExactly(expected);
                assertThat(r.stats().drafted()).as("proposals made").isPositive();
                assertThat(r.stats().acceptanceRate()).as("override to the " + (right ? "right" : "wrong") + " tokens")
                        .isEqualTo(right ? 1.0 : 0.0);
            }
        }
    }

    private static io.specdec.core.backend.LanguageModel slowed(io.specdec.core.backend.LanguageModel m) {
        return new io.specdec.core.backend.LanguageModel() {
            @Override public io.specdec.core.model.ModelConfig config() { return m.config(); }

            @Override public io.specdec.core.kv.KvSequence newSequence() { return m.newSequence(); }

            @Override public java.util.List<float[][]> forward(java.util.List<io.specdec.core.backend.SequenceInput> batch) {
                try {
                    Thread.sleep(15);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                return m.forward(batch);
            }

            @Override public void close() { }
        };
    }
}
