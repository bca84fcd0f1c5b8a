package io.specdec.cpu;

import io.specdec.core.backend.SequenceInput;
import io.specdec.core.model.LoadedModel;
import org.junit.jupiter.api.Test;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Ranks of a tensor-parallel group as separate models that meet by communicator id ({@link CpuCommunicators}): two
 * of them, each on its own thread, compute {@link CpuTensorParallelModel}'s logits bit for bit; a rank whose peers
 * never come fails after the timeout saying why; a rank that closes breaks the other's collective instead of hanging it.
 */
class CpuTensorParallelRankTest {
    static final int[] PROMPT = {0, 77, 301, 12, 1500, 33, 900, 7};

    @Test
    void twoRanksMeetingByIdComputeTheSplitModelsLogitsExactly() throws Exception {
        try (LoadedModel model = BundledModels.load("target");
             CpuTensorParallelModel split = new CpuTensorParallelModel(model.config(), model.weights(), 2, 1, 256, CpuModels.BLOCK_SIZE)) {
            float[][] expected = split.forward(SequenceInput.chainAllLogits(split.newSequence(), PROMPT));
            byte[] id = {1, 2, 3, 4};
            List<CompletableFuture<float[][]>> ranks = List.of(0, 1).stream().map(r -> CompletableFuture.supplyAsync(() -> {
                var member = CpuCommunicators.join(id, r, 2, Duration.ofSeconds(20), Duration.ofSeconds(20));
                try (CpuTensorParallelRank rank = new CpuTensorParallelRank(model.config(), model.weights(), member, 1, 256,
                        CpuModels.BLOCK_SIZE)) {
                    return rank.forward(SequenceInput.chainAllLogits(rank.newSequence(), PROMPT));
                }
            }, runnable -> Thread.ofPlatform().start(runnable))).toList();
            for (CompletableFuture<float[][]> r : ranks) assertThat(r.get()).isDeepEqualTo(expected);
        }
    }

    @Test
    void aRankWhosePeersAreInAnotherProcessFailsAfterTheTimeoutSayingWhy() {
        assertThatThrownBy(() -> CpuCommunicators.join(new byte[] {9, 9}, 0, 2, Duration.ofMillis(200), Duration.ofSeconds(1)))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("1 of 2 ranks joined within 200 ms")
                .hasMessageContaining("must run in this JVM");
    }

    @Test
    void aRankThatClosesBreaksTheOthersCollective() throws Exception {
        byte[] id = {7};
        var rank1 = CompletableFuture.supplyAsync(() -> CpuCommunicators.join(id, 1, 2, Duration.ofSeconds(20), Duration.ofSeconds(60)),
                runnable -> Thread.ofPlatform().start(runnable));
        var rank0 = CpuCommunicators.join(id, 0, 2, Duration.ofSeconds(20), Duration.ofSeconds(60));
        var waiting = CompletableFuture.runAsync(() -> rank0.allReduceSum(new float[4]), runnable -> Thread.ofPlatform().start(runnable));
        Thread.sleep(100);
        rank1.get().group().close("rank 1 stopped");
        assertThat(waiting).failsWithin(Duration.ofSeconds(10)).withThrowableThat()
                .havingRootCause().withMessageContaining("left: rank 1 stopped");
        assertThatThrownBy(() -> rank0.allGather(new float[1], new float[2])).hasMessageContaining("left: rank 1 stopped");
    }
}
