package io.specdec.cpu;

import io.specdec.core.testing.SharedTestData;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.format.ModelFiles;
import io.specdec.core.generate.GenerationResult;
import io.specdec.core.generate.Generator;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.tokenizer.Tokenizer;
import io.specdec.core.tokenizer.Tokenizers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * stories260K through the whole stack (llama2.c loader, tok512 tokenizer, CPU transformer, generator) against the
 * outputs of llama2.c's run.c in ../shared/data/reference.
 */
class Stories260KReferenceTest {
    private static LoadedModel loaded;
    private static ParallelExecutor executor;
    private static CpuTransformer model;
    private static Tokenizer tokenizer;

    static Path data(String relative) {
        return SharedTestData.file(relative);
    }

    @BeforeAll static void load() {
        Path checkpoint = data("llama2c/stories260K.bin");
        loaded = ModelFiles.load(checkpoint, ModelFiles.LoadOptions.DEFAULT.withTokenizer(data("llama2c/tok512.bin")));
        executor = new ParallelExecutor(2, "stories-test");
        model = CpuModels.of(loaded, executor, 2048);
        tokenizer = Tokenizers.load(loaded.tokenizerSource());
    }

    @AfterAll static void close() {
        if (executor != null) executor.close();
        if (loaded != null) loaded.close();
    }

    @Test
    void logitsAtPositionsZeroAndOneMatchLlama2cWithin1e4() throws IOException {
        KvSequence seq = model.newSequence();
        float[] pos0 = model.forward(SequenceInput.chainLastLogits(seq, new int[]{1}))[0];
        float[] pos1 = model.forward(SequenceInput.chainLastLogits(seq, new int[]{403}))[0];
        assertWithin(pos0, floats(data("reference/stories260K_logits_pos0_tok1.f32")), 1e-4);
        assertWithin(pos1, floats(data("reference/stories260K_logits_pos1_tok403.f32")), 1e-4);
        seq.release();
    }

    @Test
    void greedy200TokensFromBosEqualLlama2cTextAndIds() throws IOException {
        int[] expected = ids(data("reference/stories260K_greedy_n200.ids.txt"));
        GenerationResult result = Generator.plain(model).generate(new int[]{1},
                SamplingParams.greedy().withMaxTokens(expected.length).withIgnoreEos(true), null);
        assertThat(result.tokens()).containsExactly(expected);
        String text = Files.readString(data("reference/stories260K_greedy_n200.txt"));
        assertThat(tokenizer.decode(result.tokens()).strip()).isEqualTo(text.strip());
    }

    @Test
    void greedy64TokensAfterOnceUponATimeEqualLlama2c() throws IOException {
        int[] reference = ids(data("reference/stories260K_prompt_greedy_n64.ids.txt"));
        int[] prompt = tokenizer.encode("Once upon a time", true, false);
        assertThat(prompt).containsExactly(1, 403, 407, 261, 378);
        // run.c generates 64 positions including the forced prompt tokens: 60 new tokens after the 5 prompt ids
        int[] expectedNew = Arrays.copyOfRange(reference, 4, reference.length);
        GenerationResult result = Generator.plain(model).generate(prompt,
                SamplingParams.greedy().withMaxTokens(expectedNew.length).withIgnoreEos(true), null);
        assertThat(result.tokens()).containsExactly(expectedNew);
        String text = Files.readString(data("reference/stories260K_prompt_greedy_n64.txt"));
        int[] all = new int[4 + result.tokens().length];
        System.arraycopy(prompt, 1, all, 0, 4);
        System.arraycopy(result.tokens(), 0, all, 4, result.tokens().length);
        assertThat(tokenizer.decode(all).strip()).isEqualTo(text.strip());
    }

    @Test
    void speculativeGreedyWithEveryDrafterEqualsTheReference() throws IOException {
        int[] expected = ids(data("reference/stories260K_greedy_n200.ids.txt"));
        SamplingParams params = SamplingParams.greedy().withMaxTokens(expected.length).withIgnoreEos(true);
        CpuTransformer selfDraft = CpuModels.earlyExit(loaded, 2, executor, 2048);
        for (var drafter : java.util.List.of(
                new io.specdec.core.speculative.ModelDrafter(selfDraft),
                new io.specdec.core.speculative.NgramDrafter(1, 3),
                io.specdec.core.speculative.TreeDrafter.of(CpuModels.earlyExit(loaded, 1, executor, 4096), 2, 3))) {
            GenerationResult r = Generator.speculative(model, drafter, 4).generate(new int[]{1}, params, null);
            assertThat(r.tokens()).as(drafter.toString()).containsExactly(expected);
            assertThat(r.stats().accepted()).as(drafter + " accepted something").isPositive();
        }
    }

    private static void assertWithin(float[] actual, float[] expected, double tolerance) {
        assertThat(actual).hasSize(expected.length);
        for (int i = 0; i < actual.length; i++) {
            assertThat((double) Math.abs(actual[i] - expected[i])).as("logit %d: %f vs llama2.c %f", i, actual[i], expected[i])
                    .isLessThanOrEqualTo(tolerance);
        }
    }

    private static float[] floats(Path file) throws IOException {
        ByteBuffer b = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        float[] f = new float[b.remaining() / 4];
        b.asFloatBuffer().get(f);
        return f;
    }

    private static int[] ids(Path file) throws IOException {
        return Arrays.stream(Files.readString(file).trim().split("\\s+")).mapToInt(Integer::parseInt).toArray();
    }
}
