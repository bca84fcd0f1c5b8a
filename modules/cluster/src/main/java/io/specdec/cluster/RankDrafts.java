package io.specdec.cluster;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.parallel.EasySpecDraftModel;
import io.specdec.core.parallel.LayerGroupPlan;
import io.specdec.core.parallel.LayerParallelModel;

/**
 * How a group's ranks draft (every backend's {@link RankModels}): each rank holds a full replica of the runtime's
 * draft; in draft mode easyspec the group's ranks are the draft devices, all of them, as the target's GPUs are for
 * {@code --tp N} (the configured plan, or the standard one in groups of the group size); otherwise every layer runs
 * exactly on every rank.
 */
public final class RankDrafts {
    private RankDrafts() {
    }

    /** Whether a group of {@code ranks} drafts layer-parallel. */
    public static boolean easySpec(ModelRuntime runtime, int ranks) {
        return runtime.spec().parallelism().draftMode().equals("easyspec") && ranks > 1;
    }

    /** The layer plan of a rank's replica: EasySpec's over the ranks, or one layer per group (sequential). */
    public static LayerGroupPlan plan(ModelRuntime runtime, int ranks) {
        if (easySpec(runtime, ranks)) return runtime.easySpecPlan(ranks);
        return LayerGroupPlan.standard(runtime.draftWeights().config().layers(), 1, 0);
    }

    /**
     * The model a rank's drafters run: the replica (one per rank, shared by the rank's requests), under EasySpec's
     * calibration when it drafts layer-parallel.
     */
    public static LanguageModel drafting(ModelRuntime runtime, LayerParallelModel replica, int ranks) {
        return easySpec(runtime, ranks) ? new EasySpecDraftModel(replica, runtime.spec().parallelism().policy()) : replica;
    }
}
