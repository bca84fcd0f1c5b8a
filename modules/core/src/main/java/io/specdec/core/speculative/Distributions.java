package io.specdec.core.speculative;

/** The small vector steps of the acceptance rules, shared by the chain and tree verifiers. */
final class Distributions {
    private Distributions() { }

    /** normalize(max(0, p - q)), or null when nothing is left (p == q up to rounding). */
    static double[] residual(double[] p, double[] q) {
        double[] r = new double[p.length];
        double sum = 0;
        for (int i = 0; i < p.length; i++) {
            double v = p[i] - (i < q.length ? q[i] : 0);
            if (v > 0) {
                r[i] = v;
                sum += v;
            }
        }
        return normalizeInPlace(r, sum);
    }

    /** p with token t removed and renormalized: the residual for a point-mass q at t. */
    static double[] without(double[] p, int t) {
        double[] r = p.clone();
        r[t] = 0;
        double sum = 0;
        for (double v : r) sum += v;
        return normalizeInPlace(r, sum);
    }

    /** Acceptance ratio p(x)/q(x) for a drawn x; q(x) &gt; 0 because x was drawn from q. */
    static double ratio(double[] p, double[] q, int x) {
        double qx = q == null ? 1.0 : q[x];
        if (!(qx > 0)) throw new IllegalStateException("token " + x + " was drafted but has no draft probability");
        return p[x] / qx;
    }

    private static double[] normalizeInPlace(double[] r, double sum) {
        if (!(sum > 1e-300)) return null;
        for (int i = 0; i < r.length; i++) r[i] /= sum;
        return r;
    }
}
