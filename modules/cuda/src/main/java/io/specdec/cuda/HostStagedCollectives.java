package io.specdec.cuda;

import io.specdec.cpu.CpuCollectives;
import io.specdec.cpu.HostCollective;
import io.specdec.cpu.SocketCollectives;

import java.time.Duration;

/**
 * Collectives of ranks that share a GPU, staged through host memory: each operation copies this rank's part to the
 * host (the synchronous copy waits for the rank's queued kernels), meets the peers in the CPU backend's in-memory
 * collectives (sums in rank order, so every rank gets the same bits), and copies the result back. It stands in for
 * NCCL, which refuses two ranks on one GPU, so that one GPU can run the multi-rank code: the tensor-parallel shards,
 * the broadcast of held token slots, ranks deciding speculative rounds alike. Correct but slow, and it cannot be
 * captured into a CUDA graph (the models then run their steps eagerly). Its copies are not counted as host traffic
 * ({@link CudaDevice#hostCopies}): they are the transport, as NCCL's would be.
 */
final class HostStagedCollectives implements Collectives {
    private static final Duration JOIN_TIMEOUT = Duration.ofMinutes(5), COLLECTIVE_TIMEOUT = Duration.ofMinutes(10);
    private final CudaDevice device;
    private final HostCollective member;
    private boolean closed;

    private HostStagedCollectives(CudaDevice device, HostCollective member) {
        this.device = device;
        this.member = member;
    }

    /** A group over {@code devices} (rank i on devices[i]), made by one thread. */
    static Collectives[] group(CudaDevice... devices) {
        CpuCollectives group = new CpuCollectives(devices.length, COLLECTIVE_TIMEOUT);
        Collectives[] out = new Collectives[devices.length];
        for (int i = 0; i < devices.length; i++) out[i] = new HostStagedCollectives(devices[i], group.member(i));
        System.err.println("[specdec cuda] " + devices.length + " ranks on " + java.util.Arrays.stream(devices).map(CudaDevice::ordinal)
                .distinct().count() + " GPU(s): collectives staged through host memory (a test transport: right, slow, no graphs)"
                + audited(devices));
        return out;
    }

    /**
     * Rank {@code rank} of the group of {@code groupId} (the ranks of a group over actors: in this process or in other
     * processes of this host); blocks until all {@code size} ranks joined. They meet over loopback TCP
     * ({@link SocketCollectives}, rendezvous in {@code java.io.tmpdir}), which threads of one process can use as well.
     */
    static HostStagedCollectives join(CudaDevice device, byte[] groupId, int size, int rank) {
        HostStagedCollectives c = new HostStagedCollectives(device, SocketCollectives.join(groupId, rank, size,
                SocketCollectives.defaultDirectory(), JOIN_TIMEOUT, COLLECTIVE_TIMEOUT));
        System.err.println("[specdec cuda] rank " + rank + " of " + size + " on GPU " + device.gpu() + " (physical GPU "
                + device.ordinal() + ", pid " + ProcessHandle.current().pid() + "): collectives staged through host memory and"
                + " loopback TCP (ranks share GPUs: a test transport, right, slow, no graphs)" + audited(device));
        return c;
    }

    private static String audited(CudaDevice... devices) {
        return java.util.Arrays.stream(devices).allMatch(CudaDevice::auditOwnership)
                ? "; every buffer use checked against its rank's GPU (" + CudaDevice.AUDIT_OWNERSHIP_PROPERTY + ")" : "";
    }

    @Override public int rank() { return member.rank(); }

    @Override public int size() { return member.size(); }

    @Override public CudaDevice device() { return device; }

    @Override public boolean capturable() { return false; }

    @Override public void allReduceSum(DeviceBuffer buffer, long count) {
        float[] part = device.stageOut(buffer, words(buffer, count * 4, "all-reduce"));
        member.allReduceSum(part);
        device.stageIn(buffer, part);
    }

    @Override public void allGather(DeviceBuffer in, DeviceBuffer out, long count, Nccl.Type type) {
        int words = words(in, count * type.bytes, "all-gather input");
        words(out, count * type.bytes * size(), "all-gather output");
        device.stageIn(out, gathered(in, words, TaggedGather.allGather(type)));
    }

    /** Every rank's part gathered, then the root's taken: bits move untouched, whatever the type (ids, floats). */
    @Override public void broadcast(DeviceBuffer buffer, long count, Nccl.Type type, int root) {
        if (root < 0 || root >= size()) throw new IllegalArgumentException("root " + root + " of " + size());
        int words = words(buffer, count * type.bytes, "broadcast");
        float[] all = gathered(buffer, words, TaggedGather.broadcast(type, root));
        if (rank() != root) device.stageIn(buffer, java.util.Arrays.copyOfRange(all, root * words, (root + 1) * words));
    }

    /**
     * The ranks' parts in rank order; 4-byte words carried as floats (copies keep their bits). Each part travels with
     * its rank's call, which must be the same on every rank ({@link TaggedGather}).
     */
    private float[] gathered(DeviceBuffer part, int words, TaggedGather call) {
        float[] all = new float[(words + 1) * size()];
        member.allGather(call.tag(device.stageOut(part, words)), all);
        return call.untag(all, words, size());
    }

    private static int words(DeviceBuffer b, long bytes, String what) {
        if (b.bytes() < bytes) throw new IllegalArgumentException(what + " needs " + bytes + " bytes, buffer has " + b.bytes());
        if (bytes % 4 != 0) throw new IllegalArgumentException(what + " of " + bytes + " bytes: the host-staged transport moves whole 4-byte words");
        return Math.toIntExact(bytes / 4);
    }

    @Override public void abort() {
        if (closed) return;
        closed = true;
        member.close("rank " + rank() + " aborted");
    }

    @Override public void close() {
        if (closed) return;
        closed = true;
        member.close("rank " + rank() + " closed its collectives");
    }
}
