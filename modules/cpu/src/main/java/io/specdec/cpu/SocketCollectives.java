package io.specdec.cpu;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.HexFormat;

/**
 * Host collectives across the processes of ONE host, over loopback TCP: rank 0 listens on an ephemeral port and
 * publishes it in a file named by the group id under {@code dir} (the rendezvous, as NCCL's unique id is); the other
 * ranks connect to it. Every collective goes through rank 0, which sums in rank order (as {@link CpuCollectives}
 * does, so the bits equal the in-memory ones) or concatenates, and sends the result back. A test transport: it lets
 * ranks in different JVMs share a GPU (the CUDA backend's host-staged collectives), where NCCL would refuse them.
 */
public final class SocketCollectives implements HostCollective {
    private static final int ALL_REDUCE = 1, ALL_GATHER = 2;
    private final int rank, size;
    private final Peer[] peers;      // rank 0: one per other rank (index = rank); others: peers[0] is rank 0
    private String closed;

    private SocketCollectives(int rank, int size, Peer[] peers) {
        this.rank = rank;
        this.size = size;
        this.peers = peers;
    }

    /** The default rendezvous folder: {@code java.io.tmpdir}/specdec-collectives. */
    public static Path defaultDirectory() {
        return Path.of(System.getProperty("java.io.tmpdir"), "specdec-collectives");
    }

    /**
     * Joins group {@code id} as {@code rank} of {@code size}; returns once every rank is connected, or fails after
     * {@code timeout}. {@code collectiveTimeout}: how long one collective waits for the others.
     */
    public static SocketCollectives join(byte[] id, int rank, int size, Path dir, Duration timeout, Duration collectiveTimeout) {
        if (rank < 0 || rank >= size) throw new IllegalArgumentException("rank " + rank + " of " + size);
        Path portFile = dir.resolve(HexFormat.of().formatHex(id, 0, Math.min(id.length, 32)) + ".port");
        int wait = Math.toIntExact(Math.min(Integer.MAX_VALUE, collectiveTimeout.toMillis()));
        try {
            Files.createDirectories(dir);
            return rank == 0 ? listen(size, portFile, timeout, wait) : connect(rank, size, portFile, timeout, wait);
        } catch (IOException e) {
            throw new IllegalStateException("rank " + rank + " of " + size + " could not join collectives " + portFile.getFileName() + ": " + e, e);
        }
    }

