package io.specdec.cluster;

import io.specdec.core.model.ModelConfig;
import io.specdec.core.tokenizer.ChatMessage;
import io.specdec.core.tokenizer.ChatTemplate;
import io.specdec.core.tokenizer.Tokenizer;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.AbstractBehavior;
import org.apache.pekko.actor.typed.javadsl.ActorContext;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.actor.typed.javadsl.Receive;
import org.apache.pekko.actor.typed.javadsl.TimerScheduler;
import org.apache.pekko.actor.typed.receptionist.Receptionist;
import org.apache.pekko.actor.typed.receptionist.ServiceKey;

import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * One model replica's scheduler: admission (queue limit, KV room, deadlines), the running batch, the speculation
 * policy, and one {@link StepPlan} per iteration to its device worker. Requests join and leave only between
 * iterations; a cancellation or an expired deadline takes effect in the next plan, so work stops within one step.
 */
public final class Coordinator extends AbstractBehavior<Coordinator.Command> {
    public static final ServiceKey<Command> KEY = ServiceKey.create(Command.class, "specdec-coordinator");

    /**
     * @param maxQueue     waiting requests beyond which new ones get RESOURCE_EXHAUSTED
     * @param maxBatch     most requests in one batch
     * @param prefillChunk prompt tokens one request feeds per step
     */
    public record Settings(int maxQueue, int maxBatch, int prefillChunk) {
        public static Settings defaults() { return new Settings(256, 64, 256); }
    }

    public interface Command { }

    public record Submit(GenerationJob job) implements Command, ClusterMessage { }

    public record Cancel(String requestId) implements Command, ClusterMessage { }

    public record SetPolicy(SpeculationPolicy policy) implements Command, ClusterMessage { }

    public record Drain(ActorRef<Drained> replyTo) implements Command, ClusterMessage { }

    /**
     * From the device worker: stop (or resume) taking requests — its device is another rank of a tensor-parallel
     * group, whose leader's replica serves, or (rank-only devices) leads no ready group. Requests already here finish;
     * routers stop seeing this replica. {@code kvBlocksTotal} > 0: the KV capacity admission counts with from now on
     * (a rank-only device serving through its group: the group's cache, not a model of its own).
     */
    public record SetServing(boolean serving, int kvBlocksTotal) implements Command {
        public SetServing(boolean serving) {
            this(serving, 0);
        }
    }

    public record Drained(String replicaId, int inFlightAtStart) implements ClusterMessage { }

    public record GetLoad(ActorRef<Load> replyTo) implements Command, ClusterMessage { }

    public record Load(String replicaId, String model, String node, String device, int waiting, int running,
                       int kvBlocksUsed, int kvBlocksTotal, boolean draining) implements ClusterMessage { }

    public record Tokenize(String text, boolean addBos, boolean parseSpecial, ActorRef<Tokenized> replyTo)
            implements Command, ClusterMessage { }

    public record Tokenized(int[] ids, List<String> pieces, String error) implements ClusterMessage { }

    public record Describe(ActorRef<ModelDescription> replyTo) implements Command, ClusterMessage { }

    public record ModelDescription(String name, String architecture, int layers, int dim, int heads, int kvHeads,
                                   int vocabSize, int maxSequenceLength, String source, String draft,
                                   List<String> drafters) implements ClusterMessage { }

    private record StepDone(StepResult result) implements Command { }

    private record ReplyToGone(String requestId) implements Command { }

    private enum Tick implements Command { INSTANCE }

    private record Waiting(GenerationJob job, int[] prompt, long arrivedNanos) { }

    private final String replicaId;
    private final String deviceId;
    private final ModelRuntime runtime;
    private final ActorRef<DeviceWorker.Command> worker;
    private final Settings settings;
    private final ActorRef<StepResult> stepAdapter;
    private final ArrayDeque<Waiting> waiting = new ArrayDeque<>();
    private final Map<String, GenerationJob> running = new HashMap<>();
    private final Set<String> toRemove = new HashSet<>();
    private final List<ActorRef<Drained>> drainWaiters = new ArrayList<>();
    private SpeculationPolicy policy = SpeculationPolicy.defaults();
    private boolean stepInFlight;
    private long iteration;
    private int kvUsed;
    private int kvTotal;
    private boolean draining;
    private int inFlightAtDrain;

