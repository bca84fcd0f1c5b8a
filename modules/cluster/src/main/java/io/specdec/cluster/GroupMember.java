package io.specdec.cluster;

import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
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
 * A device's seat in a tensor-parallel group (control plane only; tensors go over NCCL). {@link Placement} forms
 * the group and sends each member its rank and the communicator id; the rank-0 member then leads: every iteration it
 * sends the other members a {@link GroupStep} (which sequences run, which join with their prompt and sampling
 * parameters, which leave), numbered without gaps, and each member applies it to its {@link GroupShard} in that
 * order. A gap, a step from another group, a batch or (with a {@link TensorRankShard}) emitted tokens that no longer
 * match the leader's break the group: the member tells Placement, which dissolves it and regroups the devices with a
 * new id. With a {@link TensorRankShard} the leader also runs each step on its own rank and answers the device worker
 * with the step's events ({@link Led}); the shard blocks this member's thread in collectives, which is why the
 * device's worker runs on a thread of its own. Protocol: docs/multi-gpu.md.
 */
public final class GroupMember extends AbstractBehavior<GroupMember.Command> {
    public static final ServiceKey<Command> KEY = ServiceKey.create(Command.class, "specdec-group-member");

    public sealed interface Command { }

    /** From {@link Placement} to the future rank 0: make the group's communicator id. */
    public record NewCommunicatorId(String groupId, ActorRef<Placement.Command> replyTo) implements Command, ClusterMessage { }

    /** From {@link Placement}: this device is rank {@code rank} of {@code members} (rank order); ack when joined. */
    public record JoinGroup(String groupId, int rank, int size, byte[] communicatorId, List<ActorRef<Command>> members,
                            ActorRef<Placement.Command> placement) implements Command, ClusterMessage {
        public JoinGroup {
            if (members.size() != size) throw new IllegalArgumentException("group " + groupId + " of size " + size + " lists " + members.size() + " members");
            if (rank < 0 || rank >= size) throw new IllegalArgumentException("rank " + rank + " outside group " + groupId + " of size " + size);
        }
    }

    /** From {@link Placement}: every member joined; the leader may start sending steps. */
    public record GroupReady(String groupId) implements Command, ClusterMessage { }

    /** From {@link Placement}: the group is dissolved (a member left or broke); this device is free again. */
    public record LeaveGroup(String groupId, String reason) implements Command, ClusterMessage { }

    /**
     * From the leader to every other member, one per iteration, {@code seq} = 1, 2, ... within the group.
     *
     * @param plan     requests joining (prompt ids, sampling parameters, drafter) and requests removed
     * @param finished requests that finished in the previous iteration (stop token, length): dropped before the plan
     * @param running  the batch after this step's changes, in order: members check their own against it
     * @param tokensHash the hash of the events the leader's shard emitted in step {@code seq - 1}
     *                   ({@link TensorRankShard#tokensHash}; 0 for a shard that runs no model): members compare theirs
     */
    public record GroupStep(String groupId, long seq, StepPlan plan, List<String> finished, List<String> running,
                            long tokensHash) implements Command, ClusterMessage {
        public GroupStep(String groupId, long seq, StepPlan plan, List<String> finished, List<String> running) {
            this(groupId, seq, plan, finished, running, 0);
        }
    }

    /**
     * Local, to the leader: broadcast this iteration's plan. Without {@code replyTo} (a shard that runs no model) it
     * is ignored unless this member leads a ready group, and {@code finished} are the device's own; with it the
     * leader's shard runs the plan and the step's result comes back in {@link Led} (the finished ones are then the
     * shard's own).
     */
    public record Lead(StepPlan plan, List<String> finished, ActorRef<Led> replyTo) implements Command {
        public Lead(StepPlan plan, List<String> finished) {
            this(plan, finished, null);
        }
    }

    /**
     * The group's step result for the leading device's worker; {@code gone} non-empty when this member leads no ready
     * group any more (dissolved, or broken by this step): the group's requests that {@code result} does not end
     * cannot go on. {@code result} is null when no step ran.
     */
    public record Led(StepResult result, String gone) { }

