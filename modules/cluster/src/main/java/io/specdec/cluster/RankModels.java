package io.specdec.cluster;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.parallel.LayerParallelModel;

/**
 * Opens a device's rank of a tensor-parallel group: its shard of the device runtime's target, connected to the other
 * ranks through the group's communicator id. {@link CpuRankModels} rendezvous in this JVM; the CUDA backend's opens
 * a {@code CudaTransformer} shard on an NCCL communicator ({@code ncclCommInitRank} with the id), supplied by the caller
 * of {@link SpecdecNode#start(SpecdecNode.Options, CommunicatorIds, RankModels)} (this module does not depend on CUDA).
 */
@FunctionalInterface
public interface RankModels {
    /**
     * This rank's model and the KV cache it allocates from; closing the model leaves the communicator. {@code abort}
     * may be called from any thread: it breaks the communicator so that a forward blocked in a collective on a rank
     * that is gone returns with an error (CPU: the collectives are closed; CUDA: {@code ncclCommAbort}). {@code draft}
     * is this rank's replica of the runtime's draft model, its layer plan from {@link RankDrafts#plan} (null: the
     * group drafts with n-grams); every rank holds one and drafts the same tokens, so drafts never cross between
     * ranks. It is closed before the model.
     */
    record RankModel(LanguageModel model, PagedKvCache cache, java.util.function.Consumer<String> abort,
                     LayerParallelModel draft) {
        public RankModel(LanguageModel model, PagedKvCache cache, java.util.function.Consumer<String> abort) {
            this(model, cache, abort, null);
        }
    }

    /**
     * Blocks until every rank of the group joined (or fails after the backend's timeout, saying why).
     *
     * @param device the device's index on this node (CUDA: which GPU; several per JVM, one member thread each)
     */
    RankModel open(ModelRuntime runtime, int device, int rank, int size, byte[] communicatorId);
}
