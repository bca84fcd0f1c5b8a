package io.specdec.cluster;

import com.typesafe.config.Config;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.management.cluster.bootstrap.ClusterBootstrap;
import org.apache.pekko.management.javadsl.PekkoManagement;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * How a node finds the cluster, chosen by {@code specdec.cluster.discovery}: the listed seed nodes (the default, for
 * local use and fixed hosts), or Pekko Management cluster bootstrap asking the Kubernetes API for the release's pods
 * (the Helm chart's choice; needs a service account allowed to list pods).
 */
public enum ClusterDiscovery {
    SEED_NODES("seed-nodes"),
    KUBERNETES_API("kubernetes-api");

    public static final String KEY = "specdec.cluster.discovery";
    /** The container port name the chart gives Pekko Management; bootstrap probes the port of that name. */
    static final String MANAGEMENT_PORT_NAME = "management";

    private final String configName;

    ClusterDiscovery(String configName) {
        this.configName = configName;
    }

    public String configName() {
        return configName;
    }

    public static ClusterDiscovery of(String name) {
        for (ClusterDiscovery d : values()) if (d.configName.equals(name)) return d;
        throw new IllegalArgumentException(KEY + " must be one of " + Arrays.stream(values()).map(ClusterDiscovery::configName).toList()
                + ", got " + name);
    }

    public static ClusterDiscovery of(Config config) {
        return of(config.getString(KEY));
    }

    /** Pekko settings this method implies for a node advertising host:port (lowest precedence after the caller's). */
    Map<String, Object> pekkoSettings(String host, int port, List<String> seedNodes) {
        Map<String, Object> m = new HashMap<>();
        switch (this) {
            case SEED_NODES -> {
                List<String> seeds = new ArrayList<>();
                for (String s : seedNodes.isEmpty() ? List.of(host + ":" + port) : seedNodes) {
                    seeds.add(s.startsWith("pekko://") ? s : "pekko://specdec@" + s);
                }
                m.put("pekko.cluster.seed-nodes", seeds);
            }
            case KUBERNETES_API -> {
                // Bootstrap only runs while no seed nodes are configured.
                m.put("pekko.cluster.seed-nodes", List.of());
                m.put("pekko.management.cluster.bootstrap.contact-point-discovery.discovery-method", configName);
                m.put("pekko.management.cluster.bootstrap.contact-point-discovery.port-name", MANAGEMENT_PORT_NAME);
                // Pod IPs, not <ip>.<ns>.pod names (pod DNS records are optional in a cluster).
                m.put("pekko.discovery.kubernetes-api.use-raw-ip", true);
                // Bootstrap recognises itself among the discovered pods by this address: the pod IP the API reports.
                m.put("pekko.management.http.hostname", host);
            }
        }
        return m;
    }

    /** Starts what the method needs once the actor system runs: Management's HTTP endpoint and the bootstrap. */
    void start(ActorSystem<?> system, Duration bindTimeout) {
        if (this != KUBERNETES_API) return;
        var settings = system.settings().config();
        String where = settings.getString("pekko.management.http.hostname") + ":" + settings.getInt("pekko.management.http.port");
        try {
            PekkoManagement.get(system).start().toCompletableFuture().get(bindTimeout.toMillis(), TimeUnit.MILLISECONDS);
        } catch (Exception e) {
            throw new IllegalStateException("Pekko Management could not serve on " + where
                    + " (pekko.management.http.port; the pod's container port '" + MANAGEMENT_PORT_NAME + "')", e);
        }
        try {
            ClusterBootstrap.get(system).start();
        } catch (Exception e) {   // Scala code throws the checked NoSuchFileException unannounced
            // The Kubernetes API lookup reads the pod's service account token and CA when it is created.
            throw new IllegalStateException("kubernetes-api discovery could not start: it needs the service account's "
                    + settings.getString("pekko.discovery.kubernetes-api.api-ca-path") + " and "
                    + settings.getString("pekko.discovery.kubernetes-api.api-token-path")
                    + " (automountServiceAccountToken: true) and RBAC to list pods; " + e, e);
        }
    }
}
