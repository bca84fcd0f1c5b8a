package io.specdec.server;

import com.typesafe.config.ConfigFactory;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.stub.MetadataUtils;
import io.grpc.stub.StreamObserver;
import io.specdec.api.v1.AdminServiceGrpc;
import io.specdec.api.v1.DrainNodeRequest;
import io.specdec.api.v1.DrainNodeResponse;
import io.specdec.api.v1.GenerateRequest;
import io.specdec.api.v1.GenerateResponse;
import io.specdec.api.v1.GenerationServiceGrpc;
import io.specdec.cluster.Coordinator;
import io.specdec.cluster.SpecdecNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A cluster of a frontend+worker node (with the gRPC server), a second in-JVM worker node and a worker in a
 * separate JVM. Killing the separate JVM mid-stream ends its streams with UNAVAILABLE before their deadline and the
 * cluster serves again within 30 s; draining a node lets its in-flight streams finish, then it leaves.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
@org.junit.jupiter.api.TestMethodOrder(org.junit.jupiter.api.MethodOrderer.OrderAnnotation.class)
class FailoverAndDrainTest {
    static final String TOKEN = "drain-token";
    static SpecdecNode front;
    static SpecdecNode second;
    static SpecdecServer server;
    static Process child;
    static ManagedChannel channel;

    @BeforeAll
    static void start() throws Exception {
        int portA = TestNodes.freePort();
        String seed = "127.0.0.1:" + portA;
        var fast = ConfigFactory.parseString("pekko.cluster.split-brain-resolver.stable-after = 3s");
        front = SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", portA, List.of(seed), List.of("frontend", "worker"),
                TestNodes.spec("layers:4"), 1, Coordinator.Settings.defaults(), fast));
        second = SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", TestNodes.freePort(), List.of(seed), List.of("worker"),
                TestNodes.spec("layers:4"), 1, Coordinator.Settings.defaults(), fast));
        server = SpecdecServer.start(front, ServerOptions.plaintext("127.0.0.1", 0, -1, TOKEN));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        child = new ProcessBuilder(java, "--add-modules", "jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-Xmx512m",
                "-Dspecdec.shared.data=" + System.getProperty("specdec.shared.data", "../../../shared/data"),
                "-cp", System.getProperty("java.class.path"), WorkerProcess.class.getName(),
                Integer.toString(TestNodes.freePort()), seed).redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8));
        Thread reader = new Thread(() -> out.lines().forEach(l -> System.out.println("[worker jvm] " + l)), "worker-jvm-output");
        reader.setDaemon(true);
        reader.start();
        TestNodes.awaitReplicas(front, 3);
        channel = TestNodes.channel(server.port());
    }

    @AfterAll
    static void stop() {
        if (child != null) child.destroyForcibly();
        if (channel != null) channel.shutdownNow();
        if (second != null) second.close();
        if (server != null) server.close();
    }

    record Stream(CompletableFuture<Status> end, CompletableFuture<Void> first, List<String> replica) { }

    static Stream stream(String prompt, int maxTokens, long deadlineSeconds) {
        Stream s = new Stream(new CompletableFuture<>(), new CompletableFuture<>(), new ArrayList<>());
        GenerationServiceGrpc.newStub(channel).withDeadlineAfter(deadlineSeconds, TimeUnit.SECONDS)
                .generate(GenerateRequest.newBuilder().setText(prompt).setMaxTokens(maxTokens).setIgnoreEos(true).build(),
                        new StreamObserver<>() {
                            @Override public void onNext(GenerateResponse v) {
                                s.first().complete(null);
                                if (v.hasFinal()) s.replica().add(v.getFinal().getReplica());
                            }

                            @Override public void onError(Throwable t) { s.end().complete(Status.fromThrowable(t)); }

                            @Override public void onCompleted() { s.end().complete(Status.OK); }
                        });
        return s;
    }

    @Test
    @org.junit.jupiter.api.Order(1)
    void killingAWorkerJvmEndsItsStreamsWithUnavailableAndTheClusterServesAgain() throws Exception {
        List<Stream> streams = new ArrayList<>();
        for (int i = 0; i < 9; i++) streams.add(stream("Once upon a time " + i, 480, 90));
        for (Stream s : streams) s.first().get(60, TimeUnit.SECONDS);
        long killedAt = System.nanoTime();
        child.destroyForcibly();
        int unavailable = 0;
        for (Stream s : streams) {
            Status st = s.end().get(80, TimeUnit.SECONDS);
            assertThat(st.getCode()).as(st.toString()).isIn(Status.Code.OK, Status.Code.UNAVAILABLE);
            if (st.getCode() == Status.Code.UNAVAILABLE) {
                unavailable++;
                assertThat(st.getDescription()).contains("left the cluster");
            }
        }
        assertThat(unavailable).as("streams served by the killed JVM").isPositive();
        // serves again within 30 s of the kill
        while (true) {
            Stream probe = stream("The cat", 5, 20);
            Status st = probe.end().get(30, TimeUnit.SECONDS);
            if (st.isOk()) break;
            assertThat(System.nanoTime() - killedAt).as("served again within 30 s, last: %s", st)
                    .isLessThan(TimeUnit.SECONDS.toNanos(30));
            Thread.sleep(200);
        }
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (front.replicas().toCompletableFuture().get().size() != 2) {
            assertThat(System.nanoTime()).isLessThan(end);
            Thread.sleep(200);
        }
        assertThat(TestNodes.kvBlocksInUse(front) + TestNodes.kvBlocksInUse(second)).isZero();
    }

    @Test
    @org.junit.jupiter.api.Order(2)
    void drainLetsInFlightStreamsFinishThenTheNodeLeaves() throws Exception {
        Metadata auth = new Metadata();
        auth.put(OperatorAuth.AUTHORIZATION, "Bearer " + TOKEN);
        var admin = AdminServiceGrpc.newStub(channel).withInterceptors(MetadataUtils.newAttachHeadersInterceptor(auth));
        List<Stream> streams = new ArrayList<>();
        for (int i = 0; i < 6; i++) streams.add(stream("Lily and Ben " + i, 200, 120));
        for (Stream s : streams) s.first().get(60, TimeUnit.SECONDS);
        CompletableFuture<DrainNodeResponse> drained = new CompletableFuture<>();
        admin.drainNode(DrainNodeRequest.newBuilder().setAddress(second.selfAddress()).setTimeoutSeconds(120).build(),
                new StreamObserver<>() {
                    @Override public void onNext(DrainNodeResponse v) { drained.complete(v); }

                    @Override public void onError(Throwable t) { drained.completeExceptionally(t); }

                    @Override public void onCompleted() { }
                });
        DrainNodeResponse r = drained.get(120, TimeUnit.SECONDS);
        assertThat(r.getCompleted()).isTrue();
        for (Stream s : streams) assertThat(s.end().get(60, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.OK);
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (second.cluster().selfMember().status() != org.apache.pekko.cluster.MemberStatus.removed()
                && !second.system().whenTerminated().isCompleted()) {
            assertThat(System.nanoTime()).as("drained node left").isLessThan(end);
            Thread.sleep(200);
        }
        Stream after = stream("The end", 5, 30);
        assertThat(after.end().get(30, TimeUnit.SECONDS).getCode()).isEqualTo(Status.Code.OK);
    }

    @SuppressWarnings("unused")
    private static void unused(StatusRuntimeException e) { }
}
