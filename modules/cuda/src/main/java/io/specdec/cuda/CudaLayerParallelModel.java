package io.specdec.cuda;

import io.specdec.core.backend.HeldRound;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.parallel.LayerGroupPlan;
import io.specdec.core.parallel.LayerParallelModel;

import java.util.List;

/**
 * EasySpec's layer-parallel draft on GPUs (docs/ALGORITHMS.md §3): a full replica of the draft on each GPU, one KV
 * block bookkeeping for all. {@link #forward} is exact (every replica runs every layer: used for the prompt and for
 * calibration), {@link #forwardFuzzy} runs each multi-layer group's attentions on different GPUs from the group's entry
 * residual and all-gathers them (NCCL). Replicas stay bitwise identical: they run the same kernels on the same values
 * and add the gathered outputs in the same order. Every replica computes the logits (in parallel, off the critical
 * path): rank 0's are read, and each replica takes the ids of held rounds itself ({@link #draftHeldChains}).
 * <p>With one GPU, the fuzzy forward runs the same arithmetic alone (the reference the multi-GPU result must equal).
 */
public final class CudaLayerParallelModel implements LayerParallelModel {
    /**
     * {@code -Dspecdec.cuda.auditReplicaIds=true} (a check's diagnostic; it waits for the GPUs after every held batch):
     * every replica's ids of each held round are read back and compared with replica 0's ({@link #replicaIdAudit}).
     */
    public static final String AUDIT_REPLICA_IDS = "specdec.cuda.auditReplicaIds";

    private final ModelConfig config;
    private final LayerGroupPlan plan;
    private final TransformerGroup group;
    private final java.util.concurrent.atomic.AtomicLong auditedRounds = new java.util.concurrent.atomic.AtomicLong();
    private final java.util.concurrent.atomic.AtomicLong disagreeingRounds = new java.util.concurrent.atomic.AtomicLong();

    private CudaLayerParallelModel(ModelConfig config, LayerGroupPlan plan, TransformerGroup group) {
        this.config = config;
        this.plan = plan;
        this.group = group;
    }

    /** Random draft weights ({@code DeviceWeights.random(c, seed)}), generated on every GPU. */
    public static CudaLayerParallelModel random(List<CudaRank> ranks, ModelConfig c, long seed, int kvTokens, LayerGroupPlan plan) {
        checkPlan(c, plan, ranks.size());
        return new CudaLayerParallelModel(c, plan, new TransformerGroup(c, ranks, kvTokens, (rank, on, comm, cache, blocks) ->
                new CudaTransformer(on.device(), on.cublas(), c, DeviceWeights.random(on.device(), c, seed), blocks,
                        CudaModels.BLOCK_SIZE, cache, new ParallelRole.LayerReplica(comm, rank, ranks.size(), plan, true))));
    }

    /** Loaded draft weights, uploaded to every GPU. */
    public static CudaLayerParallelModel of(List<CudaRank> ranks, ModelConfig c, TransformerWeights w, int kvTokens, LayerGroupPlan plan) {
        checkPlan(c, plan, ranks.size());
        return new CudaLayerParallelModel(c, plan, new TransformerGroup(c, ranks, kvTokens, (rank, on, comm, cache, blocks) ->
                new CudaTransformer(on.device(), on.cublas(), c, DeviceWeights.upload(on.device(), c, w), blocks,
                        CudaModels.BLOCK_SIZE, cache, new ParallelRole.LayerReplica(comm, rank, ranks.size(), plan, true))));
    }

    private static void checkPlan(ModelConfig c, LayerGroupPlan plan, int replicas) {
        if (plan.layers() != c.layers()) {
            throw new IllegalArgumentException("layer plan " + plan + " covers " + plan.layers() + " layers, the draft has " + c.layers());
        }
        if (replicas > 1 && plan.width() > replicas) {
            throw new IllegalArgumentException("layer plan " + plan + " needs " + plan.width() + " GPUs, " + replicas + " given");
        }
    }

    @Override public LayerGroupPlan plan() { return plan; }

    @Override public int replicas() { return group.size(); }

    @Override public ModelConfig config() { return config; }

    @Override public KvSequence newSequence() { return group.cache.newSequence(); }

