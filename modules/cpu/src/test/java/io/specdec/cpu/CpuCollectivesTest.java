package io.specdec.cpu;

import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The in-memory stand-in for NCCL checks that the ranks call the same collectives: where NCCL would hang or mix up the
 * data, every rank fails at once with the same message, and the group goes on with the next collective.
 */
class CpuCollectivesTest {

    /** Runs {@code call} on every rank of a fresh 2-rank group and returns each rank's failure message (null: none). */
    private static List<String> onTwoRanks(CpuCollectives group, List<Consumer<HostCollective>> calls) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            List<Future<String>> out = new ArrayList<>();
            for (int r = 0; r < 2; r++) {
                HostCollective member = group.member(r);
                Consumer<HostCollective> call = calls.get(r);
                out.add(pool.submit(() -> {
                    try {
                        call.accept(member);
                        return null;
                    } catch (IllegalStateException e) {
                        return e.getMessage();
                    }
                }));
            }
            List<String> messages = new ArrayList<>();
            for (Future<String> f : out) messages.add(f.get(20, TimeUnit.SECONDS));
            return messages;
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void anAllReduceMetByAnAllGatherFailsEveryRankAlike() throws Exception {
        CpuCollectives group = new CpuCollectives(2, Duration.ofSeconds(10));
        List<String> failures = onTwoRanks(group, List.of(
                m -> m.allReduceSum(new float[4]),
                m -> m.allGather(new float[4], new float[8])));

        assertThat(failures).containsOnly("the ranks called different collectives: rank 0 all-reduce of 4 floats, "
                + "rank 1 all-gather of 4 floats");
    }

    @Test
    void unequalLengthsFailEveryRankAndTheGroupGoesOn() throws Exception {
        CpuCollectives group = new CpuCollectives(2, Duration.ofSeconds(10));
        List<String> failures = onTwoRanks(group, List.of(
                m -> m.allGather(new float[3], new float[6]),
                m -> m.allGather(new float[2], new float[6])));
        assertThat(failures).hasSize(2).allSatisfy(m -> assertThat(m).contains("rank 0 all-gather of 3 floats, rank 1 all-gather of 2 floats"));

        float[][] sums = {{1f, 2f}, {10f, 20f}};
        List<String> next = onTwoRanks(group, List.of(m -> m.allReduceSum(sums[0]), m -> m.allReduceSum(sums[1])));
        assertThat(next).containsOnlyNulls();
        assertThat(sums[0]).containsExactly(11f, 22f);
        assertThat(sums[1]).containsExactly(11f, 22f);
    }

    @Test
    void agreeingCallsGatherInRankOrder() throws Exception {
        CpuCollectives group = new CpuCollectives(2, Duration.ofSeconds(10));
        float[][] outs = new float[2][4];
        List<String> failures = onTwoRanks(group, List.of(
                m -> m.allGather(new float[] {1f, 2f}, outs[0]),
                m -> m.allGather(new float[] {3f, 4f}, outs[1])));

        assertThat(failures).containsOnlyNulls();
        assertThat(outs[0]).containsExactly(1f, 2f, 3f, 4f);
        assertThat(outs[1]).containsExactly(1f, 2f, 3f, 4f);
    }

}
