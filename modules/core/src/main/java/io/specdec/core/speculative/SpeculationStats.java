package io.specdec.core.speculative;

import java.util.Arrays;

/**
 * What speculation did for one request. Position i counts draft position i+1 (tree: depth i+1): how often a round
 * offered a token there and how often one was accepted there.
 *
 * @param rounds                speculative rounds (a round with an empty draft counts as plain decoding, not here)
 * @param drafted               draft tokens proposed (tree: all nodes)
 * @param accepted              draft tokens accepted by the verifier
 * @param emitted               tokens emitted into the output
 * @param targetForwards        target forwards that produced tokens (decode and verify; not the prompt prefill)
 * @param draftedAtPosition     per draft position: rounds offering it
 * @param acceptedAtPosition    per draft position: rounds accepting it
 * @param draftNanos            time in the drafter
 * @param verifyNanos           time in target forwards and acceptance
 */
public record SpeculationStats(long rounds, long drafted, long accepted, long emitted, long targetForwards,
                               long[] draftedAtPosition, long[] acceptedAtPosition, long draftNanos, long verifyNanos) {

    /** Accepted over drafted tokens (0 when nothing was drafted). */
    public double acceptanceRate() {
        return drafted == 0 ? 0 : (double) accepted / drafted;
    }

    /** Per draft position, the fraction of rounds offering it that accepted it. */
    public double[] acceptancePerPosition() {
        double[] out = new double[draftedAtPosition.length];
        for (int i = 0; i < out.length; i++) {
            out[i] = draftedAtPosition[i] == 0 ? 0 : (double) acceptedAtPosition[i] / draftedAtPosition[i];
        }
        return out;
    }

    public double tokensPerTargetForward() {
        return targetForwards == 0 ? 0 : (double) emitted / targetForwards;
    }

    @Override public String toString() {
        return "SpeculationStats[rounds=" + rounds + ", drafted=" + drafted + ", accepted=" + accepted
                + ", emitted=" + emitted + ", targetForwards=" + targetForwards
                + String.format(", tokens/forward=%.3f, acceptance=%.3f", tokensPerTargetForward(), acceptanceRate())
                + ", perPosition=" + Arrays.toString(acceptancePerPosition())
                + ", draftMs=" + draftNanos / 1_000_000 + ", verifyMs=" + verifyNanos / 1_000_000 + "]";
    }

    /** Accumulates one request's counts; {@link #snapshot()} freezes them. */
    public static final class Recorder {
        private long rounds;
        private long drafted;
        private long accepted;
        private long emitted;
        private long targetForwards;
        private long[] draftedAt = new long[8];
        private long[] acceptedAt = new long[8];
        private long draftNanos;
        private long verifyNanos;

        /** A verify round that offered {@code depth} positions ({@code size} tokens) and accepted {@code acceptedDepth}. */
        public void round(int size, int depth, int acceptedDepth, long draftNs, long verifyNs) {
            rounds++;
            drafted += size;
            accepted += acceptedDepth;
            targetForwards++;
            if (depth > draftedAt.length) {
                draftedAt = Arrays.copyOf(draftedAt, Math.max(depth, draftedAt.length * 2));
                acceptedAt = Arrays.copyOf(acceptedAt, draftedAt.length);
            }
            for (int i = 0; i < depth; i++) draftedAt[i]++;
            for (int i = 0; i < acceptedDepth; i++) acceptedAt[i]++;
            draftNanos += draftNs;
            verifyNanos += verifyNs;
        }

        /** A plain decode forward (no draft). */
        public void plainStep(long draftNs, long verifyNs) {
            targetForwards++;
            draftNanos += draftNs;
            verifyNanos += verifyNs;
        }

        public void emitted(int n) { emitted += n; }

        public SpeculationStats snapshot() {
            int used = 0;
            for (int i = 0; i < draftedAt.length; i++) if (draftedAt[i] > 0) used = i + 1;
            return new SpeculationStats(rounds, drafted, accepted, emitted, targetForwards,
                    Arrays.copyOf(draftedAt, used), Arrays.copyOf(acceptedAt, used), draftNanos, verifyNanos);
        }
    }
}