    /** The replicas' one block bookkeeping. */
    public PagedKvCache cache() { return group.cache; }

    @Override public List<float[][]> forward(List<SequenceInput> batch) {
        CudaTransformer.Step step = group.prepare(batch);
        return CudaTransformer.split(group.runLogits(step, false), step.plan().rowsPerInput(), config.vocabSize());
    }

    @Override public List<float[][]> forwardFuzzy(List<SequenceInput> batch) {
        CudaTransformer.Step step = group.prepare(batch);
        return CudaTransformer.split(group.runLogits(step, true), step.plan().rowsPerInput(), config.vocabSize());
    }

    /** Exact forward, argmax of each requested row. */
    @Override
    public int[] forwardArgmax(List<SequenceInput> batch) {
        return group.runArgmax(group.prepare(batch), false);
    }

    /** Fuzzy forward, argmax of each requested row. */
    @Override
    public int[] forwardFuzzyArgmax(List<SequenceInput> batch) {
        return group.runArgmax(group.prepare(batch), true);
    }

    /** Replica 0's GPU: where a target keeps this draft's held rounds ({@link CudaHeldChain#open}). */
    CudaDevice device() { return group.ranks.getFirst().device(); }

    /** Held rounds with exact draft steps only ({@link #draftHeldChains(List, boolean[])}). */
    @Override
    public void draftHeldChains(List<HeldRound> rounds) {
        draftHeldChains(rounds, null);
    }

    /**
     * Held rounds (a target on replica 0's GPU holds them, {@link CudaHeldChain}), every step fuzzy but the exact first
     * ones ({@code exactFirst}; null: every step exact): appended once to the shared sequences, then every replica
     * drafts them on its thread, as in a step of {@link #forwardFuzzy}. Each replica computes every step's logits and takes the ids into its own arena (replica 0
     * into the requests' chains, the others into stand-ins), so the next step's token slots are filled on every GPU
     * without a collective or a copy to the host: the replicas are bitwise identical, so are their argmaxes and draws.
     */
    @Override
    public void draftHeldChains(List<HeldRound> rounds, boolean[] exactFirst) {
        if (rounds.isEmpty()) return;
        // before anything is appended: every round held for replica 0's GPU, and still open
        java.util.Map<io.specdec.core.backend.HeldChain, CudaHeldChain> held = new java.util.IdentityHashMap<>();
        for (HeldRound r : rounds) held.put(r.chain(), CudaHeldChain.here(r.chain(), device()));
        CudaTransformer.HeldBatch batch = group.prepareHeld(rounds, exactFirst);
        List<List<CudaHeldChain>> perReplica = new java.util.ArrayList<>(group.size());
        for (int replica = 0; replica < group.size(); replica++) {
            CudaDevice on = group.ranks.get(replica).device();
            int r = replica;
            perReplica.add(batch.ordered().stream().map(h -> held.get(h.chain()).standIn(r, on)).toList());
        }
        int[] gammas = batch.ordered().stream().mapToInt(HeldRound::gamma).toArray();
        boolean audit = Boolean.getBoolean(AUDIT_REPLICA_IDS) && group.size() > 1;
        List<int[][]> ids = group.onEveryRankEach((member, replica, comm) -> {
            member.draftHeld(batch, perReplica.get(replica));
            return audit ? member.heldIds(gammas) : null;
        });
        if (audit) {
            for (int k = 0; k < gammas.length; k++) {
                boolean same = true;
                for (int replica = 1; replica < ids.size(); replica++) same &= java.util.Arrays.equals(ids.get(0)[k], ids.get(replica)[k]);
                auditedRounds.incrementAndGet();
                if (!same) disagreeingRounds.incrementAndGet();
            }
        }
    }

    /** Held rounds audited so far ({@value #AUDIT_REPLICA_IDS}) and those where some replica took other ids than replica 0. */
    public record ReplicaIdAudit(long rounds, long disagreeing) { }

    public ReplicaIdAudit replicaIdAudit() {
        return new ReplicaIdAudit(auditedRounds.get(), disagreeingRounds.get());
    }

    public void useGraphs(boolean on) {
        group.forEachMember(m -> m.useGraphs(on));
    }

    @Override public void close() {
        group.close();
    }
}
