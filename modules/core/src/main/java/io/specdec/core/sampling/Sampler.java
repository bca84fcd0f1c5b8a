package io.specdec.core.sampling;

import java.util.SplittableRandom;

/**
 * Draws tokens from processed distributions with a request's own random stream. {@link SplittableRandom} is fully
 * determined by its seed, so the same seed gives the same tokens on every run and machine.
 */
public final class Sampler {
    private final SplittableRandom random;
    /** Uniforms put back in front of the stream ({@link #putBack}), drawn before the generator's next ones. */
    private double[] pending = new double[0];
    private int pendingAt;

    public Sampler(SplittableRandom random) {
        this.random = random;
    }

    /** A sampler seeded from {@code seed}, or from a fresh seed when it is null. */
    public static Sampler seeded(Long seed) {
        return new Sampler(seed == null ? new SplittableRandom() : new SplittableRandom(seed));
    }

    public static Sampler seeded(long seed) {
        return new Sampler(new SplittableRandom(seed));
    }

    /** An independent stream for another consumer (the drafter), itself determined by this one's seed. */
    public Sampler split() {
        if (pendingAt < pending.length) throw new IllegalStateException("split with uniforms put back: the streams would differ");
        return new Sampler(random.split());
    }

    /** Uniform in [0, 1). */
    public double uniform() {
        if (pendingAt < pending.length) return pending[pendingAt++];
        return random.nextDouble();
    }

    /** A token drawn from {@code probabilities} (non-negative; need not sum exactly to 1). */
    public int sample(double[] probabilities) {
        return inverseCdf(probabilities, uniform());
    }

    /** The next {@code n} uniforms, as {@code n} calls of {@link #uniform} would return them. */
    public double[] uniforms(int n) {
        double[] u = new double[n];
        for (int i = 0; i < n; i++) u[i] = uniform();
        return u;
    }

    /**
     * Puts {@code u[from..]} back in front of the stream: the next uniforms drawn are those, in order. For a consumer
     * that had to draw ahead (a device decision needs its uniforms before it knows how many it uses) and returns the
     * ones it did not use, so the stream goes on exactly as if it had drawn one at a time.
     */
    public void putBack(double[] u, int from) {
        if (from < 0 || from > u.length) throw new IllegalArgumentException("from " + from + " outside 0.." + u.length);
        int left = pending.length - pendingAt;
        double[] next = new double[u.length - from + left];
        System.arraycopy(u, from, next, 0, u.length - from);
        System.arraycopy(pending, pendingAt, next, u.length - from, left);
        pending = next;
        pendingAt = 0;
    }

    /**
     * The token {@link #sample} draws when its uniform is {@code u}: the first whose cumulative mass exceeds
     * {@code u} times the total (the device sampler takes the same uniforms and follows this rule).
     */
    public static int inverseCdf(double[] probabilities, double u) {
        double total = 0;
        for (double v : probabilities) total += v;
        if (!(total > 0)) throw new IllegalArgumentException("cannot sample from a distribution with total mass " + total);
        double target = u * total;
        double cumulative = 0;
        int last = -1;
        for (int i = 0; i < probabilities.length; i++) {
            if (probabilities[i] <= 0) continue;
            cumulative += probabilities[i];
            last = i;
            if (target < cumulative) return i;
        }
        return last; // rounding left target at the very top: the last token with mass
    }
}
