package io.specdec.cpu;

import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.parallel.LayerGroupPlan;
import io.specdec.core.parallel.LayerParallelModel;

import java.util.List;

/**
 * One rank's full replica of the draft model, in a group whose ranks run the same scheduler steps (a tensor-parallel
 * group over actors): an exact {@link #forward} needs no other rank, so every rank drafts the same tokens from the
 * same weights with no message; a {@link #forwardFuzzy} is EasySpec's layer-parallel step ({@link FuzzyLayers}) over
 * the group's collectives, the group's ranks being its draft devices, as in the paper's setting (the target split over
 * all GPUs, the draft replicated on each). Every rank computes the logits from the common residual, since every rank's
 * drafter needs them. The collectives may be those the rank's target uses: a rank runs one forward at a time and
 * every rank runs them in the same order.
 */
public final class CpuDraftRank implements LayerParallelModel {
    private final CpuTransformer replica;
    private final HostCollective member;
    private final LayerGroupPlan plan;
    private final ParallelExecutor executor;

    /**
     * @param plan    the layer groups of a fuzzy step; no group may be wider than the group of ranks
     * @param threads loop threads of this replica
     */
    public CpuDraftRank(ModelConfig config, TransformerWeights weights, LayerGroupPlan plan, HostCollective member,
                        int threads, int kvTokens, int blockSize) {
        if (plan.layers() != config.layers()) {
            throw new IllegalArgumentException("layer plan " + plan + " covers " + plan.layers() + " layers, the draft has " + config.layers());
        }
        if (plan.width() > member.size()) {
            throw new IllegalArgumentException("layer plan " + plan + " runs " + plan.width() + " layers at once but the group has "
                    + member.size() + " ranks");
        }
        this.plan = plan;
        this.member = member;
        this.executor = new ParallelExecutor(threads, "draft-rank" + member.rank());
        try {
            this.replica = new CpuTransformer(config, weights, executor, kvTokens, blockSize);
        } catch (RuntimeException e) {
            executor.close();
            throw e;
        }
    }

    @Override public ModelConfig config() { return replica.config(); }

    @Override public LayerGroupPlan plan() { return plan; }

    @Override public int replicas() { return member.size(); }

    public PagedKvCache cache() { return replica.cache(); }

    @Override public KvSequence newSequence() { return replica.newSequence(); }

    @Override public List<float[][]> forward(List<SequenceInput> batch) { return replica.forward(batch); }

    @Override
    public List<float[][]> forwardFuzzy(List<SequenceInput> batch) {
        CpuTransformer.Step step = replica.prepare(batch);
        return replica.logits(step.batch(), FuzzyLayers.residual(replica, member, plan, step));
    }

    /** Leaves the collectives to the rank's target (which closes them); only this replica's threads stop. */
    @Override public void close() { executor.close(); }

    @Override public String toString() { return "draft replica on rank " + member.rank() + " of " + member.size(); }
}
