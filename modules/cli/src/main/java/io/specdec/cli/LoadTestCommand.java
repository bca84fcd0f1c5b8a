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
 * Load test of the CPU service: concurrent clients stream requests back to back, through gRPC on a loopback socket
 * or straight into the node (in-process), against a replica that batches (continuous batching) or not (one request
 * per iteration). Reports time to first token, inter-token latency p50/p99 and throughput per concurrency level.
 */
@Command(name = "loadtest", mixinStandardHelpOptions = true,
        description = "Load-test the service: TTFT, inter-token latency p50/p99, throughput at several concurrencies.")
final class LoadTestCommand implements java.util.concurrent.Callable<Integer> {
    @Mixin ModelOptions model;

    @Option(names = "--concurrency", split = ",", defaultValue = "1,8,32,64", description = "Concurrent clients (default: ${DEFAULT-VALUE}).")
    List<Integer> concurrency;

    @Option(names = "--requests-per-client", defaultValue = "2", description = "Requests each client sends (default: ${DEFAULT-VALUE}).")
    int requestsPerClient;

    @Option(names = "--max-tokens", defaultValue = "48", description = "Tokens per request (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--prompt", defaultValue = "Mr President, I would like to", description = "Prompt of every request.")
    String prompt;

    @Option(names = "--draft", defaultValue = "none", description = "Drafter of the replica: a path, layers:N or none (default: ${DEFAULT-VALUE}).")
    String draft;

    @Option(names = "--json", paramLabel = "FILE", description = "Write results as JSON.")
    Path jsonFile;

    @Option(names = "--plot", paramLabel = "PNG", description = "Write a throughput and latency plot.")
    Path plotFile;

    record Sample(double ttft, List<Double> gaps, int tokens) { }

    @Override public Integer call() throws Exception {
        List<Map<String, Object>> rows = new ArrayList<>();
        for (boolean batched : new boolean[]{true, false}) {
            ModelRuntime.Spec spec = new ModelRuntime.Spec("default", model.modelPath(), model.tokenizerPath(), draft,
                    model.threadCount(), model.kvTokens);
            int maxBatch = batched ? 64 : 1;
            int clusterPort;
            try (var probe = new java.net.ServerSocket(0)) {
                clusterPort = probe.getLocalPort(); // the node is its own seed, so it needs its real port up front
            }
            try (SpecdecNode node = SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", clusterPort, List.of(), List.of("frontend", "worker"),
                    spec, 1, new Coordinator.Settings(4096, maxBatch, 256), ConfigFactory.empty()))) {
                SpecdecServer server = SpecdecServer.start(node, ServerOptions.plaintext("127.0.0.1", 0, -1, "loadtest"));
                ManagedChannel channel = ManagedChannelBuilder.forAddress("127.0.0.1", server.port()).usePlaintext().build();
                try {
                    warmUp(node, channel);
                    for (int c : concurrency) {
                        for (String transport : List.of("grpc", "in-process")) {
                            Map<String, Object> row = level(node, channel, transport, c);
                            row.put("batching", batched ? "continuous (max 64)" : "off (1 request per iteration)");
                            rows.add(row);
                            System.out.printf("%-32s %-10s c=%-3d %8.1f tok/s  TTFT p50 %7.1f ms p99 %7.1f ms  ITL p50 %6.1f ms p99 %6.1f ms%n",
                                    row.get("batching"), transport, c, row.get("tokens_per_second"), row.get("ttft_p50_ms"),
                                    row.get("ttft_p99_ms"), row.get("itl_p50_ms"), row.get("itl_p99_ms"));
                        }
                    }
                } finally {
                    channel.shutdownNow();
                    server.close();
                }
            }
        }
        Map<String, Object> report = new LinkedHashMap<>();
        report.put("model", Defaults.display(model.modelPath()));
        report.put("draft", draft);
        report.put("threads", model.threadCount());
        report.put("max_tokens", maxTokens);
        report.put("requests_per_client", requestsPerClient);
        report.put("levels", rows);
        if (jsonFile != null) {
            if (jsonFile.getParent() != null) Files.createDirectories(jsonFile.getParent());
            new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT).writeValue(jsonFile.toFile(), report);
        }
        if (plotFile != null) plot(rows);
        return 0;
    }

    private void warmUp(SpecdecNode node, ManagedChannel channel) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        while (node.replicas().toCompletableFuture().get(30, TimeUnit.SECONDS).isEmpty()) {
            if (System.nanoTime() > deadline) throw new IllegalStateException("no replica came up within 120 s");
            Thread.sleep(200);
        }
        for (int i = 0; i < 3; i++) {
            viaGrpc(channel).get(120, TimeUnit.SECONDS);
            inProcess(node).get(120, TimeUnit.SECONDS);
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
        for (Sample s : samples) {
            ttft.add(s.ttft());
            gaps.addAll(s.gaps());
            tokens += s.tokens();
        }
        Map<String, Object> row = new LinkedHashMap<>();
        row.put("transport", transport);
        row.put("concurrency", clients);
        row.put("requests", samples.size());
        row.put("tokens", tokens);
        row.put("seconds", round(seconds));
        row.put("tokens_per_second", round(tokens / seconds));
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
            return new Sample((first - start) / 1e9, gaps, tokens);
        }
    }

    private CompletableFuture<Sample> viaGrpc(ManagedChannel channel) {
        CompletableFuture<Sample> done = new CompletableFuture<>();
        Timing t = new Timing();
        GenerateRequest request = GenerateRequest.newBuilder().setText(prompt).setMaxTokens(maxTokens).setIgnoreEos(true)
                .setSampling(io.specdec.api.v1.SamplingParams.newBuilder().setTemperature(0)).build();
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
        SamplingParams params = SamplingParams.greedy().withMaxTokens(maxTokens).withIgnoreEos(true);
        GenerationJob job = new GenerationJob(UUID.randomUUID().toString(), prompt, null, null, params, "default", 0, "",
                false, 0, 0, null);
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

    private void plot(List<Map<String, Object>> rows) throws Exception {
        XYChart chart = new XYChartBuilder().width(1100).height(550).title("specdec CPU service load test")
                .xAxisTitle("concurrent clients").yAxisTitle("generated tokens / s").build();
        for (String batching : rows.stream().map(r -> (String) r.get("batching")).distinct().toList()) {
            for (String transport : List.of("grpc", "in-process")) {
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
