package io.specdec.cluster;

import io.specdec.cpu.CpuCollectives;
import io.specdec.cpu.CpuCommunicators;
import io.specdec.cpu.CpuDraftRank;
import io.specdec.cpu.CpuModels;
import io.specdec.cpu.CpuTensorParallelRank;

import java.time.Duration;

/**
 * CPU ranks: each device's {@link CpuTensorParallelRank} over the runtime's loaded weights, its collectives found by
 * communicator id in {@link CpuCommunicators}. Only ranks in one JVM meet (several actor systems of one process);
 * a group spread over processes fails to join after {@code joinTimeout} and is dissolved by {@link Placement}.
 * With a draft model in the runtime every rank also gets a full replica of it ({@link CpuDraftRank}); in draft mode
 * easyspec its fuzzy steps run layer-parallel over the group's ranks (the ranks are the draft devices: the standard
 * plan in groups of min(draft devices, ranks), or the configured plan).
 */
public record CpuRankModels(Duration joinTimeout, Duration collectiveTimeout, Transport transport) implements RankModels {
    /**
     * Where a group's CPU ranks meet: MEMORY, in this process (the in-memory collectives: every rank of a group on
     * this node); TCP, in any process of this host (loopback TCP through rank 0, the same sums: groups of one-device
     * nodes on one machine).
     */
    public enum Transport { MEMORY, TCP }

    /** Config key, or a system property of the same name (it wins): {@code memory} or {@code tcp} ({@link Transport}). */
    public static final String TRANSPORT = "specdec.placement.cpu-rank.transport";

    public CpuRankModels(Duration joinTimeout, Duration collectiveTimeout) {
        this(joinTimeout, collectiveTimeout, Transport.MEMORY);
    }

    /** Config key: how long a CPU rank waits for the others to join ({@value}). */
    public static final String JOIN_TIMEOUT = "specdec.placement.cpu-rank.join-timeout";
    /** Config key: how long a CPU rank waits in one collective for the others before the group counts as broken. */
    public static final String COLLECTIVE_TIMEOUT = "specdec.placement.cpu-rank.collective-timeout";

    @Override
    public RankModel open(ModelRuntime runtime, int device, int rank, int size, byte[] communicatorId) {
        io.specdec.cpu.HostCollective member = transport == Transport.TCP
                ? io.specdec.cpu.SocketCollectives.join(communicatorId, rank, size, io.specdec.cpu.SocketCollectives.defaultDirectory(),
                        joinTimeout, collectiveTimeout)
                : CpuCommunicators.join(communicatorId, rank, size, joinTimeout, collectiveTimeout);
        CpuTensorParallelRank model = null;
        try {
            model = new CpuTensorParallelRank(runtime.loaded().config(), runtime.loaded().weights(), member,
                    runtime.spec().threads(), runtime.spec().kvTokens(), CpuModels.BLOCK_SIZE);
            return new RankModel(model, model.cache(), member::close, draft(runtime, member));
        } catch (RuntimeException e) {
            member.close("rank " + rank + " could not load its shard: " + e.getMessage());
            if (model != null) model.close();
            throw e;
        }
    }

    /** This rank's replica of the runtime's draft, or null when the runtime has none. */
    static CpuDraftRank draft(ModelRuntime runtime, io.specdec.cpu.HostCollective member) {
        ModelRuntime.DraftWeights d = runtime.draftWeights();
        if (d == null) return null;
        return new CpuDraftRank(d.config(), d.weights(), RankDrafts.plan(runtime, member.size()), member,
                runtime.spec().threads(), runtime.spec().kvTokens(), CpuModels.BLOCK_SIZE);
    }
}
