package io.specdec.cli;

import io.specdec.core.testing.SharedTestData;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The specdec command end to end, in process, on stories260K from ../shared/data. */
class CliTest {
    private static final ObjectMapper JSON = new ObjectMapper();

    record Run(int exitCode, String out, String err) {
        List<String> lines() { return Arrays.asList(out.split("\n")); }

        JsonNode json() throws Exception { return JSON.readTree(lines().getLast()); }
    }

    static Path data(String relative) {
        return SharedTestData.file(relative);
    }

    static synchronized Run run(String... args) {
        PrintStream oldOut = System.out, oldErr = System.err;
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        System.setErr(new PrintStream(err, true, StandardCharsets.UTF_8));
        try {
            int code = Main.run(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(oldOut);
            System.setErr(oldErr);
        }
    }

    static String[] storiesArgs(String... more) {
        List<String> a = new ArrayList<>(List.of("generate", "--model", data("llama2c/stories260K.bin").toString(),
                "--tokenizer", data("llama2c/tok512.bin").toString(), "--threads", "2"));
        a.addAll(List.of(more));
        return a.toArray(String[]::new);
    }

    static int[] referenceIds(String file) throws Exception {
        return Arrays.stream(Files.readString(data("reference/" + file)).trim().split("\\s+")).mapToInt(Integer::parseInt).toArray();
    }

    @Test
    void generateStreamsOnlyTheContinuationAndEndsWithSpeculationStatistics() throws Exception {
        Run r = run(storiesArgs("--prompt", "Once upon a time", "--max-tokens", "60", "--ignore-eos",
                "--draft", "layers:4", "--gamma", "3", "--json"));
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode j = r.json();
        for (String key : List.of("generated_tokens", "tokens_per_second", "drafted_tokens", "accepted_tokens",
                "acceptance_rate", "acceptance_by_position")) {
            assertThat(j.has(key)).as(key).isTrue();
        }
        assertThat(j.get("generated_tokens").asInt()).isEqualTo(60);
        assertThat(j.get("speculation").asText()).isEqualTo("chain");
        assertThat(j.get("acceptance").asText()).as("the CPU backend verifies on the host").isEqualTo("host");
        assertThat(j.get("acceptance_by_position").size()).isEqualTo(3);
        assertThat(j.get("accepted_tokens").asLong()).isLessThanOrEqualTo(j.get("drafted_tokens").asLong());
        // the same ids llama2.c produced after its four forced prompt tokens
        int[] expected = Arrays.copyOfRange(referenceIds("stories260K_prompt_greedy_n64.ids.txt"), 4, 64);
        int[] ids = new int[60];
        for (int i = 0; i < 60; i++) ids[i] = j.get("token_ids").get(i).asInt();
        assertThat(ids).containsExactly(expected);
        String text = String.join("\n", r.lines().subList(0, r.lines().size() - 1));
        assertThat(text).doesNotContain("Once upon a time").startsWith(", there was");
        String reference = Files.readString(data("reference/stories260K_prompt_greedy_n64.txt"));
        assertThat(("Once upon a time" + text).strip()).isEqualTo(reference.strip());
    }

    @Test
    void emptyPromptStartsFromBosAndSpeculationChangesNothingInGreedyOutput() throws Exception {
        int[] expected = referenceIds("stories260K_greedy_n200.ids.txt");
        for (String[] mode : new String[][]{{"--no-speculation"}, {"--draft", "ngram"}, {"--draft", "layers:3", "--tree-width", "2"}}) {
            List<String> args = new ArrayList<>(List.of("--max-tokens", "120", "--ignore-eos", "--json"));
            args.addAll(List.of(mode));
            Run r = run(storiesArgs(args.toArray(String[]::new)));
            assertThat(r.exitCode()).as(r.err()).isZero();
            JsonNode ids = r.json().get("token_ids");
            for (int i = 0; i < 120; i++) assertThat(ids.get(i).asInt()).as("token %d with %s", i, Arrays.toString(mode)).isEqualTo(expected[i]);
        }
    }

    /** Tensor parallelism and the parallel draft modes reproduce llama2.c's greedy ids and say what they did. */
    @Test
    void tensorParallelAndParallelDraftModesChangeNothingInGreedyOutput() throws Exception {
        int[] expected = referenceIds("stories260K_greedy_n200.ids.txt");
        String[][] modes = {
                {"--tp", "2", "--no-speculation"},
                {"--tp", "4", "--draft", "layers:3"},
                {"--draft", "layers:4", "--draft-mode", "easyspec", "--layer-groups", "0|1-2|3"},
                {"--tp", "2", "--draft", "layers:4", "--draft-mode", "easyspec", "--calibration", "every-mismatch"},
                {"--draft", "layers:3", "--draft-mode", "card", "--draft-devices", "1", "--card-width", "2"}};
        for (String[] mode : modes) {
            List<String> args = new ArrayList<>(List.of("--max-tokens", "100", "--ignore-eos", "--json"));
            args.addAll(List.of(mode));
            Run r = run(storiesArgs(args.toArray(String[]::new)));
            assertThat(r.exitCode()).as(r.err()).isZero();
            JsonNode j = r.json();
            for (int i = 0; i < 100; i++) {
                assertThat(j.get("token_ids").get(i).asInt()).as("token %d with %s", i, Arrays.toString(mode)).isEqualTo(expected[i]);
            }
            String tp = args.contains("--tp") ? args.get(args.indexOf("--tp") + 1) : "1";
            assertThat(j.get("tensor_parallel").asInt()).isEqualTo(Integer.parseInt(tp));
            if (args.contains("easyspec")) {
                assertThat(j.get("draft_mode").asText()).isEqualTo("easyspec");
                assertThat(j.get("easyspec").get("fuzzyTokens").asLong()).isPositive();
                assertThat(j.get("layer_groups").asText()).isEqualTo(args.contains("0|1-2|3") ? "0|1-2|3" : "0-1|2-3");
            }
            if (args.contains("card")) assertThat(j.get("card").get("expansions").asLong()).isPositive();
        }
        for (String[] bad : new String[][]{{"--tp", "3"}, {"--draft", "ngram", "--draft-mode", "card"},
                {"--draft", "layers:3", "--draft-mode", "easyspec", "--layer-groups", "0-3"}, {"--draft-mode", "fast"}}) {
            Run r = run(storiesArgs(bad));
            assertThat(r.exitCode()).as(Arrays.toString(bad)).isEqualTo(2);
            assertThat(r.err().strip().lines().count()).as(r.err()).isEqualTo(1);
        }
    }

    @Test
    void sampledOutputIsReproducibleWithASeed() throws Exception {
        String[] args = storiesArgs("--prompt", "Once upon a time", "--max-tokens", "40", "--temperature", "0.9",
                "--top-p", "0.95", "--seed", "1234", "--draft", "layers:4", "--json");
        Run a = run(args), b = run(args);
        assertThat(a.json().get("token_ids")).isEqualTo(b.json().get("token_ids"));
        Run c = run(storiesArgs("--prompt", "Once upon a time", "--max-tokens", "40", "--temperature", "0.9",
                "--top-p", "0.95", "--seed", "99", "--draft", "layers:4", "--json"));
        assertThat(c.json().get("token_ids")).isNotEqualTo(a.json().get("token_ids"));
    }

    @Test
    void tokenizeAndDetokenizeRoundTrip() throws Exception {
        String tok = data("llama2c/tok512.bin").toString();
        Run ids = run("tokenize", "--tokenizer", tok, "--text", "Once upon a time", "--add-bos");
        assertThat(ids.out().strip()).isEqualTo("1 403 407 261 378");
        Run noBos = run("tokenize", "--tokenizer", tok, "--text", "Once upon a time", "--json");
        assertThat(JSON.readTree(noBos.out()).get("ids").toString()).isEqualTo("[403,407,261,378]");
        Run text = run("detokenize", "--tokenizer", tok, "403", "407,261", "378");
        assertThat(text.out().strip()).isEqualTo("Once upon a time");
    }

    @Test
    void serveRefusesSeedNodesWithKubernetesApiDiscoveryAndUnknownMethods() {
        Run both = run("serve", "--roles=frontend", "--discovery=kubernetes-api", "--seed-nodes=10.0.0.1:25520");
        assertThat(both.exitCode()).isEqualTo(2);
        assertThat(both.err()).contains("--seed-nodes and --discovery=kubernetes-api exclude each other").doesNotContain("\tat ");
        Run unknown = run("serve", "--roles=frontend", "--discovery=dns");
        assertThat(unknown.exitCode()).isEqualTo(2);
        assertThat(unknown.err()).contains("must be one of [seed-nodes, kubernetes-api], got dns");
    }

    @Test
    void adminNamesAnUnreadableTokenFile(@TempDir Path dir) {
        Run r = run("admin", "status", "--server", "127.0.0.1:1", "--token-file", dir.resolve("absent").toString());
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("--token-file").contains("absent").contains("not a readable file");
    }

    @Test
    void badInputFailsWithOneLineNamingTheProblem(@TempDir Path dir) throws Exception {
        Run missing = run("generate", "--model", dir.resolve("nope.gguf").toString(), "--prompt", "x");
        assertThat(missing.exitCode()).isEqualTo(2);
        assertThat(missing.err()).contains("nope.gguf").doesNotContain("\tat ");
        Path corrupt = dir.resolve("bad.gguf");
        Files.write(corrupt, new byte[]{'G', 'G', 'U', 'F', 3, 0, 0, 0, 1, 2, 3});
        Run bad = run("generate", "--model", corrupt.toString(), "--prompt", "x");
        assertThat(bad.exitCode()).isEqualTo(2);
        assertThat(bad.err()).contains("bad.gguf").contains("truncated");
        Run gamma = run(storiesArgs("--gamma", "zero"));
        assertThat(gamma.exitCode()).isEqualTo(2);
        assertThat(gamma.err()).contains("--gamma");
        Run token = run("detokenize", "--tokenizer", data("llama2c/tok512.bin").toString(), "9999");
        assertThat(token.exitCode()).isEqualTo(2);
        assertThat(token.err()).contains("9999");
    }

    @Test
    void benchWritesMeanAndSdForPromptAndGenerationWithAndWithoutDraft(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("bench.json");
        Run r = run("bench", "--model", data("llama2c/stories260K.bin").toString(), "--tokenizer",
                data("llama2c/tok512.bin").toString(), "--threads", "1", "--repeats", "2", "--prompt-tokens", "32",
                "--gen-tokens", "24", "--draft", "ngram", "--json", json.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode j = JSON.readTree(json.toFile());
        assertThat(j.get("pp32").get("tokens_per_second_mean").asDouble()).isPositive();
        assertThat(j.get("tg24").get("runs").size()).isEqualTo(2);
        assertThat(j.has("tg24_speculative")).isTrue();
        assertThat(r.out()).contains("pp32").contains("tg24");
    }
}
