package io.specdec.cluster;

import io.specdec.core.generate.BatchEngine;
import io.specdec.core.generate.BatchSequence;
import io.specdec.core.generate.StepUpdate;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.speculative.AdaptiveGamma;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.SpeculationStats;
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
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * One device: its model, KV cache and batch engine, on a dedicated thread ({@value #DISPATCHER}). Executes the
 * {@link StepPlan}s of its replica's {@link Coordinator}; when {@link Placement} puts it in a replica it starts that
 * coordinator next to itself (a CPU replica is one device; a GPU replica will span a tensor-parallel group). With a
 * {@link GroupMember} it hands the member every plan before running it, with the requests that finished in the step
 * before, so a leading member can pass them to its group.
 */
public final class DeviceWorker extends AbstractBehavior<DeviceWorker.Command> {
    public static final String DISPATCHER = "specdec.device-dispatcher";
    public static final ServiceKey<Command> KEY = ServiceKey.create(Command.class, "specdec-device");

    public sealed interface Command { }

    /** From {@link Placement}: this device now forms replica {@code replicaId}. */
    public record FormReplica(String replicaId) implements Command, ClusterMessage { }

    /** From the replica's coordinator (same node). */
    public record Step(StepPlan plan, ActorRef<StepResult> replyTo) implements Command { }

    private final ModelRuntime runtime;
    private final String deviceId;
    private final Coordinator.Settings settings;
    private final ActorRef<NodeAgent.Command> agent;
    private final BatchEngine engine;
    private final Map<String, BatchSequence> byRequest = new HashMap<>();
    private final Map<Long, String> requestOf = new HashMap<>();
    private final Map<String, String> drafterOf = new HashMap<>();
    private ActorRef<Coordinator.Command> coordinator;

    private final ActorRef<GroupMember.Command> groupMember;
    private List<String> finishedLastStep = List.of();

    public static Behavior<Command> create(ModelRuntime runtime, String deviceId, Coordinator.Settings settings,
                                           ActorRef<NodeAgent.Command> agent) {
        return create(runtime, deviceId, settings, agent, null);
    }

    /** @param groupMember this device's seat in a tensor-parallel group (null without groups): gets every plan */
    public static Behavior<Command> create(ModelRuntime runtime, String deviceId, Coordinator.Settings settings,
                                           ActorRef<NodeAgent.Command> agent, ActorRef<GroupMember.Command> groupMember) {
        return Behaviors.setup(ctx -> new DeviceWorker(ctx, runtime, deviceId, settings, agent, groupMember));
    }

    private DeviceWorker(ActorContext<Command> ctx, ModelRuntime runtime, String deviceId, Coordinator.Settings settings,
                         ActorRef<NodeAgent.Command> agent, ActorRef<GroupMember.Command> groupMember) {
        super(ctx);
        this.groupMember = groupMember;
        this.runtime = runtime;
        this.deviceId = deviceId;
        this.settings = settings;
        this.agent = agent;
        this.engine = new BatchEngine(runtime.target(), settings.prefillChunk());
        ctx.getSystem().receptionist().tell(Receptionist.register(KEY, ctx.getSelf()));
    }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(FormReplica.class, this::onFormReplica)
                .onMessage(Step.class, this::onStep)
                .onSignal(PostStop.class, s -> {
                    engine.close();
                    return this;
                })
                .build();
    }

    private Behavior<Command> onFormReplica(FormReplica m) {
        if (coordinator == null) {
            coordinator = getContext().spawn(Coordinator.create(m.replicaId(), deviceId, runtime, getContext().getSelf(),
                    settings), "coordinator-" + m.replicaId(), DispatcherSelector.defaultDispatcher());
            agent.tell(new NodeAgent.CoordinatorStarted(m.replicaId(), coordinator));
            getContext().getLog().info("device {} forms replica {} of model {}", deviceId, m.replicaId(), runtime.name());
        }
        return this;
    }

    private Behavior<Command> onStep(Step m) {
        long t0 = System.nanoTime();
        // The member passes the plan on only while it leads a ready group; the others ignore it.
        if (groupMember != null) groupMember.tell(new GroupMember.Lead(m.plan(), finishedLastStep));
        List<StreamEvent> events = new ArrayList<>();
        for (String id : m.plan().removals()) {
            BatchSequence s = byRequest.remove(id);
            if (s != null) {
                engine.remove(s);
                requestOf.remove(s.id());
                drafterOf.remove(id);
            }
        }
        for (StepPlan.Admit a : m.plan().admits()) {
            Drafter drafter = null;
            try {
                GammaPolicy gamma = null;
                if (a.drafter() != null) {
                    drafter = runtime.newDrafter(a.drafter());
                    gamma = a.gamma() > 0 ? GammaPolicy.fixed(a.gamma())
                            : new AdaptiveGamma(a.gammaMin(), a.gammaMax(), Math.clamp(4, a.gammaMin(), a.gammaMax()), 0.9);
                }
                var detokenizer = runtime.tokenizer().newStreamingDetokenizer(a.prompt().length <= 1);
                BatchSequence s = engine.add(a.prompt(), a.params(), drafter, gamma, detokenizer::push, a.logprobs(),
                        a.topLogprobs());
                byRequest.put(a.requestId(), s);
                requestOf.put(s.id(), a.requestId());
                drafterOf.put(a.requestId(), a.drafter() == null ? "off" : drafter.toString());
            } catch (IllegalArgumentException e) {
                if (drafter != null) drafter.end();
                events.add(new StreamEvent.Failed(a.requestId(), "INVALID_ARGUMENT", e.getMessage()));
            }
        }
        List<StepUpdate> updates;
        try {
            updates = engine.step();
        } catch (RuntimeException e) {
            getContext().getLog().error("step failed on device {}", deviceId, e);
            updates = List.of();
            for (BatchSequence s : engine.running()) {
                events.add(new StreamEvent.Failed(requestOf.get(s.id()), "INTERNAL", "step failed: " + e));
                engine.remove(s);
            }
        }
        for (StepUpdate u : updates) {
            String id = requestOf.get(u.sequence().id());
            if (u.tokens().length > 0 || !u.text().isEmpty()) {
                events.add(new StreamEvent.Tokens(id, u.tokens(), u.text(), u.logprobs(), u.topTokens(), u.topLogprobs()));
            }
            if (u.last()) {
                byRequest.remove(id);
                requestOf.remove(u.sequence().id());
                String drafter = drafterOf.remove(id);
                if (u.failure() != null) {
                    events.add(new StreamEvent.Failed(id, u.failure().startsWith("KV cache full") ? "RESOURCE_EXHAUSTED" : "INTERNAL",
                            u.failure()));
                } else {
                    SpeculationStats st = u.stats();
                    events.add(new StreamEvent.Finished(id, u.finishReason().name(), u.trailingText(),
                            u.sequence().promptLength(), u.sequence().generated(), "", drafter, st.rounds(), st.drafted(),
                            st.accepted(), st.targetForwards(), st.draftedAtPosition(), st.acceptedAtPosition()));
                }
            }
        }
        List<String> finished = new ArrayList<>();
        for (StreamEvent e : events) if (!(e instanceof StreamEvent.Tokens)) finished.add(e.requestId());
        finishedLastStep = finished;
        PagedKvCache cache = runtime.targetCache();
        m.replyTo().tell(new StepResult(m.plan().iteration(), events, engine.size(),
                cache.totalBlocks() - cache.freeBlocks(), cache.totalBlocks(), System.nanoTime() - t0));
        return this;
    }
}
