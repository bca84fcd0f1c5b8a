package io.specdec.cli;

import com.fasterxml.jackson.databind.JsonNode;
import io.specdec.cuda.CudaDevice;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static io.specdec.cli.CliTest.run;
import static org.assertj.core.api.Assertions.assertThat;

/** generate / bench with --random-weights: a config's shape, weights made at start, token ids without a tokenizer. */
class RandomWeightsTest {

    static Path tinyConfig(Path dir) throws Exception {
        Path config = dir.resolve("tiny.json");
        Files.writeString(config, """
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300,
                 "max_position_embeddings": 512, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": false,
                 "bos_token_id": 1, "eos_token_id": 2}
                """);
        return config;
    }

    static CliTest.Run generate(Path config, String... more) {
        List<String> a = new ArrayList<>(List.of("generate", "--random-weights", config.toString(), "--threads", "1",
                "--ignore-eos", "--json"));
        a.addAll(List.of(more));
        return run(a.toArray(String[]::new));
    }

    @Test
    void withoutATokenizerPromptAndOutputAreTokenIdsAndTheWeightsAreSeeded(@TempDir Path dir) throws Exception {
        Path config = tinyConfig(dir);
        CliTest.Run a = generate(config, "--prompt", "1, 17 250", "--max-tokens", "12", "--no-speculation");
        assertThat(a.exitCode()).as(a.err()).isZero();
        assertThat(a.err()).contains("token ids");
        JsonNode j = a.json();
        assertThat(j.get("prompt_tokens").asInt()).isEqualTo(3);
        int[] ids = new int[12];
        for (int i = 0; i < ids.length; i++) ids[i] = j.get("token_ids").get(i).asInt();
        assertThat(Arrays.stream(ids).allMatch(t -> t >= 0 && t < 300)).isTrue();
        // the streamed text is the ids themselves
        String text = String.join("\n", a.lines().subList(0, a.lines().size() - 1)).strip();
        assertThat(text).isEqualTo(String.join(" ", Arrays.stream(ids).mapToObj(Integer::toString).toList()));
        // same config, same weights (and greedy): same tokens; speculation changes nothing in greedy output
        CliTest.Run b = generate(config, "--prompt", "1 17 250", "--max-tokens", "12", "--draft", "layers:1", "--gamma", "3");
        assertThat(b.exitCode()).as(b.err()).isZero();
        assertThat(b.json().get("token_ids")).isEqualTo(j.get("token_ids"));
    }

    /** A random target split over 2 CPU devices with a random draft drafting layer-parallel: same greedy ids as plain. */
    @Test
    void randomDraftsDriveTensorParallelAndEasySpecRuns(@TempDir Path dir) throws Exception {
        Path config = tinyConfig(dir);
        CliTest.Run plain = generate(config, "--prompt", "1 17 250", "--max-tokens", "16", "--no-speculation");
        assertThat(plain.exitCode()).as(plain.err()).isZero();
        CliTest.Run split = generate(config, "--prompt", "1 17 250", "--max-tokens", "16", "--tp", "2", "--draft",
                "random:" + config, "--draft-mode", "easyspec", "--layer-groups", "0-1", "--gamma", "3");
        assertThat(split.exitCode()).as(split.err()).isZero();
        assertThat(split.json().get("token_ids")).isEqualTo(plain.json().get("token_ids"));
        assertThat(split.json().get("tensor_parallel").asInt()).isEqualTo(2);
        assertThat(split.json().get("easyspec").get("fuzzyTokens").asLong()).isPositive();
        CliTest.Run badVocab = generate(config, "--prompt", "1", "--max-tokens", "2", "--draft",
                "random:" + dir.resolve("missing.json"));
        assertThat(badVocab.exitCode()).isEqualTo(2);
    }

    @Test
    void textPromptWithoutATokenizerIsRefusedWithTheRule(@TempDir Path dir) throws Exception {
        CliTest.Run r = generate(tinyConfig(dir), "--prompt", "Once upon a time");
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("no tokenizer").contains("token ids").doesNotContain("\tat ");
    }

    @Test
    void conflictingOrMismatchedInputsAreRefused(@TempDir Path dir) throws Exception {
        Path config = tinyConfig(dir);
        CliTest.Run both = generate(config, "--model", config.toString());
        assertThat(both.exitCode()).isEqualTo(2);
        assertThat(both.err()).contains("--random-weights replaces --model");
        Path tokenizer = Path.of("../../models/target/tokenizer.json");
        Assumptions.assumeTrue(Files.exists(tokenizer), "no bundled models/ in this checkout");
        CliTest.Run mismatch = generate(config, "--tokenizer", tokenizer.toString());
        assertThat(mismatch.exitCode()).isEqualTo(2);
        assertThat(mismatch.err()).contains("vocab_size is 300").contains("must be equal");
    }

    @Test
    void aTokenizerNextToTheConfigWithTheSameVocabularyIsUsed() throws Exception {
        Path config = Path.of("../../models/target/config.json");
        if (!Files.exists(config)) System.out.println("[skip] aTokenizerNextToTheConfigWithTheSameVocabularyIsUsed: no models/ in this checkout");
        Assumptions.assumeTrue(Files.exists(config), "no bundled models/ in this checkout");
        CliTest.Run r = generate(config, "--prompt", "Once upon a time", "--max-tokens", "6", "--no-speculation");
        assertThat(r.exitCode()).as(r.err()).isZero();
        assertThat(r.err()).contains("tokenizer: ");
        assertThat(r.json().get("prompt_tokens").asInt()).isGreaterThan(1);
    }

    @Test
    void benchRunsOnRandomWeightsWithTheBosPrompt(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("bench.json");
        CliTest.Run r = run("bench", "--random-weights", tinyConfig(dir).toString(), "--threads", "1", "--repeats", "1",
                "--prompt-tokens", "8", "--gen-tokens", "6", "--json", json.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode j = new com.fasterxml.jackson.databind.ObjectMapper().readTree(json.toFile());
        assertThat(j.get("model").asText()).startsWith("random weights of ");
        assertThat(j.get("tg6").get("tokens_per_second_mean").asDouble()).isPositive();
    }

    @Test
    void cudaBackendEitherRunsOrSaysWhyNot(@TempDir Path dir) throws Exception {
        CliTest.Run r = generate(tinyConfig(dir), "--backend", "cuda", "--prompt", "1 2", "--max-tokens", "4", "--no-speculation");
        String reason = CudaDevice.unavailableReason().orElse(null);
        if (reason == null) {
            assertThat(r.exitCode()).as(r.err()).isZero();
            assertThat(r.json().get("token_ids").size()).isEqualTo(4);
        } else {
            assertThat(r.exitCode()).isEqualTo(2);
            assertThat(r.err()).contains("--backend cuda").doesNotContain("\tat ");
        }
    }
}
