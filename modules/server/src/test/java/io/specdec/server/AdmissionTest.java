package io.specdec.server;

import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import io.specdec.api.v1.GenerateRequest;
import io.specdec.api.v1.GenerateResponse;
import io.specdec.api.v1.GenerationServiceGrpc;
import io.specdec.cluster.Coordinator;
import io.specdec.cluster.SpecdecNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/** A replica whose queue is full answers RESOURCE_EXHAUSTED with a message, and serves the others to the end. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class AdmissionTest {

    @Test
    void aFullQueueAnswersResourceExhaustedWithAMessage() throws Exception {
        SpecdecNode node = TestNodes.singleNode(new Coordinator.Settings(2, 1, 64));
        SpecdecServer server = SpecdecServer.start(node, ServerOptions.plaintext("127.0.0.1", 0, -1, "t"));
        ManagedChannel channel = TestNodes.channel(server.port());
        try {
            TestNodes.awaitReplicas(node, 1);
            List<CompletableFuture<Status>> ends = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                CompletableFuture<Status> end = new CompletableFuture<>();
                ends.add(end);
                GenerationServiceGrpc.newStub(channel).generate(GenerateRequest.newBuilder().setText("Once " + i)
                        .setMaxTokens(120).setIgnoreEos(true).build(), new StreamObserver<GenerateResponse>() {
                    @Override public void onNext(GenerateResponse v) { }

                    @Override public void onError(Throwable t) { end.complete(Status.fromThrowable(t)); }

                    @Override public void onCompleted() { end.complete(Status.OK); }
                });
            }
            int ok = 0;
            int exhausted = 0;
            for (CompletableFuture<Status> e : ends) {
                Status s = e.get(90, TimeUnit.SECONDS);
                if (s.isOk()) {
                    ok++;
                } else {
                    assertThat(s.getCode()).isEqualTo(Status.Code.RESOURCE_EXHAUSTED);
                    assertThat(s.getDescription()).contains("queue full");
                    exhausted++;
                }
            }
            assertThat(exhausted).isPositive();
            assertThat(ok).isGreaterThanOrEqualTo(3); // one running + two queued at least
            assertThat(TestNodes.kvBlocksInUse(node)).isZero();
        } finally {
            channel.shutdownNow();
            server.close();
        }
    }
}
