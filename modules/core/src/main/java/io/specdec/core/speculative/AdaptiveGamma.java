package io.specdec.core.speculative;

/**
 * Picks γ in [min, max] maximizing the expected speedup of docs/ALGORITHMS.md §1,
 * (1 - α^(γ+1)) / ((1 - α)(γc + 1)), from an exponential moving average of the measured acceptance α and of the
 * cost ratio c (draft time per drafted token over verify time per forward). α is estimated per position tested:
 * a round that accepted a of γ tested a + 1 positions (a if all were accepted) and passed a of them.
 * Measured costs vary between runs, so under sampling the output is reproducible per seed only with a fixed c
 * ({@link #withFixedCostRatio}).
 */
public final class AdaptiveGamma implements GammaPolicy {
    private final int min;
    private final int max;
    private final double decay;
    private final Double fixedCostRatio;
    private double passed;
    private double tested;
    private double costRatio = Double.NaN;
    private int current;

    /**
     * @param min     smallest γ (&gt;= 0)
     * @param max     largest γ
     * @param initial γ until measurements arrive
     * @param decay   weight kept by old measurements each round, in [0, 1)
     */
    public AdaptiveGamma(int min, int max, int initial, double decay) {
        this(min, max, initial, decay, null);
    }

    private AdaptiveGamma(int min, int max, int initial, double decay, Double fixedCostRatio) {
        if (min < 0 || max < min) throw new IllegalArgumentException("need 0 <= min <= max: min=" + min + ", max=" + max);
        if (initial < min || initial > max) {
            throw new IllegalArgumentException("initial gamma " + initial + " outside [" + min + ", " + max + "]");
        }
        if (!(decay >= 0 && decay < 1)) throw new IllegalArgumentException("decay must be in [0, 1): " + decay);
        if (fixedCostRatio != null && !(fixedCostRatio >= 0)) {
            throw new IllegalArgumentException("cost ratio must be >= 0: " + fixedCostRatio);
        }
        this.min = min;
        this.max = max;
        this.decay = decay;
        this.fixedCostRatio = fixedCostRatio;
        this.current = initial;
    }

    /** γ in [1, 8], starting at 4, decay 0.9. */
    public static AdaptiveGamma standard() {
        return new AdaptiveGamma(1, 8, 4, 0.9);
    }

    /** The same policy with a known cost ratio instead of a measured one (reproducible runs, tests). */
    public AdaptiveGamma withFixedCostRatio(double c) {
        return new AdaptiveGamma(min, max, current, decay, c);
    }

    @Override public int next() { return current; }

    @Override
    public void record(int drafted, int accepted, long draftNanos, long verifyNanos) {
        if (drafted <= 0) return;
        passed = decay * passed + accepted;
        tested = decay * tested + (accepted < drafted ? accepted + 1 : accepted);
        if (fixedCostRatio == null && verifyNanos > 0) {
            double c = (double) draftNanos / drafted / verifyNanos;
            costRatio = Double.isNaN(costRatio) ? c : decay * costRatio + (1 - decay) * c;
        }
        current = best(alpha(), costRatio());
    }

    /** Current estimate of the per-token acceptance rate. */
    public double alpha() {
        return tested == 0 ? 0.5 : Math.clamp(passed / tested, 0.0, 0.999);
    }

    /** Current estimate of the draft/target cost ratio c. */
    public double costRatio() {
        if (fixedCostRatio != null) return fixedCostRatio;
        return Double.isNaN(costRatio) ? 0.1 : costRatio;
    }

    private int best(double alpha, double c) {
        int bestGamma = min;
        double bestSpeedup = -1;
        for (int g = min; g <= max; g++) {
            double s = expectedSpeedup(alpha, g, c);
            if (s > bestSpeedup + 1e-12) {
                bestSpeedup = s;
                bestGamma = g;
            }
        }
        return bestGamma;
    }

    /** Expected tokens per round, (1 - α^(γ+1)) / (1 - α). */
    public static double expectedTokensPerRound(double alpha, int gamma) {
        if (alpha >= 1) return gamma + 1;
        return (1 - Math.pow(alpha, gamma + 1)) / (1 - alpha);
    }

    /** Expected speedup over plain decoding, (1 - α^(γ+1)) / ((1 - α)(γc + 1)). */
    public static double expectedSpeedup(double alpha, int gamma, double c) {
        return expectedTokensPerRound(alpha, gamma) / (gamma * c + 1);
    }
}
