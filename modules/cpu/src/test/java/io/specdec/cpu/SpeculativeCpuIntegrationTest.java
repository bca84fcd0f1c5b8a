package io.specdec.cpu;

import io.specdec.core.generate.Generation;
import io.specdec.core.generate.GenerationResult;
import io.specdec.core.generate.Generator;
import io.specdec.core.generate.TokenListener;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.NgramDrafter;
import io.specdec.core.speculative.TreeDrafter;
import io.specdec.core.tensor.DType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * Speculative decoding over the real CPU transformer (random weights): a 3-layer target, its first layer as an
 * early-exit draft. Greedy speculation must reproduce plain greedy decoding, and the target KV must hold the context
 * minus its last token after every round.
 */
class SpeculativeCpuIntegrationTest {
    private static ParallelExecutor executor;
    private static Arena arena;
    private static ModelConfig config;
    private static TransformerWeights weights;
    private static final int[] PROMPT = {1, 17, 42, 5, 66, 8};

    @BeforeAll static void start() {
        executor = new ParallelExecutor(1, "spec-int");
        arena = Arena.ofShared();
        config = RandomModels.llama(64, 96, 3, 4, 2, 97);
        weights = RandomModels.weights(config, DType.F32, 11, arena);
    }

    @AfterAll static void stop() {
        executor.close();
        arena.close();
    }

    private static CpuTransformer target() {
        return new CpuTransformer(config, weights, executor, 512, CpuModels.BLOCK_SIZE);
    }

    private static CpuTransformer earlyExit() {
        ModelConfig c = config;
        ModelConfig d = new ModelConfig(c.architecture() + "-first1", c.dim(), c.hiddenDim(), 1, c.heads(), c.kvHeads(),
                c.headDim(), c.vocabSize(), c.maxSequenceLength(), c.rmsNormEps(), c.ropeTheta(), c.ropeScaling(),
                c.ropeStyle(), c.tiedEmbeddings(), c.qkvBias(), c.qkNorm(), c.slidingWindow(), c.bosTokenId(),
                c.eosTokenIds());
        return new CpuTransformer(d, new TransformerWeights(weights.tokenEmbedding(), weights.layers().subList(0, 1),
                weights.finalNorm(), weights.output()), executor, 512, CpuModels.BLOCK_SIZE);
    }

    @Test
    void greedySpeculationEqualsTargetGreedyOnTheCpuTransformer() {
        SamplingParams params = SamplingParams.greedy().withMaxTokens(40).withIgnoreEos(true);
        int[] expected = Generator.plain(target()).generate(PROMPT, params, TokenListener.NONE).tokens();
        // early-exit chain, early-exit tree, prompt lookup, and the target itself as a draft (always accepted)
        List<Function<CpuTransformer, Drafter>> drafters = List.of(
                ModelDrafter::new, d -> new TreeDrafter(d, 3, 2, 1), d -> new NgramDrafter(1, 3), d -> new ModelDrafter(target()));
        for (Function<CpuTransformer, Drafter> make : drafters) {
            CpuTransformer target = target();
            Drafter drafter = make.apply(earlyExit());
            Generator g = new Generator(target, drafter, GammaPolicy.fixed(4));
            try (Generation run = g.start(PROMPT, params, TokenListener.NONE, null)) {
                while (run.step()) {
                    int[] context = run.context();
                    assertThat(run.targetSequence().tokens()).containsExactly(Arrays.copyOf(context, context.length - 1));
                }
                GenerationResult r = run.result();
                assertThat(r.tokens()).as(drafter.toString()).containsExactly(expected);
                assertThat(r.stats().emitted()).isEqualTo(expected.length);
            }
        }
    }

    @Test
    void sampledSpeculationIsReproduciblePerSeed() {
        SamplingParams params = SamplingParams.defaults().withMaxTokens(30).withSeed(99L).withIgnoreEos(true);
        int[] a = new Generator(target(), new ModelDrafter(earlyExit()), GammaPolicy.fixed(3)).generate(PROMPT, params, TokenListener.NONE).tokens();
        int[] b = new Generator(target(), new ModelDrafter(earlyExit()), GammaPolicy.fixed(3)).generate(PROMPT, params, TokenListener.NONE).tokens();
        assertThat(a).containsExactly(b);
    }
}
