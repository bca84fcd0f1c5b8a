package io.specdec.cluster;

/**
 * Where a tensor-parallel group's communicator id comes from. {@link Placement} asks the group's rank 0 for one
 * (an NCCL unique id carries rank 0's bootstrap address, so it must be made there) and hands it to every member.
 * The CUDA backend's is {@code io.specdec.cuda.Nccl::uniqueId}, supplied by the caller of
 * {@link SpecdecNode#start(SpecdecNode.Options, CommunicatorIds)} (this module does not depend on the CUDA one).
 */
@FunctionalInterface
public interface CommunicatorIds {
    /** Bytes of an NCCL unique id ({@code ncclUniqueId}). */
    int NCCL_ID_BYTES = 128;

    /** A fresh id; never reused, because a communicator cannot be re-initialised once a member has left. */
    byte[] newId();
}
