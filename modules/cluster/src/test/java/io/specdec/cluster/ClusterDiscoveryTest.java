package io.specdec.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * specdec.cluster.discovery wiring. No Kubernetes API server is reachable here, so the kubernetes-api method is
 * checked up to the point where it would ask one: the Pekko settings it implies and a running bootstrap endpoint.
 */
class ClusterDiscoveryTest {
    private static final Coordinator.Settings SETTINGS = new Coordinator.Settings(8, 8, 64);

    private static SpecdecNode.Options frontend(int port, List<String> seeds, Config config) {
        return new SpecdecNode.Options("127.0.0.1", port, seeds, List.of("frontend"), null, 0, SETTINGS, config);
    }

    private static Config kubernetesApi(int managementPort) {
        return ConfigFactory.parseMap(Map.of(ClusterDiscovery.KEY, "kubernetes-api",
                "pekko.management.http.port", managementPort,
                "pekko.discovery.kubernetes-api.pod-label-selector", "app.kubernetes.io/instance=specdec"));
    }

    @Test
    void seedNodesAreTheDefaultAndANodeAloneSeedsItself() {
        Config c = SpecdecNode.config(frontend(25599, List.of(), ConfigFactory.empty()));
        assertThat(ClusterDiscovery.of(c)).isEqualTo(ClusterDiscovery.SEED_NODES);
        assertThat(c.getStringList("pekko.cluster.seed-nodes")).containsExactly("pekko://specdec@127.0.0.1:25599");
    }

    @Test
    void kubernetesApiLeavesJoiningToClusterBootstrap() {
        Config c = SpecdecNode.config(frontend(25599, List.of("10.0.0.9:25520"), kubernetesApi(7626)));
        assertThat(c.getStringList("pekko.cluster.seed-nodes")).as("bootstrap runs only without seed nodes").isEmpty();
        assertThat(c.getString("pekko.management.cluster.bootstrap.contact-point-discovery.discovery-method")).isEqualTo("kubernetes-api");
        assertThat(c.getString("pekko.management.cluster.bootstrap.contact-point-discovery.port-name")).isEqualTo("management");
        assertThat(c.getString("pekko.discovery.kubernetes-api.class")).as("pekko-discovery-kubernetes-api on the classpath")
                .isEqualTo("org.apache.pekko.discovery.kubernetes.KubernetesApiServiceDiscovery");
        assertThat(c.getBoolean("pekko.discovery.kubernetes-api.use-raw-ip")).isTrue();
        assertThat(c.getString("pekko.discovery.kubernetes-api.pod-label-selector")).isEqualTo("app.kubernetes.io/instance=specdec");
        assertThat(c.getString("pekko.management.http.hostname")).as("bootstrap finds itself by the advertised host").isEqualTo("127.0.0.1");
        assertThat(c.getInt("pekko.management.http.port")).isEqualTo(7626);
    }

    @Test
    void managementPortDefaultsToPekkos7626() {
        Config c = SpecdecNode.config(frontend(25599, List.of(), ConfigFactory.parseMap(Map.of(ClusterDiscovery.KEY, "kubernetes-api"))));
        assertThat(c.getInt("pekko.management.http.port")).isEqualTo(7626);
    }

    @Test
    void rejectsAnUnknownDiscoveryMethod() {
        assertThatThrownBy(() -> SpecdecNode.config(frontend(25599, List.of(), ConfigFactory.parseMap(Map.of(ClusterDiscovery.KEY, "dns")))))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("specdec.cluster.discovery must be one of [seed-nodes, kubernetes-api], got dns");
    }

    /** A pod's service account mount, faked: the lookup reads these files when it starts (any CA will do). */
    private static Config serviceAccountFiles(Path dir) throws Exception {
        var trust = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        trust.init((KeyStore) null);
        X509Certificate ca = ((X509TrustManager) trust.getTrustManagers()[0]).getAcceptedIssuers()[0];
        Path caFile = Files.writeString(dir.resolve("ca.crt"), "-----BEGIN CERTIFICATE-----\n"
                + Base64.getMimeEncoder(64, "\n".getBytes()).encodeToString(ca.getEncoded()) + "\n-----END CERTIFICATE-----\n");
        Path token = Files.writeString(dir.resolve("token"), "not-a-real-token");
        Path namespace = Files.writeString(dir.resolve("namespace"), "specdec");
        return ConfigFactory.parseMap(Map.of("pekko.discovery.kubernetes-api.api-ca-path", caFile.toString(),
                "pekko.discovery.kubernetes-api.api-token-path", token.toString(),
                "pekko.discovery.kubernetes-api.pod-namespace-path", namespace.toString()));
    }

    /** The node's management endpoint answers bootstrap probes from other pods before any cluster has formed. */
    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void kubernetesApiNodeServesTheBootstrapEndpoint(@TempDir Path dir) throws Exception {
        int management = TestModel.freePort();
        Config config = kubernetesApi(management).withFallback(serviceAccountFiles(dir));
        try (SpecdecNode node = SpecdecNode.start(frontend(TestModel.freePort(), List.of(), config))) {
            HttpResponse<String> r = HttpClient.newHttpClient().send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + management + "/bootstrap/seed-nodes")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).isEqualTo(200);
            assertThat(r.body()).contains("\"selfNode\":\"" + node.selfAddress() + "\"").contains("\"seedNodes\":[]");
        }
    }

    @Test
    @Timeout(value = 60, unit = TimeUnit.SECONDS)
    void withoutAServiceAccountMountTheNodeSaysWhatIsMissing(@TempDir Path dir) {
        Config config = kubernetesApi(TestModel.freePort()).withFallback(ConfigFactory.parseMap(Map.of(
                "pekko.discovery.kubernetes-api.api-ca-path", dir.resolve("absent-ca.crt").toString())));
        assertThatThrownBy(() -> SpecdecNode.start(frontend(TestModel.freePort(), List.of(), config)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("kubernetes-api discovery could not start")
                .hasMessageContaining("absent-ca.crt")
                .hasMessageContaining("automountServiceAccountToken: true");
    }

    @Test
    void aNodeWhoseManagementPortIsTakenRefusesToStart() throws Exception {
        try (var taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getByName("127.0.0.1"))) {
            assertThatThrownBy(() -> SpecdecNode.start(frontend(TestModel.freePort(), List.of(), kubernetesApi(taken.getLocalPort()))))
                    .isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("Pekko Management could not serve on 127.0.0.1:" + taken.getLocalPort());
        }
    }
}
