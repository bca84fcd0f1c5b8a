package io.specdec.cli;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.specdec.cluster.ClusterDiscovery;
import io.specdec.cluster.Coordinator;
import io.specdec.cluster.ModelRuntime;
import io.specdec.cluster.Placement;
import io.specdec.cluster.SpecdecNode;
import io.specdec.server.LogFormat;
import io.specdec.server.ServerOptions;
import io.specdec.server.SpecdecServer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;

/**
 * Starts a node: a Pekko cluster member serving gRPC. With no arguments, a single-node cluster with the default
 * model on 127.0.0.1:50051.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = "Start a specdec node (gRPC GenerationService + AdminService, Prometheus metrics, Pekko cluster).")
final class ServeCommand implements Callable<Integer> {
    @Mixin ModelOptions model;

    @Mixin DraftModeOptions draftMode;

    @Mixin RandomWeightsOption randomWeights;

    @Option(names = "--host", defaultValue = "127.0.0.1", description = "Address to bind gRPC, metrics and cluster (default: ${DEFAULT-VALUE}).")
    String host;

    @Option(names = "--port", defaultValue = "50051", description = "gRPC port (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--metrics-port", defaultValue = "9400", description = "Prometheus /metrics port; -1 = off (default: ${DEFAULT-VALUE}).")
    int metricsPort;

    @Option(names = "--cluster-port", defaultValue = "25520", description = "Pekko cluster port (default: ${DEFAULT-VALUE}).")
    int clusterPort;

    @Option(names = "--seed-nodes", split = ",", paramLabel = "HOST:PORT",
            description = "Cluster seed nodes; default: this node alone (a new single-node cluster).")
    List<String> seedNodes = new ArrayList<>();

    @Option(names = "--discovery", defaultValue = "seed-nodes", paramLabel = "seed-nodes|kubernetes-api",
            description = "How to find the cluster: the --seed-nodes, or Pekko cluster bootstrap over the Kubernetes API "
                    + "(pods matching --pod-selector, probed on --management-port) (default: ${DEFAULT-VALUE}).")
    String discovery;

    @Option(names = "--management-port", defaultValue = "7626",
            description = "Pekko Management HTTP port for cluster bootstrap (kubernetes-api only; default: ${DEFAULT-VALUE}).")
    int managementPort;

    @Option(names = "--pod-selector", defaultValue = "app.kubernetes.io/name=specdec", paramLabel = "LABELS",
            description = "Kubernetes label selector of the pods forming this cluster (kubernetes-api only; default: ${DEFAULT-VALUE}).")
    String podSelector;

    @Option(names = "--required-contact-points", defaultValue = "2",
            description = "Pods that must be found before the first one forms a new cluster (kubernetes-api only; default: ${DEFAULT-VALUE}).")
    int requiredContactPoints;

    @Option(names = "--roles", split = ",", defaultValue = "frontend,worker",
            description = "Cluster roles: frontend (serves gRPC, routes), worker (runs the model) (default: ${DEFAULT-VALUE}).")
    List<String> roles;

    @Option(names = "--devices", defaultValue = "1",
            description = "Devices, each its own replica: CPU thread groups, or with --backend cuda GPUs 0..D-1 (one GPU "
                    + "per device; refused when the driver sees fewer) (default: ${DEFAULT-VALUE}).")
    int devices;

    @Option(names = "--group-size", paramLabel = "N", defaultValue = "1",
            description = "Tensor-parallel groups over the cluster (docs/multi-gpu.md): N devices, of this node and others, "
                    + "form ONE replica, each running its shard of the target and a replica of the draft (--draft-mode "
                    + "easyspec: drafting layer-parallel over the group). Every node must give the same N. cpu: the devices "
                    + "must share one process (e.g. --devices N), or one host with -Dspecdec.placement.cpu-rank.transport=tcp "
                    + "in SPECDEC_JAVA_OPTS (loopback TCP); cuda: one process per GPU works (NCCL). 1 = off, every "
                    + "device a replica of its own (default: ${DEFAULT-VALUE}).")
    int groupSize;

    @Option(names = "--rank-only",
            description = "With --group-size N: every device holds only its rank of a group (its shard of the target and a "
                    + "replica of the draft), no whole model of its own, so a target larger than one device is served. A "
                    + "device then serves only while it leads a ready group. Default: off (every device also loads the whole "
                    + "target, to serve alone before a group forms and after one dissolves).")
    boolean rankOnly;

    @Option(names = "--draft", paramLabel = "PATH|layers:N|none",
            description = "Draft model for speculation: a checkpoint sharing the tokenizer, or the target's first N layers. "
                    + "Default: the default model's draft; none for other models (n-gram drafting still works).")
    String draft;

    @Option(names = "--max-queue", defaultValue = "256", description = "Waiting requests per replica before RESOURCE_EXHAUSTED.")
    int maxQueue;

    @Option(names = "--max-batch", defaultValue = "64", description = "Most requests in one batch per replica.")
    int maxBatch;

    @Option(names = "--admin-token", paramLabel = "TOKEN",
            description = "Operator bearer token for AdminService (env SPECDEC_ADMIN_TOKEN); default: a random one, printed.")
    String adminToken;

    @Option(names = "--tls-cert", paramLabel = "PEM") Path tlsCert;
    @Option(names = "--tls-key", paramLabel = "PEM", description = "PKCS#8 private key for --tls-cert.") Path tlsKey;
    @Option(names = "--tls-client-ca", paramLabel = "PEM", description = "Require client certificates signed by this CA (mTLS).") Path tlsClientCa;

    @Option(names = "--operator-subject", paramLabel = "DN", description = "mTLS client certificate subject accepted as operator (repeatable).")
    List<String> operatorSubjects = new ArrayList<>();

    @Option(names = "--log-json", description = "Log one JSON object per line.")
    boolean logJson;

    /** The discovery flags as the HOCON SpecdecNode reads (ClusterDiscovery). */
    Config clusterConfig() {
        ClusterDiscovery method = ClusterDiscovery.of(discovery);
        if (method == ClusterDiscovery.KUBERNETES_API && !seedNodes.isEmpty()) {
            throw new IllegalArgumentException("--seed-nodes and --discovery=kubernetes-api exclude each other: "
                    + "cluster bootstrap finds the seeds itself");
        }
        Map<String, Object> m = new HashMap<>();
        m.put(ClusterDiscovery.KEY, method.configName());
        if (groupSize < 1) throw new IllegalArgumentException("--group-size must be at least 1, got " + groupSize);
        if (rankOnly && groupSize < 2) {
            throw new IllegalArgumentException("--rank-only needs --group-size 2 or more: a rank-only device serves only in a group");
        }
        if (rankOnly) m.put(SpecdecNode.RANK_ONLY, true);
        if (groupSize > 1) {
            if (model.tensorParallel() > 1) {
                throw new IllegalArgumentException("--group-size " + groupSize + " and --tp " + model.tensorParallel()
                        + " exclude each other: a group's ranks split the target over devices already");
            }
            m.put(Placement.TENSOR_PARALLEL, groupSize);
            if (!model.cuda()) m.put(SpecdecNode.RANK_MODEL, "cpu");   // cuda: its RankModels are passed at start
        }
        if (method == ClusterDiscovery.KUBERNETES_API) {
            m.put("pekko.management.http.port", managementPort);
            m.put("pekko.discovery.kubernetes-api.pod-label-selector", podSelector);
            m.put("pekko.management.cluster.bootstrap.contact-point-discovery.required-contact-point-nr", requiredContactPoints);
        }
        return ConfigFactory.parseMap(m);
    }

    /** What each worker device loads: --model (default: the bundled pair) or --random-weights, on --backend. */
    ModelRuntime.Spec modelSpec() {
        boolean random = randomWeights.enabled();
        if (random && model.model != null) throw new IllegalArgumentException("--random-weights replaces --model: give one of them");
        Path modelPath = random ? ModelOptions.requireExists(randomWeights.config, "--random-weights config") : model.modelPath();
        String draftSpec = draft != null ? draft : model.model == null && !random ? Defaults.draft(true) : "none";
        if (draftSpec.equals("ngram")) draftSpec = "none";
        String name;
        Path tokenizer;
        if (random) {   // named for the config's directory (bench/gpu/llama-3-8b/config.json: llama-3-8b-random)
            Path abs = modelPath.toAbsolutePath();
            Path dir = java.nio.file.Files.isDirectory(abs) ? abs : abs.getParent();
            name = dir.getFileName() + "-random";
            tokenizer = Engine.randomWeightsTokenizerSource(model.tokenizer, modelPath,
                    io.specdec.core.format.hf.HuggingFaceModel.config(modelPath), System.err);
        } else {
            name = model.model == null && !Defaults.bundledPairExists() ? "stories260K"
                    : modelPath.getFileName().toString().replaceAll("\\.(bin|gguf)$", "");
            tokenizer = model.tokenizerPath();
        }
        return new ModelRuntime.Spec(name, modelPath, tokenizer, draftSpec, model.threadCount(), model.kvTokens,
                new ModelRuntime.Parallelism(model.tensorParallel(), draftMode.mode().name().toLowerCase(),
                        draftMode.devices(), draftMode.layerGroups, draftMode.calibration),
                ModelRuntime.Backend.of(model.backend), random);
    }

    @Override
    public Integer call() throws Exception {
        if (logJson || "json".equals(System.getProperty("specdec.log.format"))) LogFormat.useJson();
        String token = adminToken != null ? adminToken : System.getenv("SPECDEC_ADMIN_TOKEN");
        boolean printToken = false;
        if (token == null || token.isEmpty()) {
            byte[] b = new byte[16];
            new SecureRandom().nextBytes(b);
            token = HexFormat.of().formatHex(b);
            printToken = true;
        }
        ModelRuntime.Spec spec = null;
        if (roles.contains("worker")) spec = modelSpec();
        var nodeOptions = new SpecdecNode.Options(host, clusterPort, seedNodes, roles, spec, devices,
                new Coordinator.Settings(maxQueue, maxBatch, 256), clusterConfig());
        SpecdecNode node = groupSize > 1 && model.cuda()
                ? SpecdecNode.start(nodeOptions, io.specdec.cuda.Nccl::uniqueId,
                        new CudaRankModels(0, randomWeights.enabled() ? ModelRuntime.RANDOM_SEED : null))
                : SpecdecNode.start(nodeOptions);
        ServerOptions options = ServerOptions.plaintext(host, port, metricsPort, token)
                .withOperatorSubjects(Set.copyOf(operatorSubjects));
        if (tlsCert != null || tlsKey != null) options = options.withTls(tlsCert, tlsKey, tlsClientCa);
        SpecdecServer server;
        try {
            server = SpecdecServer.start(node, options);
        } catch (RuntimeException e) {
            node.close();
            throw e;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(server::close, "specdec-shutdown"));
        System.out.println("specdec serving " + (spec == null ? "(frontend only)" : spec.name()) + " on " + host + ":"
                + server.port() + (server.metricsPort() < 0 ? "" : ", metrics http://" + host + ":" + server.metricsPort()
                + "/metrics") + ", cluster " + node.selfAddress());
        if (printToken) System.out.println("admin token (set --admin-token or SPECDEC_ADMIN_TOKEN to choose one): " + token);
        System.out.flush();
        server.awaitTermination();
        return 0;
    }
}
