package io.specdec.cuda;

import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;

/** Where ranks run in the shared-GPU test mode (no GPU needed: without a driver one GPU is assumed). */
class CollectivesTest {

    @AfterEach
    void clear() {
        System.clearProperty(Collectives.SHARED_GPU_RANKS_PROPERTY);
    }

    @Test
    void ranksRunOnTheirOwnGpusUnlessTheyShare() {
        assertThat(Collectives.sharedGpuRanks()).isFalse();
        assertThat(Collectives.gpuOf(0)).isZero();
        assertThat(Collectives.gpuOf(3)).isEqualTo(3);
    }

    @Test
    void sharingRanksTakeTheVisibleGpusRoundRobin() {
        System.setProperty(Collectives.SHARED_GPU_RANKS_PROPERTY, "true");
        int visible = Math.max(1, CudaDevice.count());
        assertThat(Collectives.sharedGpuRanks()).isTrue();
        for (int rank = 0; rank < 2 * visible + 1; rank++) assertThat(Collectives.gpuOf(rank)).isEqualTo(rank % visible);
        assertThat(Collectives.gpuOf(visible)).isZero();
    }
}
