package io.specdec.cluster;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.DispatcherSelector;
import org.apache.pekko.actor.typed.PostStop;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;

/**
 * One device: its model, KV cache and batch engine, on a dedicated thread ({@value #DISPATCHER}). Executes the
 * {@link StepPlan}s of its replica's {@link Coordinator}; when {@link Placement} puts it in a replica it starts that
 * coordinator next to itself. With a {@link GroupMember} it hands the member every plan before running it, with the
 * requests that finished in the step before, so a leading member can pass them to its group. With a
 * {@link TensorRankShard} the group is the replica: while this device leads a ready group, new requests go to the
 * group (the member runs them on every rank's shard and answers with the step's events), requests already on the
 * device's own model finish there; while it is another rank of a group its coordinator takes no requests. A
 * rank-only device ({@link ModelRuntime#rankOnly()}) has no own model: its coordinator takes requests only while the
 * device leads a ready group, admitting against the group's KV capacity.
 */
public final class DeviceWorker extends AbstractBehavior<DeviceWorker.Command> {
    public static final String DISPATCHER = "specdec.device-dispatcher";
    public static final ServiceKey<Command> KEY = ServiceKey.create(Command.class, "specdec-device");

    public sealed interface Command { }

    /** From {@link Placement}: this device now forms replica {@code replicaId}. */
    public record FormReplica(String replicaId) implements Command, ClusterMessage { }

    /** From the replica's coordinator (same node). */
    public record Step(StepPlan plan, ActorRef<StepResult> replyTo) implements Command { }

    private record GroupStepDone(GroupMember.Led led) implements Command { }

    private enum RoleChanged implements Command { INSTANCE }

    /** A step split between the device's own engine and its group, until both halves are in. */
    private static final class Pending {
        final Step step;
        final long t0;
        StepResult own;
        GroupMember.Led group;

        Pending(Step step, long t0) {
            this.step = step;
            this.t0 = t0;
        }
    }

    private final ModelRuntime runtime;
    private final String deviceId;
    private final Coordinator.Settings settings;
    private final ActorRef<NodeAgent.Command> agent;
    /** The device's own model's engine; null on a rank-only device. */
    private final ReplicaEngine own;
    private ActorRef<Coordinator.Command> coordinator;

    private final ActorRef<GroupMember.Command> groupMember;
    private final TensorRankShard shard;
    private final ActorRef<GroupMember.Led> groupReplies;
    private final Set<String> groupRequests = new LinkedHashSet<>();
    private Pending pending;
    private boolean serving = true;

    public static Behavior<Command> create(ModelRuntime runtime, String deviceId, Coordinator.Settings settings,
                                           ActorRef<NodeAgent.Command> agent) {
        return create(runtime, deviceId, settings, agent, null, null);
    }

    /** @param groupMember this device's seat in a tensor-parallel group (null without groups): gets every plan */
    public static Behavior<Command> create(ModelRuntime runtime, String deviceId, Coordinator.Settings settings,
                                           ActorRef<NodeAgent.Command> agent, ActorRef<GroupMember.Command> groupMember) {
        return create(runtime, deviceId, settings, agent, groupMember, null);
    }

    /** @param shard the member's rank model (null: the member only mirrors the batch and this device serves alone) */
    public static Behavior<Command> create(ModelRuntime runtime, String deviceId, Coordinator.Settings settings,
                                           ActorRef<NodeAgent.Command> agent, ActorRef<GroupMember.Command> groupMember,
                                           TensorRankShard shard) {
        return Behaviors.setup(ctx -> new DeviceWorker(ctx, runtime, deviceId, settings, agent, groupMember, shard));
    }

    private DeviceWorker(ActorContext<Command> ctx, ModelRuntime runtime, String deviceId, Coordinator.Settings settings,
                         ActorRef<NodeAgent.Command> agent, ActorRef<GroupMember.Command> groupMember, TensorRankShard shard) {
        super(ctx);
        this.groupMember = groupMember;
        this.shard = groupMember == null ? null : shard;
        this.runtime = runtime;
        this.deviceId = deviceId;
        this.settings = settings;
        this.agent = agent;
        if (runtime.rankOnly() && this.shard == null) {
            throw new IllegalArgumentException("device " + deviceId + " is rank-only but holds no rank of a tensor-parallel group");
        }
        this.own = runtime.rankOnly() ? null : new ReplicaEngine(runtime, runtime.target(), runtime.targetCache(),
                settings.prefillChunk(), deviceId, "INTERNAL", runtime::newDrafter);
        this.groupReplies = ctx.messageAdapter(GroupMember.Led.class, GroupStepDone::new);
        if (this.shard != null) {
            ActorRef<Command> self = ctx.getSelf();
            this.shard.onRoleChange(() -> self.tell(RoleChanged.INSTANCE));
        }
        ctx.getSystem().receptionist().tell(Receptionist.register(KEY, ctx.getSelf()));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(FormReplica.class, this::onFormReplica)
                .onMessage(Step.class, this::onStep)
                .onMessage(GroupStepDone.class, this::onGroupStepDone)
                .onMessage(RoleChanged.class, m -> {
                    updateServing();
                    return this;
                })
                .onSignal(PostStop.class, s -> {
                    if (own != null) own.close();
                    return this;
                })
                .build();
    }

