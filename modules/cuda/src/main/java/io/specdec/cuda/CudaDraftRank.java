package io.specdec.cuda;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvCacheExhaustedException;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.parallel.LayerGroupPlan;
import io.specdec.core.parallel.LayerParallelModel;

import java.util.List;
import java.util.function.Supplier;

/**
 * A full replica of the draft model on a tensor-parallel rank's GPU (a group over actors: one JVM or thread per GPU,
 * every rank running the same scheduler step). Exact forwards need no other rank, so every rank drafts the same
 * tokens; a fuzzy forward is EasySpec's layer-parallel step over the rank's NCCL communicator, the group's GPUs being
 * the draft devices (the paper's setting: the target split over all GPUs, the draft replicated on each), every rank
 * computing the logits of the common residual. The communicator is the target's: a rank issues one forward at a
 * time and every rank issues them in the same order. Closed before its target rank (it shares its device).
 */
public final class CudaDraftRank implements LayerParallelModel {
    private final CudaTensorParallelRank target;
    private final CudaTransformer replica;
    private final LayerGroupPlan plan;

    private CudaDraftRank(CudaTensorParallelRank target, CudaTransformer replica, LayerGroupPlan plan) {
        this.target = target;
        this.replica = replica;
        this.plan = plan;
    }

    /** Loaded draft weights uploaded to the rank's GPU; {@code plan} with groups of one layer = sequential drafting. */
    public static CudaDraftRank of(CudaTensorParallelRank target, ModelConfig c, TransformerWeights w, LayerGroupPlan plan, int kvTokens) {
        return open(target, c, plan, kvTokens, () -> DeviceWeights.upload(target.device(), c, w));
    }

    /** Seeded random draft weights generated on the rank's GPU (every rank with the same seed: the same draft). */
    public static CudaDraftRank random(CudaTensorParallelRank target, ModelConfig c, long seed, LayerGroupPlan plan, int kvTokens) {
        return open(target, c, plan, kvTokens, () -> DeviceWeights.random(target.device(), c, seed));
    }

    private static CudaDraftRank open(CudaTensorParallelRank target, ModelConfig c, LayerGroupPlan plan, int kvTokens,
                                      Supplier<DeviceWeights> weights) {
        if (plan.layers() != c.layers()) {
            throw new IllegalArgumentException("layer plan " + plan + " covers " + plan.layers() + " layers, the draft has " + c.layers());
        }
        target.check();
        ParallelRole role = plan.width() == 1 ? ParallelRole.SINGLE
                : new ParallelRole.LayerReplica(target.communicator(), target.rank(), target.size(), plan, true);
        DeviceWeights w = weights.get();
        try {
            return new CudaDraftRank(target, new CudaTransformer(target.device(), target.cublas(), c, w,
                    CudaTransformer.blocksFor(kvTokens, CudaModels.BLOCK_SIZE), CudaModels.BLOCK_SIZE, null, role), plan);
        } catch (RuntimeException e) {
            w.free(target.device());
            throw e;
        }
    }

    @Override public ModelConfig config() { return replica.config(); }

    @Override public LayerGroupPlan plan() { return plan; }

    @Override public int replicas() { return target.size(); }

    @Override public KvSequence newSequence() {
        target.device().makeCurrent();
        return replica.newSequence();
    }

    @Override public List<float[][]> forward(List<SequenceInput> batch) {
        return guarded(() -> replica.forward(batch));
    }

    @Override public int[] forwardArgmax(List<SequenceInput> batch) {
        return guarded(() -> replica.forwardArgmax(batch));
    }

    @Override public List<float[][]> forwardFuzzy(List<SequenceInput> batch) {
        return guarded(() -> plan.width() == 1 ? replica.forward(batch) : replica.forwardFuzzy(batch));
    }

    @Override public int[] forwardFuzzyArgmax(List<SequenceInput> batch) {
        return guarded(() -> plan.width() == 1 ? replica.forwardArgmax(batch) : replica.forwardFuzzyArgmax(batch));
    }

    /**
     * The replica, whose held rounds a target rank on this GPU may keep ({@code CudaTensorParallelRank#holdDraftChain}):
     * sequential drafting runs its exact forwards; EasySpec drafts them with fuzzy steps
     * ({@link #draftHeldChains(List, int)}).
     */
    @Override public LanguageModel unwrapped() { return replica; }

    /** Held rounds, every step exact (guarded as every draft forward). */
    @Override public void draftHeldChains(List<io.specdec.core.backend.HeldRound> rounds) {
        draftHeldChains(rounds, null);
    }

    /**
     * Held rounds of EasySpec drafting: every step but the exact first ones ({@code exactFirst}) layer-parallel over the
     * group's ranks (a plan of one-layer groups has no fuzzy step: all exact); {@code exactFirst} null: every step exact.
     */
    @Override public void draftHeldChains(List<io.specdec.core.backend.HeldRound> rounds, boolean[] exactFirst) {
        guarded(() -> {
            replica.draftHeldChains(rounds, plan.width() == 1 ? null : exactFirst);
            return null;
        });
    }

    /**
     * A failed draft forward may have left the peers inside a collective: it breaks the rank, as a target's would. A
     * full KV cache is raised before any collective (when the sequences grow), alike on every rank: the group goes on.
     * Anything else may come from inside the forward (an argument check after collectives were queued), so it breaks.
     */
    private <T> T guarded(Supplier<T> forward) {
        target.check();
        try {
            return forward.get();
        } catch (KvCacheExhaustedException e) {
            throw e;
        } catch (RuntimeException e) {
            target.abort("a draft forward failed: " + e.getMessage());
            throw e;
        }
    }

    @Override public void close() {
        target.device().makeCurrent();
        replica.close();
        replica.weights().free(target.device());
    }

    @Override public String toString() { return "draft replica on rank " + target.rank() + " of " + target.size(); }
}
