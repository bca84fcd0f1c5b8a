package io.specdec.core.testing;

import java.util.ArrayList;
import java.util.List;

/**
 * Pearson's chi-square goodness-of-fit test, with the p-value from the regularized upper incomplete gamma function
 * Q(df/2, x/2). Bins with an expected count under {@link #MIN_EXPECTED} are pooled into one bin.
 */
public final class ChiSquare {
    public static final double MIN_EXPECTED = 5;

    private ChiSquare() { }

    public record Result(double statistic, int degreesOfFreedom, double pValue) {
        @Override public String toString() {
            return String.format("chi2=%.2f df=%d p=%.3g", statistic, degreesOfFreedom, pValue);
        }
    }

    /** Tests observed counts against expected probabilities (which must sum to 1). */
    public static Result test(long[] observed, double[] expected) {
        long n = 0;
        for (long o : observed) n += o;
        List<double[]> bins = new ArrayList<>(); // {observed, expected count}
        double pooledObserved = 0;
        double pooledExpected = 0;
        for (int i = 0; i < observed.length; i++) {
            if (expected[i] == 0 && observed[i] > 0) {
                // an outcome the reference gives probability 0: certainly not a match
                return new Result(Double.POSITIVE_INFINITY, 1, 0);
            }
            double e = expected[i] * n;
            if (e < MIN_EXPECTED) {
                pooledObserved += observed[i];
                pooledExpected += e;
            } else {
                bins.add(new double[] {observed[i], e});
            }
        }
        if (pooledExpected > 0) {
            if (pooledExpected < MIN_EXPECTED && !bins.isEmpty()) {
                double[] smallest = bins.getFirst();
                for (double[] b : bins) if (b[1] < smallest[1]) smallest = b;
                smallest[0] += pooledObserved;
                smallest[1] += pooledExpected;
            } else {
                bins.add(new double[] {pooledObserved, pooledExpected});
            }
        }
        double stat = 0;
        for (double[] b : bins) stat += (b[0] - b[1]) * (b[0] - b[1]) / b[1];
        int df = bins.size() - 1;
        if (df < 1) throw new IllegalArgumentException("need at least two bins for a chi-square test");
        return new Result(stat, df, upperRegularizedGamma(df / 2.0, stat / 2.0));
    }

    /** Q(a, x) = Γ(a, x) / Γ(a), by series for x &lt; a + 1 and by continued fraction otherwise. */
    public static double upperRegularizedGamma(double a, double x) {
        if (x <= 0) return 1;
        if (x < a + 1) return 1 - lowerSeries(a, x);
        return upperContinuedFraction(a, x);
    }

    private static double lowerSeries(double a, double x) {
        double sum = 1 / a;
        double term = sum;
        for (int n = 1; n < 10_000; n++) {
            term *= x / (a + n);
            sum += term;
            if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
        }
        return sum * Math.exp(-x + a * Math.log(x) - logGamma(a));
    }

    private static double upperContinuedFraction(double a, double x) {
        double tiny = 1e-300;
        double b = x + 1 - a;
        double c = 1 / tiny;
        double d = 1 / b;
        double h = d;
        for (int i = 1; i < 10_000; i++) {
            double an = -i * (i - a);
            b += 2;
            d = an * d + b;
            if (Math.abs(d) < tiny) d = tiny;
            c = b + an / c;
            if (Math.abs(c) < tiny) c = tiny;
            d = 1 / d;
            double delta = d * c;
            h *= delta;
            if (Math.abs(delta - 1) < 1e-15) break;
        }
        return Math.exp(-x + a * Math.log(x) - logGamma(a)) * h;
    }

    /** Lanczos approximation (g = 7, n = 9), accurate to ~1e-15 for a &gt; 0. */
    public static double logGamma(double x) {
        double[] g = {0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
                -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
                1.5056327351493116e-7};
        if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
        x -= 1;
        double a = g[0];
        double t = x + 7.5;
        for (int i = 1; i < 9; i++) a += g[i] / (x + i);
        return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
    }
}