    private Behavior<Command> onFormReplica(FormReplica m) {
        if (coordinator == null) {
            coordinator = getContext().spawn(Coordinator.create(m.replicaId(), deviceId, runtime, getContext().getSelf(),
                    settings), "coordinator-" + m.replicaId(), DispatcherSelector.defaultDispatcher());
            agent.tell(new NodeAgent.CoordinatorStarted(m.replicaId(), coordinator));
            getContext().getLog().info("device {} forms replica {} of model {}{}", deviceId, m.replicaId(), runtime.name(),
                    runtime.rankOnly() ? " (rank-only: it serves while it leads a ready group)" : "");
            serving = !runtime.rankOnly();   // a rank-only device's coordinator starts unregistered
            updateServing();
        }
        return this;
    }

    /**
     * A rank other than 0 of a group takes no requests of its own; it serves again once the group is gone. A rank-only
     * device serves only while it leads a ready group, with that group's KV capacity.
     */
    private void updateServing() {
        boolean serve = runtime.rankOnly() ? shard.leading() : shard == null || !shard.inGroup() || shard.rank() == 0;
        if (coordinator != null && serve != serving) {
            serving = serve;
            coordinator.tell(new Coordinator.SetServing(serve, serve && runtime.rankOnly() ? shard.kvBlocksTotal() : 0));
            String why = runtime.rankOnly() ? serve ? "rank-only, leading a ready group" : "rank-only, leading no ready group"
                    : serve ? "not a follower in a group" : "rank " + shard.rank() + " of a tensor-parallel group";
            getContext().getLog().info("device {} {} requests ({})", deviceId, serve ? "takes" : "takes no", why);
        }
    }

    /** Nothing can run these admits: a rank-only device outside a ready group it leads. */
    private List<StreamEvent> noGroup(List<StepPlan.Admit> admits) {
        List<StreamEvent> failed = new ArrayList<>();
        for (StepPlan.Admit a : admits) {
            failed.add(new StreamEvent.Failed(a.requestId(), "UNAVAILABLE", "device " + deviceId + " holds only its rank of a "
                    + "tensor-parallel group and leads no ready group now (it formed none yet, or it dissolved): retry"));
        }
        return failed;
    }

    private Behavior<Command> onStep(Step m) {
        long t0 = System.nanoTime();
        StepPlan plan = m.plan();
        if (own == null && !shard.leading() && groupRequests.isEmpty()) {
            m.replyTo().tell(new StepResult(plan.iteration(), noGroup(plan.admits()), 0, 0, 0, System.nanoTime() - t0));
            return this;
        }
        if (shard == null || !shard.leading() && groupRequests.isEmpty()) {
            // A member without a rank model passes the plan on only while it leads a ready group (the others ignore
            // it); one with a rank model gets plans only for the group (below), never the device's own.
            if (groupMember != null && shard == null) groupMember.tell(new GroupMember.Lead(plan, own.finishedLastStep()));
            m.replyTo().tell(own.run(plan, t0));
            return this;
        }
        // New requests go to the group while this device leads it; removals go where their request runs.
        boolean toGroup = shard.leading();
        List<StepPlan.Admit> groupAdmits = toGroup ? plan.admits() : List.of();
        List<StepPlan.Admit> ownAdmits = toGroup ? List.of() : plan.admits();
        List<String> groupRemovals = new ArrayList<>();
        List<String> ownRemovals = new ArrayList<>();
        for (String id : plan.removals()) (groupRequests.remove(id) ? groupRemovals : ownRemovals).add(id);
        for (StepPlan.Admit a : groupAdmits) groupRequests.add(a.requestId());
        pending = new Pending(m, t0);
        groupMember.tell(new GroupMember.Lead(new StepPlan(plan.iteration(), groupAdmits, groupRemovals), List.of(),
                groupReplies));
        if (own == null) {   // rank-only: nothing runs outside the group
            pending.own = new StepResult(plan.iteration(), noGroup(ownAdmits), 0, 0, 0, 0);
        } else if (own.size() > 0 || !ownAdmits.isEmpty() || !ownRemovals.isEmpty()) {
            pending.own = own.run(new StepPlan(plan.iteration(), ownAdmits, ownRemovals), t0);
        } else {
            pending.own = new StepResult(plan.iteration(), List.of(), 0, 0, 0, 0);
        }
        return this;
    }

    private Behavior<Command> onGroupStepDone(GroupStepDone m) {
        if (pending == null) return this;
        Pending p = pending;
        pending = null;
        GroupMember.Led led = m.led();
        List<StreamEvent> events = new ArrayList<>(p.own.events());
        int running = p.own.running();
        int used = own == null ? 0 : runtime.targetCache().totalBlocks() - runtime.targetCache().freeBlocks();
        int total = own == null ? 0 : runtime.targetCache().totalBlocks();
        if (led.result() != null) {
            events.addAll(led.result().events());
            running += led.result().running();
            used += led.result().kvBlocksUsed();
            total = Math.max(total, led.result().kvBlocksTotal());
            for (StreamEvent e : led.result().events()) if (!(e instanceof StreamEvent.Tokens)) groupRequests.remove(e.requestId());
        }
        if (!led.gone().isEmpty()) {
            // The group is gone with these requests in it: their K/V was on every rank, so they cannot move here.
            for (String id : groupRequests) {
                events.add(new StreamEvent.Failed(id, "UNAVAILABLE", "the tensor-parallel group serving this request is gone: " + led.gone()));
            }
            if (!groupRequests.isEmpty()) getContext().getLog().warn("device {}: {} requests failed: {}", deviceId, groupRequests.size(), led.gone());
            groupRequests.clear();
        }
        p.step.replyTo().tell(new StepResult(p.step.plan().iteration(), events, running, used, total, System.nanoTime() - p.t0));
        return this;
    }
}