    public static Behavior<Command> create(String replicaId, String deviceId, ModelRuntime runtime,
                                           ActorRef<DeviceWorker.Command> worker, Settings settings) {
        return Behaviors.setup(ctx -> Behaviors.withTimers(timers ->
                new Coordinator(ctx, timers, replicaId, deviceId, runtime, worker, settings)));
    }

    private Coordinator(ActorContext<Command> ctx, TimerScheduler<Command> timers, String replicaId, String deviceId,
                        ModelRuntime runtime, ActorRef<DeviceWorker.Command> worker, Settings settings) {
        super(ctx);
        this.replicaId = replicaId;
        this.deviceId = deviceId;
        this.runtime = runtime;
        this.worker = worker;
        this.settings = settings;
        this.stepAdapter = ctx.messageAdapter(StepResult.class, StepDone::new);
        // a rank-only device has no cache of its own: it takes requests once its worker reports a group's (SetServing)
        this.kvTotal = runtime.rankOnly() ? 0 : runtime.targetCache().totalBlocks();
        timers.startTimerWithFixedDelay(Tick.INSTANCE, Duration.ofMillis(100));
        if (!runtime.rankOnly()) ctx.getSystem().receptionist().tell(Receptionist.register(KEY, ctx.getSelf()));
    }

    public String replicaId() { return replicaId; }

    @Override
    public Receive<Command> createReceive() {
        return newReceiveBuilder()
                .onMessage(Submit.class, m -> onSubmit(m.job()))
                .onMessage(Cancel.class, m -> onCancel(m.requestId(), false))
                .onMessage(ReplyToGone.class, m -> onCancel(m.requestId(), true))
                .onMessage(StepDone.class, this::onStepDone)
                .onMessage(Tick.class, m -> {
                    expireWaiting();
                    maybeStep();
                    return this;
                })
                .onMessage(SetPolicy.class, m -> {
                    policy = m.policy();
                    return this;
                })
                .onMessage(GetLoad.class, m -> {
                    m.replyTo().tell(load());
                    return this;
                })
                .onMessage(Drain.class, this::onDrain)
                .onMessage(SetServing.class, m -> {
                    if (m.kvBlocksTotal() > 0) {
                        kvTotal = m.kvBlocksTotal();
                        kvUsed = 0;
                    }
                    if (!draining) {
                        var receptionist = getContext().getSystem().receptionist();
                        receptionist.tell(m.serving() ? Receptionist.register(KEY, getContext().getSelf())
                                : Receptionist.deregister(KEY, getContext().getSelf()));
                    }
                    return this;
                })
                .onMessage(Tokenize.class, this::onTokenize)
                .onMessage(Describe.class, m -> {
                    m.replyTo().tell(describe());
                    return this;
                })
                .build();
    }

    private Load load() {
        String node = org.apache.pekko.cluster.typed.Cluster.get(getContext().getSystem()).selfMember().address().toString();
        return new Load(replicaId, runtime.name(), node, deviceId, waiting.size(), running.size(), kvUsed, kvTotal, draining);
    }

    private Behavior<Command> onSubmit(GenerationJob job) {
        if (draining) {
            job.replyTo().tell(new StreamEvent.Failed(job.requestId(), "UNAVAILABLE", "replica " + replicaId + " is draining"));
            return this;
        }
        if (waiting.size() >= settings.maxQueue()) {
            job.replyTo().tell(new StreamEvent.Failed(job.requestId(), "RESOURCE_EXHAUSTED", "queue full: "
                    + waiting.size() + " requests waiting on replica " + replicaId + " (limit " + settings.maxQueue() + ")"));
            return this;
        }
        int[] prompt;
        try {
            prompt = promptOf(job);
        } catch (RuntimeException e) {
            job.replyTo().tell(new StreamEvent.Failed(job.requestId(), "INVALID_ARGUMENT", e.getMessage()));
            return this;
        }
        int context = runtime.config().maxSequenceLength();
        if (prompt.length >= context) {
            job.replyTo().tell(new StreamEvent.Failed(job.requestId(), "INVALID_ARGUMENT", "prompt of " + prompt.length
                    + " tokens leaves no room in the model's " + context + "-token context"));
            return this;
        }
        int blockSize = runtime.kvBlockSize();
        if ((prompt.length + blockSize - 1) / blockSize + 2 > kvTotal) {
            job.replyTo().tell(new StreamEvent.Failed(job.requestId(), "RESOURCE_EXHAUSTED", "prompt of " + prompt.length
                    + " tokens does not fit the KV cache of " + kvTotal * blockSize + " tokens"));
            return this;
        }
        getContext().watchWith(job.replyTo(), new ReplyToGone(job.requestId()));
        waiting.add(new Waiting(job, prompt, System.nanoTime()));
        maybeStep();
        return this;
    }

