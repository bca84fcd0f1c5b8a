package io.specdec.cluster;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.cluster.ClusterEvent;
import org.apache.pekko.cluster.typed.Cluster;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The cluster singleton that forms model replicas from free devices (a CPU replica is one device), holds the
 * speculation policy every coordinator applies, and publishes cluster and placement events to subscribers.
 */
public final class Placement extends AbstractBehavior<Placement.Command> {

    public interface Command { }

    public record GetPolicy(ActorRef<SpeculationPolicy> replyTo) implements Command, ClusterMessage { }

    public record SetPolicy(SpeculationPolicy policy, ActorRef<SpeculationPolicy> replyTo) implements Command, ClusterMessage { }

    public record Subscribe(ActorRef<Event> subscriber) implements Command, ClusterMessage { }

    public record Event(long unixMillis, String kind, String subject, String detail) implements ClusterMessage { }

    private record Devices(Set<ActorRef<DeviceWorker.Command>> refs) implements Command { }

    private record Coordinators(Set<ActorRef<Coordinator.Command>> refs) implements Command { }

    private record Member(ClusterEvent.MemberEvent event) implements Command { }

    private record Reachability(ClusterEvent.ReachabilityEvent event) implements Command { }

    private record SubscriberGone(ActorRef<Event> subscriber) implements Command { }

    private final Map<ActorRef<DeviceWorker.Command>, String> replicaOf = new HashMap<>();
    private final Set<ActorRef<Coordinator.Command>> coordinators = new HashSet<>();
    private final List<ActorRef<Event>> subscribers = new ArrayList<>();
    private SpeculationPolicy policy = SpeculationPolicy.defaults();
    private int nextReplica;

    public static Behavior<Command> create() {
        return Behaviors.setup(Placement::new);
    }

    private Placement(ActorContext<Command> ctx) {
        super(ctx);
        // One adapter per message class: both listings come through it.
        ActorRef<Receptionist.Listing> listings = ctx.messageAdapter(Receptionist.Listing.class,
                l -> l.isForKey(DeviceWorker.KEY)
                        ? new Devices(l.getServiceInstances(DeviceWorker.KEY))
                        : new Coordinators(l.getServiceInstances(Coordinator.KEY)));
        ctx.getSystem().receptionist().tell(Receptionist.subscribe(DeviceWorker.KEY, listings));
        ctx.getSystem().receptionist().tell(Receptionist.subscribe(Coordinator.KEY, listings));
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
                        case ClusterEvent.MemberRemoved removed -> "member-removed";
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

    private void publish(String kind, String subject, String detail) {
        Event e = new Event(System.currentTimeMillis(), kind, subject, detail);
        getContext().getLog().info("cluster event {} {} {}", kind, subject, detail);
        for (ActorRef<Event> s : subscribers) s.tell(e);
    }
}
