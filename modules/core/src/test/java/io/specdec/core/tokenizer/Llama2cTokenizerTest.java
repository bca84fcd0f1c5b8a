package io.specdec.core.tokenizer;

import io.specdec.core.testing.SharedTestData;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.Files;
import java.util.Arrays;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/** llama2.c tokenizer.bin files against llama2.c's own run.c outputs (shared/data/reference). */
class Llama2cTokenizerTest {

    private static Tokenizer tok512() {
        return Tokenizers.load(SharedTestData.file("llama2c/tok512.bin"));
    }

    private static int[] referenceIds(String name) throws IOException {
        String text = Files.readString(SharedTestData.file("reference/" + name)).strip();
        return Arrays.stream(text.split("\\s+")).mapToInt(Integer::parseInt).toArray();
    }

    /** run.c's stdout: BOS, then every id's piece (the one after BOS without its leading space), then "\n". */
    private static String referenceText(String name) throws IOException {
        String text = Files.readString(SharedTestData.file("reference/" + name));
        assertThat(text).endsWith("\n");
        return text.substring(0, text.length() - 1);
    }

    private static int[] withBos(int[] ids) {
        return IntStream.concat(IntStream.of(1), Arrays.stream(ids)).toArray();
    }

    @Test
    void tok512EncodesOnceUponATimeAfterBosAsRunCDid() {
        assertThat(tok512().encode("Once upon a time", true, false)).containsExactly(1, 403, 407, 261, 378);
    }

    @Test
    void tok512HasLlama2cSpecialIdsAndSize() {
        Tokenizer tokenizer = tok512();
        assertThat(tokenizer.vocabSize()).isEqualTo(512);
        assertThat(tokenizer.bosId()).isEqualTo(1);
        assertThat(tokenizer.eosId()).isEqualTo(2);
        assertThat(tokenizer.eosIds()).containsExactly(2);
        assertThat(tokenizer.addBosByDefault()).isTrue();
    }

    @Test
    void decodingPromptRunIdsAfterBosReproducesRunCOutput() throws IOException {
        int[] ids = withBos(referenceIds("stories260K_prompt_greedy_n64.ids.txt"));
        assertThat(tok512().decode(ids)).isEqualTo(referenceText("stories260K_prompt_greedy_n64.txt"));
    }

    @Test
    void decodingGreedyRunIdsAfterBosReproducesRunCOutput() throws IOException {
        int[] ids = withBos(referenceIds("stories260K_greedy_n200.ids.txt"));
        assertThat(tok512().decode(ids)).isEqualTo(referenceText("stories260K_greedy_n200.txt"));
    }

    @Test
    void streamingTheGreedyRunEqualsDecode() throws IOException {
        Tokenizer tokenizer = tok512();
        int[] ids = withBos(referenceIds("stories260K_greedy_n200.ids.txt"));
        StreamingDetokenizer stream = tokenizer.newStreamingDetokenizer();
        StringBuilder text = new StringBuilder();
        for (int id : ids) {
            text.append(stream.push(id));
        }
        text.append(stream.flush());
        assertThat(text.toString()).isEqualTo(tokenizer.decode(ids));
    }

    @Test
    void llama2TokenizerBinPassesLlamaSpmVectors() throws IOException {
        Tokenizer tokenizer = Tokenizers.load(SharedTestData.file("llama2c/tokenizer.bin"));
        assertThat(tokenizer.vocabSize()).isEqualTo(32000);
        LlamaCppVocabVectorsTest.assertAllCasesMatch(tokenizer, "llama-spm", "llama2.c tokenizer.bin");
    }
}
