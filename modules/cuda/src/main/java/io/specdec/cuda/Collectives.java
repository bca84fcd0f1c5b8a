package io.specdec.cuda;

/**
 * One rank's end of a multi-GPU group's collectives, ordered with the work of the {@link CudaDevice} it was made for.
 * Two transports:
 * <ul>
 *   <li>{@link Nccl.Communicator}: the real data plane, one GPU per rank (NCCL refuses two ranks on one GPU).</li>
 *   <li>{@link HostStagedCollectives}: ranks that share a GPU (or a few), exchanging through host memory (in one
 *       process; or, for groups joined by id, across the processes of one host over loopback TCP).
 *       A test transport: it lets one GPU run the multi-rank code paths (shards, broadcasts, ranks deciding alike), and
 *       its timings mean nothing. Chosen when the ranks' devices repeat a GPU, or with
 *       {@value #SHARED_GPU_RANKS_PROPERTY}.</li>
 * </ul>
 */
public sealed interface Collectives extends AutoCloseable permits Nccl.Communicator, HostStagedCollectives {

    /**
     * Test mode: more ranks than GPUs. {@link CudaRank#open} places rank i on GPU {@code i % visible}, and ranks that
     * join a group by id ({@link #join}) use the host-staged transport (the ranks then live on one host: in this
     * process or in others).
     */
    String SHARED_GPU_RANKS_PROPERTY = "specdec.cuda.sharedGpuRanks";

    static boolean sharedGpuRanks() {
        return Boolean.getBoolean(SHARED_GPU_RANKS_PROPERTY);
    }

    /** The GPU that device or rank {@code index} of this process runs on: itself, or round-robin when ranks share GPUs. */
    static int gpuOf(int index) {
        return sharedGpuRanks() ? index % Math.max(1, CudaDevice.count()) : index;
    }

    int rank();

    int size();

    CudaDevice device();

    /** In place: every rank's {@code buffer} becomes the element-wise sum over the ranks (f32). */
    void allReduceSum(DeviceBuffer buffer, long count);

    /**
     * {@code out} = the ranks' {@code in} (each {@code count} elements) concatenated in rank order. In place when
     * {@code in} is this rank's part of {@code out}.
     */
    void allGather(DeviceBuffer in, DeviceBuffer out, long count, Nccl.Type type);

    /** {@code buffer} on every rank = {@code buffer} of rank {@code root}. */
    void broadcast(DeviceBuffer buffer, long count, Nccl.Type type, int root);

    /** Whether the collectives may be recorded into a CUDA graph (the host-staged ones wait on the host: they may not). */
    boolean capturable();

    /** Unblocks peers waiting on this rank after a failure; the group is unusable afterwards. */
    void abort();

    @Override void close();

    /**
     * The collectives of a group over all {@code devices} of this process (one thread per rank): NCCL when every
     * device is a different GPU, host-staged when one GPU holds several ranks.
     */
    static Collectives[] forDevices(CudaDevice... devices) {
        java.util.Set<Integer> gpus = new java.util.HashSet<>();
        for (CudaDevice d : devices) gpus.add(d.ordinal());
        if (gpus.size() == devices.length) return Nccl.initAll(devices);
        return HostStagedCollectives.group(devices);
    }

    /**
     * Rank {@code rank} of a group of {@code size} that its members join with the same id (one JVM per GPU: the
     * Placement singleton hands the id out). Blocks until every member joined. NCCL, unless
     * {@value #SHARED_GPU_RANKS_PROPERTY} is set (then every member must be on this host).
     */
    static Collectives join(CudaDevice device, byte[] groupId, int size, int rank) {
        if (sharedGpuRanks()) return HostStagedCollectives.join(device, groupId, size, rank);
        return Nccl.initRank(device, groupId, size, rank);
    }
}
