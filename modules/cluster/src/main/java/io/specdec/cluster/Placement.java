package io.specdec.cluster;

import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ThreadLocalRandom;

/**
 * The cluster singleton that forms model replicas from free devices (a CPU replica is one device), holds the
 * speculation policy every coordinator applies, and publishes cluster and placement events to subscribers.
 * With {@value #TENSOR_PARALLEL} = N > 1 it also groups the devices' {@link GroupMember}s into tensor-parallel groups
 * of N (ranks by node address, then device index), hands each group a communicator id made by its rank 0, and
 * dissolves and regroups a group when a member leaves, dies or reports it broken (docs/multi-gpu.md).
 */
public final class Placement extends AbstractBehavior<Placement.Command> {
    /** Config key: devices per tensor-parallel group (1 = no groups; each device is its own replica). */
    public static final String TENSOR_PARALLEL = "specdec.placement.tensor-parallel";
    /** Config key: how long a group may take from formation to Ready before it is dissolved and retried. */
    public static final String GROUP_FORMATION_TIMEOUT = "specdec.placement.group-formation-timeout";

    public interface Command { }

    public record GetPolicy(ActorRef<SpeculationPolicy> replyTo) implements Command, ClusterMessage { }

    public record SetPolicy(SpeculationPolicy policy, ActorRef<SpeculationPolicy> replyTo) implements Command, ClusterMessage { }

    public record Subscribe(ActorRef<Event> subscriber) implements Command, ClusterMessage { }

    public record Event(long unixMillis, String kind, String subject, String detail) implements ClusterMessage { }

    /** From a group's rank 0: the communicator id (empty with {@code error} set when it could not make one). */
    public record CommunicatorId(String groupId, byte[] id, String error) implements Command, ClusterMessage { }

    /** From a member: it joined {@code groupId} as {@code rank} (its communicator is initialised). */
    public record GroupJoined(String groupId, int rank, ActorRef<GroupMember.Command> member) implements Command, ClusterMessage { }

    /** From a member: the group cannot go on (step gap, diverged batch, failed join). */
    public record GroupBroken(String groupId, String reason) implements Command, ClusterMessage { }

    private record Devices(Set<ActorRef<DeviceWorker.Command>> refs) implements Command { }

    private record GroupMembers(Set<ActorRef<GroupMember.Command>> refs) implements Command { }

    private record GroupMemberGone(ActorRef<GroupMember.Command> member) implements Command { }

    private record FormationTimeout(String groupId) implements Command { }

    private enum Regroup implements Command { INSTANCE }

    /** A group from formation to dissolution; {@code members} in rank order. */
    private static final class TensorGroup {
        final String id;
        final List<ActorRef<GroupMember.Command>> members;
        final Set<Integer> joined = new HashSet<>();
        byte[] communicatorId;
        boolean ready;

        TensorGroup(String id, List<ActorRef<GroupMember.Command>> members) {
            this.id = id;
            this.members = members;
        }
    }

    private record Coordinators(Set<ActorRef<Coordinator.Command>> refs) implements Command { }

    private record Member(ClusterEvent.MemberEvent event) implements Command { }

    private record Reachability(ClusterEvent.ReachabilityEvent event) implements Command { }

    private record SubscriberGone(ActorRef<Event> subscriber) implements Command { }

    private final Map<ActorRef<DeviceWorker.Command>, String> replicaOf = new HashMap<>();
    private final Set<ActorRef<Coordinator.Command>> coordinators = new HashSet<>();
    private final List<ActorRef<Event>> subscribers = new ArrayList<>();
    private SpeculationPolicy policy = SpeculationPolicy.defaults();
    private int nextReplica;
    private final TimerScheduler<Command> timers;
    private final int groupSize;
    private final Duration formationTimeout;
    private final Address self;
    private final String incarnation = Integer.toHexString(ThreadLocalRandom.current().nextInt(0x1000, 0x10000));
    private final Set<ActorRef<GroupMember.Command>> groupable = new HashSet<>();
    private final Map<ActorRef<GroupMember.Command>, String> groupOf = new HashMap<>();
    private final Map<String, TensorGroup> groups = new LinkedHashMap<>();
    private int nextGroup;

