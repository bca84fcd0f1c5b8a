package io.specdec.server;

import com.google.protobuf.ByteString;
import io.grpc.CallOptions;
import io.grpc.ClientCall;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.health.v1.HealthCheckRequest;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.health.v1.HealthGrpc;
import io.grpc.stub.ClientCalls;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import io.specdec.api.v1.ChatMessage;
import io.specdec.api.v1.ChatMessages;
import io.specdec.api.v1.GenerateRequest;
import io.specdec.api.v1.GenerateResponse;
import io.specdec.api.v1.GenerationServiceGrpc;
import io.specdec.api.v1.ListModelsRequest;
import io.specdec.api.v1.SamplingParams;
import io.specdec.api.v1.SpeculationOverride;
import io.specdec.api.v1.TokenIds;
import io.specdec.api.v1.TokenizeRequest;
import io.specdec.cluster.Coordinator;
import io.specdec.cluster.ModelRuntime;
import io.specdec.cluster.SpecdecNode;
import io.specdec.core.generate.GenerationResult;
import io.specdec.core.generate.Generator;
import io.specdec.core.generate.TokenListener;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.cpu.CpuModels;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;

/** GenerationService over real sockets against a real one-node cluster with stories260K. */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class GenerationServiceTest {
    static SpecdecNode node;
    static SpecdecServer server;
    static ManagedChannel channel;
    static GenerationServiceGrpc.GenerationServiceBlockingStub blocking;

    @BeforeAll
    static void start() throws Exception {
        node = TestNodes.singleNode(new Coordinator.Settings(256, 64, 128));
        server = SpecdecServer.start(node, ServerOptions.plaintext("127.0.0.1", 0, 0, "secret-operator-token"));
        TestNodes.awaitReplicas(node, 1);
        channel = TestNodes.channel(server.port());
        blocking = GenerationServiceGrpc.newBlockingStub(channel);
    }

    @AfterAll
    static void stop() {
        if (channel != null) channel.shutdownNow();
        if (server != null) server.close();
    }

    record Streamed(List<Integer> tokens, String text, GenerateResponse last) { }

    static Streamed collect(Iterator<GenerateResponse> it) {
        List<Integer> tokens = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        GenerateResponse last = null;
        while (it.hasNext()) {
            last = it.next();
            if (last.hasDelta()) {
                tokens.addAll(last.getDelta().getTokenIdsList());
                text.append(last.getDelta().getText());
            } else {
                text.append(last.getFinal().getTextTail());
            }
        }
        return new Streamed(tokens, text.toString(), last);
    }

    static GenerateRequest.Builder request(String prompt, int maxTokens) {
        return GenerateRequest.newBuilder().setText(prompt).setMaxTokens(maxTokens);
    }

    @Test
    void streamedGenerationEqualsTheInProcessEngineForTheSameSeed() throws Exception {
        ModelRuntime local = new ModelRuntime(TestNodes.spec(null), "reference");
        try {
            for (long seed : new long[] {1, 2, 3}) {
                GenerateRequest r = request("Once upon a time", 80)
                        .setSampling(SamplingParams.newBuilder().setTemperature(0.8).setTopP(0.95))
                        .setSeed(seed)
                        .setSpeculation(SpeculationOverride.newBuilder().setMode(SpeculationOverride.Mode.MODE_ON)
                                .setGamma(4).setDrafter("model"))
                        .build();
                Streamed s = collect(blocking.generate(r));

                var tok = local.tokenizer();
                int[] prompt = tok.encode("Once upon a time", tok.addBosByDefault(), false);
                var draft = CpuModels.earlyExit(local.loaded(), 4, new io.specdec.cpu.ParallelExecutor(1, "ref-draft"), 4096);
                var params = io.specdec.core.sampling.SamplingParams.defaults().toBuilder().temperature(0.8).topP(0.95)
                        .seed(seed).maxTokens(80).build();
                var detok = tok.newStreamingDetokenizer(false);
                GenerationResult expected = new Generator(local.target(), new ModelDrafter(draft), GammaPolicy.fixed(4))
                        .generate(prompt, params, TokenListener.NONE, detok::push);
                assertThat(s.tokens()).as("seed %d", seed)
                        .containsExactlyElementsOf(Arrays.stream(expected.tokens()).boxed().toList());
                assertThat(s.text()).isEqualTo(expected.text());
                var fin = s.last().getFinal();
                assertThat(fin.getUsage().getCompletionTokens()).isEqualTo(expected.tokens().length);
                assertThat(fin.getSpeculation().getAcceptedTokens()).isEqualTo(expected.stats().accepted());
                assertThat(fin.getTimeToFirstTokenSeconds()).isPositive();
            }
        } finally {
            local.close();
        }
    }

    @Test
    void acceptsTokenIdsChatAndReturnsLogprobs() {
        Streamed ids = collect(blocking.generate(GenerateRequest.newBuilder()
                .setTokenIds(TokenIds.newBuilder().addIds(1).addIds(100).addIds(200)).setMaxTokens(10)
                .setLogprobs(true).setTopLogprobs(2).build()));
        assertThat(ids.tokens()).hasSize(10);
        assertThat(ids.last().getFinal().getUsage().getPromptTokens()).isEqualTo(3);
        var tokenizeResponse = blocking.tokenize(TokenizeRequest.newBuilder().setText("Once upon a time").build());
        assertThat(tokenizeResponse.getTokenIdsCount()).isPositive();
        assertThat(blocking.listModels(ListModelsRequest.getDefaultInstance()).getModels(0).getName()).isEqualTo("stories260K");
        // stories260K ships no chat template: a chat prompt is refused with the reason
        var chat = GenerateRequest.newBuilder().setChat(ChatMessages.newBuilder()
                .addMessages(ChatMessage.newBuilder().setRole("user").setContent("hi"))).build();
        assertStatus(() -> collect(blocking.generate(chat)), Status.Code.INVALID_ARGUMENT);
    }

    /** Each case: a request the server must refuse with INVALID_ARGUMENT or RESOURCE_EXHAUSTED and a message. */
    static List<GenerateRequest> malformed() {
        List<GenerateRequest> out = new ArrayList<>();
        out.add(GenerateRequest.newBuilder().setMaxTokens(5).build()); // no prompt
        out.add(request("", 5).build());
        out.add(GenerateRequest.newBuilder().setTokenIds(TokenIds.getDefaultInstance()).build());
        for (int v : new int[] {-1, -100, Integer.MIN_VALUE, 512, 513, 100000, Integer.MAX_VALUE}) {
            out.add(GenerateRequest.newBuilder().setTokenIds(TokenIds.newBuilder().addIds(1).addIds(v)).build());
        }
        for (int m : new int[] {-1, -2, -1000, Integer.MIN_VALUE, 65537, 1_000_000, Integer.MAX_VALUE}) out.add(request("Hi", m).build());
        for (double t : new double[] {Double.NaN, -0.1, -1, Double.NEGATIVE_INFINITY, Double.POSITIVE_INFINITY, -1e-9}) {
            out.add(request("Hi", 5).setSampling(SamplingParams.newBuilder().setTemperature(t)).build());
        }
        for (double p : new double[] {0, -0.5, 1.0000001, 2, Double.NaN, Double.POSITIVE_INFINITY, -1e-12}) {
            out.add(request("Hi", 5).setSampling(SamplingParams.newBuilder().setTemperature(1).setTopP(p)).build());
        }
        for (double p : new double[] {-0.1, 1, 1.5, Double.NaN}) {
            out.add(request("Hi", 5).setSampling(SamplingParams.newBuilder().setMinP(p)).build());
        }
        for (int k : new int[] {-1, -5, Integer.MIN_VALUE}) out.add(request("Hi", 5).setSampling(SamplingParams.newBuilder().setTopK(k)).build());
        for (double r : new double[] {0, -1, Double.NaN, Double.POSITIVE_INFINITY}) {
            out.add(request("Hi", 5).setSampling(SamplingParams.newBuilder().setRepetitionPenalty(r)).build());
        }
        for (double x : new double[] {2.5, -2.5, Double.NaN, 100}) {
            out.add(request("Hi", 5).setSampling(SamplingParams.newBuilder().setPresencePenalty(x)).build());
            out.add(request("Hi", 5).setSampling(SamplingParams.newBuilder().setFrequencyPenalty(x)).build());
        }
        for (String model : new String[] {"gpt-4", "llama", "stories260k", " ", "x".repeat(1000)}) {
            out.add(request("Hi", 5).setModel(model).build());
        }
        out.add(request("Once upon a time ".repeat(300), 5).build()); // longer than the 512-token context
        out.add(GenerateRequest.newBuilder().setTokenIds(TokenIds.newBuilder().addAllIds(java.util.Collections.nCopies(600, 5))).build());
        out.add(request("x".repeat((1 << 20) + 10), 5).build()); // oversized message
        GenerateRequest.Builder thousands = request("Hi", 5);
        for (int i = 0; i < 3000; i++) thousands.addStop("stop" + i);
        out.add(thousands.build());
        out.add(request("Hi", 5).addStop("").build());
        out.add(request("Hi", 5).addStop("s".repeat(1000)).build());
        out.add(request("Hi", 5).addStopTokenIds(-3).build());
        for (int g : new int[] {-1, 17, 1000}) {
            out.add(request("Hi", 5).setSpeculation(SpeculationOverride.newBuilder().setMode(SpeculationOverride.Mode.MODE_ON).setGamma(g)).build());
        }
        for (String d : new String[] {"medusa", "eagle", "MODEL", "layers:2"}) {
            out.add(request("Hi", 5).setSpeculation(SpeculationOverride.newBuilder().setDrafter(d)).build());
        }
        out.add(request("Hi", 5).setSpeculation(SpeculationOverride.newBuilder().setModeValue(7)).build());
        for (int t : new int[] {-1, 21, 1000}) out.add(request("Hi", 5).setTopLogprobs(t).build());
        out.add(GenerateRequest.newBuilder().setChat(ChatMessages.getDefaultInstance()).build());
        out.add(GenerateRequest.newBuilder().setChat(ChatMessages.newBuilder().addMessages(ChatMessage.newBuilder().setContent("x"))).build());
        // a systematic sweep of invalid sampling combinations
        double[] badTemps = {-3, -0.5, Double.NaN};
        double[] badTopP = {0, 1.5, -1};
        int[] badMax = {-7, 70000};
        for (double t : badTemps) for (double p : badTopP) for (int m : badMax) {
            out.add(request("Hello", m).setSampling(SamplingParams.newBuilder().setTemperature(t).setTopP(p)).build());
            out.add(GenerateRequest.newBuilder().setTokenIds(TokenIds.newBuilder().addIds(1)).setMaxTokens(m)
                    .setSampling(SamplingParams.newBuilder().setTemperature(t).setTopP(p)).build());
        }
        for (int i = 0; i < 60; i++) {
            out.add(GenerateRequest.newBuilder().setTokenIds(TokenIds.newBuilder().addIds(1).addIds(512 + i * 37)).build());
            out.add(request("Hi", 5).setSampling(SamplingParams.newBuilder().setTemperature(1).setTopP(1 + (i + 1) * 0.01)).build());
        }
        return out;
    }

    @Test
    void refusesHundredsOfMalformedRequestsWithAMessageAndKeepsServing() {
        List<GenerateRequest> cases = malformed();
        int[] invalidUtf8 = {0};
        assertThat(cases.size() + 20).isGreaterThanOrEqualTo(200);
        for (int i = 0; i < cases.size(); i++) {
            GenerateRequest r = cases.get(i);
            StatusRuntimeException e = catchStatus(() -> collect(blocking.generate(r)));
            assertThat(e).as("case %d was accepted", i).isNotNull();
            assertThat(e.getStatus().getCode()).as("case %d: %s", i, e.getStatus())
                    .isIn(Status.Code.INVALID_ARGUMENT, Status.Code.RESOURCE_EXHAUSTED);
            assertThat(e.getStatus().getDescription()).as("case %d message", i).isNotBlank();
        }
        // invalid UTF-8 in stop strings (and in the prompt), sent as raw bytes
        byte[][] garbage = {{(byte) 0xC3, 0x28}, {(byte) 0xFF}, {(byte) 0xE2, (byte) 0x82}, {(byte) 0xED, (byte) 0xA0, (byte) 0x80}};
        for (byte[] g : garbage) {
            for (int field : new int[] {7, 2}) {
                for (int rep = 0; rep < 2; rep++) {
                    StatusRuntimeException e = catchStatus(() -> rawGenerate(field, g));
                    assertThat(e).isNotNull();
                    assertThat(e.getStatus().getCode()).as(e.getStatus().toString()).isEqualTo(Status.Code.INVALID_ARGUMENT);
                    assertThat(e.getStatus().getDescription()).isNotBlank();
                    invalidUtf8[0]++;
                }
            }
        }
        assertThat(cases.size() + invalidUtf8[0]).isGreaterThanOrEqualTo(200);
        Streamed ok = collect(blocking.generate(request("Once upon a time", 8).build()));
        assertThat(ok.tokens()).hasSize(8);
        assertThat(TestNodes.kvBlocksInUse(node)).isZero();
    }

    /** A Generate call whose bytes carry field {@code field} (length-delimited) holding {@code bytes}. */
    static void rawGenerate(int field, byte[] bytes) {
        MethodDescriptor<GenerateRequest, GenerateResponse> generate = GenerationServiceGrpc.getGenerateMethod();
        MethodDescriptor.Marshaller<byte[]> raw = new MethodDescriptor.Marshaller<>() {
            @Override public InputStream stream(byte[] value) { return new ByteArrayInputStream(value); }

            @Override public byte[] parse(InputStream stream) {
                try {
                    return stream.readAllBytes();
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            }
        };
        MethodDescriptor<byte[], byte[]> method = generate.toBuilder(raw, raw).build();
        byte[] valid = request("Hi", 3).build().toByteArray();
        ByteString extra = ByteString.copyFrom(new byte[] {(byte) (field << 3 | 2), (byte) bytes.length}).concat(ByteString.copyFrom(bytes));
        byte[] message = ByteString.copyFrom(valid).concat(extra).toByteArray();
        Iterator<byte[]> it = ClientCalls.blockingServerStreamingCall(channel, method, CallOptions.DEFAULT, message);
        while (it.hasNext()) it.next();
    }

    @Test
    void sixtyFourConcurrentStreamsFinishAndReturnEveryKvBlock() throws Exception {
        GenerationServiceGrpc.GenerationServiceStub async = GenerationServiceGrpc.newStub(channel);
        List<CompletableFuture<Integer>> done = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            CompletableFuture<Integer> f = new CompletableFuture<>();
            done.add(f);
            GenerateRequest r = request("Tom and Lily " + i, 24 + i % 9)
                    .setSampling(SamplingParams.newBuilder().setTemperature(i % 2 == 0 ? 0 : 0.9)).setSeed(i)
                    .setSpeculation(SpeculationOverride.newBuilder().setMode(i % 4 == 0 ? SpeculationOverride.Mode.MODE_OFF
                            : SpeculationOverride.Mode.MODE_DEFAULT).setDrafter(i % 3 == 0 ? "ngram" : ""))
                    .build();
            async.generate(r, observer(f));
        }
        for (int i = 0; i < 64; i++) assertThat(done.get(i).get(180, TimeUnit.SECONDS)).isEqualTo(24 + i % 9);
        awaitKvEmpty();
    }

    static io.grpc.stub.StreamObserver<GenerateResponse> observer(CompletableFuture<Integer> f) {
        return new io.grpc.stub.StreamObserver<>() {
            int tokens;

            @Override public void onNext(GenerateResponse v) {
                if (v.hasDelta()) tokens += v.getDelta().getTokenIdsCount();
            }

            @Override public void onError(Throwable t) { f.completeExceptionally(t); }

            @Override public void onCompleted() { f.complete(tokens); }
        };
    }

    @Test
    void clientCancellationStopsGenerationAndFreesKvBlocks() throws Exception {
        CompletableFuture<Void> firstDelta = new CompletableFuture<>();
        List<GenerateResponse> seen = new CopyOnWriteArrayList<>();
        ClientCallStreamObserver<?>[] requestStream = new ClientCallStreamObserver<?>[1];
        GenerationServiceGrpc.newStub(channel).generate(request("The little dog", 500).setIgnoreEos(true).build(),
                new ClientResponseObserver<GenerateRequest, GenerateResponse>() {
                    @Override public void beforeStart(ClientCallStreamObserver<GenerateRequest> s) { requestStream[0] = s; }

                    @Override public void onNext(GenerateResponse v) {
                        seen.add(v);
                        firstDelta.complete(null);
                    }

                    @Override public void onError(Throwable t) { }

                    @Override public void onCompleted() { }
                });
        firstDelta.get(30, TimeUnit.SECONDS);
        assertThat(TestNodes.kvBlocksInUse(node)).isPositive();
        requestStream[0].cancel("client gave up", null);
        awaitKvEmpty();
        assertThat(seen).noneMatch(GenerateResponse::hasFinal);
    }

    @Test
    void deadlineExceededEndsTheStreamAndFreesKvBlocks() throws Exception {
        StatusRuntimeException e = catchStatus(() -> collect(blocking.withDeadlineAfter(300, TimeUnit.MILLISECONDS)
                .generate(request("One day", 500).setIgnoreEos(true).build())));
        assertThat(e).isNotNull();
        assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.DEADLINE_EXCEEDED);
        awaitKvEmpty();
    }

    @Test
    void healthReflectionAndMetricsAreServed() throws Exception {
        var health = HealthGrpc.newBlockingStub(channel).check(HealthCheckRequest.getDefaultInstance());
        assertThat(health.getStatus()).isEqualTo(HealthCheckResponse.ServingStatus.SERVING);

        var reflection = io.grpc.reflection.v1.ServerReflectionGrpc.newStub(channel);
        CompletableFuture<List<String>> services = new CompletableFuture<>();
        var requests = reflection.serverReflectionInfo(new io.grpc.stub.StreamObserver<>() {
            final List<String> names = new ArrayList<>();

            @Override public void onNext(io.grpc.reflection.v1.ServerReflectionResponse v) {
                v.getListServicesResponse().getServiceList().forEach(s -> names.add(s.getName()));
            }

            @Override public void onError(Throwable t) { services.completeExceptionally(t); }

            @Override public void onCompleted() { services.complete(names); }
        });
        requests.onNext(io.grpc.reflection.v1.ServerReflectionRequest.newBuilder().setListServices("").build());
        requests.onCompleted();
        assertThat(services.get(10, TimeUnit.SECONDS)).contains("specdec.v1.GenerationService", "specdec.v1.AdminService",
                "grpc.health.v1.Health");

        collect(blocking.generate(request("Once upon a time", 12)
                .setSpeculation(SpeculationOverride.newBuilder().setMode(SpeculationOverride.Mode.MODE_ON)).build()));
        Thread.sleep(1200); // loads refresh every second
        String body = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://127.0.0.1:" + server.metricsPort() + "/metrics")).build(),
                HttpResponse.BodyHandlers.ofString()).body();
        for (String name : List.of("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:kv_cache_usage_perc",
                "vllm:time_to_first_token_seconds_bucket", "vllm:inter_token_latency_seconds_bucket",
                "vllm:time_per_output_token_seconds_bucket", "vllm:e2e_request_latency_seconds_bucket",
                "vllm:spec_decode_num_draft_tokens_total", "vllm:spec_decode_num_accepted_tokens_total",
                "vllm:spec_decode_num_accepted_tokens_per_pos_total", "specdec_cluster_members", "specdec_cluster_replicas")) {
            assertThat(body).as("metrics expose %s", name).contains(name);
        }
        assertThat(body).contains("specdec_cluster_replicas 1");
    }

    static void awaitKvEmpty() throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (TestNodes.kvBlocksInUse(node) != 0) {
            assertThat(System.nanoTime()).as("KV blocks back to zero").isLessThan(end);
            Thread.sleep(50);
        }
    }

    static StatusRuntimeException catchStatus(Runnable r) {
        try {
            r.run();
            return null;
        } catch (StatusRuntimeException e) {
            return e;
        }
    }

    static void assertStatus(Runnable r, Status.Code code) {
        StatusRuntimeException e = catchStatus(r);
        assertThat(e).isNotNull();
        assertThat(e.getStatus().getCode()).as(e.getStatus().toString()).isEqualTo(code);
    }

    @SuppressWarnings("unused")
    private static void unused(Consumer<Metadata> m, ClientCall<?, ?> c) { }
}