    public record GetState(ActorRef<State> replyTo) implements Command, ClusterMessage { }

    /** Death watch: another member of this member's group stopped (or its node is gone). */
    private record PeerGone(String groupId, ActorRef<Command> peer) implements Command { }

    /** This member's view: {@code groupId} empty when free; {@code lastSeq} the last step applied (or sent). */
    public record State(String deviceId, String groupId, int rank, int size, byte[] communicatorId, boolean ready,
                        long lastSeq, List<String> running) implements ClusterMessage { }

    private final String deviceId;
    private final CommunicatorIds ids;
    private final GroupShard shard;
    private JoinGroup group;
    private boolean ready;
    private long lastSeq;
    private final Set<String> running = new LinkedHashSet<>();
    // The shard's result of the last step (leader and members alike): its finished ids and tokens hash go on.
    private StepResult lastResult;

    public static Behavior<Command> create(String deviceId, CommunicatorIds ids, GroupShard shard) {
        return Behaviors.setup(ctx -> new GroupMember(ctx, deviceId, ids, shard));
    }

    private GroupMember(ActorContext<Command> ctx, String deviceId, CommunicatorIds ids, GroupShard shard) {
        super(ctx);
        this.deviceId = deviceId;
        this.ids = ids;
        this.shard = shard;
        ctx.getSystem().receptionist().tell(Receptionist.register(KEY, ctx.getSelf()));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(NewCommunicatorId.class, this::onNewId)
                .onMessage(JoinGroup.class, this::onJoin)
                .onMessage(GroupReady.class, m -> {
                    if (inGroup(m.groupId())) {
                        ready = true;
                        shard.ready(group);
                    }
                    return this;
                })
                .onMessage(LeaveGroup.class, m -> {
                    if (inGroup(m.groupId())) {
                        getContext().getLog().info("device {} leaves group {}: {}", deviceId, m.groupId(), m.reason());
                        leave();
                    }
                    return this;
                })
                .onMessage(PeerGone.class, m -> {
                    // Placement dissolves the group too, unless it was on the peer's node: its successor knows no groups.
                    if (inGroup(m.groupId())) {
                        getContext().getLog().info("device {} leaves group {}: member {} stopped", deviceId, m.groupId(), m.peer().path());
                        leave();
                    }
                    return this;
                })
                .onMessage(GroupStep.class, this::onStep)
                .onMessage(Lead.class, this::onLead)
                .onMessage(GetState.class, m -> {
                    m.replyTo().tell(group == null
                            ? new State(deviceId, "", -1, 0, new byte[0], false, 0, List.of())
                            : new State(deviceId, group.groupId(), group.rank(), group.size(), group.communicatorId(),
                                    ready, lastSeq, List.copyOf(running)));
                    return this;
                })
                .onSignal(PostStop.class, s -> {
                    if (group != null) shard.leave(group.groupId());
                    return this;
                })
                .build();
    }

    private boolean inGroup(String groupId) {
        return group != null && group.groupId().equals(groupId);
    }

    private Behavior<Command> onNewId(NewCommunicatorId m) {
        try {
            m.replyTo().tell(new Placement.CommunicatorId(m.groupId(), ids.newId(), ""));
        } catch (RuntimeException e) {
            getContext().getLog().warn("device {} cannot make a communicator id for group {}", deviceId, m.groupId(), e);
            m.replyTo().tell(new Placement.CommunicatorId(m.groupId(), new byte[0], deviceId + ": " + e));
        }
        return this;
    }

    private Behavior<Command> onJoin(JoinGroup m) {
        if (group != null) leave(); // a new Placement incarnation regroups everything: the old group is gone
        try {
            shard.join(m);
        } catch (RuntimeException e) {
            getContext().getLog().warn("device {} cannot join group {} as rank {}", deviceId, m.groupId(), m.rank(), e);
            m.placement().tell(new Placement.GroupBroken(m.groupId(), deviceId + " cannot join: " + e));
            return this;
        }
        group = m;
        for (ActorRef<Command> peer : m.members()) {
            if (!peer.equals(getContext().getSelf())) getContext().watchWith(peer, new PeerGone(m.groupId(), peer));
        }
        getContext().getLog().info("device {} joins group {} as rank {} of {}", deviceId, m.groupId(), m.rank(), m.size());
        m.placement().tell(new Placement.GroupJoined(m.groupId(), m.rank(), getContext().getSelf()));
        return this;
    }

