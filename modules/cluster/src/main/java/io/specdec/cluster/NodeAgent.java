package io.specdec.cluster;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Leave;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The node's own agent: knows its devices and the replicas formed on them, and drains the node on request (stop
 * admitting, let in-flight requests finish, then leave the cluster).
 */
public final class NodeAgent extends AbstractBehavior<NodeAgent.Command> {
    public static final ServiceKey<Command> KEY = ServiceKey.create(Command.class, "specdec-node");

    public interface Command { }

    record CoordinatorStarted(String replicaId, ActorRef<Coordinator.Command> coordinator) implements Command { }

    record DeviceStarted(String deviceId) implements Command { }

    public record DrainNode(ActorRef<NodeDrained> replyTo) implements Command, ClusterMessage { }

    public record NodeDrained(String address, int inFlightAtStart, boolean completed) implements ClusterMessage { }

    public record GetDevices(ActorRef<Devices> replyTo) implements Command, ClusterMessage { }

    /** @param devices device id to replica id ("" when free) */
    public record Devices(String address, Map<String, String> devices, boolean draining) implements ClusterMessage { }

    private record ReplicaDrained(Coordinator.Drained drained) implements Command { }

    private final Map<String, String> devices = new LinkedHashMap<>();
    private final Map<String, ActorRef<Coordinator.Command>> coordinators = new LinkedHashMap<>();
    private final List<ActorRef<NodeDrained>> drainWaiters = new ArrayList<>();
    private final String address;
    private boolean draining;
    // set once the node has left: a later drain (SIGTERM after the preStop drain) is answered at once
    private boolean drained;
    private int pendingDrains;
    private int inFlightAtStart;

    public static Behavior<Command> create() {
        return Behaviors.setup(NodeAgent::new);
    }

    private NodeAgent(ActorContext<Command> ctx) {
        super(ctx);
        this.address = Cluster.get(ctx.getSystem()).selfMember().address().toString();
        ctx.getSystem().receptionist().tell(Receptionist.register(KEY, ctx.getSelf()));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(DeviceStarted.class, m -> {
                    devices.putIfAbsent(m.deviceId(), "");
                    return this;
                })
                .onMessage(CoordinatorStarted.class, m -> {
                    coordinators.put(m.replicaId(), m.coordinator());
                    for (var e : devices.entrySet()) if (e.getValue().isEmpty()) {
                        e.setValue(m.replicaId());
                        break;
                    }
                    return this;
                })
                .onMessage(GetDevices.class, m -> {
                    m.replyTo().tell(new Devices(address, Map.copyOf(devices), draining));
                    return this;
                })
                .onMessage(DrainNode.class, this::onDrain)
                .onMessage(ReplicaDrained.class, m -> {
                    inFlightAtStart += m.drained().inFlightAtStart();
                    if (--pendingDrains == 0) finishDrain();
                    return this;
                })
                .build();
    }

    private Behavior<Command> onDrain(DrainNode m) {
        if (drained) {
            m.replyTo().tell(new NodeDrained(address, 0, true));
            return this;
        }
        drainWaiters.add(m.replyTo());
        if (draining) return this;
        draining = true;
        getContext().getLog().info("draining node {}: {} replicas", address, coordinators.size());
        pendingDrains = coordinators.size();
        if (pendingDrains == 0) {
            finishDrain();
            return this;
        }
        ActorRef<Coordinator.Drained> adapter = getContext().messageAdapter(Coordinator.Drained.class, ReplicaDrained::new);
        for (ActorRef<Coordinator.Command> c : coordinators.values()) c.tell(new Coordinator.Drain(adapter));
        return this;
    }

    private void finishDrain() {
        drained = true;
        for (ActorRef<NodeDrained> w : drainWaiters) w.tell(new NodeDrained(address, inFlightAtStart, true));
        drainWaiters.clear();
        Cluster cluster = Cluster.get(getContext().getSystem());
        getContext().getLog().info("node {} drained; leaving the cluster", address);
        cluster.manager().tell(Leave.create(cluster.selfMember().address()));
    }
}
