package io.specdec.cluster;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.NgramDrafter;

import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * A device's rank of a tensor-parallel group that really runs: on {@link #join} it opens its shard of the model
 * ({@link RankModels}) on the group's communicator; on every {@link GroupMember.GroupStep} it runs the same scheduler
 * step as every other rank — the same removals, admits and {@link io.specdec.core.generate.BatchEngine} step over
 * its own {@link ReplicaEngine}. Replicated scheduling: the vocabulary all-gather gives every rank the same logits, so
 * the same sampler (seeded per request) picks the same tokens with no per-token message; only rank 0's events reach
 * the coordinator, and the others check theirs against the hash the leader sends with the next step.
 *
 * <p>A step that takes longer than {@code stepTimeout} aborts the communicator (a rank in another process may have died
 * inside a collective, where no message can reach the blocked member): the step fails and the group breaks.
 * {@link #leading()} and {@link #inGroup()} are read by the device's worker (another thread); everything else runs
 * on the member's thread.
 */
public final class TensorRankShard implements GroupShard {
    private static final Logger LOG = LoggerFactory.getLogger(TensorRankShard.class);
    private final ModelRuntime runtime;
    private final RankModels models;
    private final int prefillChunk;
    private final int device;
    private final String deviceId;
    private final Duration stepTimeout;
    private ScheduledExecutorService watchdog; // while in a group
    private volatile boolean leading;
    private volatile int rank = -1;
    private volatile int kvBlocksTotal;
    private volatile Runnable onRoleChange = () -> { };
    private String groupId;
    private RankModels.RankModel model;
    private ReplicaEngine engine;
    /** What the group's "model" drafters run on this rank (the watched replica), or null: n-grams. */
    private LanguageModel draft;

    /**
     * @param device      the device's index on this node ({@link RankModels#open})
     * @param stepTimeout how long one step may take before the communicator is aborted
     */
    public TensorRankShard(ModelRuntime runtime, RankModels models, int prefillChunk, int device, String deviceId,
                           Duration stepTimeout) {
        this.runtime = runtime;
        this.device = device;
        this.models = models;
        this.prefillChunk = prefillChunk;
        this.deviceId = deviceId;
        this.stepTimeout = stepTimeout;
    }

    /** Rank 0 of a ready group: the device's worker hands its plans to the group instead of its own engine. */
    public boolean leading() { return leading; }

    /** In a group (joined, ready or not): a rank other than 0 serves no requests of its own. */
    public boolean inGroup() { return rank >= 0; }

    public int rank() { return rank; }

    /** KV blocks of this rank's cache in its current group (0 outside one): what a group's admission counts with. */
    public int kvBlocksTotal() { return kvBlocksTotal; }

    /** Called (on the member's thread) after every change of {@link #leading()} or {@link #inGroup()}. */
    void onRoleChange(Runnable listener) { this.onRoleChange = listener; }

    @Override
    public void join(GroupMember.JoinGroup join) {
        if (groupId != null) leave(groupId);
        RankModels.RankModel opened = models.open(runtime, device, join.rank(), join.size(), join.communicatorId());
        model = opened;
        if (opened.draft() == null && runtime.hasDraftModel()) {
            LOG.warn("device {}: rank {} holds no replica of the draft {}; the group drafts with n-grams", deviceId,
                    join.rank(), runtime.spec().draft());
        }
        watchdog = Executors.newSingleThreadScheduledExecutor(Thread.ofPlatform().daemon()
                .name("specdec-rank-watchdog-" + deviceId).factory());
        ReplicaEngine replica = new ReplicaEngine(runtime, opened.model(), opened.cache(), prefillChunk, deviceId,
                "UNAVAILABLE", kind -> drafter(kind, draft), join.size());
        engine = replica;
        int rankNow = join.rank();
        // a draft forward that failed mid-collective leaves the peers waiting in it: break the communicator, as a
        // failed target forward does
        draft = opened.draft() == null ? null : RankDrafts.drafting(runtime, new WatchedDraft(opened.draft(), e -> {
            replica.failed(e);
            opened.abort().accept("a draft forward failed on rank " + rankNow + ": " + e.getMessage());
        }), join.size());
        groupId = join.groupId();
        kvBlocksTotal = opened.cache().totalBlocks();
        rank = join.rank();
        onRoleChange.run();
    }

    @Override
    public void ready(GroupMember.JoinGroup group) {
        if (group.groupId().equals(groupId) && rank == 0) {
            leading = true;
            onRoleChange.run();
        }
    }

    @Override
    public StepResult step(GroupMember.GroupStep step) {
        if (engine == null || !step.groupId().equals(groupId)) {
            throw new RankFailure("device " + deviceId + " holds no rank of group " + step.groupId(), null, null);
        }
        RankModels.RankModel running = model;
        ScheduledFuture<?> timeout = watchdog.schedule(() -> running.abort().accept("step " + step.seq() + " of group "
                + step.groupId() + " took longer than " + stepTimeout.toMillis() + " ms on " + deviceId), stepTimeout.toMillis(),
                TimeUnit.MILLISECONDS);
        StepResult result;
        try {
            result = engine.run(step.plan(), System.nanoTime());
        } finally {
            timeout.cancel(false);
        }
        RuntimeException failure = engine.lastFailure();
        if (failure != null) {
            throw new RankFailure("step " + step.seq() + " failed on rank " + rank + ": " + failure.getMessage(), result, failure);
        }
        return result;
    }

    @Override
    public void leave(String groupId) {
        if (this.groupId == null || !this.groupId.equals(groupId)) return;
        RankModels.RankModel leaving = model;
        ReplicaEngine stopping = engine;
        ScheduledExecutorService timer = watchdog;
        leading = false;
        rank = -1;
        kvBlocksTotal = 0;
        this.groupId = null;
        model = null;
        engine = null;
        draft = null;
        watchdog = null;
        // break the communicator first: a peer still waiting in a collective fails instead of hanging, and nothing
        // the closes below free is still in use by a collective
        try {
            leaving.abort().accept("rank left group " + groupId);
        } finally {
            try {
                timer.shutdownNow();
                stopping.close();
                if (leaving.draft() != null) leaving.draft().close();
            } catch (RuntimeException e) {
                LOG.warn("device {}: closing group {} failed: {}", deviceId, groupId, e.toString());
            } finally {
                leaving.model().close();
                onRoleChange.run();
            }
        }
    }

    /**
     * The group's drafters: "model" drafts with this rank's replica of the draft model ({@link RankModels.RankModel#draft}),
     * or with n-grams when the ranks hold none (the device's own draft model belongs to its own engine, driven by the
     * worker's thread; a rank runs on the member's thread and must not share it). Every rank picks the same and every
     * replica drafts the same tokens, so steps stay identical. Output is the target's either way (speculation is
     * lossless); only the acceptance differs.
     */
    static Drafter drafter(String kind, LanguageModel draft) {
        return switch (kind) {
            case "model" -> draft != null ? new ModelDrafter(draft) : new NgramDrafter(1, 3);
            case "ngram" -> new NgramDrafter(1, 3);
            default -> throw new IllegalArgumentException("unknown drafter \"" + kind + "\" (model, ngram)");
        };
    }

    /**
     * What the ranks compare: every event's request id, kind and tokens, in order. The leader sends the hash of its
     * step {@code seq - 1} with step {@code seq}; a member whose own differs has diverged.
     */
    static long tokensHash(StepResult result) {
        if (result == null) return 0;
        long h = 1125899906842597L;
        for (StreamEvent e : result.events()) {
            h = 31 * h + e.requestId().hashCode();
            h = 31 * h + switch (e) {
                case StreamEvent.Tokens t -> Arrays.hashCode(t.ids());
                case StreamEvent.Finished f -> f.finishReason().hashCode() + 1;
                case StreamEvent.Failed f -> f.status().hashCode() + 2;
            };
        }
        return h;
    }

    /** Requests that left the batch in a step (finished or failed): the leader passes them on with the next plan. */
    static List<String> finishedIn(StepResult result) {
        if (result == null) return List.of();
        return result.events().stream().filter(e -> !(e instanceof StreamEvent.Tokens)).map(StreamEvent::requestId).toList();
    }
}
