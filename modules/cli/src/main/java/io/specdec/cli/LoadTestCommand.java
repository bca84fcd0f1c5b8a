package io.specdec.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.typesafe.config.ConfigFactory;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.stub.StreamObserver;
import io.specdec.api.v1.GenerateRequest;
import io.specdec.api.v1.GenerateResponse;
import io.specdec.api.v1.GenerationServiceGrpc;
import io.specdec.cluster.Coordinator;
import io.specdec.cluster.GenerationJob;
import io.specdec.cluster.ModelRuntime;
import io.specdec.cluster.SpecdecNode;
import io.specdec.cluster.StreamEvent;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.server.ServerOptions;
import io.specdec.server.SpecdecServer;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;

/**
 * Load test of the service: concurrent clients stream requests back to back, through gRPC on a loopback socket or
 * straight into the node (in-process), against a replica that batches (continuous batching) or not (one request per
 * iteration); or, with --server, through gRPC against a running {@code specdec serve}. Every request ignores EOS, so
 * each generates exactly --max-tokens tokens (unless the context ends). Reports time to first token, inter-token
 * latency p50/p99, aggregate and per-stream throughput per concurrency level.
 */
@Command(name = "loadtest", mixinStandardHelpOptions = true,
        description = "Load-test the service: TTFT, inter-token latency p50/p99, throughput at several concurrencies.")
final class LoadTestCommand implements java.util.concurrent.Callable<Integer> {
    @Mixin ModelOptions model;

    @Mixin RandomWeightsOption randomWeights;

    @Option(names = "--server", paramLabel = "HOST:PORT",
            description = "Drive this running server (gRPC only; its own batching) instead of starting a node here; the "
                    + "model options then do not apply.")
    String server;

    @Option(names = "--concurrency", split = ",", defaultValue = "1,8,32,64", description = "Concurrent clients (default: ${DEFAULT-VALUE}).")
    List<Integer> concurrency;

    @Option(names = "--requests-per-client", defaultValue = "2", description = "Requests each client sends (default: ${DEFAULT-VALUE}).")
    int requestsPerClient;

    @Option(names = "--max-tokens", defaultValue = "48",
            description = "Tokens per request; EOS is ignored, so every request generates exactly this many (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--prompt", defaultValue = "Mr President, I would like to", description = "Prompt of every request.")
    String prompt;

    @Option(names = "--prompt-tokens", paramLabel = "N",
            description = "Instead of --prompt: a prompt of exactly N token ids (fixed ids below the model's vocabulary).")
    Integer promptTokens;

    @Option(names = "--draft", defaultValue = "none", description = "Drafter of the replica: a path, layers:N or none (default: ${DEFAULT-VALUE}).")
    String draft;

    @Option(names = "--speculation", defaultValue = "default", paramLabel = "default|off|on",
            description = "Per request: the cluster policy (default: speculate with the replica's draft, n-gram without "
                    + "one), off (plain decoding: decode throughput) or on (default: ${DEFAULT-VALUE}).")
    String speculation;

    @Option(names = "--temperature", defaultValue = "0", paramLabel = "T",
            description = "Sampling temperature of every request (0: greedy; above 0 each request gets its own seed, so "
                    + "sampled runs repeat) (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--batching", defaultValue = "both", paramLabel = "continuous|off|both",
            description = "Replicas started here: continuous batching (max --max-batch), off (1 request per iteration) "
                    + "or both, one after the other (default: ${DEFAULT-VALUE}).")
    String batching;

    @Option(names = "--max-batch", defaultValue = "64", description = "Most requests per batch with continuous batching (default: ${DEFAULT-VALUE}).")
    int maxBatch;

    @Option(names = "--transport", defaultValue = "both", paramLabel = "grpc|in-process|both",
            description = "How clients reach a node started here (default: ${DEFAULT-VALUE}); --server: grpc.")
    String transport;

