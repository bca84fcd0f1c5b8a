package io.specdec.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.format.gguf.RandomLlamaWriter;
import io.specdec.core.generate.GenerationResult;
import io.specdec.core.generate.Generator;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.tensor.DType;
import io.specdec.core.tokenizer.TokenIdTokenizer;
import io.specdec.cpu.MemoryFloor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * Prompt processing and generation throughput, llama-bench style: pp = one forward over a P-token prompt; tg = N
 * greedy tokens after a short prompt, timed from the first to the last token (so prefill is excluded), with and
 * without speculation. Mean ± sd over repeats after a warm-up run.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Measure prompt-processing and generation tokens/s (mean ± sd over repeats).")
final class BenchCommand implements Callable<Integer> {
    @Mixin ModelOptions model;

    @Mixin RandomWeightsOption randomWeights;

    private static final String DEFAULT_TG_PROMPT = "Once upon a time";

    /** Below this, weights live in the CPU caches and a memory-streaming floor means nothing. */
    private static final long MIN_FLOOR_BYTES = 64L << 20;

    @Option(names = "--random", paramLabel = "SHAPE",
            description = "Benchmark a random-weight model instead of --model: 'stories110m' (dim 768, hidden 2048, "
                    + "12 layers, 12 heads, vocab 32000, seq 1024; weights N(0, 0.02), norms 1), written once as GGUF "
                    + "under bench/generated/.")
    String random;

    @Option(names = "--type", paramLabel = "F32|F16|BF16|Q8_0|Q4_0", defaultValue = "F32",
            description = "Weight storage of the --random model (default: ${DEFAULT-VALUE}).")
    DType type;

    @Option(names = "--draft", paramLabel = "SPEC", description = "Also measure generation with this drafter (as for generate).")
    String draft;

    @Option(names = "--gamma", paramLabel = "G", defaultValue = "4", description = "Draft tokens per round (default: ${DEFAULT-VALUE}).")
    int gamma;

    @Option(names = "--prompt-tokens", paramLabel = "P", defaultValue = "128", description = "pp prompt length (default: ${DEFAULT-VALUE}).")
    int promptTokens;

    @Option(names = "--gen-tokens", paramLabel = "N", defaultValue = "256", description = "tg tokens (default: ${DEFAULT-VALUE}).")
    int genTokens;

    @Option(names = "--tg-prompt", paramLabel = "TEXT", defaultValue = DEFAULT_TG_PROMPT,
            description = "Prompt before tg generation (default: '${DEFAULT-VALUE}'; the BOS token for a "
                    + "--random-weights model without a tokenizer).")
    String tgPrompt;

    @Option(names = "--repeats", paramLabel = "R", defaultValue = "5", description = "Timed repeats (default: ${DEFAULT-VALUE}).")
    int repeats;

    @Option(names = "--json", paramLabel = "FILE", description = "Also write the results as JSON to FILE.")
    Path jsonFile;

    @Override public Integer call() throws Exception {
        PrintStream err = System.err;
        if (random != null && randomWeights.enabled()) throw new IllegalArgumentException("give --random or --random-weights, not both");
        if (random != null) {
            if (!random.equals("stories110m")) throw new IllegalArgumentException("--random knows only 'stories110m', got " + random);
            Path file = Defaults.home().resolve("bench/generated/random-stories110m-" + type.name().toLowerCase() + ".gguf");
            if (!Files.exists(file)) {
                Files.createDirectories(file.getParent());
                err.println("writing " + file + " (random weights, seed 42) ...");
                Path tokenizer = Defaults.home().resolve("../shared/data/llama2c/tokenizer.bin").normalize();
                RandomLlamaWriter.write(file, RandomLlamaWriter.Shape.STORIES_110M, type, 42, Files.exists(tokenizer) ? tokenizer : null);
            }
            model.model = file;
        }
        Map<String, Object> report = new LinkedHashMap<>();
        try (Engine engine = Engine.open(model, randomWeights, err)) {
            report.put("model", randomWeights.enabled() ? "random weights of " + Defaults.display(randomWeights.config)
                    : Defaults.display(model.modelPath()));
            report.put("backend", model.cuda() ? "cuda" : "cpu");
            report.put("parameters", engine.target.config().parameterCount());
            report.put("threads", engine.executor.threads());
            report.put("java", Runtime.version().toString());
            report.put("vector_bits", jdk.incubator.vector.FloatVector.SPECIES_PREFERRED.vectorBitSize());
            report.put("date", Instant.now().toString());
            report.put("repeats", repeats);

            MemoryFloor.Result floor = engine.target.weights() == null ? null
                    : MemoryFloor.measure(engine.target.weights(), engine.executor, 3);
            if (floor == null) {
                report.put("floor", "not measured: the weights exist only on the GPU");
            } else if (floor.weightBytes() >= MIN_FLOOR_BYTES) {
                Map<String, Object> f = new LinkedHashMap<>();
                f.put("weight_bytes_per_token", floor.weightBytes());
                f.put("stream_gb_per_second", Math.round(floor.bytesPerSecond() / 1e7) / 100.0);
                f.put("decode_floor_tokens_per_second", Math.round(floor.tokensPerSecond() * 100) / 100.0);
                report.put("floor", f);
            } else {
                report.put("floor", "not measured: " + floor.weightBytes() + " weight bytes stay in cache, so decode is not memory-bound");
            }

            report.put("pp" + promptTokens, stats(measurePrompt(engine)));
            int[] prompt = engine.tokenizer instanceof TokenIdTokenizer && tgPrompt.equals(DEFAULT_TG_PROMPT) ? new int[0]
                    : engine.tokenizer.encode(tgPrompt, engine.tokenizer.addBosByDefault(), false);
            if (prompt.length == 0) prompt = new int[]{Math.max(0, engine.target.config().bosTokenId())};
            // plain and speculative runs alternate, so drift in machine load hits both alike
            List<double[]> plain = new ArrayList<>();
            List<double[]> speculative = new ArrayList<>();
            for (int r = -1; r < repeats; r++) {
                double[] p = generationRun(engine, prompt, null);
                double[] sp = draft == null ? null : generationRun(engine, prompt, draft);
                if (r < 0) continue; // warm-up
                plain.add(p);
                if (sp != null) speculative.add(sp);
            }
            report.put("tg" + genTokens, stats(plain));
            if (draft != null) {
                Map<String, Object> spec = stats(speculative);
                spec.put("drafter", draft);
                spec.put("gamma", gamma);
                double[] ratios = new double[plain.size()];
                for (int i = 0; i < ratios.length; i++) ratios[i] = speculative.get(i)[0] / plain.get(i)[0];
                Arrays.sort(ratios);
                spec.put("speedup_median", Math.round(ratios[ratios.length / 2] * 1000) / 1000.0);
                report.put("tg" + genTokens + "_speculative", spec);
            }
        }
        printTable(report);
        if (report.get("floor") instanceof Map<?, ?> f && report.get("tg" + genTokens) instanceof Map<?, ?> tg) {
            double floorTps = ((Number) f.get("decode_floor_tokens_per_second")).doubleValue();
            double tps = ((Number) tg.get("tokens_per_second_mean")).doubleValue();
            System.out.printf("decode floor %.2f tok/s (%s GB/s over %d weight bytes): tg%d at %.0f%% of it%n", floorTps,
                    f.get("stream_gb_per_second"), ((Number) f.get("weight_bytes_per_token")).longValue(), genTokens, 100 * tps / floorTps);
        }
        if (jsonFile != null) {
            if (jsonFile.getParent() != null) Files.createDirectories(jsonFile.getParent());
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(jsonFile.toFile(), report);
            err.println("wrote " + jsonFile);
        }
        return 0;
    }

