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
}