    private void leave() {
        for (ActorRef<Command> peer : group.members()) if (!peer.equals(getContext().getSelf())) getContext().unwatch(peer);
        shard.leave(group.groupId());
        group = null;
        ready = false;
        lastSeq = 0;
        lastResult = null;
        running.clear();
    }

    private Behavior<Command> onLead(Lead m) {
        if (group == null || group.rank() != 0 || !ready) {
            getContext().getLog().debug("device {} is not leading a ready group; plan {} not broadcast", deviceId, m.plan().iteration());
            if (m.replyTo() != null) m.replyTo().tell(new Led(null, "device " + deviceId + " leads no ready group"));
            return this;
        }
        List<String> finished = m.replyTo() == null ? m.finished() : TensorRankShard.finishedIn(lastResult);
        apply(m.plan(), finished);
        GroupStep step = new GroupStep(group.groupId(), ++lastSeq, m.plan(), finished, List.copyOf(running),
                TensorRankShard.tokensHash(lastResult));
        for (int r = 1; r < group.size(); r++) group.members().get(r).tell(step);
        try {
            lastResult = shard.step(step);
        } catch (RuntimeException e) {
            StepResult failed = e instanceof GroupShard.RankFailure f ? f.result() : null;
            String groupId = group.groupId();
            broken("step " + step.seq() + ": " + e.getMessage());
            if (m.replyTo() != null) m.replyTo().tell(new Led(failed, "group " + groupId + " broke: " + e.getMessage()));
            return this;
        }
        if (m.replyTo() != null) m.replyTo().tell(new Led(lastResult, ""));
        return this;
    }

    private Behavior<Command> onStep(GroupStep m) {
        if (!inGroup(m.groupId())) {
            // A step of a dissolved group still in flight: its leader learns of the dissolution from Placement.
            getContext().getLog().debug("device {} drops step {} of group {} (not its group)", deviceId, m.seq(), m.groupId());
            return this;
        }
        if (m.seq() != lastSeq + 1) {
            return broken("step " + m.seq() + " after step " + lastSeq);
        }
        apply(m.plan(), m.finished());
        if (!List.copyOf(running).equals(m.running())) {
            return broken("batch " + running + " after step " + m.seq() + " but the leader runs " + m.running());
        }
        long mine = TensorRankShard.tokensHash(lastResult);
        if (m.tokensHash() != mine) {
            return broken("the events of step " + (m.seq() - 1) + " differ from the leader's (hash " + mine + ", leader "
                    + m.tokensHash() + ")");
        }
        lastSeq = m.seq();
        try {
            lastResult = shard.step(m);
        } catch (RuntimeException e) {
            return broken("step " + m.seq() + ": " + e.getMessage());
        }
        return this;
    }

    /** Finished ones first, then removals, then admits: the leader and every member do it in this order. */
    private void apply(StepPlan plan, List<String> finished) {
        finished.forEach(running::remove);
        plan.removals().forEach(running::remove);
        for (StepPlan.Admit a : plan.admits()) running.add(a.requestId());
    }

    private Behavior<Command> broken(String why) {
        String reason = "device " + deviceId + " rank " + group.rank() + ": " + why;
        getContext().getLog().warn("group {} broken: {}", group.groupId(), reason);
        group.placement().tell(new Placement.GroupBroken(group.groupId(), reason));
        leave();
        return this;
    }

    /** Member paths in rank order, for events and logs. */
    static List<String> names(List<ActorRef<Command>> members) {
        List<String> out = new ArrayList<>();
        for (ActorRef<Command> m : members) out.add(m.path().toString());
        return out;
    }
}