    private List<double[]> measurePrompt(Engine engine) {
        SplittableRandom rnd = new SplittableRandom(1);
        int vocab = engine.target.config().vocabSize();
        List<double[]> runs = new ArrayList<>();
        for (int r = -1; r < repeats; r++) {
            int[] tokens = new int[promptTokens];
            for (int i = 0; i < tokens.length; i++) tokens[i] = rnd.nextInt(vocab);
            KvSequence seq = engine.targetModel.newSequence();
            long t0 = System.nanoTime();
            engine.targetModel.forward(SequenceInput.chainLastLogits(seq, tokens));
            long t1 = System.nanoTime();
            seq.release();
            if (r >= 0) runs.add(new double[]{promptTokens / ((t1 - t0) / 1e9), 0, 0});
        }
        return runs;
    }

    /** One generation run: {tokens/s, acceptance, tokens per target forward}. */
    private double[] generationRun(Engine engine, int[] prompt, String drafterSpec) throws Exception {
        SamplingParams params = SamplingParams.greedy().withMaxTokens(genTokens).withIgnoreEos(true);
        Drafter drafter = drafterSpec == null ? null : engine.drafter(drafterSpec, 1, gamma, System.err);
        Generator generator = new Generator(engine.targetModel, drafter, drafter == null ? null : GammaPolicy.fixed(gamma));
        long[] first = {0};
        long[] last = {0};
        int[] count = {0};
        GenerationResult result = generator.generate(prompt, params, (token, text) -> {
            long now = System.nanoTime();
            if (first[0] == 0) first[0] = now;
            last[0] = now;
            count[0]++;
        });
        if (drafter != null) drafter.close();
        return new double[]{(count[0] - 1) / ((last[0] - first[0]) / 1e9), result.stats().acceptanceRate(),
                result.stats().tokensPerTargetForward()};
    }

    private static Map<String, Object> stats(List<double[]> runs) {
        Map<String, Object> m = new LinkedHashMap<>();
        double[] tps = runs.stream().mapToDouble(r -> r[0]).toArray();
        double mean = java.util.Arrays.stream(tps).average().orElse(0);
        double var = java.util.Arrays.stream(tps).map(x -> (x - mean) * (x - mean)).sum() / Math.max(1, tps.length - 1);
        m.put("tokens_per_second_mean", Math.round(mean * 100) / 100.0);
        m.put("tokens_per_second_sd", Math.round(Math.sqrt(var) * 100) / 100.0);
        m.put("runs", tps);
        double acceptance = runs.stream().mapToDouble(r -> r[1]).average().orElse(0);
        if (acceptance > 0) {
            m.put("acceptance_rate", Math.round(acceptance * 1000) / 1000.0);
            m.put("tokens_per_target_forward", Math.round(runs.stream().mapToDouble(r -> r[2]).average().orElse(0) * 1000) / 1000.0);
        }
        return m;
    }

    @SuppressWarnings("unchecked")
    private static void printTable(Map<String, Object> report) {
        System.out.printf("%-28s %14s %10s%n", "test", "tokens/s", "± sd");
        for (Map.Entry<String, Object> e : report.entrySet()) {
            if (e.getValue() instanceof Map<?, ?> m && m.containsKey("tokens_per_second_mean")) {
                Map<String, Object> s = (Map<String, Object>) m;
                System.out.printf("%-28s %14.2f %10.2f%s%n", e.getKey(), s.get("tokens_per_second_mean"),
                        s.get("tokens_per_second_sd"),
                        s.containsKey("acceptance_rate") ? "   acceptance " + s.get("acceptance_rate")
                                + ", tokens/forward " + s.get("tokens_per_target_forward")
                                + ", speedup (median of paired runs) " + s.get("speedup_median") : "");
            }
        }
    }
}
