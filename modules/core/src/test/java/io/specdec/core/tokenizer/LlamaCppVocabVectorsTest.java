package io.specdec.core.tokenizer;

import io.specdec.core.testing.SharedTestData;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

/**
 * llama.cpp's tokenizer test vectors (models/ggml-vocab-*.gguf.inp/.out): encoded without BOS and without parsing
 * special tokens, every case must match exactly, through the GGUF vocabulary and through the equivalent
 * HuggingFace tokenizer.json.
 */
class LlamaCppVocabVectorsTest {

    private static final String SEPARATOR = "\n__ggml_vocab_test__\n";

    record VectorCase(int index, String text, int[] expected) {}

    /** The .inp file is "case SEPARATOR" repeated: each case, including empty ones, is followed by a separator. */
    static List<VectorCase> readCases(Path inp, Path out) throws IOException {
        String input = Files.readString(inp, StandardCharsets.UTF_8);
        assertThat(input).as("%s ends with the separator", inp).endsWith(SEPARATOR);
        String[] texts = input.substring(0, input.length() - SEPARATOR.length()).split(Pattern.quote(SEPARATOR), -1);
        List<String> lines = Files.readAllLines(out, StandardCharsets.UTF_8);
        assertThat(lines).as("one .out line per .inp case").hasSize(texts.length);
        List<VectorCase> cases = new ArrayList<>();
        for (int i = 0; i < texts.length; i++) {
            String line = lines.get(i).strip();
            int[] ids = line.isEmpty() ? new int[0] : Arrays.stream(line.split(" +")).mapToInt(Integer::parseInt).toArray();
            cases.add(new VectorCase(i, texts[i], ids));
        }
        return cases;
    }

    static void assertAllCasesMatch(Tokenizer tokenizer, String vocabName, String via) throws IOException {
        Path dir = SharedTestData.file("llamacpp-vocab");
        List<VectorCase> cases = readCases(dir.resolve("ggml-vocab-" + vocabName + ".gguf.inp"),
                dir.resolve("ggml-vocab-" + vocabName + ".gguf.out"));
        List<String> failures = new ArrayList<>();
        for (VectorCase c : cases) {
            int[] actual = tokenizer.encode(c.text());
            if (!Arrays.equals(actual, c.expected())) {
                failures.add("case " + c.index() + " " + escape(c.text()) + "\n    expected " + Arrays.toString(c.expected())
                        + "\n    actual   " + Arrays.toString(actual));
            }
        }
        assertThat(failures).as("%s via %s: %d of %d cases differ:\n%s", vocabName, via, failures.size(),
                cases.size(), String.join("\n", failures)).isEmpty();
        assertThat(cases).hasSize(46);
    }

    static String escape(String text) {
        StringBuilder sb = new StringBuilder("\"");
        text.codePoints().forEach(cp -> {
            if (cp == '\n') sb.append("\\n");
            else if (cp == '\t') sb.append("\\t");
            else if (cp == '\r') sb.append("\\r");
            else sb.appendCodePoint(cp);
        });
        return sb.append('"').toString();
    }

    static Tokenizer gguf(String vocabName) throws IOException {
        Path file = SharedTestData.file("llamacpp-vocab/ggml-vocab-" + vocabName + ".gguf");
        return Tokenizers.load(file);
    }

    @Test
    void llamaSpmVectorsMatchThroughGgufScores() throws IOException {
        assertAllCasesMatch(gguf("llama-spm"), "llama-spm", "GGUF");
    }

    @Test
    void llamaSpmVectorsMatchThroughTinyLlamaTokenizerJson() throws IOException {
        Tokenizer tokenizer = Tokenizers.load(SharedTestData.file("hf-tokenizers/tinyllama"));
        assertAllCasesMatch(tokenizer, "llama-spm", "tokenizer.json");
    }

    @Test
    void gpt2VectorsMatchThroughGgufMerges() throws IOException {
        assertAllCasesMatch(gguf("gpt-2"), "gpt-2", "GGUF");
    }

    @Test
    void gpt2VectorsMatchThroughGpt2TokenizerJson() throws IOException {
        Tokenizer tokenizer = Tokenizers.load(SharedTestData.file("hf-tokenizers/gpt2/tokenizer.json"));
        assertAllCasesMatch(tokenizer, "gpt-2", "tokenizer.json");
    }
}
