package io.specdec.cluster;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.specdec.core.parallel.LayerGroupPlan;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.SingletonActor;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.function.Consumer;

/**
 * One specdec node: a Pekko cluster member with roles {@code frontend} (routes requests) and/or {@code worker}
 * (devices with a loaded model). The Java API the server module calls; it knows no gRPC.
 */
public final class SpecdecNode implements AutoCloseable {
    public static final Duration ASK_TIMEOUT = Duration.ofSeconds(10);
    /** Config key: what a tensor-parallel group's members run, none or cpu (see specdec-pekko.conf). */
    public static final String RANK_MODEL = "specdec.placement.rank-model";
    /** Config key: how long one step of a group's rank may take before its communicator is aborted. */
    public static final String STEP_TIMEOUT = "specdec.placement.rank-step-timeout";
    /** Config key: devices hold only their rank of a group, no model of their own (see specdec-pekko.conf). */
    public static final String RANK_ONLY = "specdec.placement.rank-only";

    /**
     * @param seedNodes   "host:port" of seed nodes (this node's own address to start a new cluster); empty = itself;
     *                    unused when the config's specdec.cluster.discovery is kubernetes-api
     * @param model       what each device loads; null for a frontend-only node
     * @param devices     devices on this node, each its own replica: CPU thread groups, or GPUs 0..devices-1 when the
     *                    model's backend is cuda
     * @param config      extra HOCON overriding the defaults (TLS, SBR timings, discovery, ...); may be empty
     */
    public record Options(String host, int port, List<String> seedNodes, List<String> roles, ModelRuntime.Spec model,
                          int devices, Coordinator.Settings settings, Config config) {
        public Options {
            if (port < 0 || port > 65535) throw new IllegalArgumentException("cluster port must be in [0, 65535]: " + port);
            if (roles.isEmpty()) throw new IllegalArgumentException("a node needs at least one role (frontend, worker)");
            if (roles.contains("worker") && model == null) throw new IllegalArgumentException("a worker node needs a model");
            if (devices < 0) throw new IllegalArgumentException("devices must be >= 0");
        }
    }

    private record Refs(ActorRef<Router.Command> router, ActorRef<NodeAgent.Command> agent,
                        ActorRef<Placement.Command> placement, List<ActorRef<GroupMember.Command>> groupMembers) { }

    private final ActorSystem<Void> system;
    private final Refs refs;
    private final List<ModelRuntime> runtimes;
    private final String selfAddress;

    private SpecdecNode(ActorSystem<Void> system, Refs refs, List<ModelRuntime> runtimes) {
        this.system = system;
        this.refs = refs;
        this.runtimes = runtimes;
        this.selfAddress = Cluster.get(system).selfMember().address().toString();
    }

    /** The effective Pekko configuration for these options. */
    public static Config config(Options o) {
        return config(o.host(), o.port(), o.seedNodes(), o.roles(), o.config());
    }

    /** The effective Pekko configuration of a node at host:port ({@code extra} overrides the defaults). */
    public static Config config(String host, int port, List<String> seedNodes, List<String> roles, Config extra) {
        Config defaults = ConfigFactory.defaultApplication()
                .withFallback(ConfigFactory.parseResources(SpecdecNode.class, "/specdec-pekko.conf"));
        ClusterDiscovery discovery = ClusterDiscovery.of(extra.withFallback(defaults).resolve());
        Map<String, Object> m = new HashMap<>(discovery.pekkoSettings(host, port, seedNodes));
        m.put("pekko.remote.artery.canonical.hostname", host);
        m.put("pekko.remote.artery.canonical.port", port);
        m.put("pekko.cluster.roles", roles);
        return extra.withFallback(ConfigFactory.parseMap(m))
                .withFallback(defaults)
                .withFallback(ConfigFactory.defaultReference())
                .resolve();
    }

    /** "cpu0", "cpu1", ... (thread groups) or "cuda0", "cuda1", ... (device i is GPU i). */
    private static String deviceId(Options o, int device) {
        return (o.model() != null && o.model().backend() == ModelRuntime.Backend.CUDA ? "cuda" : "cpu") + device;
    }

    public static SpecdecNode start(Options o) {
        return start(o, new RandomCommunicatorIds());
    }