    private static SocketCollectives listen(int size, Path portFile, Duration timeout, int wait) throws IOException {
        Peer[] peers = new Peer[size];
        try (ServerSocket server = new ServerSocket()) {
            server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            Path tmp = portFile.resolveSibling(portFile.getFileName() + ".tmp");
            Files.writeString(tmp, Integer.toString(server.getLocalPort()));
            try {
                Files.move(tmp, portFile, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, portFile, StandardCopyOption.REPLACE_EXISTING);
            }
            long deadline = System.nanoTime() + timeout.toNanos();
            try {
                for (int joined = 1; joined < size; joined++) {
                    server.setSoTimeout((int) Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
                    Socket s;
                    try {
                        s = server.accept();
                    } catch (SocketTimeoutException e) {
                        throw new IllegalStateException(joined + " of " + size + " ranks joined within " + timeout.toMillis() + " ms");
                    }
                    Peer p = new Peer(s, wait);
                    int r = p.in.readInt(), n = p.in.readInt();
                    if (n != size || r <= 0 || r >= size || peers[r] != null) {
                        p.close();
                        throw new IllegalStateException("a peer joined as rank " + r + " of " + n + " a group of " + size);
                    }
                    peers[r] = p;
                }
            } catch (RuntimeException | IOException e) {
                for (Peer p : peers) if (p != null) p.close();
                throw e;
            } finally {
                Files.deleteIfExists(portFile);
            }
        }
        return new SocketCollectives(0, size, peers);
    }

    private static SocketCollectives connect(int rank, int size, Path portFile, Duration timeout, int wait) throws IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            if (Files.exists(portFile)) {
                try {
                    int port = Integer.parseInt(Files.readString(portFile).trim());
                    Peer root = new Peer(new Socket(InetAddress.getLoopbackAddress(), port), wait);
                    root.out.writeInt(rank);
                    root.out.writeInt(size);
                    root.out.flush();
                    return new SocketCollectives(rank, size, new Peer[] {root});
                } catch (IOException | NumberFormatException e) {
                    // a file from an earlier group of the same id, or rank 0 not listening yet: try again
                }
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("rank 0 of the group did not publish " + portFile + " within " + timeout.toMillis() + " ms");
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IllegalStateException("interrupted joining " + portFile, e);
            }
        }
    }

    @Override public int rank() { return rank; }

    @Override public int size() { return size; }

    @Override public void allReduceSum(float[] buffer) {
        if (size == 1) return;
        float[] result = exchange(ALL_REDUCE, buffer, buffer.length);
        System.arraycopy(result, 0, buffer, 0, buffer.length);
    }

    @Override public void allGather(float[] local, float[] out) {
        if (out.length != local.length * size) throw new IllegalArgumentException("all-gather output " + out.length + " != " + local.length + " x " + size);
        if (size == 1) {
            System.arraycopy(local, 0, out, 0, local.length);
            return;
        }
        float[] result = exchange(ALL_GATHER, local, out.length);
        System.arraycopy(result, 0, out, 0, out.length);
    }

    /** Sends this rank's part to rank 0 and returns what rank 0 sends back ({@code resultLength} floats). */
    private float[] exchange(int op, float[] part, int resultLength) {
        if (closed != null) throw new IllegalStateException("the collectives were closed: " + closed);
        try {
            if (rank != 0) {
                peers[0].send(op, part);
                return peers[0].receive(op, resultLength);
            }
            float[][] parts = new float[size][];
            parts[0] = part;
            for (int r = 1; r < size; r++) parts[r] = peers[r].receive(op, part.length);
            float[] result = new float[resultLength];
            if (op == ALL_REDUCE) {
                for (float[] p : parts) for (int i = 0; i < result.length; i++) result[i] += p[i];   // rank order
            } else {
                for (int r = 0; r < size; r++) System.arraycopy(parts[r], 0, result, r * part.length, part.length);
            }
            for (int r = 1; r < size; r++) peers[r].send(op, result);
            return result;
        } catch (IOException | RuntimeException e) {
            close("rank " + rank + " failed in a collective: " + e);
            throw new IllegalStateException("rank " + rank + " of " + size + ": a collective failed (another rank left or failed?): " + e, e);
        }
    }

    @Override public void close(String reason) {
        if (closed != null) return;
        closed = reason;
        for (Peer p : peers) if (p != null) p.close();
    }

    /** One connection: length-prefixed float arrays, little-endian. */
    private static final class Peer {
        final Socket socket;
        final DataInputStream in;
        final DataOutputStream out;

        Peer(Socket socket, int timeoutMillis) throws IOException {
            this.socket = socket;
            socket.setTcpNoDelay(true);
            socket.setSoTimeout(timeoutMillis);
            this.in = new DataInputStream(new BufferedInputStream(socket.getInputStream(), 1 << 16));
            this.out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 1 << 16));
        }

        void send(int op, float[] data) throws IOException {
            out.writeInt(op);
            out.writeInt(data.length);
            ByteBuffer b = ByteBuffer.allocate(4 * data.length).order(ByteOrder.LITTLE_ENDIAN);
            for (float f : data) b.putInt(Float.floatToRawIntBits(f));   // raw bits: gathered ids travel as floats
            out.write(b.array());
            out.flush();
        }

        float[] receive(int op, int length) throws IOException {
            int gotOp = in.readInt(), n = in.readInt();
            if (gotOp != op || n != length) {
                throw new IOException("expected collective " + op + " of " + length + " floats, got " + gotOp + " of " + n
                        + " (the ranks called different collectives)");
            }
            byte[] bytes = new byte[4 * n];
            in.readFully(bytes);
            float[] data = new float[n];
            ByteBuffer b = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
            for (int i = 0; i < n; i++) data[i] = Float.intBitsToFloat(b.getInt());
            return data;
        }

        void close() {
            try {
                socket.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }
}
