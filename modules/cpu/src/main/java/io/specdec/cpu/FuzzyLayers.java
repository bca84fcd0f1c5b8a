package io.specdec.cpu;

import io.specdec.core.parallel.LayerGroupPlan;

/**
 * EasySpec's fuzzy step over one replica (docs/ALGORITHMS.md §3), shared by the replicas of one JVM's draft
 * ({@link CpuLayerParallelModel}) and by the ranks of a group that each hold a replica ({@link CpuDraftRank}): member r
 * computes the attention of the r-th layer of each multi-layer group from the group's entry residual, the
 * contributions are all-gathered, and every member applies them and the group's MLPs in layer order, so every member
 * ends with the same residual. One-layer groups run exactly on every member.
 */
final class FuzzyLayers {
    private FuzzyLayers() {
    }

    /** The final residual of {@code step}'s tokens (identical on every member of {@code member}'s group). */
    static float[] residual(CpuTransformer model, HostCollective member, LayerGroupPlan plan, CpuTransformer.Step step) {
        int width = step.tokens() * model.config().dim();
        float[] x = model.embed(step);
        for (int[] group : plan.groups()) {
            if (group.length == 1) {
                model.attention(group[0], x, step);
                model.mlp(group[0], x, step);
                continue;
            }
            int rank = member.rank();
            float[] mine = rank < group.length ? model.attentionDelta(group[rank], x, step) : new float[width];
            float[] all = new float[width * member.size()];
            member.allGather(mine, all);
            for (int i = 0; i < group.length; i++) {
                for (int j = 0; j < width; j++) x[j] += all[i * width + j];
                model.mlp(group[i], x, step);
            }
        }
        return x;
    }
}