    /** The prompt's token ids: as given, the text encoded, or the chat rendered through the template. */
    private int[] promptOf(GenerationJob job) {
        Tokenizer tok = runtime.tokenizer();
        if (job.tokenIds() != null) {
            if (job.tokenIds().length == 0) throw new IllegalArgumentException("prompt token_ids is empty");
            int vocab = runtime.config().vocabSize();
            for (int i = 0; i < job.tokenIds().length; i++) {
                int t = job.tokenIds()[i];
                if (t < 0 || t >= vocab) {
                    throw new IllegalArgumentException("prompt token_ids[" + i + "] = " + t + " is outside the vocabulary of " + vocab);
                }
            }
            return job.tokenIds();
        }
        if (job.chat() != null) {
            if (job.chat().isEmpty()) throw new IllegalArgumentException("chat prompt has no messages");
            List<ChatMessage> messages = new ArrayList<>();
            for (int i = 0; i + 1 < job.chat().size(); i += 2) messages.add(new ChatMessage(job.chat().get(i), job.chat().get(i + 1)));
            String text = ChatTemplate.of(tok).render(messages, true);
            return tok.encode(text, false, true);
        }
        String text = job.text() == null ? "" : job.text();
        if (text.isEmpty()) {
            int bos = tok.bosId() >= 0 ? tok.bosId() : runtime.config().bosTokenId();
            if (bos < 0) throw new IllegalArgumentException("empty prompt but the tokenizer has no BOS token");
            return new int[] {bos};
        }
        int[] ids = tok.encode(text, tok.addBosByDefault(), false);
        if (ids.length == 0) throw new IllegalArgumentException("the prompt encodes to no tokens");
        return ids;
    }

    private Behavior<Command> onCancel(String requestId, boolean replyToGone) {
        for (Iterator<Waiting> it = waiting.iterator(); it.hasNext(); ) {
            if (it.next().job().requestId().equals(requestId)) {
                it.remove();
                checkDrained();
                return this;
            }
        }
        if (running.containsKey(requestId)) toRemove.add(requestId);
        maybeStep();
        return this;
    }

    private void expireWaiting() {
        long now = System.currentTimeMillis();
        for (Iterator<Waiting> it = waiting.iterator(); it.hasNext(); ) {
            GenerationJob job = it.next().job();
            if (job.deadlineMillis() > 0 && now >= job.deadlineMillis()) {
                it.remove();
                job.replyTo().tell(new StreamEvent.Failed(job.requestId(), "DEADLINE_EXCEEDED",
                        "deadline passed while waiting in the queue of replica " + replicaId));
            }
        }
        for (GenerationJob job : running.values()) {
            if (job.deadlineMillis() > 0 && now >= job.deadlineMillis() && toRemove.add(job.requestId())) {
                job.replyTo().tell(new StreamEvent.Failed(job.requestId(), "DEADLINE_EXCEEDED",
                        "deadline passed after " + "generation started on replica " + replicaId));
            }
        }
        checkDrained();
    }

    private void maybeStep() {
        if (stepInFlight) return;
        expireWaitingOnlyDeadlines();
        List<String> removals = new ArrayList<>(toRemove);
        for (String id : removals) running.remove(id);
        toRemove.clear();
        List<StepPlan.Admit> admits = new ArrayList<>();
        int blockSize = runtime.kvBlockSize();
        int freeBlocks = kvTotal - kvUsed;
        while (!waiting.isEmpty() && running.size() + admits.size() < settings.maxBatch()) {
            Waiting w = waiting.peek();
            int need = (w.prompt().length + blockSize - 1) / blockSize + 2;
            if (need > freeBlocks && !(running.isEmpty() && admits.isEmpty())) break; // wait for KV to free up
            waiting.poll();
            freeBlocks -= need;
            admits.add(admit(w, running.size() + admits.size()));
            running.put(w.job().requestId(), w.job());
        }
        if (running.isEmpty() && removals.isEmpty()) {
            checkDrained();
            return;
        }
        stepInFlight = true;
        worker.tell(new DeviceWorker.Step(new StepPlan(++iteration, admits, removals), stepAdapter));
    }

