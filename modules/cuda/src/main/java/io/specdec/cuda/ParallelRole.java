package io.specdec.cuda;

import io.specdec.core.parallel.LayerGroupPlan;

/**
 * What one {@link CudaTransformer} is within a multi-GPU model; the forward's collectives follow from it.
 */
public sealed interface ParallelRole {

    /** Whether a forward in this role may be captured into a CUDA graph (its collectives allow it). */
    default boolean capturable() { return true; }

    /** The whole model on one GPU. */
    ParallelRole SINGLE = new Single();

    record Single() implements ParallelRole {
    }

    /**
     * A tensor-parallel shard (weights from {@code TensorParallelShard}): after o_proj and down, rank 0 has added its
     * partial product to the residual and the others have overwritten theirs with it, so one in-place all-reduce
     * (sum) leaves residual + Σ partials on every rank; the vocabulary-parallel logits are all-gathered.
     */
    record TensorShard(Collectives comm) implements ParallelRole {
        @Override public boolean capturable() { return comm.capturable(); }

        public int rank() { return comm.rank(); }

        public int size() { return comm.size(); }
    }

    /**
     * A full draft replica of an EasySpec group (docs/ALGORITHMS.md §3). In a fuzzy forward, replica r runs the
     * attention of layer {@code group[r]} of each multi-layer group, the attention outputs are all-gathered, and every
     * replica applies them with the group's MLPs in layer order. With one replica ({@code comm} null) the same fuzzy
     * arithmetic runs on one GPU (every attention of a group from the entry residual), the reference for the
     * multi-GPU result. Only rank 0 computes logits, unless {@code everyRankLogits}: the replicas of a group's ranks
     * (one process or thread per GPU, each drafting for its own copy of the scheduler) all need the draft's tokens.
     */
    record LayerReplica(Collectives comm, int rank, int replicas, LayerGroupPlan plan, boolean everyRankLogits)
            implements ParallelRole {
        public LayerReplica(Collectives comm, int rank, int replicas, LayerGroupPlan plan) {
            this(comm, rank, replicas, plan, false);
        }

        public LayerReplica {
            if (replicas < 1 || rank < 0 || rank >= replicas) throw new IllegalArgumentException("replica " + rank + " of " + replicas);
            if (replicas > 1 && plan.width() > replicas) {
                throw new IllegalArgumentException("layer plan " + plan + " has groups of " + plan.width() + " layers but only "
                        + replicas + " replicas");
            }
            if (replicas > 1 && comm == null) throw new IllegalArgumentException("several replicas need a communicator");
        }

        @Override public boolean capturable() { return comm == null || comm.capturable(); }

        /**
         * The layer whose attention this replica runs for group {@code group} of the plan in a fuzzy forward: the
         * group's only layer for a one-layer group (every replica runs it, exactly), {@code group[rank]} for a
         * multi-layer group, -1 when the group has fewer layers than this replica's rank (it only takes part in the
         * all-gather). With one replica: -1 for multi-layer groups (it runs them all, see the class comment).
         */
        public int attentionLayer(int group) {
            return attentionLayer(plan, rank, replicas, group);
        }

        /** {@link #attentionLayer(int)} for replica {@code rank} of {@code replicas}. */
        public static int attentionLayer(LayerGroupPlan plan, int rank, int replicas, int group) {
            int[] g = plan.groups().get(group);
            if (g.length == 1) return g[0];
            if (replicas == 1) return -1;
            return rank < g.length ? g[rank] : -1;
        }

        /** Slots of the all-gather buffer: one per replica, or one per layer of the widest group on one GPU. */
        public int slots() {
            return slots(plan, replicas);
        }

        public static int slots(LayerGroupPlan plan, int replicas) {
            return Math.max(replicas, plan.width());
        }
    }
}
