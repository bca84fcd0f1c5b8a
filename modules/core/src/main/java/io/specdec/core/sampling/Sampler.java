package io.specdec.core.sampling;

import java.util.SplittableRandom;

/**
 * Draws tokens from processed distributions with a request's own random stream. {@link SplittableRandom} is fully
 * determined by its seed, so the same seed gives the same tokens on every run and machine.
 */
public final class Sampler {
    private final SplittableRandom random;

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
        return new Sampler(random.split());
    }

    /** Uniform in [0, 1). */
    public double uniform() {
        return random.nextDouble();
    }

    /** A token drawn from {@code probabilities} (non-negative; need not sum exactly to 1). */
    public int sample(double[] probabilities) {
        return inverseCdf(probabilities, random.nextDouble());
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
