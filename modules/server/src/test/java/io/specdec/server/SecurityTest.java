package io.specdec.server;

import com.typesafe.config.ConfigFactory;
import io.grpc.ChannelCredentials;
import io.grpc.Grpc;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.TlsChannelCredentials;
import io.grpc.stub.MetadataUtils;
import io.specdec.api.v1.AdminServiceGrpc;
import io.specdec.api.v1.DrainNodeRequest;
import io.specdec.api.v1.GenerateRequest;
import io.specdec.api.v1.GenerationServiceGrpc;
import io.specdec.api.v1.GetClusterStatusRequest;
import io.specdec.api.v1.GetModelInfoRequest;
import io.specdec.api.v1.GetSpeculationPolicyRequest;
import io.specdec.api.v1.SetSpeculationPolicyRequest;
import io.specdec.api.v1.SpeculationPolicy;
import io.specdec.api.v1.WatchEventsRequest;
import io.specdec.cluster.Coordinator;
import io.specdec.cluster.SpecdecNode;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * mTLS for gRPC with certificates made in the test, the operator credential on AdminService (bearer token or an
 * operator client certificate), and Pekko remoting over TLS forming a cluster that serves.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class SecurityTest {
    static final String TOKEN = "op-" + java.util.UUID.randomUUID();
    @TempDir static Path dir;
    static TestCerts certs;
    static TestCerts.Issued client;
    static TestCerts.Issued operator;
    static SpecdecServer server;

    @BeforeAll
    static void start() throws Exception {
        certs = new TestCerts(dir);
        TestCerts.Issued serverCert = certs.issue("server", "CN=localhost");
        client = certs.issue("client", "CN=client");
        operator = certs.issue("operator", "CN=operator");
        SpecdecNode node = TestNodes.singleNode(Coordinator.Settings.defaults());
        server = SpecdecServer.start(node, ServerOptions.plaintext("127.0.0.1", 0, -1, TOKEN)
                .withTls(serverCert.certPem(), serverCert.keyPem(), certs.caPem)
                .withOperatorSubjects(Set.of("CN=operator")));
        TestNodes.awaitReplicas(node, 1);
    }

    @AfterAll
    static void stop() {
        if (server != null) server.close();
    }

    static ManagedChannel tls(TestCerts.Issued identity) throws Exception {
        TlsChannelCredentials.Builder b = TlsChannelCredentials.newBuilder().trustManager(certs.caPem.toFile());
        if (identity != null) b.keyManager(identity.certPem().toFile(), identity.keyPem().toFile());
        ChannelCredentials creds = b.build();
        return Grpc.newChannelBuilderForAddress("localhost", server.port(), creds).build();
    }

    static AdminServiceGrpc.AdminServiceBlockingStub admin(ManagedChannel ch, String bearer) {
        var stub = AdminServiceGrpc.newBlockingStub(ch).withDeadlineAfter(20, TimeUnit.SECONDS);
        if (bearer == null) return stub;
        Metadata m = new Metadata();
        m.put(OperatorAuth.AUTHORIZATION, bearer);
        return stub.withInterceptors(MetadataUtils.newAttachHeadersInterceptor(m));
    }

    @Test
    void adminServiceRefusesCallsWithoutTheOperatorCredential() throws Exception {
        ManagedChannel ch = tls(client);
        try {
            for (String bearer : new String[] {null, "Bearer wrong", "Bearer ", TOKEN, "bearer " + TOKEN, "Bearer " + TOKEN + "x"}) {
                var stub = admin(ch, bearer);
                List<Consumer<AdminServiceGrpc.AdminServiceBlockingStub>> calls = List.of(
                        s -> s.getClusterStatus(GetClusterStatusRequest.getDefaultInstance()),
                        s -> s.drainNode(DrainNodeRequest.getDefaultInstance()),
                        s -> s.getSpeculationPolicy(GetSpeculationPolicyRequest.getDefaultInstance()),
                        s -> s.setSpeculationPolicy(SetSpeculationPolicyRequest.getDefaultInstance()),
                        s -> s.getModelInfo(GetModelInfoRequest.getDefaultInstance()),
                        s -> s.watchEvents(WatchEventsRequest.getDefaultInstance()).hasNext());
                for (var call : calls) {
                    StatusRuntimeException e = null;
                    try {
                        call.accept(stub);
                    } catch (StatusRuntimeException x) {
                        e = x;
                    }
                    assertThat(e).as("admin call with %s must be refused", bearer).isNotNull();
                    assertThat(e.getStatus().getCode()).isEqualTo(Status.Code.UNAUTHENTICATED);
                    assertThat(e.getStatus().getDescription()).isNotBlank();
                }
            }
            // the refused drain did nothing: generation still works
            var it = GenerationServiceGrpc.newBlockingStub(ch).generate(GenerateRequest.newBuilder().setText("Hi").setMaxTokens(4).build());
            int n = 0;
            while (it.hasNext()) n += it.next().getDelta().getTokenIdsCount();
            assertThat(n).isEqualTo(4);
        } finally {
            ch.shutdownNow();
        }
    }

    @Test
    void operatorTokenOrOperatorCertificateIsAccepted() throws Exception {
        ManagedChannel ch = tls(client);
        ManagedChannel op = tls(operator);
        try {
            var status = admin(ch, "Bearer " + TOKEN).getClusterStatus(GetClusterStatusRequest.getDefaultInstance());
            assertThat(status.getMembersCount()).isEqualTo(1);
            assertThat(status.getReplicasCount()).isEqualTo(1);
            assertThat(status.getMembers(0).getRolesList()).contains("frontend", "worker");
            assertThat(status.getMembers(0).getDevicesCount()).isEqualTo(1);
            var seen = new java.util.concurrent.CopyOnWriteArrayList<String>();
            AdminServiceGrpc.newStub(op).watchEvents(WatchEventsRequest.getDefaultInstance(), new io.grpc.stub.StreamObserver<>() {
                @Override public void onNext(io.specdec.api.v1.ClusterEvent e) { seen.add(e.getKind()); }

                @Override public void onError(Throwable t) { }

                @Override public void onCompleted() { }
            });
            SpeculationPolicy set = admin(op, null).setSpeculationPolicy(SetSpeculationPolicyRequest.newBuilder()
                    .setPolicy(SpeculationPolicy.newBuilder().setEnabled(true).setDrafter("ngram").setGamma(3)).build());
            assertThat(set.getDrafter()).isEqualTo("ngram");
            // the subscription is asynchronous: repeat the change until the watcher sees one
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while (!seen.contains("policy-changed")) {
                assertThat(System.nanoTime()).as("WatchEvents streams policy changes").isLessThan(end);
                Thread.sleep(300);
                admin(op, null).setSpeculationPolicy(SetSpeculationPolicyRequest.newBuilder()
                        .setPolicy(SpeculationPolicy.newBuilder().setEnabled(true).setDrafter("ngram").setGamma(3)).build());
            }
            assertThat(admin(ch, "Bearer " + TOKEN).getSpeculationPolicy(GetSpeculationPolicyRequest.getDefaultInstance())
                    .getGamma()).isEqualTo(3);
            assertThat(admin(op, null).getModelInfo(GetModelInfoRequest.getDefaultInstance()).getVocabSize()).isEqualTo(512);
            StatusRuntimeException bad = null;
            try {
                admin(op, null).setSpeculationPolicy(SetSpeculationPolicyRequest.newBuilder()
                        .setPolicy(SpeculationPolicy.newBuilder().setDrafter("medusa")).build());
            } catch (StatusRuntimeException e) {
                bad = e;
            }
            assertThat(bad).isNotNull();
            assertThat(bad.getStatus().getCode()).isEqualTo(Status.Code.INVALID_ARGUMENT);
        } finally {
            ch.shutdownNow();
            op.shutdownNow();
        }
    }

    @Test
    void mutualTlsRefusesClientsWithoutACertificateAndPlaintextClients() throws Exception {
        for (ManagedChannel ch : List.of(tls(null), TestNodes.channel(server.port()))) {
            try {
                StatusRuntimeException e = null;
                try {
                    var it = GenerationServiceGrpc.newBlockingStub(ch).withDeadlineAfter(10, TimeUnit.SECONDS)
                            .generate(GenerateRequest.newBuilder().setText("Hi").setMaxTokens(2).build());
                    while (it.hasNext()) it.next();
                } catch (StatusRuntimeException x) {
                    e = x;
                }
                assertThat(e).isNotNull();
                assertThat(e.getStatus().getCode()).isIn(Status.Code.UNAVAILABLE, Status.Code.INTERNAL, Status.Code.UNKNOWN);
            } finally {
                ch.shutdownNow();
            }
        }
    }

    @Test
    void pekkoRemotingOverTlsFormsAClusterThatServes() throws Exception {
        char[] pw = "changeit".toCharArray();
        TestCerts.Issued a = certs.issue("node-a", "CN=node-a");
        TestCerts.Issued b = certs.issue("node-b", "CN=node-b");
        Path trust = certs.trustStore(pw);
        int portA = TestNodes.freePort();
        int portB = TestNodes.freePort();
        String seed = "127.0.0.1:" + portA;
        SpecdecNode worker = SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", portA, List.of(seed), List.of("worker"),
                TestNodes.spec("layers:4"), 1, Coordinator.Settings.defaults(), tlsConfig(certs.keyStore(a, "a", pw), trust)));
        SpecdecNode frontend = null;
        try {
            frontend = SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", portB, List.of(seed), List.of("frontend"),
                    null, 0, Coordinator.Settings.defaults(), tlsConfig(certs.keyStore(b, "b", pw), trust)));
            TestNodes.awaitReplicas(frontend, 1);
            assertThat(frontend.cluster().state().getMembers()).hasSize(2);
            var done = new java.util.concurrent.CompletableFuture<io.specdec.cluster.StreamEvent>();
            frontend.generate(new io.specdec.cluster.GenerationJob("tls-1", "Once", null, null,
                    io.specdec.core.sampling.SamplingParams.greedy().withMaxTokens(5), "default", 0, "", false, 0, 0, null), e -> {
                if (!(e instanceof io.specdec.cluster.StreamEvent.Tokens)) done.complete(e);
            });
            assertThat(done.get(60, TimeUnit.SECONDS)).isInstanceOf(io.specdec.cluster.StreamEvent.Finished.class);
        } finally {
            if (frontend != null) frontend.close();
            worker.close();
        }
    }

    static com.typesafe.config.Config tlsConfig(Path keyStore, Path trustStore) {
        return ConfigFactory.parseString("""
                pekko.cluster.split-brain-resolver.stable-after = 3s
                pekko.remote.artery.transport = tls-tcp
                pekko.remote.artery.ssl.config-ssl-engine {
                  key-store = "%s"
                  trust-store = "%s"
                  key-store-password = "changeit"
                  key-password = "changeit"
                  trust-store-password = "changeit"
                  protocol = "TLSv1.3"
                  enabled-algorithms = [TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384]
                  require-mutual-authentication = on
                  hostname-verification = off
                }
                """.formatted(keyStore, trustStore));
    }
}
