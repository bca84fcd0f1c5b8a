package io.specdec.cpu;

import io.specdec.core.backend.AttentionMask;
import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.generate.Generator;
import io.specdec.core.generate.TokenListener;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeScaling;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

import java.lang.foreign.Arena;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Tensor parallelism on CPU devices (thread groups with in-memory collectives): a model split over 2 or 4 devices
 * computes the same logits as the whole model (up to float summation order) and generates the same greedy tokens.
 */
class TensorParallelTest {

    @Test
    void bundledTargetSplitOverTwoAndFourDevicesGeneratesWhatTheWholeModelGenerates() {
        try (LoadedModel model = BundledModels.load("target");
             ParallelExecutor executor = new ParallelExecutor(1, "tp-whole")) {
            int[] prompt = {0, 77, 301, 12, 1500, 33, 900, 7};
            SamplingParams params = SamplingParams.greedy().withMaxTokens(64).withIgnoreEos(true);
            CpuTransformer whole = new CpuTransformer(model.config(), model.weights(), executor, 1024, CpuModels.BLOCK_SIZE);
            int[] expected = Generator.plain(whole).generate(prompt, params, TokenListener.NONE).tokens();
            for (int size : new int[] {2, 4}) {
                try (CpuTensorParallelModel tp = new CpuTensorParallelModel(model.config(), model.weights(), size, 1, 1024,
                        CpuModels.BLOCK_SIZE)) {
                    int[] got = Generator.plain(tp).generate(prompt, params, TokenListener.NONE).tokens();
                    assertThat(got).as("greedy tokens with TP=" + size).containsExactly(expected);
                    assertThat(maxRelativeError(whole, tp, prompt)).as("logits TP=" + size).isLessThan(1e-4);
                }
            }
        }
    }

    /** GQA, q/k/v bias, q/k norm, a sliding window, untied output; ragged batch with a tree-masked input. */
    @ParameterizedTest
    @EnumSource(value = DType.class, names = {"F32", "BF16", "Q8_0"})
    void everyFamilySwitchAndStorageTypeSplitsExactly(DType type) {
        ModelConfig c = RandomModels.with(RandomModels.llama(128, 192, 2, 4, 2, 96), new RopeScaling.None(),
                RopeStyle.HALF, false, true, true, 5);
        try (Arena arena = Arena.ofShared(); ParallelExecutor executor = new ParallelExecutor(1, "tp-random")) {
            TransformerWeights w = RandomModels.weights(c, type, 5, arena);
            CpuTransformer whole = new CpuTransformer(c, w, executor, 256, 4);
            try (CpuTensorParallelModel tp = new CpuTensorParallelModel(c, w, 2, 1, 256, 4)) {
                float[][][] a = raggedForward(whole);
                float[][][] b = raggedForward(tp);
                for (int i = 0; i < a.length; i++) {
                    for (int r = 0; r < a[i].length; r++) assertThat(relativeError(a[i][r], b[i][r])).isLessThan(1e-4);
                }
            }
        }
    }

    @Test
    void refusesASplitThatDoesNotDivideAndABadTokenWithoutBreakingTheGroup() {
        ModelConfig c = RandomModels.llama(64, 96, 1, 4, 4, 64);
        try (Arena arena = Arena.ofShared()) {
            TransformerWeights w = RandomModels.weights(c, DType.F32, 3, arena);
            assertThatThrownBy(() -> new CpuTensorParallelModel(c, w, 3, 1, 64, 4))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("kv heads");
            try (CpuTensorParallelModel tp = new CpuTensorParallelModel(c, w, 2, 1, 64, 4)) {
                KvSequence seq = tp.newSequence();
                assertThatThrownBy(() -> tp.forward(SequenceInput.chainLastLogits(seq, new int[] {1, 64})))
                        .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("outside the vocabulary");
                assertThat(seq.length()).isZero();
                assertThat(tp.forward(SequenceInput.chainLastLogits(seq, new int[] {1, 2}))[0]).hasSize(64);
            }
        }
    }

    private static float[][][] raggedForward(LanguageModel m) {
        KvSequence a = m.newSequence();
        KvSequence b = m.newSequence();
        m.forward(List.of(SequenceInput.chainLastLogits(a, new int[] {1, 5, 9, 13, 20, 31, 40}),
                SequenceInput.chainLastLogits(b, new int[] {3, 4})));
        int[] tree = {50, 51, 52, 53};
        SequenceInput treeInput = new SequenceInput(b, tree, new int[] {2, 3, 3, 4}, AttentionMask.tree(new int[] {-1, 0, 0, 1}),
                new int[] {0, 1, 2, 3});
        List<float[][]> out = m.forward(List.of(SequenceInput.chainAllLogits(a, new int[] {7, 8, 9}), treeInput));
        return out.toArray(new float[0][][]);
    }

    private static double maxRelativeError(LanguageModel whole, LanguageModel tp, int[] prompt) {
        float[] a = whole.forward(SequenceInput.chainLastLogits(whole.newSequence(), prompt))[0];
        float[] b = tp.forward(SequenceInput.chainLastLogits(tp.newSequence(), prompt))[0];
        return relativeError(a, b);
    }

    static double relativeError(float[] a, float[] b) {
        double diff = 0, norm = 0;
        for (int i = 0; i < a.length; i++) {
            diff = Math.max(diff, Math.abs(a[i] - b[i]));
            norm = Math.max(norm, Math.abs(a[i]));
        }
        return diff / Math.max(norm, 1e-30);
    }
}