    private static CpuRankModels.Transport cpuTransport(String value) {
        try {
            return CpuRankModels.Transport.valueOf(value.trim().toUpperCase(java.util.Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(CpuRankModels.TRANSPORT + " must be memory or tcp, not " + value);
        }
    }

    /**
     * Starts the node; with {@value Placement#TENSOR_PARALLEL} > 1 in the config each device also gets a
     * {@link GroupMember} whose group communicator ids come from {@code ids} ({@code Nccl::uniqueId} on CUDA).
     */
    public static SpecdecNode start(Options o, CommunicatorIds ids) {
        Config config = config(o);
        String kind = config.getString(RANK_MODEL);
        RankModels rankModels = switch (kind) {
            case "none" -> null;
            case "cpu" -> new CpuRankModels(config.getDuration(CpuRankModels.JOIN_TIMEOUT),
                    config.getDuration(CpuRankModels.COLLECTIVE_TIMEOUT), cpuTransport(System.getProperty(CpuRankModels.TRANSPORT, config.getString(CpuRankModels.TRANSPORT))));
            default -> throw new IllegalArgumentException(RANK_MODEL + " must be none or cpu (CUDA: pass its RankModels"
                    + " to SpecdecNode.start), not " + kind);
        };
        return start(o, ids, rankModels);
    }

    /**
     * What every group formation would otherwise refuse, refused once at start: in draft mode easyspec a draft the ranks
     * cannot hold a replica of (cuda, {@code layers:N}: the target's GPU weights, which the ranks split), or a
     * configured layer plan for another number of layers than the draft has.
     */
    private static void requireRankDrafts(ModelRuntime runtime) {
        ModelRuntime.Parallelism p = runtime.spec().parallelism();
        if (!p.draftMode().equals("easyspec") || !runtime.hasDraftModel()) return;
        ModelRuntime.DraftWeights d = runtime.draftWeights();
        if (d == null) {
            throw new IllegalArgumentException("draft " + runtime.spec().draft() + " shares the target's GPU weights, which a "
                    + "tensor-parallel group's ranks split: easyspec over the group needs a draft model (a path or random:CONFIG.json)");
        }
        if (p.layerGroups() != null && LayerGroupPlan.parse(p.layerGroups()).layers() != d.config().layers()) {
            throw new IllegalArgumentException("layer groups " + p.layerGroups() + " cover " + LayerGroupPlan.parse(p.layerGroups()).layers()
                    + " layers, the draft has " + d.config().layers());
        }
    }

    /**
     * A group's ranks are its EasySpec draft devices: a configured layer plan may not run more layers at once than a
     * group has ranks (refused here, at start, rather than by every group formation after it).
     */
    private static void requireDraftFitsGroup(ModelRuntime.Parallelism p, int groupSize) {
        if (!p.draftMode().equals("easyspec") || p.layerGroups() == null) return;
        int width = LayerGroupPlan.parse(p.layerGroups()).width();
        if (width > groupSize) {
            throw new IllegalArgumentException("layer groups " + p.layerGroups() + " run " + width + " layers at once, but a "
                    + "tensor-parallel group (" + Placement.TENSOR_PARALLEL + " = " + groupSize + ") drafts over its "
                    + groupSize + " ranks");
        }
    }

    /**
     * Starts the node; with {@value Placement#TENSOR_PARALLEL} > 1 and {@code rankModels} each device's group member
     * runs its rank of the target ({@link TensorRankShard}) and a group serves as one replica, led by its rank 0;
     * with {@code rankModels} null the members only mirror their group's batch.
     */
    public static SpecdecNode start(Options o, CommunicatorIds ids, RankModels rankModels) {
        Config config = config(o);
        int groupSize = config.getInt(Placement.TENSOR_PARALLEL);
        boolean groups = groupSize > 1;
        if (groups && rankModels != null && o.model() != null) requireDraftFitsGroup(o.model().parallelism(), groupSize);
        if (o.model() != null && o.model().backend() == ModelRuntime.Backend.CUDA && o.model().parallelism().draftMode().equals("easyspec")
                && o.model().parallelism().tensorParallel() == 1 && !(groups && rankModels != null)) {
            throw new IllegalArgumentException("on cuda easyspec drafts over the target's GPUs (a replica on each): give tensor "
                    + "parallelism 2 or more, or tensor-parallel groups over Pekko (" + Placement.TENSOR_PARALLEL + " > 1)");
        }
        boolean rankOnly = config.getBoolean(RANK_ONLY);
        if (rankOnly && o.roles().contains("worker") && !(groups && rankModels != null)) {
            throw new IllegalArgumentException(RANK_ONLY + " = on: devices that hold only a rank of a tensor-parallel group need "
                    + "groups (" + Placement.TENSOR_PARALLEL + " > 1, is " + groupSize + ") and rank models ("
                    + RANK_MODEL + " = cpu, or the CUDA backend's), else nothing could serve");
        }
        if (rankOnly && o.model() != null && o.model().parallelism().tensorParallel() > 1) {
            throw new IllegalArgumentException(RANK_ONLY + " and tensor parallelism " + o.model().parallelism().tensorParallel()
                    + " in one process exclude each other: a group's ranks split the target over devices already");
        }
        List<ModelRuntime> runtimes = new ArrayList<>();
        try {
            if (o.roles().contains("worker")) {
                for (int d = 0; d < o.devices(); d++) {
                    runtimes.add(new ModelRuntime(o.model(), "specdec-" + deviceId(o, d), d, rankOnly));
                }
                if (groups && rankModels != null && !runtimes.isEmpty()) requireRankDrafts(runtimes.getFirst());
            }
        } catch (RuntimeException e) {
            runtimes.forEach(ModelRuntime::close);
            throw e;
        }
        CompletableFuture<Refs> refs = new CompletableFuture<>();
        List<ActorRef<GroupMember.Command>> members = new ArrayList<>();
        Behavior<Void> guardian = Behaviors.setup(ctx -> {
            ActorRef<NodeAgent.Command> agent = ctx.spawn(NodeAgent.create(), "node");
            for (int d = 0; d < runtimes.size(); d++) {
                String deviceId = deviceId(o, d);
                agent.tell(new NodeAgent.DeviceStarted(deviceId));
                // Without rank models the member only mirrors its group's batch and the device serves alone.
                TensorRankShard shard = groups && rankModels != null
                        ? new TensorRankShard(runtimes.get(d), rankModels, o.settings().prefillChunk(), d, deviceId,
                        config.getDuration(STEP_TIMEOUT)) : null;
                ActorRef<GroupMember.Command> member = groups ? ctx.spawn(GroupMember.create(deviceId, ids,
                                shard != null ? shard : GroupShard.NONE), "group-" + deviceId,
                        DispatcherSelector.fromConfig(DeviceWorker.DISPATCHER)) : null;
                if (member != null) members.add(member);
                ctx.spawn(DeviceWorker.create(runtimes.get(d), deviceId, o.settings(), agent, member, shard),
                        "device-" + deviceId, DispatcherSelector.fromConfig(DeviceWorker.DISPATCHER));
            }
            ActorRef<Router.Command> router = ctx.spawn(Router.create(), "router");
            ActorRef<Placement.Command> placement = ClusterSingleton.get(ctx.getSystem())
                    .init(SingletonActor.of(Placement.create(), "placement"));
            refs.complete(new Refs(router, agent, placement, List.copyOf(members)));
            return Behaviors.empty();
        });
        ActorSystem<Void> system;
        try {
            system = ActorSystem.create(guardian, "specdec", config);
        } catch (RuntimeException e) {
            runtimes.forEach(ModelRuntime::close);
            throw e;
        }
        try {
            ClusterDiscovery.of(config).start(system, ASK_TIMEOUT);
        } catch (RuntimeException e) {
            system.terminate();
            runtimes.forEach(ModelRuntime::close);
            throw e;
        }
        return new SpecdecNode(system, refs.join(), runtimes);
    }

    public ActorSystem<Void> system() { return system; }

    public String selfAddress() { return selfAddress; }

    public Cluster cluster() { return Cluster.get(system); }

    public List<ModelRuntime> runtimes() { return runtimes; }

    /** This node's devices' seats in tensor-parallel groups, by device index (empty without groups). */
    public List<ActorRef<GroupMember.Command>> groupMembers() { return refs.groupMembers(); }

    /** Starts a request; the sink gets its events on an actor thread, in order, ending with Finished or Failed. */
    public CompletionStage<ActorRef<RequestStream.Command>> generate(GenerationJob template, Consumer<StreamEvent> sink) {
        return AskPattern.ask(refs.router(), r -> new Router.Start(template, sink, r), ASK_TIMEOUT, system.scheduler());
    }

    public CompletionStage<List<ActorRef<Coordinator.Command>>> replicas() {
        return AskPattern.ask(refs.router(), Router.GetReplicas::new, ASK_TIMEOUT, system.scheduler());
    }

    /** The load of every serving replica (those that answer within the timeout). */
    public CompletionStage<List<Coordinator.Load>> loads() {
        return replicas().thenCompose(list -> {
            List<CompletableFuture<Coordinator.Load>> asks = new ArrayList<>();
            for (ActorRef<Coordinator.Command> c : list) {
                asks.add(AskPattern.<Coordinator.Command, Coordinator.Load>ask(c, Coordinator.GetLoad::new,
                        Duration.ofSeconds(3), system.scheduler()).toCompletableFuture().exceptionally(e -> null));
            }
            return CompletableFuture.allOf(asks.toArray(CompletableFuture[]::new))
                    .thenApply(v -> asks.stream().map(CompletableFuture::join).filter(l -> l != null).toList());
        });
    }

    private CompletionStage<ActorRef<Coordinator.Command>> anyReplica() {
        return replicas().thenApply(list -> {
            if (list.isEmpty()) throw new IllegalStateException("no model replica is serving yet");
            return list.getFirst();
        });
    }

    public CompletionStage<Coordinator.Tokenized> tokenize(String text, boolean addBos, boolean parseSpecial) {
        return anyReplica().thenCompose(c -> AskPattern.ask(c, r -> new Coordinator.Tokenize(text, addBos, parseSpecial, r),
                ASK_TIMEOUT, system.scheduler()));
    }

    public CompletionStage<Coordinator.ModelDescription> describeModel() {
        return anyReplica().thenCompose(c -> AskPattern.ask(c, Coordinator.Describe::new, ASK_TIMEOUT, system.scheduler()));
    }

    public CompletionStage<SpeculationPolicy> policy() {
        return AskPattern.ask(refs.placement(), Placement.GetPolicy::new, ASK_TIMEOUT, system.scheduler());
    }

    public CompletionStage<SpeculationPolicy> setPolicy(SpeculationPolicy p) {
        return AskPattern.ask(refs.placement(), r -> new Placement.SetPolicy(p, r), ASK_TIMEOUT, system.scheduler());
    }

    /** A live event subscription; closing it stops the subscriber actor. */
    public interface Subscription extends AutoCloseable {
        @Override void close();
    }

    /** Tells a subscriber actor to stop (actors may only stop themselves or their children). */
    private enum Unsubscribe { INSTANCE }

    /** Subscribes to cluster and placement events until the returned subscription is closed. */
    public Subscription subscribe(Consumer<Placement.Event> consumer, String name) {
        ActorRef<Object> ref = system.systemActorOf(Behaviors.receive(Object.class)
                .onMessage(Placement.Event.class, e -> {
                    consumer.accept(e);
                    return Behaviors.same();
                })
                .onMessageEquals(Unsubscribe.INSTANCE, Behaviors::stopped)
                .build(), name, org.apache.pekko.actor.typed.Props.empty());
        refs.placement().tell(new Placement.Subscribe(ref.narrow()));
        return () -> ref.tell(Unsubscribe.INSTANCE);
    }

    private CompletionStage<List<ActorRef<NodeAgent.Command>>> agents() {
        return AskPattern.<Receptionist.Command, Receptionist.Listing>ask(system.receptionist(),
                r -> Receptionist.find(NodeAgent.KEY, r), ASK_TIMEOUT, system.scheduler())
                .thenApply(l -> List.copyOf(l.getServiceInstances(NodeAgent.KEY)));
    }

    /** Devices of every node (those that answer within the timeout). */
    public CompletionStage<List<NodeAgent.Devices>> devices() {
        return agents().thenCompose(list -> {
            List<CompletableFuture<NodeAgent.Devices>> asks = new ArrayList<>();
            for (ActorRef<NodeAgent.Command> a : list) {
                asks.add(AskPattern.<NodeAgent.Command, NodeAgent.Devices>ask(a, NodeAgent.GetDevices::new,
                        Duration.ofSeconds(3), system.scheduler()).toCompletableFuture().exceptionally(e -> null));
            }
            return CompletableFuture.allOf(asks.toArray(CompletableFuture[]::new))
                    .thenApply(v -> asks.stream().map(CompletableFuture::join).filter(d -> d != null).toList());
        });
    }

    /** Drains a node ("" = this one): it stops admitting, finishes in-flight requests, then leaves the cluster. */
    public CompletionStage<NodeAgent.NodeDrained> drain(String address, Duration timeout) {
        CompletionStage<ActorRef<NodeAgent.Command>> target;
        if (address == null || address.isEmpty() || address.equals(selfAddress)) {
            target = CompletableFuture.completedFuture(refs.agent());
        } else {
            target = agents().thenApply(list -> list.stream()
                    .filter(a -> a.path().address().toString().equals(address)).findFirst()
                    .orElseThrow(() -> new IllegalArgumentException("no cluster member " + address + " runs a specdec node")));
        }
        return target.thenCompose(a -> AskPattern.ask(a, NodeAgent.DrainNode::new, timeout, system.scheduler()));
    }

    @Override
    public void close() {
        system.terminate();
        try {
            system.getWhenTerminated().toCompletableFuture().get(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (Exception ignored) {
            // best effort at shutdown
        }
        runtimes.forEach(ModelRuntime::close);
    }
}
