package io.specdec.cuda;

import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.global.nccl;
import org.bytedeco.cuda.nccl.ncclComm;
import org.bytedeco.cuda.nccl.ncclUniqueId;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * NCCL through JavaCPP's CUDA presets (the host's {@code libnccl.so.2}, loaded like cuBLAS: run the JVM with
 * {@code -Dorg.bytedeco.javacpp.pathsFirst=true} and the library's folder on {@code LD_LIBRARY_PATH}). A
 * {@link Communicator} is one rank's end: its collectives are enqueued on the stream of the {@link CudaDevice} it was
 * made for, so they order with that device's kernels and can be captured into its CUDA graphs. Device buffers pass
 * as raw addresses, as with cuBLAS. Keep {@code NCCL_NVLS_ENABLE=0} in the environment (docs/GPU-HOST.md).
 */
public final class Nccl {
    /** Bytes of an NCCL unique id (what the Placement singleton hands to the members of a group). */
    public static final int UNIQUE_ID_BYTES = 128;

    private Nccl() {
    }

    /** The library's version as NCCL encodes it (2.28.3 → 22803). */
    public static int version() {
        int[] v = new int[1];
        check(nccl.ncclGetVersion(v), "ncclGetVersion");
        return v[0];
    }

    /** A fresh unique id for {@link #initRank}; made by one member, sent to the others. */
    public static byte[] uniqueId() {
        ncclUniqueId id = new ncclUniqueId();
        check(nccl.ncclGetUniqueId(id), "ncclGetUniqueId");
        byte[] bytes = new byte[UNIQUE_ID_BYTES];
        id.internal().get(bytes);
        id.close();
        return bytes;
    }

    /**
     * One rank of a group whose members may live in other processes or hosts (one JVM per GPU): blocks until all
     * {@code ranks} members have called it with the same id. Call it from the thread that drives {@code device}.
     */
    public static Communicator initRank(CudaDevice device, byte[] uniqueId, int ranks, int rank) {
        if (uniqueId.length != UNIQUE_ID_BYTES) throw new IllegalArgumentException("an NCCL unique id has " + UNIQUE_ID_BYTES + " bytes, not " + uniqueId.length);
        device.makeCurrent();
        ncclUniqueId id = new ncclUniqueId();
        id.internal().put(uniqueId);
        PointerPointer<ncclComm> out = new PointerPointer<>(1);
        try {
            check(nccl.ncclCommInitRank(out, ranks, id, rank), "ncclCommInitRank(rank " + rank + " of " + ranks + ")");
            return new Communicator(new ncclComm(out.get(0)), device, rank, ranks);
        } finally {
            id.close();
            out.close();
        }
    }

    /**
     * A group over all {@code devices} of this process (one JVM, one thread per GPU): communicator i belongs to
     * devices[i] and must then be used only from the thread that drives that device.
     */
    public static Communicator[] initAll(CudaDevice... devices) {
        int n = devices.length;
        int[] ordinals = new int[n];
        for (int i = 0; i < n; i++) ordinals[i] = devices[i].ordinal();
        PointerPointer<ncclComm> out = new PointerPointer<>(n);
        try {
            check(nccl.ncclCommInitAll(out, n, ordinals), "ncclCommInitAll(" + java.util.Arrays.toString(ordinals) + ")");
            Communicator[] comms = new Communicator[n];
            for (int i = 0; i < n; i++) comms[i] = new Communicator(new ncclComm(out.get(i)), devices[i], i, n);
            return comms;
        } finally {
            out.close();
        }
    }

    /** Fuses the collectives issued until {@link #groupEnd} into one launch (needed when one thread drives several ranks). */
    public static void groupStart() {
        check(nccl.ncclGroupStart(), "ncclGroupStart");
    }

    public static void groupEnd() {
        check(nccl.ncclGroupEnd(), "ncclGroupEnd");
    }

    static void check(int status, String what) {
        if (status == nccl.ncclSuccess || status == nccl.ncclInProgress) return;
        BytePointer text = nccl.ncclGetErrorString(status);   // a static string: not ours to free
        String reason = text == null ? "?" : text.getString();
        throw new IllegalStateException(what + " failed with NCCL status " + status + " (" + reason + ")");
    }

    /** The element types specdec moves. */
    public enum Type {
        F32(nccl.ncclFloat32, 4), BF16(nccl.ncclBfloat16, 2), I32(nccl.ncclInt32, 4);

        final int code;
        final int bytes;

        Type(int code, int bytes) {
            this.code = code;
            this.bytes = bytes;
        }
    }

    /** One rank's communicator, bound to one device and its stream. */
    public static final class Communicator implements Collectives {
        private final ncclComm comm;
        private final CudaDevice device;
        private final CUstream_st stream;
        private final int rank;
        private final int size;
        private boolean closed;

        private Communicator(ncclComm comm, CudaDevice device, int rank, int size) {
            this.comm = comm;
            this.device = device;
            this.stream = new CUstream_st(Cublas.at(device.streamAddress()));
            this.rank = rank;
            this.size = size;
        }

        @Override public int rank() { return rank; }

        @Override public int size() { return size; }

        @Override public CudaDevice device() { return device; }

        @Override public boolean capturable() { return true; }

        /** In place: every rank's {@code buffer} becomes the element-wise sum over the ranks (f32). */
        @Override public void allReduceSum(DeviceBuffer buffer, long count) {
            requireBytes(buffer, count * 4, "all-reduce");
            device.requireOwned(buffer, "all-reduce");
            device.makeCurrent();
            check(nccl.ncclAllReduce(Cublas.at(buffer.address()), Cublas.at(buffer.address()), count, nccl.ncclFloat32,
                    nccl.ncclSum, comm, stream), "ncclAllReduce");
        }

        /**
         * {@code out} = the ranks' {@code in} (each {@code count} elements) concatenated in rank order. In place when
         * {@code in} is this rank's part of {@code out}.
         */
        @Override public void allGather(DeviceBuffer in, DeviceBuffer out, long count, Type type) {
            requireBytes(in, count * type.bytes, "all-gather input");
            requireBytes(out, count * type.bytes * size, "all-gather output");
            device.requireOwned(in, "all-gather input");
            device.requireOwned(out, "all-gather output");
            device.makeCurrent();
            check(nccl.ncclAllGather(Cublas.at(in.address()), Cublas.at(out.address()), count, type.code, comm, stream),
                    "ncclAllGather");
        }

        /** {@code buffer} on every rank = {@code buffer} of rank {@code root}. */
        @Override public void broadcast(DeviceBuffer buffer, long count, Type type, int root) {
            requireBytes(buffer, count * type.bytes, "broadcast");
            device.requireOwned(buffer, "broadcast");
            device.makeCurrent();
            check(nccl.ncclBroadcast(Cublas.at(buffer.address()), Cublas.at(buffer.address()), count, type.code, root,
                    comm, stream), "ncclBroadcast");
        }

        /** Unblocks peers waiting on this rank after a failure; the communicator is unusable afterwards. */
        @Override public void abort() {
            if (closed) return;
            closed = true;
            nccl.ncclCommAbort(comm);
        }

        private static void requireBytes(DeviceBuffer b, long bytes, String what) {
            if (b.bytes() < bytes) throw new IllegalArgumentException(what + " needs " + bytes + " bytes, buffer has " + b.bytes());
        }

        @Override public void close() {
            if (closed) return;
            closed = true;
            device.makeCurrent();
            nccl.ncclCommDestroy(comm);
        }
    }
}
