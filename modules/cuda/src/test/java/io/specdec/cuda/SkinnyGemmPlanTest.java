package io.specdec.cuda;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Warps per tile of the skinny passes, on an H100's 132 multiprocessors (no GPU needed). */
class SkinnyGemmPlanTest {
    @Test
    void matricesOfAtMostOneTileAMultiprocessorTakeTheFewTileWarps() {
        SkinnyGemmPlan plan = new SkinnyGemmPlan(132, 16);
        assertThat(plan.warps(2048)).as("1B o / down: 128 tiles").isEqualTo(16);
        assertThat(plan.warps(132 * 16)).isEqualTo(16);
        assertThat(plan.warps(133 * 16)).isEqualTo(8);
        assertThat(plan.warps(3072)).as("1B q/k/v: 192 tiles").isEqualTo(8);
        assertThat(plan.warps(4096)).as("8B o / down: 256 tiles").isEqualTo(8);
        assertThat(plan.warps(16384)).as("1B gate/up: 1024 tiles").isEqualTo(4);
        assertThat(plan.warps(128256)).as("output layer").isEqualTo(4);
        assertThat(new SkinnyGemmPlan(132, 8).warps(2048)).as("the old rule").isEqualTo(8);
        assertThat(new SkinnyGemmPlan(108, 16).warps(2048)).as("an A100's 108 SMs: 128 tiles are not few").isEqualTo(8);
    }

    @Test
    void otherWarpCountsAreRefusedByName() {
        assertThatThrownBy(() -> new SkinnyGemmPlan(132, 12)).hasMessageContaining(SkinnyGemmPlan.FEW_TILE_WARPS_PROPERTY);
    }
}
