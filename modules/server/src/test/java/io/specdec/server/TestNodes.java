package io.specdec.server;

import com.typesafe.config.ConfigFactory;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.specdec.cluster.Coordinator;
import io.specdec.cluster.ModelRuntime;
import io.specdec.cluster.SpecdecNode;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** Real single-node clusters with stories260K from ../shared/data (tests skip, saying why, without it). */
final class TestNodes {
    private TestNodes() { }

    static ModelRuntime.Spec spec(String draft) {
        String data = System.getProperty("specdec.shared.data", "../../../shared/data");
        Path model = Path.of(data, "llama2c", "stories260K.bin");
        Path tok = Path.of(data, "llama2c", "tok512.bin");
        assumeTrue(Files.exists(model) && Files.exists(tok), "skipped: " + model + " (shared test data) is absent");
        return new ModelRuntime.Spec("stories260K", model, tok, draft, 1, 8192);
    }

    static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    static SpecdecNode singleNode(Coordinator.Settings settings) {
        int port = freePort();
        return SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", port, List.of(), List.of("frontend", "worker"),
                spec("layers:4"), 1, settings, ConfigFactory.parseString("pekko.cluster.split-brain-resolver.stable-after = 3s")));
    }

    static void awaitReplicas(SpecdecNode node, int n) throws Exception {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (node.replicas().toCompletableFuture().get().size() < n) {
            if (System.nanoTime() > end) throw new AssertionError("no " + n + " replicas within 60 s");
            Thread.sleep(100);
        }
    }

    static ManagedChannel channel(int port) {
        return ManagedChannelBuilder.forAddress("127.0.0.1", port).usePlaintext().build();
    }

    static int kvBlocksInUse(SpecdecNode node) {
        int used = 0;
        for (ModelRuntime r : node.runtimes()) used += r.kvBlocksInUse();
        return used;
    }
}