    @Option(names = "--json", paramLabel = "FILE", description = "Write results as JSON.")
    Path jsonFile;

    @Option(names = "--plot", paramLabel = "PNG", description = "Write a throughput and latency plot.")
    Path plotFile;

    record Sample(double ttft, double seconds, List<Double> gaps, int tokens) { }

    /** The prompt ids of --prompt-tokens for a model of {@code vocab} tokens; null without that option. */
    private int[] promptIds;

    @Override public Integer call() throws Exception {
        List<String> transports = switch (transport) {
            case "both" -> List.of("grpc", "in-process");
            case "grpc", "in-process" -> List.of(transport);
            default -> throw new IllegalArgumentException("--transport must be grpc, in-process or both, got " + transport);
        };
        boolean[] batchings = switch (batching) {
            case "both" -> new boolean[]{true, false};
            case "continuous" -> new boolean[]{true};
            case "off" -> new boolean[]{false};
            default -> throw new IllegalArgumentException("--batching must be continuous, off or both, got " + batching);
        };
        if (!List.of("default", "off", "on").contains(speculation)) {
            throw new IllegalArgumentException("--speculation must be default, off or on, got " + speculation);
        }
        if (promptTokens != null && promptTokens < 1) throw new IllegalArgumentException("--prompt-tokens must be at least 1");
        if (maxBatch < 1) throw new IllegalArgumentException("--max-batch must be at least 1");
        for (int c : concurrency) if (c < 1) throw new IllegalArgumentException("--concurrency levels must be at least 1: " + c);
        List<Map<String, Object>> rows = new ArrayList<>();
        Map<String, Object> report = new LinkedHashMap<>();
        if (server != null) {
            int colon = server.lastIndexOf(':');
            if (colon < 0) throw new IllegalArgumentException("--server expects HOST:PORT, got " + server);
            ManagedChannel channel = ManagedChannelBuilder.forAddress(server.substring(0, colon),
                    Integer.parseInt(server.substring(colon + 1))).usePlaintext().build();
            try {
                var card = waitForServer(channel);
                report.put("server", server);
                report.put("model", card.getName());
                promptIds = promptIds(card.getVocabSize());
                warmUp(null, channel, List.of("grpc"));
                for (int c : concurrency) rows.add(print(level(null, channel, "grpc", c), "the server's (serve --max-batch)"));
            } finally {
                channel.shutdownNow();
            }
        } else {
            ModelRuntime.Spec spec = localSpec();
            report.put("model", spec.name());
            report.put("backend", spec.backend().name().toLowerCase(java.util.Locale.ROOT));
            report.put("threads", model.threadCount());
            for (boolean batched : batchings) {
                int clusterPort;
                try (var probe = new java.net.ServerSocket(0)) {
                    clusterPort = probe.getLocalPort(); // the node is its own seed, so it needs its real port up front
                }
                try (SpecdecNode node = SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", clusterPort, List.of(), List.of("frontend", "worker"),
                        spec, 1, new Coordinator.Settings(4096, batched ? maxBatch : 1, 256), ConfigFactory.empty()))) {
                    SpecdecServer grpc = SpecdecServer.start(node, ServerOptions.plaintext("127.0.0.1", 0, -1, "loadtest"));
                    ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", grpc.port()).usePlaintext().build();
                    try {
                        promptIds = promptIds(node.runtimes().getFirst().target().config().vocabSize());
                        warmUp(node, channel, transports);
                        for (int c : concurrency) {
                            for (String t : transports) {
                                rows.add(print(level(node, channel, t, c), batched ? "continuous (max " + maxBatch + ")"
                                        : "off (1 request per iteration)"));
                            }
                        }
                    } finally {
                        channel.shutdownNow();
                        grpc.close();
                    }
                }
            }
        }
        report.put("draft", server != null ? "the server's" : draft);
        report.put("speculation", speculation);
        report.put("temperature", temperature);
        report.put("max_tokens", maxTokens);
        report.put("ignore_eos", true);
        report.put("prompt_tokens", promptIds != null ? (Object) promptIds.length : prompt);
        report.put("requests_per_client", requestsPerClient);
        report.put("levels", rows);
        if (jsonFile != null) {
            if (jsonFile.getParent() != null) Files.createDirectories(jsonFile.getParent());
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(jsonFile.toFile(), report);
        }
        if (plotFile != null) {
            try {
                plot(rows, String.valueOf(report.get("model")));
            } catch (LinkageError e) {   // the GPU bundle's jlink runtime has no java.desktop, which XChart draws with
                System.err.println("no plot written: this Java runtime lacks java.desktop (" + e.getMessage()
                        + "); the JSON holds the numbers (bench/gpu/plot_serve.py draws them)");
            }
        }
        return 0;
    }

    /** The replica this command starts: --model or --random-weights on --backend, --draft, no tensor parallelism. */
    private ModelRuntime.Spec localSpec() {
        boolean random = randomWeights.enabled();
        if (random && model.model != null) throw new IllegalArgumentException("--random-weights replaces --model: give one of them");
        Path path = random ? ModelOptions.requireExists(randomWeights.config, "--random-weights config") : model.modelPath();
        Path tokenizer = random ? Engine.randomWeightsTokenizerSource(model.tokenizer, path,
                io.specdec.core.format.hf.HuggingFaceModel.config(path), System.err) : model.tokenizerPath();
        return new ModelRuntime.Spec("default", path, tokenizer, draft, model.threadCount(), model.kvTokens,
                ModelRuntime.Parallelism.NONE, ModelRuntime.Backend.of(model.backend), random);
    }

    /** Fixed ids spread over the vocabulary (never 0, often a pad or unknown token). */
    private int[] promptIds(int vocab) {
        if (promptTokens == null) return null;
        int[] ids = new int[promptTokens];
        for (int i = 0; i < ids.length; i++) ids[i] = 1 + (int) ((i * 7919L + 13) % (vocab - 1));
        return ids;
    }

    private Map<String, Object> print(Map<String, Object> row, String batchingName) {
        row.put("batching", batchingName);
        System.out.printf("%-32s %-10s c=%-3d %8.1f tok/s (%6.1f per stream)  TTFT p50 %7.1f ms p99 %7.1f ms  ITL p50 %6.1f ms p99 %6.1f ms%n",
                row.get("batching"), row.get("transport"), row.get("concurrency"), row.get("tokens_per_second"),
                row.get("stream_tokens_per_second_mean"), row.get("ttft_p50_ms"), row.get("ttft_p99_ms"), row.get("itl_p50_ms"),
                row.get("itl_p99_ms"));
        System.out.flush();
        return row;
    }

    /** Waits (up to 5 minutes: the server may still be loading or forming its replica) for a model to be listed. */
    private static io.specdec.api.v1.ModelCard waitForServer(ManagedChannel channel) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(5);
        Exception last = null;
        while (System.nanoTime() < deadline) {
            try {
                var models = GenerationServiceGrpc.newBlockingStub(channel).withDeadlineAfter(10, TimeUnit.SECONDS)
                        .listModels(io.specdec.api.v1.ListModelsRequest.getDefaultInstance());
                for (var card : models.getModelsList()) if (card.getReplicas() > 0) return card;
            } catch (io.grpc.StatusRuntimeException e) {
                last = e;
            }
            Thread.sleep(500);
        }
        throw new IllegalStateException("no model replica served within 5 minutes" + (last == null ? "" : ": " + last.getMessage()));
    }

    private void warmUp(SpecdecNode node, ManagedChannel channel, List<String> transports) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (node != null && node.replicas().toCompletableFuture().get(30, TimeUnit.SECONDS).isEmpty()) {
            if (System.nanoTime() > deadline) throw new IllegalStateException("no replica came up within 120 s");
            Thread.sleep(200);
        }
        for (int i = 0; i < 3; i++) {
            if (transports.contains("grpc")) viaGrpc(channel).get(300, TimeUnit.SECONDS);
            if (transports.contains("in-process")) inProcess(node).get(300, TimeUnit.SECONDS);
        }
    }

    private Map<String, Object> level(SpecdecNode node, ManagedChannel channel, String transport, int clients) throws Exception {
        ConcurrentLinkedQueue<Sample> samples = new ConcurrentLinkedQueue<>();
        long start = System.nanoTime();
        try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
            List<java.util.concurrent.Future<?>> futures = new ArrayList<>();
            for (int c = 0; c < clients; c++) {
                futures.add(pool.submit(() -> {
                    for (int r = 0; r < requestsPerClient; r++) {
                        samples.add((transport.equals("grpc") ? viaGrpc(channel) : inProcess(node)).get(600, TimeUnit.SECONDS));
                    }
                    return null;
                }));
            }
            for (var f : futures) f.get();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        List<Double> ttft = new ArrayList<>();
        List<Double> gaps = new ArrayList<>();
        long tokens = 0;
        double streamRates = 0;
        double decodeRates = 0;
        for (Sample s : samples) {
            ttft.add(s.ttft());
            gaps.addAll(s.gaps());
            tokens += s.tokens();
            streamRates += s.seconds() > 0 ? s.tokens() / s.seconds() : 0;
            decodeRates += s.seconds() > s.ttft() ? (s.tokens() - 1) / (s.seconds() - s.ttft()) : 0;
        }
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("transport", transport);
        row.put("concurrency", clients);
        row.put("requests", samples.size());
        row.put("tokens", tokens);
        row.put("seconds", round(seconds));
        row.put("tokens_per_second", round(tokens / seconds));
        // one request's tokens over its own wall time (TTFT included), averaged over requests
        row.put("stream_tokens_per_second_mean", round(samples.isEmpty() ? 0 : streamRates / samples.size()));
        // after the first token: (tokens - 1) / (last - first), as bench's tg measures a direct run
        row.put("stream_decode_tokens_per_second_mean", round(samples.isEmpty() ? 0 : decodeRates / samples.size()));
        row.put("ttft_p50_ms", round(percentile(ttft, 50) * 1000));
        row.put("ttft_p99_ms", round(percentile(ttft, 99) * 1000));
        row.put("itl_p50_ms", round(percentile(gaps, 50) * 1000));
        row.put("itl_p99_ms", round(percentile(gaps, 99) * 1000));
        return row;
    }

    /** Collects arrival times of token deltas; gaps are per token (a delta of k tokens counts k gaps of gap/k). */
    private static final class Timing {
        final long start = System.nanoTime();
        long first;
        long last;
        int tokens;
        final List<Double> gaps = new ArrayList<>();

        synchronized void delta(int count) {
            long now = System.nanoTime();
            if (count == 0) return;
            if (first == 0) {
                first = now;
            } else {
                for (int i = 0; i < count; i++) gaps.add((now - last) / 1e9 / count);
            }
            last = now;
            tokens += count;
        }

        synchronized Sample sample() {
            return new Sample((first - start) / 1e9, (last - start) / 1e9, gaps, tokens);
        }
    }

    /** Each sampled request's seed: distinct, and the same sequence in every run. */
    private final java.util.concurrent.atomic.AtomicLong seeds = new java.util.concurrent.atomic.AtomicLong();


    private CompletableFuture<Sample> viaGrpc(ManagedChannel channel) {
        CompletableFuture<Sample> done = new CompletableFuture<>();
        Timing t = new Timing();
        GenerateRequest.Builder b = GenerateRequest.newBuilder().setMaxTokens(maxTokens).setIgnoreEos(true)
                .setSampling(io.specdec.api.v1.SamplingParams.newBuilder().setTemperature(temperature));
        if (temperature > 0) b.setSeed(seeds.incrementAndGet());
        if (promptIds != null) {
            b.setTokenIds(io.specdec.api.v1.TokenIds.newBuilder().addAllIds(java.util.Arrays.stream(promptIds).boxed().toList()));
        } else {
            b.setText(prompt);
        }
        switch (speculation) {
            case "off" -> b.setSpeculation(io.specdec.api.v1.SpeculationOverride.newBuilder()
                    .setMode(io.specdec.api.v1.SpeculationOverride.Mode.MODE_OFF));
            case "on" -> b.setSpeculation(io.specdec.api.v1.SpeculationOverride.newBuilder()
                    .setMode(io.specdec.api.v1.SpeculationOverride.Mode.MODE_ON));
            default -> { }
        }
        GenerateRequest request = b.build();
        GenerationServiceGrpc.newStub(channel).generate(request, new StreamObserver<>() {
            @Override public void onNext(GenerateResponse m) {
                if (m.hasDelta()) t.delta(m.getDelta().getTokenIdsCount());
            }

            @Override public void onError(Throwable e) { done.completeExceptionally(e); }

            @Override public void onCompleted() { done.complete(t.sample()); }
        });
        return done;
    }

    private CompletableFuture<Sample> inProcess(SpecdecNode node) {
        CompletableFuture<Sample> done = new CompletableFuture<>();
        Timing t = new Timing();
        SamplingParams params = temperature > 0
                ? SamplingParams.defaults().withTemperature(temperature).withSeed(seeds.incrementAndGet()).withMaxTokens(maxTokens).withIgnoreEos(true)
                : SamplingParams.greedy().withMaxTokens(maxTokens).withIgnoreEos(true);
        GenerationJob job = new GenerationJob(UUID.randomUUID().toString(), promptIds == null ? prompt : null, promptIds,
                null, params, speculation, 0, "", false, 0, 0, null);
        node.generate(job, event -> {
            switch (event) {
                case StreamEvent.Tokens tokens -> t.delta(tokens.ids().length);
                case StreamEvent.Finished f -> done.complete(t.sample());
                case StreamEvent.Failed f -> done.completeExceptionally(new IllegalStateException(f.status() + ": " + f.message()));
            }
        }).exceptionally(e -> {
            done.completeExceptionally(e);
            return null;
        });
        return done;
    }

    private void plot(List<Map<String, Object>> rows, String modelName) throws Exception {
        XYChart chart = new XYChartBuilder().width(1100).height(550).title("specdec service load test: " + modelName
                        + ", " + maxTokens + " tokens per request")
                .xAxisTitle("concurrent clients").yAxisTitle("generated tokens / s").build();
        for (String batching : rows.stream().map(r -> (String) r.get("batching")).distinct().toList()) {
            for (String transport : rows.stream().map(r -> (String) r.get("transport")).distinct().toList()) {
                List<Double> x = new ArrayList<>(), y = new ArrayList<>();
                for (Map<String, Object> r : rows) {
                    if (r.get("batching").equals(batching) && r.get("transport").equals(transport)) {
                        x.add(((Integer) r.get("concurrency")).doubleValue());
                        y.add((Double) r.get("tokens_per_second"));
                    }
                }
                chart.addSeries(transport + ", batching " + batching, x, y);
            }
        }
        if (plotFile.getParent() != null) Files.createDirectories(plotFile.getParent());
        BitmapEncoder.saveBitmap(chart, plotFile.toString().replaceFirst("\\.png$", ""), BitmapEncoder.BitmapFormat.PNG);
    }

    private static double percentile(List<Double> values, double p) {
        if (values.isEmpty()) return 0;
        List<Double> sorted = new ArrayList<>(values);
        Collections.sort(sorted);
        int index = (int) Math.ceil(p / 100.0 * sorted.size()) - 1;
        return sorted.get(Math.max(0, Math.min(sorted.size() - 1, index)));
    }

    private static double round(double x) {
        return Math.round(x * 100) / 100.0;
    }
}