    private void expireWaitingOnlyDeadlines() {
        long now = System.currentTimeMillis();
        for (GenerationJob job : running.values()) {
            if (job.deadlineMillis() > 0 && now >= job.deadlineMillis() && toRemove.add(job.requestId())) {
                job.replyTo().tell(new StreamEvent.Failed(job.requestId(), "DEADLINE_EXCEEDED",
                        "deadline passed during generation on replica " + replicaId));
            }
        }
    }

    private StepPlan.Admit admit(Waiting w, int runningNow) {
        GenerationJob job = w.job();
        String drafter = null;
        int gamma = policy.gamma();
        boolean on = switch (job.speculationMode()) {
            case "off" -> false;
            case "on" -> true;
            default -> policy.enabled() && (policy.autoOffRunningAbove() == 0 || runningNow < policy.autoOffRunningAbove());
        };
        if (on) {
            drafter = job.drafter() != null && !job.drafter().isEmpty() ? job.drafter() : policy.drafter();
            if (job.gamma() > 0) gamma = job.gamma();
        }
        return new StepPlan.Admit(job.requestId(), w.prompt(), job.params(), drafter, gamma, policy.gammaMin(),
                policy.gammaMax(), job.logprobs(), job.topLogprobs());
    }

    private Behavior<Command> onStepDone(StepDone m) {
        stepInFlight = false;
        StepResult r = m.result();
        kvUsed = r.kvBlocksUsed();
        kvTotal = r.kvBlocksTotal();
        for (StreamEvent e : r.events()) {
            GenerationJob job = running.get(e.requestId());
            if (job == null) continue; // removed meanwhile (cancelled, deadline): its client was answered already
            if (e instanceof StreamEvent.Finished f) {
                e = new StreamEvent.Finished(f.requestId(), f.finishReason(), f.trailingText(), f.promptTokens(),
                        f.completionTokens(), replicaId, f.drafter(), f.rounds(), f.drafted(), f.accepted(),
                        f.targetForwards(), f.draftedAtPosition(), f.acceptedAtPosition());
            }
            job.replyTo().tell(e);
            if (!(e instanceof StreamEvent.Tokens)) {
                running.remove(e.requestId());
                getContext().unwatch(job.replyTo());
            }
        }
        maybeStep();
        checkDrained();
        return this;
    }

    private Behavior<Command> onDrain(Drain m) {
        if (!draining) {
            draining = true;
            inFlightAtDrain = waiting.size() + running.size();
            getContext().getSystem().receptionist().tell(Receptionist.deregister(KEY, getContext().getSelf()));
        }
        drainWaiters.add(m.replyTo());
        checkDrained();
        return this;
    }

    private void checkDrained() {
        if (draining && waiting.isEmpty() && running.isEmpty() && !stepInFlight) {
            for (ActorRef<Drained> w : drainWaiters) w.tell(new Drained(replicaId, inFlightAtDrain));
            drainWaiters.clear();
        }
    }

    private Behavior<Command> onTokenize(Tokenize m) {
        try {
            Tokenizer tok = runtime.tokenizer();
            int[] ids = tok.encode(m.text(), m.addBos(), m.parseSpecial());
            List<String> pieces = new ArrayList<>(ids.length);
            for (int id : ids) pieces.add(tok.tokenText(id));
            m.replyTo().tell(new Tokenized(ids, pieces, null));
        } catch (RuntimeException e) {
            m.replyTo().tell(new Tokenized(new int[0], List.of(), e.getMessage()));
        }
        return this;
    }

    private ModelDescription describe() {
        ModelConfig c = runtime.config();
        return new ModelDescription(runtime.name(), c.architecture(), c.layers(), c.dim(), c.heads(), c.kvHeads(),
                c.vocabSize(), c.maxSequenceLength(), runtime.spec().model().toString(),
                runtime.spec().draft() == null ? "" : runtime.spec().draft(), runtime.drafters());
    }
}
