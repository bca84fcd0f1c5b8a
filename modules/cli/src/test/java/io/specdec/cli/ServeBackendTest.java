package io.specdec.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.typesafe.config.ConfigFactory;
import io.specdec.cluster.Coordinator;
import io.specdec.cluster.ModelRuntime;
import io.specdec.cluster.SpecdecNode;
import io.specdec.cuda.CudaDevice;
import io.specdec.server.ServerOptions;
import io.specdec.server.SpecdecServer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static io.specdec.cli.CliTest.run;
import static org.assertj.core.api.Assertions.assertThat;

/**
 * serve --backend cuda / --random-weights and the load test that measures served throughput (bench/gpu/serve-batch.sh):
 * fixed-length requests (EOS ignored) at each concurrency, in-process and against a running server.
 */
class ServeBackendTest {

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    void serveOnCudaWithoutAUsableGpuExitsWithTheReason(@TempDir Path dir) throws Exception {
        String reason = CudaDevice.unavailableReason().orElse(null);
        // with a GPU serve would start and keep serving: bench/gpu/serve-batch.sh covers that case
        if (reason == null) System.out.println("[skip] serveOnCudaWithoutAUsableGpuExitsWithTheReason: a GPU is usable here");
        Assumptions.assumeTrue(reason != null, "a GPU is usable here");
        CliTest.Run r = run("serve", "--backend", "cuda", "--random-weights", RandomWeightsTest.tinyConfig(dir).toString(),
                "--port", Integer.toString(freePort()), "--metrics-port", "-1", "--cluster-port", Integer.toString(freePort()));
        assertThat(r.exitCode()).isEqualTo(2);
        // the reason's wording depends on what this JVM tried before (the driver class fails to load once, then to initialize)
        assertThat(r.err()).contains("specdec: backend cuda: ").doesNotContain("\tat ");
    }

    @Test
    void serveRefusesEarlyExitDraftsOfSplitCudaTargetsAndMixedModelSources(@TempDir Path dir) throws Exception {
        Path config = RandomWeightsTest.tinyConfig(dir);
        CliTest.Run tp = run("serve", "--backend", "cuda", "--tp", "2", "--draft", "layers:1", "--random-weights",
                config.toString(), "--port", Integer.toString(freePort()), "--metrics-port", "-1", "--cluster-port",
                Integer.toString(freePort()));
        assertThat(tp.exitCode()).isEqualTo(2);
        assertThat(tp.err()).contains("draft layers:1 shares the target's weights").contains("give a draft model");
        CliTest.Run both = run("serve", "--random-weights", config.toString(), "--model", config.toString(),
                "--port", Integer.toString(freePort()), "--metrics-port", "-1", "--cluster-port", Integer.toString(freePort()));
        assertThat(both.exitCode()).isEqualTo(2);
        assertThat(both.err()).contains("--random-weights replaces --model");
        CliTest.Run backend = run("serve", "--backend", "tpu", "--random-weights", config.toString(),
                "--port", Integer.toString(freePort()), "--metrics-port", "-1", "--cluster-port", Integer.toString(freePort()));
        assertThat(backend.exitCode()).isEqualTo(2);
        assertThat(backend.err()).contains("backend must be cpu or cuda, got tpu");
    }

    @Test
    void loadtestInProcessGeneratesExactlyMaxTokensPerRequestAtEachConcurrency(@TempDir Path dir) throws Exception {
        Path json = dir.resolve("load.json");
        Path png = dir.resolve("load.png");
        CliTest.Run r = run("loadtest", "--random-weights", RandomWeightsTest.tinyConfig(dir).toString(), "--threads", "1",
                "--batching", "continuous", "--concurrency", "1,3", "--requests-per-client", "1", "--prompt-tokens", "16",
                "--max-tokens", "8", "--speculation", "off", "--json", json.toString(), "--plot", png.toString());
        assertThat(r.exitCode()).as(r.err()).isZero();
        JsonNode report = new ObjectMapper().readTree(json.toFile());
        assertThat(report.get("prompt_tokens").asInt()).isEqualTo(16);
        assertThat(report.get("backend").asText()).isEqualTo("cpu");
        JsonNode levels = report.get("levels");
        assertThat(levels.size()).isEqualTo(4); // 2 concurrencies x (grpc, in-process)
        for (JsonNode level : levels) {
            int clients = level.get("concurrency").asInt();
            assertThat(level.get("tokens").asInt()).as(level.toString()).isEqualTo(clients * 8);
            assertThat(level.get("stream_decode_tokens_per_second_mean").asDouble()).isPositive();
        }
        assertThat(Files.size(png)).isPositive();
    }

    @Test
    void loadtestDrivesARunningServerThroughGrpc(@TempDir Path dir) throws Exception {
        ModelRuntime.Spec spec = new ModelRuntime.Spec("tiny-random", RandomWeightsTest.tinyConfig(dir), null, null, 1, 2048,
                ModelRuntime.Parallelism.NONE, ModelRuntime.Backend.CPU, true);
        try (SpecdecNode node = SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", freePort(), List.of(),
                List.of("frontend", "worker"), spec, 1, Coordinator.Settings.defaults(), ConfigFactory.empty()))) {
            SpecdecServer server = SpecdecServer.start(node, ServerOptions.plaintext("127.0.0.1", 0, -1, "t"));
            try {
                Path json = dir.resolve("server.json");
                CliTest.Run r = run("loadtest", "--server", "127.0.0.1:" + server.port(), "--concurrency", "2",
                        "--requests-per-client", "2", "--prompt-tokens", "12", "--max-tokens", "6", "--speculation", "off",
                        "--json", json.toString());
                assertThat(r.exitCode()).as(r.err()).isZero();
                JsonNode report = new ObjectMapper().readTree(json.toFile());
                assertThat(report.get("model").asText()).isEqualTo("tiny-random");
                JsonNode level = report.get("levels").get(0);
                assertThat(level.get("transport").asText()).isEqualTo("grpc");
                assertThat(level.get("requests").asInt()).isEqualTo(4);
                assertThat(level.get("tokens").asInt()).isEqualTo(24);
            } finally {
                server.close();
            }
        }
    }
}
