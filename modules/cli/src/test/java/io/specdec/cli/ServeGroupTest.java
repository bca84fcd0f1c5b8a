package io.specdec.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * `specdec serve --devices 2 --group-size 2 --draft-mode easyspec` in its own JVM: the node's two CPU devices form one
 * tensor-parallel group over Pekko, each holding its shard of the bundled target and a replica of its draft, drafting
 * layer-parallel over the two ranks. A greedy request through `generate --server` gives the target's own ids, and the
 * statistics name the EasySpec drafter. Flags that cannot go together are refused before anything loads.
 */
class ServeGroupTest {

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    static Path bundled() {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("models").resolve("target"))) dir = dir.getParent();
        Assumptions.assumeTrue(dir != null, "the bundled pair models/target, models/draft was not found above the working directory");
        return dir.resolve("models");
    }

    /** {@code rankOnly}: the devices hold only their ranks (--rank-only), so the group is the only thing that can serve. */
    @ParameterizedTest(name = "rank-only {0}")
    @ValueSource(booleans = {false, true})
    void twoDevicesServeAsOneGroupDraftingLayerParallelWithTheTargetsIds(boolean rankOnly) throws Exception {
        Path models = bundled();
        int port = freePort();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new java.util.ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-cp", System.getProperty("java.class.path"), "io.specdec.cli.Main",
                "serve", "--port", Integer.toString(port), "--metrics-port", "-1", "--cluster-port", Integer.toString(freePort()),
                "--model", models.resolve("target").toString(), "--draft", models.resolve("draft").toString(),
                "--devices", "2", "--group-size", "2", "--draft-mode", "easyspec", "--threads", "1"));
        if (rankOnly) command.add("--rank-only");
        Process server = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            BufferedReader lines = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
            StringBuilder seen = new StringBuilder();
            String line;
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while ((line = lines.readLine()) != null && !line.startsWith("specdec serving")) {
                seen.append(line).append('\n');
                assertThat(System.nanoTime()).as("server did not start:\n%s", seen).isLessThan(deadline);
            }
            assertThat(line).as("server output:\n%s", seen).isNotNull();
            Thread.ofVirtual().start(() -> {
                try {
                    while (lines.readLine() != null) { }
                } catch (Exception ignored) {
                    // the server went away
                }
            });
            String[] args = {"generate", "--server", "127.0.0.1:" + port, "--prompt", "Once upon a time", "--max-tokens", "40",
                    "--temperature", "0", "--json"};
            CliTest.Run remote = null;
            for (int attempt = 0; attempt < 120; attempt++) {   // until the group is formed and serves as the replica
                remote = CliTest.run(args);
                if (remote.exitCode() == 0 && remote.json().get("drafter").asText().contains("EasySpec")) break;
                Thread.sleep(500);
            }
            assertThat(remote.exitCode()).as(remote.err()).isZero();
            JsonNode served = remote.json();
            assertThat(served.get("drafter").asText()).as("drafted by the group's ranks").contains("EasySpec").contains("on 2 devices");
            assertThat(served.get("drafted_tokens").asLong()).isPositive();
            CliTest.Run local = CliTest.run("generate", "--model", models.resolve("target").toString(), "--prompt",
                    "Once upon a time", "--max-tokens", "40", "--temperature", "0", "--no-speculation", "--json");
            assertThat(local.exitCode()).as(local.err()).isZero();
            assertThat(served.get("token_ids")).as("the target's own greedy ids").isEqualTo(local.json().get("token_ids"));
        } finally {
            server.destroyForcibly();
            server.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /**
     * One JVM per device: two `serve` processes on this host, each a cluster node with one CPU device, form one
     * rank-only group of 2 whose ranks meet over loopback TCP ({@code specdec.placement.cpu-rank.transport=tcp}); a
     * greedy request through the first gets the target's own ids, drafted layer-parallel over the two processes.
     */
    @Test
    void twoProcessesFormOneGroupOverLoopbackTcp() throws Exception {
        Path models = bundled();
        int port = freePort(), seed = freePort(), second = freePort();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<Process> nodes = new java.util.ArrayList<>();
        try {
            for (int node = 0; node < 2; node++) {
                List<String> command = new java.util.ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector",
                        "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
                        "-Dspecdec.placement.cpu-rank.transport=tcp", "-cp", System.getProperty("java.class.path"), "io.specdec.cli.Main",
                        "serve", "--port", Integer.toString(node == 0 ? port : freePort()), "--metrics-port", "-1",
                        "--cluster-port", Integer.toString(node == 0 ? seed : second), "--seed-nodes", "127.0.0.1:" + seed,
                        "--model", models.resolve("target").toString(), "--draft", models.resolve("draft").toString(),
                        "--devices", "1", "--group-size", "2", "--rank-only", "--draft-mode", "easyspec", "--threads", "1"));
                if (node == 1) command.addAll(List.of("--roles", "worker"));
                Process p = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
                nodes.add(p);
            }
            String[] args = {"generate", "--server", "127.0.0.1:" + port, "--prompt", "Once upon a time", "--max-tokens", "40",
                    "--temperature", "0", "--json"};
            CliTest.Run remote = null;
            for (int attempt = 0; attempt < 240; attempt++) {   // until both nodes are up and the group serves as the replica
                remote = CliTest.run(args);
                if (remote.exitCode() == 0 && remote.json().get("drafter").asText().contains("EasySpec")) break;
                for (Process p : nodes) assertThat(p.isAlive()).as("a node exited: " + (remote == null ? "" : remote.err())).isTrue();
                Thread.sleep(500);
            }
            assertThat(remote.exitCode()).as(remote.err()).isZero();
            JsonNode served = remote.json();
            assertThat(served.get("drafter").asText()).as("drafted by the group's ranks").contains("EasySpec").contains("on 2 devices");
            CliTest.Run local = CliTest.run("generate", "--model", models.resolve("target").toString(), "--prompt",
                    "Once upon a time", "--max-tokens", "40", "--temperature", "0", "--no-speculation", "--json");
            assertThat(local.exitCode()).as(local.err()).isZero();
            assertThat(served.get("token_ids")).as("the target's own greedy ids").isEqualTo(local.json().get("token_ids"));
        } finally {
            for (Process p : nodes) p.destroyForcibly();
            for (Process p : nodes) p.waitFor(30, TimeUnit.SECONDS);
        }
    }

    @Test
    void groupsAndInProcessTensorParallelismExcludeEachOther() throws Exception {
        CliTest.Run r = CliTest.run("serve", "--group-size", "2", "--tp", "2", "--port", Integer.toString(freePort()),
                "--metrics-port", "-1", "--cluster-port", Integer.toString(freePort()));
        assertThat(r.exitCode()).isEqualTo(2);
        assertThat(r.err()).contains("--group-size 2 and --tp 2 exclude each other");
        CliTest.Run zero = CliTest.run("serve", "--group-size", "0", "--port", Integer.toString(freePort()),
                "--metrics-port", "-1", "--cluster-port", Integer.toString(freePort()));
        assertThat(zero.exitCode()).isEqualTo(2);
        assertThat(zero.err()).contains("--group-size must be at least 1");
        CliTest.Run alone = CliTest.run("serve", "--rank-only", "--port", Integer.toString(freePort()),
                "--metrics-port", "-1", "--cluster-port", Integer.toString(freePort()));
        assertThat(alone.exitCode()).isEqualTo(2);
        assertThat(alone.err()).contains("--rank-only needs --group-size 2 or more");
    }
}
