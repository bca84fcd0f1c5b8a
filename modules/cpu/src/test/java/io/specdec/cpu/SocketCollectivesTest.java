package io.specdec.cpu;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Host collectives over loopback TCP: ranks in threads and in another JVM meet through the rendezvous file, sum in
 * rank order with the in-memory collectives' bits, gather raw words (a NaN-patterned id survives), and a rank that
 * leaves fails the others instead of hanging them.
 */
class SocketCollectivesTest {
    private static final Duration WAIT = Duration.ofSeconds(30);

    /** Rank r's part to gather: values, and an int id -1 - r (a NaN pattern) carried as a float. */
    static float[] part(int rank) {
        return new float[] {1e8f * (rank == 0 ? 1 : -1), 1f + rank, 0.1f * (rank + 1), Float.intBitsToFloat(-1 - rank)};
    }

    /** Rank r's part to sum: the numbers of {@link #part} (a sum of NaNs keeps no particular payload in Java). */
    static float[] summand(int rank) {
        return Arrays.copyOf(part(rank), 3);
    }

    static int[] bits(float[] a) {
        int[] out = new int[a.length];
        for (int i = 0; i < a.length; i++) out[i] = Float.floatToRawIntBits(a[i]);
        return out;
    }

    private static byte[] id() {
        byte[] id = new byte[16];
        new java.util.Random().nextBytes(id);
        return id;
    }

    @Test
    void ranksInThreadsGetTheInMemoryCollectivesBits(@TempDir Path dir) throws Exception {
        int size = 3;
        byte[] id = id();
        CpuCollectives memory = new CpuCollectives(size);
        ExecutorService pool = Executors.newFixedThreadPool(2 * size);
        try {
            List<Future<float[][]>> socket = new java.util.ArrayList<>(), inMemory = new java.util.ArrayList<>();
            for (int r = 0; r < size; r++) {
                int rank = r;
                socket.add(pool.submit(() -> run(SocketCollectives.join(id, rank, size, dir, WAIT, WAIT), rank)));
                inMemory.add(pool.submit(() -> run(memory.member(rank), rank)));
            }
            for (int r = 0; r < size; r++) {
                float[][] s = socket.get(r).get(30, TimeUnit.SECONDS), m = inMemory.get(r).get(30, TimeUnit.SECONDS);
                assertThat(bits(s[0])).as("all-reduce of rank " + r).containsExactly(bits(m[0]));
                assertThat(bits(s[1])).as("all-gather of rank " + r).containsExactly(bits(m[1]));
            }
            // in rank order: 1e8 + (-1e8) + (-1e8) = -1e8 exactly, 1 + 2 + 3, and each rank's id word untouched
            float[][] r0 = socket.getFirst().get();
            assertThat(r0[0][0]).isEqualTo(-1e8f);
            assertThat(r0[0][1]).isEqualTo(6f);
            assertThat(Float.floatToRawIntBits(r0[1][3])).isEqualTo(-1);
            assertThat(Float.floatToRawIntBits(r0[1][7])).isEqualTo(-2);
            assertThat(dir.toFile().list()).as("the rendezvous file is gone once the group is complete").isEmpty();
        } finally {
            pool.shutdownNow();
        }
    }

    private static float[][] run(HostCollective c, int rank) {
        float[] sum = summand(rank);
        c.allReduceSum(sum);
        float[] all = new float[c.size() * 4];
        c.allGather(part(rank), all);
        return new float[][] {sum, all};
    }

    @Test
    void aRankInAnotherProcessJoins(@TempDir Path dir) throws Exception {
        byte[] id = id();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process peer = new ProcessBuilder(java, "-cp", System.getProperty("java.class.path"), SocketCollectivesPeer.class.getName(),
                HexFormat.of().formatHex(id), dir.toString()).redirectErrorStream(true).start();
        try {
            SocketCollectives c = SocketCollectives.join(id, 0, 2, dir, WAIT, WAIT);
            float[][] mine = run(c, 0);
            c.close("done");
            assertThat(peer.waitFor(30, TimeUnit.SECONDS)).isTrue();
            String out = new String(peer.getInputStream().readAllBytes());
            assertThat(peer.exitValue()).as(out).isZero();
            assertThat(out).contains("sum " + Arrays.toString(mine[0]), "gather " + Arrays.toString(bits(mine[1])));
            float[] expected = new float[3];
            for (int r = 0; r < 2; r++) for (int i = 0; i < 3; i++) expected[i] += summand(r)[i];
            assertThat(bits(mine[0])).containsExactly(bits(expected));
        } finally {
            peer.destroyForcibly();
        }
    }

    @Test
    void aRankThatLeavesFailsTheOthers(@TempDir Path dir) throws Exception {
        byte[] id = id();
        ExecutorService pool = Executors.newSingleThreadExecutor();
        try {
            Future<SocketCollectives> peer = pool.submit(() -> SocketCollectives.join(id, 1, 2, dir, WAIT, WAIT));
            SocketCollectives root = SocketCollectives.join(id, 0, 2, dir, WAIT, WAIT);
            peer.get(30, TimeUnit.SECONDS).close("rank 1 went away");
            assertThatThrownBy(() -> root.allReduceSum(new float[] {1f})).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("rank 0 of 2");
            assertThatThrownBy(() -> root.allReduceSum(new float[] {1f})).hasMessageContaining("closed");
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aGroupWhoseRankZeroNeverComesFailsAfterTheTimeout(@TempDir Path dir) {
        assertThatThrownBy(() -> SocketCollectives.join(id(), 1, 2, dir, Duration.ofMillis(200), WAIT))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("did not publish");
    }
}