    public static Behavior<Command> create() {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers -> new Placement(ctx, timers)));
    }

    private Placement(ActorContext<Command> ctx, TimerScheduler<Command> timers) {
        super(ctx);
        this.timers = timers;
        var config = ctx.getSystem().settings().config();
        this.groupSize = config.hasPath(TENSOR_PARALLEL) ? config.getInt(TENSOR_PARALLEL) : 1;
        if (groupSize < 1) throw new IllegalArgumentException(TENSOR_PARALLEL + " must be >= 1: " + groupSize);
        this.formationTimeout = config.hasPath(GROUP_FORMATION_TIMEOUT) ? config.getDuration(GROUP_FORMATION_TIMEOUT)
                : Duration.ofSeconds(30);
        this.self = Cluster.get(ctx.getSystem()).selfMember().address();
        // One adapter per message class: every listing comes through it.
        ActorRef<Receptionist.Listing> listings = ctx.messageAdapter(Receptionist.Listing.class,
                l -> l.isForKey(DeviceWorker.KEY) ? new Devices(l.getServiceInstances(DeviceWorker.KEY))
                        : l.isForKey(GroupMember.KEY) ? new GroupMembers(l.getServiceInstances(GroupMember.KEY))
                        : new Coordinators(l.getServiceInstances(Coordinator.KEY)));
        ctx.getSystem().receptionist().tell(Receptionist.subscribe(DeviceWorker.KEY, listings));
        ctx.getSystem().receptionist().tell(Receptionist.subscribe(Coordinator.KEY, listings));
        if (groupSize > 1) ctx.getSystem().receptionist().tell(Receptionist.subscribe(GroupMember.KEY, listings));
        Cluster cluster = Cluster.get(ctx.getSystem());
        cluster.subscriptions().tell(new org.apache.pekko.cluster.typed.Subscribe<>(ctx.messageAdapter(ClusterEvent.MemberEvent.class, Member::new),
                ClusterEvent.MemberEvent.class));
        cluster.subscriptions().tell(new org.apache.pekko.cluster.typed.Subscribe<>(ctx.messageAdapter(ClusterEvent.ReachabilityEvent.class,
                Reachability::new), ClusterEvent.ReachabilityEvent.class));
        // Replica ids must stay unique when the singleton moves to another node.
        nextReplica = (int) (System.currentTimeMillis() % 100_000) * 10;
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Devices.class, this::onDevices)
                .onMessage(Coordinators.class, this::onCoordinators)
                .onMessage(Member.class, m -> {
                    var e = m.event();
                    String kind = switch (e) {
                        case ClusterEvent.MemberUp up -> "member-up";
                        case ClusterEvent.MemberLeft left -> "member-leaving";
                        case ClusterEvent.MemberExited exited -> "member-exited";
                        case ClusterEvent.MemberRemoved removed -> {
                            memberRemoved(removed.member().address());
                            yield "member-removed";
                        }
                        case ClusterEvent.MemberDowned downed -> "member-downed";
                        default -> "member-" + e.member().status().toString().toLowerCase();
                    };
                    publish(kind, e.member().address().toString(), "roles " + e.member().getRoles());
                    return this;
                })
                .onMessage(Reachability.class, m -> {
                    var e = m.event();
                    publish(e instanceof ClusterEvent.UnreachableMember ? "member-unreachable" : "member-reachable",
                            e.member().address().toString(), "");
                    return this;
                })
                .onMessage(GetPolicy.class, m -> {
                    m.replyTo().tell(policy);
                    return this;
                })
                .onMessage(SetPolicy.class, m -> {
                    policy = m.policy();
                    for (ActorRef<Coordinator.Command> c : coordinators) c.tell(new Coordinator.SetPolicy(policy));
                    publish("policy-changed", "speculation", policy.toString());
                    m.replyTo().tell(policy);
                    return this;
                })
                .onMessage(Subscribe.class, m -> {
                    subscribers.add(m.subscriber());
                    getContext().watchWith(m.subscriber(), new SubscriberGone(m.subscriber()));
                    return this;
                })
                .onMessage(SubscriberGone.class, m -> {
                    subscribers.remove(m.subscriber());
                    return this;
                })
                .onMessage(GroupMembers.class, this::onGroupMembers)
                .onMessage(GroupMemberGone.class, m -> {
                    forget(m.member(), "terminated");
                    formGroups();
                    return this;
                })
                .onMessage(CommunicatorId.class, this::onCommunicatorId)
                .onMessage(GroupJoined.class, this::onGroupJoined)
                .onMessage(GroupBroken.class, m -> {
                    dissolve(m.groupId(), m.reason());
                    timers.startSingleTimer(Regroup.INSTANCE, Duration.ofSeconds(1)); // not at once: it may break again
                    return this;
                })
                .onMessage(FormationTimeout.class, m -> {
                    TensorGroup g = groups.get(m.groupId());
                    if (g != null && !g.ready) {
                        dissolve(g.id, "not ready within " + formationTimeout.toMillis() + " ms (joined ranks " + g.joined + ")");
                        timers.startSingleTimer(Regroup.INSTANCE, Duration.ofSeconds(1));
                    }
                    return this;
                })
                .onMessage(Regroup.class, m -> {
                    formGroups();
                    return this;
                })
                .build();
    }

    private Behavior<Command> onDevices(Devices m) {
        for (ActorRef<DeviceWorker.Command> d : m.refs()) {
            if (!replicaOf.containsKey(d)) {
                String replica = "r" + (nextReplica++);
                replicaOf.put(d, replica);
                d.tell(new DeviceWorker.FormReplica(replica));
                publish("replica-placed", replica, "device " + d.path());
            }
        }
        for (var it = replicaOf.entrySet().iterator(); it.hasNext(); ) {
            var e = it.next();
            if (!m.refs().contains(e.getKey())) {
                it.remove();
                publish("replica-lost", e.getValue(), "device " + e.getKey().path() + " left");
            }
        }
        return this;
    }

    private Behavior<Command> onCoordinators(Coordinators m) {
        for (ActorRef<Coordinator.Command> c : m.refs()) {
            if (coordinators.add(c)) {
                c.tell(new Coordinator.SetPolicy(policy));
                publish("replica-serving", c.path().name().replace("coordinator-", ""), c.path().address().toString());
            }
        }
        coordinators.retainAll(m.refs());
        return this;
    }

    private Behavior<Command> onGroupMembers(GroupMembers m) {
        for (ActorRef<GroupMember.Command> g : m.refs()) {
            if (groupable.add(g)) getContext().watchWith(g, new GroupMemberGone(g));
        }
        for (ActorRef<GroupMember.Command> g : List.copyOf(groupable)) {
            if (!m.refs().contains(g)) forget(g, "deregistered");
        }
        formGroups();
        return this;
    }

    private void memberRemoved(Address address) {
        for (ActorRef<GroupMember.Command> g : List.copyOf(groupable)) {
            if (addressOf(g).equals(address)) forget(g, "node " + address + " removed");
        }
        formGroups();
    }

    /** A device is gone: its group (if any) is dissolved; the other members become free. */
    private void forget(ActorRef<GroupMember.Command> member, String why) {
        if (!groupable.remove(member)) return;
        getContext().unwatch(member);
        String group = groupOf.get(member);
        if (group != null) dissolve(group, "member " + member.path() + " " + why);
    }

    /** Groups free devices, N at a time in rank order, and asks each new group's rank 0 for a communicator id. */
    private void formGroups() {
        if (groupSize <= 1) return;
        List<ActorRef<GroupMember.Command>> free = new ArrayList<>();
        for (ActorRef<GroupMember.Command> g : groupable) if (!groupOf.containsKey(g)) free.add(g);
        free.sort(rankOrder());
        for (int i = 0; i + groupSize <= free.size(); i += groupSize) {
            // The singleton may move to another node: the incarnation keeps ids of its groups apart from earlier ones.
            TensorGroup g = new TensorGroup("tp-" + incarnation + "-" + (nextGroup++), List.copyOf(free.subList(i, i + groupSize)));
            groups.put(g.id, g);
            for (ActorRef<GroupMember.Command> member : g.members) groupOf.put(member, g.id);
            timers.startSingleTimer(new FormationTimeout(g.id), formationTimeout);
            g.members.getFirst().tell(new GroupMember.NewCommunicatorId(g.id, getContext().getSelf()));
            publish("group-forming", g.id, "members " + GroupMember.names(g.members));
        }
    }

    private Behavior<Command> onCommunicatorId(CommunicatorId m) {
        TensorGroup g = groups.get(m.groupId());
        if (g == null || g.communicatorId != null) return this; // dissolved meanwhile
        if (!m.error().isEmpty() || m.id().length == 0) {
            dissolve(g.id, "no communicator id: " + m.error());
            timers.startSingleTimer(Regroup.INSTANCE, Duration.ofSeconds(1));
            return this;
        }
        g.communicatorId = m.id();
        for (int rank = 0; rank < g.members.size(); rank++) {
            g.members.get(rank).tell(new GroupMember.JoinGroup(g.id, rank, g.members.size(), m.id(), g.members,
                    getContext().getSelf()));
        }
        return this;
    }

    private Behavior<Command> onGroupJoined(GroupJoined m) {
        TensorGroup g = groups.get(m.groupId());
        if (g == null || g.ready) return this;
        if (m.rank() < 0 || m.rank() >= g.members.size() || !g.members.get(m.rank()).equals(m.member())) {
            getContext().getLog().warn("group {}: ack for rank {} from {} does not match", g.id, m.rank(), m.member());
            return this;
        }
        g.joined.add(m.rank());
        if (g.joined.size() == g.members.size()) {
            g.ready = true;
            timers.cancel(new FormationTimeout(g.id));
            for (ActorRef<GroupMember.Command> member : g.members) member.tell(new GroupMember.GroupReady(g.id));
            publish("group-ready", g.id, "size " + g.members.size() + ", leader " + g.members.getFirst().path());
        }
        return this;
    }

    private void dissolve(String groupId, String reason) {
        TensorGroup g = groups.remove(groupId);
        if (g == null) return;
        timers.cancel(new FormationTimeout(groupId));
        for (ActorRef<GroupMember.Command> member : g.members) {
            groupOf.remove(member);
            if (groupable.contains(member)) member.tell(new GroupMember.LeaveGroup(groupId, reason));
        }
        publish("group-dissolved", groupId, reason);
    }

    /** Rank order: node address (host, then port), then the device's index (the digits ending its actor's name). */
    private Comparator<ActorRef<GroupMember.Command>> rankOrder() {
        return Comparator.<ActorRef<GroupMember.Command>, String>comparing(r -> addressOf(r).getHost().orElse(""))
                .thenComparingInt(r -> addressOf(r).getPort().orElse(0))
                .thenComparingLong(r -> deviceIndex(r.path().name()))
                .thenComparing(r -> r.path().name());
    }

    /** A local ref's address has no host: it is this node's. */
    private Address addressOf(ActorRef<?> ref) {
        Address a = ref.path().address();
        return a.getHost().isPresent() ? a : self;
    }

    static long deviceIndex(String name) {
        int i = name.length();
        while (i > 0 && Character.isDigit(name.charAt(i - 1))) i--;
        return i == name.length() || name.length() - i > 18 ? Long.MAX_VALUE : Long.parseLong(name.substring(i));
    }

    private void publish(String kind, String subject, String detail) {
        Event e = new Event(System.currentTimeMillis(), kind, subject, detail);
        getContext().getLog().info("cluster event {} {} {}", kind, subject, detail);
        for (ActorRef<Event> s : subscribers) s.tell(e);
    }
}
