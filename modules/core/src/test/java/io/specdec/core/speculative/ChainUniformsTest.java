package io.specdec.core.speculative;

import io.specdec.core.sampling.Sampler;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * The layout of a round's uniforms for a verifier that decides every row at once (the fused kernel): with the same
 * stream it must test and sample with the uniforms {@link SpeculativeSampler#verify} uses, and leave the stream where
 * the host path leaves it.
 */
public class ChainUniformsTest {

    @Test
    void rowsUseTheUniformsTheHostPathDraws() {
        Sampler s = Sampler.seeded(3L);
        ChainUniforms u = ChainUniforms.draw(s, 3);
        double[] d = u.drawn();
        assertThat(d).hasSize(4);
        assertThat(u.accept()).containsExactly((float) d[0], (float) d[1], (float) d[2]);
        // rejection at row i samples with the next draw; the bonus (all accepted) with the draw after γ tests
        assertThat(u.sample()).containsExactly((float) d[1], (float) d[2], (float) d[3], (float) d[3]);
        assertThat(u.used(0)).isEqualTo(2);
        assertThat(u.used(2)).isEqualTo(4);
        assertThat(u.used(3)).isEqualTo(4);
    }

    @Test
    void uniformsStayBelowOneAsFloats() {
        assertThat(ChainUniforms.toFloat(Math.nextDown(1.0))).isLessThan(1f);
        assertThat(ChainUniforms.toFloat(0.0)).isZero();
    }

    /** A kernel-style decision of every row from the laid-out uniforms equals the host's sequential decision. */
    @Test
    void allRowsAtOnceDecideAsTheHostAndLeaveTheStreamInStep() {
        SplittableRandom r = new SplittableRandom(5);
        int vocab = 6;
        int mismatches = 0;
        for (int trial = 0; trial < 2000; trial++) {
            int gamma = 1 + r.nextInt(5);
            double[][] p = new double[gamma + 1][], q = new double[gamma][];
            for (int i = 0; i <= gamma; i++) p[i] = distribution(r, vocab);
            int[] x = new int[gamma];
            for (int i = 0; i < gamma; i++) {
                q[i] = distribution(r, vocab);
                x[i] = Sampler.inverseCdf(q[i], r.nextDouble());
            }
            long seed = r.nextLong();
            Sampler host = Sampler.seeded(seed);
            SpeculativeSampler.Outcome expected = SpeculativeSampler.verify(new ChainDraft(x, q), i -> p[i], false, host);

            Sampler device = Sampler.seeded(seed);
            ChainUniforms u = ChainUniforms.draw(device, gamma);
            SpeculativeSampler.Outcome got = allRows(p, q, x, u.accept(), u.sample());
            u.settle(device, got.accepted());
            if (got.accepted() != expected.accepted() || !java.util.Arrays.equals(got.emitted(), expected.emitted())) mismatches++;
            else assertThat(device.uniform()).isEqualTo(host.uniform());
        }
        // float uniforms differ from the host's doubles by < 2^-24: a decision can flip only on such a boundary
        assertThat(mismatches).isZero();
    }

    /** The fused kernel's rule in double precision: every row decided independently, then the first rejection. */
    public static SpeculativeSampler.Outcome allRows(double[][] p, double[][] q, int[] x, float[] uAccept, float[] uSample) {
        int gamma = x.length;
        for (int i = 0; i < gamma; i++) {
            if (!(uAccept[i] < p[i][x[i]] / q[i][x[i]])) {
                double[] residual = Distributions.residual(p[i], q[i]);
                int[] emitted = java.util.Arrays.copyOf(x, i + 1);
                emitted[i] = Sampler.inverseCdf(residual == null ? p[i] : residual, uSample[i]);
                return new SpeculativeSampler.Outcome(i, emitted);
            }
        }
        int[] emitted = java.util.Arrays.copyOf(x, gamma + 1);
        emitted[gamma] = Sampler.inverseCdf(p[gamma], uSample[gamma]);
        return new SpeculativeSampler.Outcome(gamma, emitted);
    }

    static double[] distribution(SplittableRandom r, int n) {
        double[] d = new double[n];
        double sum = 0;
        for (int i = 0; i < n; i++) sum += d[i] = Math.exp(2 * r.nextGaussian());
        for (int i = 0; i < n; i++) d[i] /= sum;
        return d;
    }
}
