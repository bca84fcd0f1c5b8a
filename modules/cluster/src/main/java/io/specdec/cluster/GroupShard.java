package io.specdec.cluster;

/**
 * A device's rank of a tensor-parallel group as {@link GroupMember} drives it: joined with the group's communicator
 * id, then one {@link GroupMember.GroupStep} per iteration in the leader's order. Called on the member's thread (the
 * device's dispatcher), so a CUDA shard may block in {@code ncclCommInitRank} inside {@link #join}: every rank
 * joins at about the same time and the acknowledgement to {@link Placement} waits until the communicator exists.
 */
public interface GroupShard {
    /** A shard that only keeps the member's mirror of the batch (the CPU backend runs all ranks in one object). */
    GroupShard NONE = step -> { };

    default void join(GroupMember.JoinGroup join) { }

    /** One iteration: already checked to follow the previous one; admits, removals and finished ids in plan order. */
    void step(GroupMember.GroupStep step);

    /** The group is gone (a member left, or a new one is formed): drop the communicator and the shard's sequences. */
    default void leave(String groupId) { }
}
