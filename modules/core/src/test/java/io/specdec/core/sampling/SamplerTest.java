package io.specdec.core.sampling;

import io.specdec.core.testing.ChiSquare;
import org.junit.jupiter.api.Test;

import java.util.stream.IntStream;

import static org.assertj.core.api.Assertions.assertThat;

class SamplerTest {
    private static final double[] P = {0.1, 0.0, 0.4, 0.3, 0.2};

    @Test
    void sameSeedDrawsTheSameTokens() {
        Sampler a = Sampler.seeded(11L);
        Sampler b = Sampler.seeded(11L);
        int[] x = IntStream.range(0, 100).map(i -> a.sample(P)).toArray();
        int[] y = IntStream.range(0, 100).map(i -> b.sample(P)).toArray();
        assertThat(x).containsExactly(y);
        Sampler c = Sampler.seeded(12L);
        assertThat(IntStream.range(0, 100).map(i -> c.sample(P)).toArray()).isNotEqualTo(x);
    }

    @Test
    void drawsFollowTheDistribution() {
        Sampler s = Sampler.seeded(3L);
        long[] counts = new long[P.length];
        for (int i = 0; i < 20_000; i++) counts[s.sample(P)]++;
        assertThat(counts[1]).isZero();
        // threshold: p-value > 0.001
        assertThat(ChiSquare.test(counts, P).pValue()).isGreaterThan(0.001);
    }

    @Test
    void unnormalizedMassIsAccepted() {
        Sampler s = Sampler.seeded(5L);
        for (int i = 0; i < 100; i++) assertThat(s.sample(new double[] {0, 2e-9, 0})).isEqualTo(1);
    }

    @Test
    void chiSquarePValuesMatchKnownCriticalValues() {
        // chi-square critical values at p = 0.001 for df 1, 5, 10
        assertThat(ChiSquare.upperRegularizedGamma(0.5, 10.828 / 2)).isCloseTo(0.001, org.assertj.core.api.Assertions.within(1e-5));
        assertThat(ChiSquare.upperRegularizedGamma(2.5, 20.515 / 2)).isCloseTo(0.001, org.assertj.core.api.Assertions.within(1e-5));
        assertThat(ChiSquare.upperRegularizedGamma(5, 29.588 / 2)).isCloseTo(0.001, org.assertj.core.api.Assertions.within(1e-5));
        assertThat(ChiSquare.upperRegularizedGamma(5, 9.342 / 2)).isCloseTo(0.5, org.assertj.core.api.Assertions.within(1e-3));
    }

    @Test
    void putBackUniformsComeNextAndTheStreamGoesOnUnchanged() {
        Sampler reference = Sampler.seeded(9L);
        double[] expected = IntStream.range(0, 10).mapToDouble(i -> reference.uniform()).toArray();
        Sampler s = Sampler.seeded(9L);
        double[] ahead = s.uniforms(6);
        assertThat(ahead).containsExactly(java.util.Arrays.copyOf(expected, 6));
        s.putBack(ahead, 2);   // used two, returns four
        double[] rest = IntStream.range(0, 8).mapToDouble(i -> s.uniform()).toArray();
        assertThat(rest).containsExactly(java.util.Arrays.copyOfRange(expected, 2, 10));
    }

    @Test
    void putBackInFrontOfPendingOnesKeepsTheOrder() {
        Sampler s = Sampler.seeded(4L);
        double[] first = s.uniforms(3);
        s.putBack(first, 1);            // pending: first[1], first[2]
        double[] again = s.uniforms(1); // first[1]
        s.putBack(again, 0);            // pending: first[1], first[2]
        assertThat(s.uniforms(2)).containsExactly(first[1], first[2]);
    }

    @Test
    void splitWithPutBackUniformsIsRefused() {
        Sampler s = Sampler.seeded(4L);
        s.putBack(s.uniforms(2), 1);
        org.assertj.core.api.Assertions.assertThatThrownBy(s::split).isInstanceOf(IllegalStateException.class);
    }
}
