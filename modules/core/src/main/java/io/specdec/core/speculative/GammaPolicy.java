package io.specdec.core.speculative;

/** How many tokens to draft next round. */
public sealed interface GammaPolicy permits GammaPolicy.Fixed, AdaptiveGamma {

    /** The draft length for the next round (&gt;= 0). */
    int next();

    /**
     * One round's measurements.
     *
     * @param drafted     positions offered (chain length, tree depth)
     * @param accepted    positions accepted
     * @param draftNanos  time spent drafting
     * @param verifyNanos time of the target's verify forward
     */
    void record(int drafted, int accepted, long draftNanos, long verifyNanos);

    static GammaPolicy fixed(int gamma) {
        return new Fixed(gamma);
    }

    record Fixed(int gamma) implements GammaPolicy {
        public Fixed {
            if (gamma < 0) throw new IllegalArgumentException("gamma must be >= 0: " + gamma);
        }

        @Override public int next() { return gamma; }

        @Override public void record(int drafted, int accepted, long draftNanos, long verifyNanos) { }
    }
}
