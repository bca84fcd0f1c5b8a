package io.specdec.cluster;

/**
 * A device's rank of a tensor-parallel group as {@link GroupMember} drives it: joined with the group's communicator
 * id, then one {@link GroupMember.GroupStep} per iteration in the leader's order. Called on the member's thread (the
 * device's dispatcher), so a shard may block in {@link #join} until every rank joined (CUDA: {@code
 * ncclCommInitRank}; CPU: {@code CpuCommunicators}): the acknowledgement to {@link Placement} waits until the
 * communicator exists. {@link TensorRankShard} runs a model; {@link #NONE} only keeps the member's mirror of the batch.
 */
public interface GroupShard {
    /** A shard that only keeps the member's mirror of the batch (no model: the device serves as a replica of its own). */
    GroupShard NONE = step -> null;

    default void join(GroupMember.JoinGroup join) { }

    /** Every rank joined; the leader starts sending steps. */
    default void ready(GroupMember.JoinGroup group) { }

    /**
     * One iteration: already checked to follow the previous one; admits, removals and finished ids in plan order.
     * Returns the step's events when the shard runs a model (identical on every rank), null when it only mirrors.
     *
     * @throws RankFailure when the step failed (a collective broke): the group cannot go on
     */
    StepResult step(GroupMember.GroupStep step);

    /** The group is gone (a member left, or a new one is formed): drop the communicator and the shard's sequences. */
    default void leave(String groupId) { }

    /** A rank's step failed; {@code result} fails the step's requests (null when none ran). */
    final class RankFailure extends IllegalStateException {
        private final transient StepResult result;

        public RankFailure(String message, StepResult result, Throwable cause) {
            super(message, cause);
            this.result = result;
        }

        public StepResult result() { return result; }
    }
}
