package io.specdec.core.speculative;

import io.specdec.core.sampling.Sampler;

/**
 * The uniforms of one sampled chain round, laid out for a verifier that decides every row at once (the fused kernel,
 * docs/ALGORITHMS.md §6) but drawn as {@link SpeculativeSampler#verify} draws them one at a time: an acceptance
 * uniform per row until the first rejection, then one for the replacement (or, if all were accepted, one for the
 * bonus). With d = the next γ+1 uniforms of the request's stream, row i tests with d[i] and, if it rejects, samples
 * its replacement with d[i+1]; the bonus row samples with d[γ]. After the decision {@link #settle} puts back what the
 * host path would not have drawn, so the stream, and with the same uniforms the decisions, stay those of the host.
 *
 * @param drawn the γ+1 uniforms drawn ahead
 */
public record ChainUniforms(double[] drawn) {
    /** The largest float below 1: a double uniform in [0, 1) must stay below 1 as a float. */
    private static final float BELOW_ONE = Math.nextDown(1f);

    public ChainUniforms {
        if (drawn.length < 2) throw new IllegalArgumentException("a chain round of γ >= 1 draws γ+1 >= 2 uniforms, got " + drawn.length);
    }

    /** Draws ahead the uniforms of a round of {@code gamma} draft tokens. */
    public static ChainUniforms draw(Sampler sampler, int gamma) {
        if (gamma < 1) throw new IllegalArgumentException("gamma must be >= 1: " + gamma);
        return new ChainUniforms(sampler.uniforms(gamma + 1));
    }

    public int gamma() { return drawn.length - 1; }

    /** Row i's acceptance uniform, i in 0..γ-1. */
    public float[] accept() {
        float[] u = new float[gamma()];
        for (int i = 0; i < u.length; i++) u[i] = toFloat(drawn[i]);
        return u;
    }

    /** Row i's replacement uniform (i in 0..γ-1) and the bonus row's (i = γ). */
    public float[] sample() {
        int gamma = gamma();
        float[] u = new float[gamma + 1];
        for (int i = 0; i < gamma; i++) u[i] = toFloat(drawn[i + 1]);
        u[gamma] = toFloat(drawn[gamma]);
        return u;
    }

    /** How many of the drawn uniforms the host path uses when {@code accepted} drafts are accepted. */
    public int used(int accepted) {
        int gamma = gamma();
        if (accepted < 0 || accepted > gamma) throw new IllegalArgumentException("accepted " + accepted + " outside 0.." + gamma);
        return accepted < gamma ? accepted + 2 : gamma + 1;
    }

    /** Returns the unused uniforms to {@code sampler}'s stream. */
    public void settle(Sampler sampler, int accepted) {
        sampler.putBack(drawn, used(accepted));
    }

    static float toFloat(double u) {
        return Math.min((float) u, BELOW_ONE);
    }
}
