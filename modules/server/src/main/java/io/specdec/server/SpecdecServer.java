package io.specdec.server;

import io.grpc.Server;
import io.grpc.ServerCredentials;
import io.grpc.ServerInterceptors;
import io.grpc.TlsServerCredentials;
import io.grpc.InsecureServerCredentials;
import io.grpc.health.v1.HealthCheckResponse;
import io.grpc.netty.shaded.io.grpc.netty.NettyServerBuilder;
import io.grpc.protobuf.services.HealthStatusManager;
import io.grpc.protobuf.services.ProtoReflectionServiceV1;
import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.specdec.cluster.SpecdecNode;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * A node's gRPC front: GenerationService, AdminService (operator credential required), grpc.health.v1, server
 * reflection, and the Prometheus endpoint. {@link #close()} shuts down gracefully: health goes NOT_SERVING, the
 * node's replicas drain (in-flight requests finish), then the server and the node stop.
 */
public final class SpecdecServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(SpecdecServer.class);

    private final SpecdecNode node;
    private final Server server;
    private final HealthStatusManager health = new HealthStatusManager();
    private final ServingMetrics metrics;
    private final HTTPServer metricsServer;
    private final ScheduledExecutorService ticker;
    private boolean closed;

    private SpecdecServer(SpecdecNode node, ServerOptions o) throws IOException {
        this.node = node;
        ModelNames models = new ModelNames(node);
        String modelLabel = node.runtimes().isEmpty() ? "specdec" : node.runtimes().getFirst().name();
        this.metrics = new ServingMetrics(node, modelLabel);
        ServerCredentials credentials = credentials(o);
        OperatorAuth auth = new OperatorAuth(o.adminToken(), o.operatorSubjects());
        this.server = NettyServerBuilder.forAddress(new InetSocketAddress(o.host(), o.grpcPort()), credentials)
                .maxInboundMessageSize(o.maxInboundBytes())
                .addService(InvalidArgumentOnBadMessages.wrap(new GenerationServiceImpl(node, new RequestMapper(o.maxTokensLimit()),
                        metrics, models).bindService()))
                .addService(ServerInterceptors.intercept(InvalidArgumentOnBadMessages.wrap(
                        new AdminServiceImpl(node, models).bindService()), auth))
                .addService(health.getHealthService())
                .addService(ProtoReflectionServiceV1.newInstance())
                .build()
                .start();
        health.setStatus("", HealthCheckResponse.ServingStatus.SERVING);
        this.metricsServer = o.metricsPort() < 0 ? null
                : HTTPServer.builder().hostname(o.host()).port(o.metricsPort()).registry(metrics.registry()).buildAndStart();
        this.ticker = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "specdec-metrics-refresh");
            t.setDaemon(true);
            return t;
        });
        ticker.scheduleWithFixedDelay(() -> node.loads().whenComplete((l, e) -> {
            if (l != null) metrics.updateLoads(l);
        }), 0, 1, TimeUnit.SECONDS);
        log.info("gRPC on {}:{}{}, metrics on {}", o.host(), port(), o.tlsCertChain() == null ? "" : o.tlsClientCa() == null
                ? " (TLS)" : " (mTLS)", metricsServer == null ? "off" : o.host() + ":" + metricsServer.getPort());
    }

    public static SpecdecServer start(SpecdecNode node, ServerOptions options) {
        try {
            return new SpecdecServer(node, options);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot start the gRPC server on " + options.host() + ":" + options.grpcPort()
                    + ": " + e.getMessage(), e);
        }
    }

    private static ServerCredentials credentials(ServerOptions o) throws IOException {
        if (o.tlsCertChain() == null) return InsecureServerCredentials.create();
        TlsServerCredentials.Builder b = TlsServerCredentials.newBuilder()
                .keyManager(o.tlsCertChain().toFile(), o.tlsPrivateKey().toFile());
        if (o.tlsClientCa() != null) {
            b.trustManager(o.tlsClientCa().toFile()).clientAuth(TlsServerCredentials.ClientAuth.REQUIRE);
        }
        return b.build();
    }

    public int port() { return server.getPort(); }

    public int metricsPort() { return metricsServer == null ? -1 : metricsServer.getPort(); }

    public SpecdecNode node() { return node; }

    public void awaitTermination() throws InterruptedException {
        server.awaitTermination();
    }

    /** Graceful: stop being healthy, drain this node's replicas, then stop the server and the node. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        health.enterTerminalState();
        // A node drained earlier (the Kubernetes preStop hook) has left, and its actor system may be gone already.
        if (!node.runtimes().isEmpty() && !node.system().getWhenTerminated().toCompletableFuture().isDone()) {
            try {
                node.drain("", Duration.ofSeconds(60)).toCompletableFuture().get(70, TimeUnit.SECONDS);
            } catch (Exception e) {
                log.warn("drain before shutdown did not complete: {}", e.toString());
            }
        }
        server.shutdown();
        try {
            if (!server.awaitTermination(10, TimeUnit.SECONDS)) server.shutdownNow();
        } catch (InterruptedException e) {
            server.shutdownNow();
            Thread.currentThread().interrupt();
        }
        ticker.shutdownNow();
        if (metricsServer != null) metricsServer.stop();
        node.close();
    }
}
