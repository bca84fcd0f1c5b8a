package io.specdec.core.speculative;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

class AdaptiveGammaTest {

    @Test
    void expectedSpeedupFollowsTheFormula() {
        // α = 0.8, γ = 4, c = 0.05: (1 - 0.8^5) / (0.2 * 1.2)
        assertThat(AdaptiveGamma.expectedSpeedup(0.8, 4, 0.05)).isCloseTo((1 - Math.pow(0.8, 5)) / (0.2 * 1.2), within(1e-12));
        assertThat(AdaptiveGamma.expectedTokensPerRound(0.0, 5)).isEqualTo(1.0);
        assertThat(AdaptiveGamma.expectedTokensPerRound(1.0, 5)).isEqualTo(6.0);
    }

    @Test
    void highAcceptanceAndCheapDraftsGrowGamma() {
        AdaptiveGamma g = new AdaptiveGamma(1, 10, 3, 0.8).withFixedCostRatio(0.02);
        for (int i = 0; i < 30; i++) g.record(g.next(), g.next(), 0, 1);
        assertThat(g.alpha()).isGreaterThan(0.95);
        assertThat(g.next()).isEqualTo(10);
    }

    @Test
    void lowAcceptanceShrinksGammaToTheMinimum() {
        AdaptiveGamma g = new AdaptiveGamma(1, 10, 5, 0.8).withFixedCostRatio(0.2);
        for (int i = 0; i < 30; i++) g.record(g.next(), 0, 0, 1);
        assertThat(g.alpha()).isLessThan(0.01);
        assertThat(g.next()).isEqualTo(1);
    }

    @Test
    void picksTheGammaMaximizingExpectedSpeedupForTheMeasuredAlpha() {
        AdaptiveGamma g = new AdaptiveGamma(1, 12, 4, 0.0).withFixedCostRatio(0.1);
        g.record(5, 3, 0, 1); // tested 4 positions, passed 3: α = 0.75
        assertThat(g.alpha()).isCloseTo(0.75, within(1e-12));
        int best = 1;
        for (int k = 1; k <= 12; k++) {
            if (AdaptiveGamma.expectedSpeedup(0.75, k, 0.1) > AdaptiveGamma.expectedSpeedup(0.75, best, 0.1)) best = k;
        }
        assertThat(g.next()).isEqualTo(best);
    }

    @Test
    void measuresTheCostRatioFromTimings() {
        AdaptiveGamma g = new AdaptiveGamma(1, 8, 4, 0.0);
        g.record(4, 2, 4_000, 10_000); // 1000 ns per draft token over 10000 ns per verify
        assertThat(g.costRatio()).isCloseTo(0.1, within(1e-12));
    }

    @Test
    void rejectsBadBounds() {
        assertThatThrownBy(() -> new AdaptiveGamma(3, 2, 2, 0.5)).hasMessageContaining("min");
        assertThatThrownBy(() -> new AdaptiveGamma(1, 4, 5, 0.5)).hasMessageContaining("initial");
        assertThatThrownBy(() -> new AdaptiveGamma(1, 4, 2, 1.0)).hasMessageContaining("decay");
    }
}
