package io.specdec.cpu;

import java.time.Duration;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

/**
 * Where the ranks of a CPU tensor-parallel group find each other: the CPU analogue of NCCL's unique id. Every rank
 * calls {@link #join} with the group's id; the call returns once all {@code size} ranks have joined (like
 * {@code ncclCommInitRank}) with that rank's handle on one shared {@link CpuCollectives}. The collectives are
 * in-memory, so only ranks in this JVM (e.g. several actor systems of one process) can meet; a rank whose peers run
 * in other processes waits out the timeout and fails saying so. This registry is the one JVM-wide state of the CPU
 * backend, as NCCL's bootstrap is process-wide: an id is removed once its group is complete or given up.
 */
public final class CpuCommunicators {
    private static final Map<String, Rendezvous> OPEN = new HashMap<>();

    private CpuCommunicators() { }

    private static final class Rendezvous {
        final int size;
        final CpuCollectives collectives;
        final boolean[] joined;
        int count;

        Rendezvous(int size, Duration collectiveTimeout) {
            this.size = size;
            this.collectives = new CpuCollectives(size, collectiveTimeout);
            this.joined = new boolean[size];
        }
    }

    /**
     * Joins group {@code id} as {@code rank} of {@code size}; blocks until every rank joined or {@code timeout} passed.
     *
     * @param collectiveTimeout how long one collective waits for the other ranks before the group counts as broken
     */
    public static CpuCollectives.Member join(byte[] id, int rank, int size, Duration timeout, Duration collectiveTimeout) {
        if (rank < 0 || rank >= size) throw new IllegalArgumentException("rank " + rank + " of " + size);
        String key = HexFormat.of().formatHex(id);
        String name = key.length() > 12 ? key.substring(0, 12) : key;
        synchronized (OPEN) {
            Rendezvous r = OPEN.computeIfAbsent(key, k -> new Rendezvous(size, collectiveTimeout));
            if (r.size != size) {
                throw new IllegalArgumentException("communicator " + name + " has " + r.size + " ranks, rank " + rank + " expects " + size);
            }
            if (r.joined[rank]) throw new IllegalStateException("communicator " + name + ": rank " + rank + " joined twice");
            r.joined[rank] = true;
            r.count++;
            OPEN.notifyAll();
            long deadline = System.nanoTime() + timeout.toNanos();
            while (r.count < size) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    r.joined[rank] = false;
                    if (--r.count == 0) OPEN.remove(key, r);
                    throw new IllegalStateException("communicator " + name + ": " + (r.count + 1) + " of " + size
                            + " ranks joined within " + timeout.toMillis() + " ms. CPU collectives are in-memory: every rank"
                            + " of a CPU tensor-parallel group must run in this JVM (across processes use the CUDA backend's NCCL)");
                }
                try {
                    OPEN.wait(Math.max(1, left / 1_000_000));
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    r.joined[rank] = false;
                    if (--r.count == 0) OPEN.remove(key, r);
                    throw new IllegalStateException("interrupted while joining communicator " + name, e);
                }
            }
            OPEN.remove(key, r); // complete: the id is spent, as an NCCL id is
            return r.collectives.member(rank);
        }
    }
}
