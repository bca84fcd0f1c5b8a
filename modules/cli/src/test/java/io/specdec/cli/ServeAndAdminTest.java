package io.specdec.cli;

import com.fasterxml.jackson.databind.JsonNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * `specdec serve` in its own JVM, driven by `specdec generate --server` and `specdec admin` over real gRPC, drained
 * the way the Helm chart's preStop hook does it (server and token file from the environment), then stopped with
 * SIGTERM.
 */
class ServeAndAdminTest {

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    @Test
    void servedGenerationEqualsLocalAndAdminNeedsTheToken(@TempDir Path dir) throws Exception {
        Path model = CliTest.data("llama2c/stories260K.bin");
        Path tokenizer = CliTest.data("llama2c/tok512.bin");
        int port = freePort();
        int clusterPort = freePort();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        List<String> command = new ArrayList<>(List.of(java, "--add-modules", "jdk.incubator.vector",
                "--enable-native-access=ALL-UNNAMED", "--sun-misc-unsafe-memory-access=allow",
                "-cp", System.getProperty("java.class.path"), "io.specdec.cli.Main", "serve",
                "--port", Integer.toString(port), "--metrics-port", "-1", "--cluster-port", Integer.toString(clusterPort),
                "--model", model.toString(), "--tokenizer", tokenizer.toString(), "--draft", "none",
                "--admin-token", "test-token", "--threads", "1"));
        Process server = new ProcessBuilder(command).redirectErrorStream(true).start();
        try {
            BufferedReader lines = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
            String line;
            StringBuilder seen = new StringBuilder();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
            while ((line = lines.readLine()) != null && !line.startsWith("specdec serving")) {
                seen.append(line).append('\n');
                assertThat(System.nanoTime()).as("server did not start:\n%s", seen).isLessThan(deadline);
            }
            assertThat(line).as("server output:\n%s", seen).isNotNull().contains(":" + port);
            Thread drainOutput = Thread.ofVirtual().start(() -> {
                try {
                    while (lines.readLine() != null) { }
                } catch (Exception ignored) {
                    // the server went away
                }
            });

            String server_ = "127.0.0.1:" + port;
            CliTest.Run remote = null;
            for (int attempt = 0; attempt < 60; attempt++) { // the replica may still be forming
                remote = CliTest.run("generate", "--server", server_, "--prompt", "Once upon a time", "--max-tokens", "40",
                        "--ignore-eos", "--no-speculation", "--json");
                if (remote.exitCode() == 0) break;
                Thread.sleep(500);
            }
            assertThat(remote.exitCode()).as(remote.err()).isZero();
            CliTest.Run local = CliTest.run(CliTest.storiesArgs("--prompt", "Once upon a time", "--max-tokens", "40",
                    "--ignore-eos", "--no-speculation", "--json"));
            JsonNode remoteIds = remote.json().get("token_ids");
            JsonNode localIds = local.json().get("token_ids");
            assertThat(remoteIds).isEqualTo(localIds);

            CliTest.Run refused = CliTest.run("admin", "status", "--server", server_, "--token", "wrong");
            assertThat(refused.exitCode()).isNotZero();
            assertThat(refused.err()).containsIgnoringCase("unauthenticated");
            CliTest.Run status = CliTest.run("admin", "status", "--server", server_, "--token", "test-token");
            assertThat(status.exitCode()).as(status.err()).isZero();
            assertThat(status.out()).contains("stories260K");

            Path tokenFile = Files.writeString(dir.resolve("token"), "test-token\n");
            CliTest.Run fromFile = CliTest.run("admin", "status", "--server", server_, "--token-file", tokenFile.toString());
            assertThat(fromFile.exitCode()).as(fromFile.err()).isZero();

            // The chart's preStop hook: an exec array without a shell, so server and token come from the environment.
            ProcessBuilder drain = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), "io.specdec.cli.Main",
                    "admin", "drain", "--timeout", "30").redirectErrorStream(true);
            drain.environment().put("SPECDEC_SERVER", server_);
            drain.environment().put("SPECDEC_ADMIN_TOKEN_FILE", tokenFile.toString());
            drain.environment().remove("SPECDEC_ADMIN_TOKEN");
            Process drained = drain.start();
            String drainOutput_ = new String(drained.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(drained.waitFor(60, TimeUnit.SECONDS)).as("drain finished").isTrue();
            assertThat(drained.exitValue()).as(drainOutput_).isZero();
            assertThat(drainOutput_).contains("pekko://specdec@127.0.0.1:" + clusterPort).contains("\"completed\": true");

            server.destroy(); // SIGTERM: health NOT_SERVING, drain, leave
            assertThat(server.waitFor(60, TimeUnit.SECONDS)).as("server stops within 60 s of SIGTERM").isTrue();
            drainOutput.join(5000);
        } finally {
            server.destroyForcibly();
        }
    }
}
