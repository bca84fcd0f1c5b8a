package io.specdec.cpu;

import io.specdec.core.backend.AttentionMask;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeScaling;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.tensor.DType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class CpuTransformerTest {
    private static ParallelExecutor executor;
    private static final ModelConfig BASE = RandomModels.llama(64, 96, 2, 4, 2, 97);

    @BeforeAll static void start() { executor = new ParallelExecutor(2, "test-cpu"); }

    @AfterAll static void stop() { executor.close(); }

    static Stream<Arguments> families() {
        return Stream.of(
                Arguments.of("llama2 interleaved rope, tied", BASE),
                Arguments.of("llama3 rope scaling, half rope, untied", RandomModels.with(BASE,
                        new RopeScaling.Llama3(8, 1, 4, 32), RopeStyle.HALF, false, false, false, 0)),
                Arguments.of("qwen2 q/k/v bias, linear scaling", RandomModels.with(BASE,
                        new RopeScaling.Linear(2), RopeStyle.HALF, false, true, false, 0)),
                Arguments.of("qwen3 q/k norm, ntk scaling", RandomModels.with(BASE,
                        new RopeScaling.Ntk(4), RopeStyle.HALF, true, false, true, 0)),
                Arguments.of("mistral sliding window 5", RandomModels.with(BASE,
                        new RopeScaling.None(), RopeStyle.HALF, false, false, false, 5)));
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("families")
    void decodeMatchesScalarReferenceForEveryFamilySwitch(String name, ModelConfig config) {
        try (Arena arena = Arena.ofShared()) {
            TransformerWeights w = RandomModels.weights(config, DType.F32, 7, arena);
            CpuTransformer model = new CpuTransformer(config, w, executor, 64, 4);
            ScalarReference reference = new ScalarReference(config, w);
            int[] tokens = randomTokens(11, config.vocabSize(), 3);
            KvSequence seq = model.newSequence();
            // prefill 6 tokens in one chunk, then decode the rest one by one, checking every step
            float[] logits = model.forward(SequenceInput.chainLastLogits(seq, java.util.Arrays.copyOf(tokens, 6)))[0];
            assertClose(logits, reference.lastLogits(java.util.Arrays.copyOf(tokens, 6), iota(6), causal(6)), 2e-4, name + " prefill");
            for (int n = 7; n <= tokens.length; n++) {
                logits = model.forward(SequenceInput.chainLastLogits(seq, new int[]{tokens[n - 1]}))[0];
                assertClose(logits, reference.lastLogits(java.util.Arrays.copyOf(tokens, n), iota(n), causal(n)), 2e-4, name + " step " + n);
            }
        }
    }

    @ParameterizedTest
    @EnumSource(DType.class)
    void everyStorageTypeMatchesScalarDequantizedReference(DType type) {
        ModelConfig config = RandomModels.llama(64, 96, 2, 4, 4, 64);
        try (Arena arena = Arena.ofShared()) {
            TransformerWeights w = RandomModels.weights(config, type, 11, arena);
            CpuTransformer model = new CpuTransformer(config, w, executor, 64, 8);
            ScalarReference reference = new ScalarReference(config, w);
            int[] tokens = randomTokens(9, config.vocabSize(), 5);
            // batched path (expanded rows, 4x4 tiles) and single-token path (streaming dot) both checked
            float[][] all = model.forward(SequenceInput.chainAllLogits(model.newSequence(), tokens));
            assertClose(all[8], reference.lastLogits(tokens, iota(9), causal(9)), 5e-4, type + " batched");
            KvSequence seq = model.newSequence();
            float[] last = null;
            for (int t : tokens) last = model.forward(SequenceInput.chainLastLogits(seq, new int[]{t}))[0];
            assertClose(last, reference.lastLogits(tokens, iota(9), causal(9)), 5e-4, type + " decode");
        }
    }

    @Test
    void treeMaskForwardEqualsEachRootToLeafPathAlone() {
        try (Arena arena = Arena.ofShared()) {
            TransformerWeights w = RandomModels.weights(BASE, DType.F32, 3, arena);
            CpuTransformer model = new CpuTransformer(BASE, w, executor, 256, 4);
            int[] prefix = {5, 9, 14, 3, 22};
            // tree: 0 -> (1 -> 3, 2 -> 4 -> 5); nodes in topological order
            int[] nodes = {40, 41, 42, 43, 44, 45};
            int[] parents = {-1, 0, 0, 1, 2, 4};
            int[] depth = {0, 1, 1, 2, 2, 3};
            KvSequence seq = model.newSequence();
            model.forward(SequenceInput.chainLastLogits(seq, prefix));
            int[] positions = new int[nodes.length];
            for (int i = 0; i < nodes.length; i++) positions[i] = prefix.length + depth[i];
            float[][] tree = model.forward(new SequenceInput(seq, nodes, positions, AttentionMask.tree(parents),
                    new int[]{0, 1, 2, 3, 4, 5}));
            for (int node = 0; node < nodes.length; node++) {
                // the path root..node as a plain chain on a fresh sequence
                java.util.ArrayList<Integer> path = new java.util.ArrayList<>();
                for (int a = node; a >= 0; a = parents[a]) path.addFirst(nodes[a]);
                int[] chain = java.util.stream.IntStream.concat(java.util.Arrays.stream(prefix),
                        path.stream().mapToInt(Integer::intValue)).toArray();
                float[] alone = model.forward(SequenceInput.chainLastLogits(model.newSequence(), chain))[0];
                assertClose(tree[node], toDouble(alone), 1e-4, "tree node " + node);
            }
        }
    }

    @Test
    void keepingTheAcceptedTreePathLeavesTheSameCacheAsDecodingIt() {
        try (Arena arena = Arena.ofShared()) {
            TransformerWeights w = RandomModels.weights(BASE, DType.F32, 4, arena);
            CpuTransformer model = new CpuTransformer(BASE, w, executor, 256, 4);
            int[] prefix = {1, 2, 3};
            KvSequence seq = model.newSequence();
            model.forward(SequenceInput.chainLastLogits(seq, prefix));
            int[] nodes = {10, 11, 12, 13};
            int[] parents = {-1, -1, 1, 2};
            model.forward(new SequenceInput(seq, nodes, new int[]{3, 3, 4, 5}, AttentionMask.tree(parents), new int[]{0}));
            seq.keepOnly(3, new int[]{4, 5, 6}); // path 11 -> 12 -> 13
            float[] next = model.forward(SequenceInput.chainLastLogits(seq, new int[]{20}))[0];
            float[] direct = model.forward(SequenceInput.chainLastLogits(model.newSequence(), new int[]{1, 2, 3, 11, 12, 13, 20}))[0];
            assertClose(next, toDouble(direct), 1e-4, "after compaction");
        }
    }

    @Test
    void raggedBatchEqualsSeparateForwardsAndForksDivergeIndependently() {
        try (Arena arena = Arena.ofShared()) {
            TransformerWeights w = RandomModels.weights(BASE, DType.F32, 5, arena);
            CpuTransformer model = new CpuTransformer(BASE, w, executor, 512, 4);
            KvSequence a = model.newSequence();
            model.forward(SequenceInput.chainLastLogits(a, new int[]{1, 7, 8, 9, 10, 11}));
            KvSequence b = a.fork();
            KvSequence c = model.newSequence();
            List<float[][]> out = model.forward(List.of(
                    SequenceInput.chainAllLogits(a, new int[]{30, 31}),
                    SequenceInput.chainLastLogits(b, new int[]{40}),
                    SequenceInput.chainLastLogits(c, new int[]{1, 2, 3, 4, 5, 6, 7})));
            float[] aDirect = model.forward(SequenceInput.chainLastLogits(model.newSequence(), new int[]{1, 7, 8, 9, 10, 11, 30, 31}))[0];
            float[] bDirect = model.forward(SequenceInput.chainLastLogits(model.newSequence(), new int[]{1, 7, 8, 9, 10, 11, 40}))[0];
            float[] cDirect = model.forward(SequenceInput.chainLastLogits(model.newSequence(), new int[]{1, 2, 3, 4, 5, 6, 7}))[0];
            assertClose(out.get(0)[1], toDouble(aDirect), 1e-4, "a");
            assertClose(out.get(1)[0], toDouble(bDirect), 1e-4, "b (fork)");
            assertClose(out.get(2)[0], toDouble(cDirect), 1e-4, "c");
            assertThat(out.get(0)).hasNumberOfRows(2);
        }
    }

    @Test
    void truncatingRejectedDraftsRestoresTheEarlierState() {
        try (Arena arena = Arena.ofShared()) {
            TransformerWeights w = RandomModels.weights(BASE, DType.F32, 6, arena);
            CpuTransformer model = new CpuTransformer(BASE, w, executor, 128, 4);
            KvSequence seq = model.newSequence();
            model.forward(SequenceInput.chainLastLogits(seq, new int[]{1, 2, 3, 4, 5}));
            int freeBefore = model.cache().freeBlocks();
            model.forward(SequenceInput.chainAllLogits(seq, new int[]{60, 61, 62, 63, 64, 65, 66}));
            seq.truncate(5);
            assertThat(model.cache().freeBlocks()).isEqualTo(freeBefore);
            float[] after = model.forward(SequenceInput.chainLastLogits(seq, new int[]{6}))[0];
            float[] direct = model.forward(SequenceInput.chainLastLogits(model.newSequence(), new int[]{1, 2, 3, 4, 5, 6}))[0];
            assertClose(after, toDouble(direct), 1e-5, "after truncate");
        }
    }

    @Test
    void rejectsTokenOutsideTheVocabularyWithoutCorruptingTheSequence() {
        try (Arena arena = Arena.ofShared()) {
            TransformerWeights w = RandomModels.weights(BASE, DType.F32, 8, arena);
            CpuTransformer model = new CpuTransformer(BASE, w, executor, 64, 4);
            KvSequence seq = model.newSequence();
            model.forward(SequenceInput.chainLastLogits(seq, new int[]{1, 2}));
            assertThatThrownBy(() -> model.forward(SequenceInput.chainLastLogits(seq, new int[]{3, 1000})))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("1000");
            assertThat(seq.length()).isEqualTo(2);
        }
    }

    private static int[] randomTokens(int n, int vocab, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] t = new int[n];
        for (int i = 0; i < n; i++) t[i] = r.nextInt(vocab);
        return t;
    }

    private static int[] iota(int n) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) p[i] = i;
        return p;
    }

    private static boolean[][] causal(int n) {
        boolean[][] m = new boolean[n][n];
        for (int i = 0; i < n; i++) for (int j = 0; j <= i; j++) m[i][j] = true;
        return m;
    }

    private static double[] toDouble(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    private static void assertClose(float[] actual, double[] expected, double tolerance, String what) {
        assertThat(actual).hasSize(expected.length);
        double scale = 0;
        for (double e : expected) scale = Math.max(scale, Math.abs(e));
        for (int i = 0; i < actual.length; i++) {
            double err = Math.abs(actual[i] - expected[i]);
            assertThat(err).as("%s: logit %d is %f, reference %f", what, i, actual[i], expected[i])
                    .isLessThanOrEqualTo(tolerance * Math.max(1, scale));
        }
    }
}
