package io.specdec.cluster;

/**
 * The cluster's speculation settings, set by operators and applied by every coordinator to new requests.
 *
 * @param enabled             speculate at all
 * @param drafter             "model" (the replica's draft model) or "ngram"
 * @param gamma               fixed draft length; 0 = adaptive within [gammaMin, gammaMax]
 * @param autoOffRunningAbove plain decoding for requests admitted while more than this many run; 0 = never
 * @param minAcceptance       per-request auto-off by measured acceptance: NOT IMPLEMENTED yet, so only 0 (never) is
 *                            accepted — a value that would silently do nothing is refused instead
 */
public record SpeculationPolicy(boolean enabled, String drafter, int gamma, int gammaMin, int gammaMax,
                                int autoOffRunningAbove, double minAcceptance) implements ClusterMessage {

    public SpeculationPolicy {
        if (!drafter.equals("model") && !drafter.equals("ngram")) {
            throw new IllegalArgumentException("drafter must be \"model\" or \"ngram\", got \"" + drafter + "\"");
        }
        if (gamma < 0 || gamma > 16) throw new IllegalArgumentException("gamma must be in [0, 16] (0 = adaptive): " + gamma);
        if (gammaMin < 1 || gammaMax < gammaMin || gammaMax > 16) {
            throw new IllegalArgumentException("need 1 <= gamma_min <= gamma_max <= 16: " + gammaMin + ", " + gammaMax);
        }
        if (autoOffRunningAbove < 0) throw new IllegalArgumentException("auto_off_running_above must be >= 0");
        if (minAcceptance != 0) {
            throw new IllegalArgumentException("min_acceptance is not implemented yet: only 0 (never switch off by "
                    + "acceptance) is accepted, got " + minAcceptance + "; use auto_off_running_above for load");
        }
    }

    public static SpeculationPolicy defaults() {
        return new SpeculationPolicy(true, "model", 4, 1, 8, 0, 0);
    }
}
