package io.specdec.cpu;

import io.specdec.core.backend.SequenceInput;
import io.specdec.core.generate.GenerationResult;
import io.specdec.core.generate.Generator;
import io.specdec.core.generate.TokenListener;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.parallel.CalibrationPolicy;
import io.specdec.core.parallel.EasySpecDraftModel;
import io.specdec.core.parallel.LayerGroupPlan;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.tensor.DType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.EnumMap;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * EasySpec layer-parallel drafting on CPU devices (docs/ALGORITHMS.md §3): the fuzzy step is exact where the plan
 * has no multi-layer group and approximate where it has; drafting with it never changes what the target emits.
 */
class EasySpecTest {
    private static final int[] PROMPT = {0, 77, 301, 12, 1500, 33, 900, 7, 64, 2048};

    @Test
    void aPlanOfOneLayerGroupsIsExactAndAGroupedPlanIsNot() {
        ModelConfig c = RandomModels.llama(64, 96, 3, 4, 2, 97);
        try (Arena arena = Arena.ofShared()) {
            TransformerWeights w = RandomModels.weights(c, DType.F32, 9, arena);
            int[] tokens = {1, 5, 9, 13, 20, 31, 40};
            try (CpuLayerParallelModel single = new CpuLayerParallelModel(c, w, LayerGroupPlan.parse("0|1|2"), 2, 1, 128, 4)) {
                float[] exact = single.forward(SequenceInput.chainLastLogits(single.newSequence(), tokens))[0];
                float[] fuzzy = single.forwardFuzzy(java.util.List.of(SequenceInput.chainLastLogits(single.newSequence(), tokens))).getFirst()[0];
                assertThat(fuzzy).containsExactly(exact);
            }
            try (CpuLayerParallelModel grouped = new CpuLayerParallelModel(c, w, LayerGroupPlan.parse("0-1|2"), 2, 1, 128, 4)) {
                float[] exact = grouped.forward(SequenceInput.chainLastLogits(grouped.newSequence(), tokens))[0];
                float[] fuzzy = grouped.forwardFuzzy(java.util.List.of(SequenceInput.chainLastLogits(grouped.newSequence(), tokens))).getFirst()[0];
                assertThat(TensorParallelTest.relativeError(exact, fuzzy)).as("layer 1 misses layer 0's attention").isGreaterThan(1e-4);
            }
            assertThatThrownBy(() -> new CpuLayerParallelModel(c, w, LayerGroupPlan.parse("0-2"), 2, 1, 128, 4))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("only 2 draft devices");
        }
    }

    @Test
    void easySpecDraftingIsLosslessOnTheBundledPairUnderEveryCalibrationPolicy() {
        try (LoadedModel target = BundledModels.load("target"); LoadedModel draft = BundledModels.load("draft");
             ParallelExecutor executor = new ParallelExecutor(1, "easyspec-target")) {
            SamplingParams params = SamplingParams.greedy().withMaxTokens(96).withIgnoreEos(true);
            CpuTransformer t = new CpuTransformer(target.config(), target.weights(), executor, 2048, CpuModels.BLOCK_SIZE);
            int[] expected = Generator.plain(t).generate(PROMPT, params, TokenListener.NONE).tokens();

            CpuTransformer sequentialDraft = new CpuTransformer(draft.config(), draft.weights(), executor, 2048, CpuModels.BLOCK_SIZE);
            GenerationResult sequential = new Generator(t, new ModelDrafter(sequentialDraft), GammaPolicy.fixed(4))
                    .generate(PROMPT, params, TokenListener.NONE);
            assertThat(sequential.tokens()).containsExactly(expected);

            Map<CalibrationPolicy, EasySpecDraftModel.Stats> stats = new EnumMap<>(CalibrationPolicy.class);
            for (CalibrationPolicy policy : CalibrationPolicy.values()) {
                try (EasySpecDraftModel easy = new EasySpecDraftModel(new CpuLayerParallelModel(draft.config(), draft.weights(),
                        LayerGroupPlan.parse("0-1"), 2, 1, 2048, CpuModels.BLOCK_SIZE), policy)) {
                    GenerationResult r = new Generator(t, new ModelDrafter(easy), GammaPolicy.fixed(4))
                            .generate(PROMPT, params, TokenListener.NONE);
                    assertThat(r.tokens()).as("EasySpec " + policy).containsExactly(expected);
                    stats.put(policy, easy.stats());
                    System.out.printf("[easyspec] %-14s acceptance %.3f (sequential %.3f) %s%n", policy,
                            r.stats().acceptanceRate(), sequential.stats().acceptanceRate(), easy.stats());
                    assertThat(r.stats().drafted()).isPositive();
                }
            }
            assertThat(stats.get(CalibrationPolicy.NEVER).calibrations()).isZero();
            assertThat(stats.get(CalibrationPolicy.NEVER).exactTokens()).isEqualTo(PROMPT.length);
            assertThat(stats.get(CalibrationPolicy.EVERY_ROUND).recomputedTokens()).isPositive();
            assertThat(stats.get(CalibrationPolicy.EVERY_MISMATCH).calibrations())
                    .isLessThanOrEqualTo(stats.get(CalibrationPolicy.EVERY_ROUND).calibrations());
        }
    }
}
