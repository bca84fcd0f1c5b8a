package io.specdec.core.sampling;

import java.util.List;
import java.util.Set;

/**
 * How one request turns logits into tokens, and when it stops. The same transforms apply to the target's {@code p}
 * and the draft's {@code q} (docs/ALGORITHMS.md §1), so speculative output follows the processed target exactly.
 *
 * @param temperature       0 for greedy (argmax), otherwise logits are divided by it
 * @param topK              keep the k most likely tokens; 0 = off
 * @param topP              keep the smallest most-likely set with cumulative probability &gt;= topP; 1 = off
 * @param minP              drop tokens below minP times the most likely token's probability; 0 = off
 * @param repetitionPenalty HF/llama.cpp: over tokens anywhere in the context, positive logits are divided by it and
 *                          negative ones multiplied; 1 = off
 * @param presencePenalty   OpenAI: subtracted once from the logit of every token generated so far
 * @param frequencyPenalty  OpenAI: subtracted per occurrence of a token generated so far
 * @param seed              seeds the request's random stream (same seed, same output); null for a fresh seed
 * @param maxTokens         most tokens to generate
 * @param stopStrings       generation stops when the text contains one (needs a decoder); the text is cut before it
 * @param stopTokenIds      generation stops after emitting one of these (the token is kept in the output)
 * @param ignoreEos         keep going past the model's end-of-sequence tokens
 */
public record SamplingParams(
        double temperature,
        int topK,
        double topP,
        double minP,
        double repetitionPenalty,
        double presencePenalty,
        double frequencyPenalty,
        Long seed,
        int maxTokens,
        List<String> stopStrings,
        Set<Integer> stopTokenIds,
        boolean ignoreEos) {

    public static final int DEFAULT_MAX_TOKENS = 256;

    public SamplingParams {
        require(Double.isFinite(temperature) && temperature >= 0, "temperature must be a finite number >= 0 (0 = greedy): " + temperature);
        require(topK >= 0, "topK must be >= 0 (0 = off): " + topK);
        require(topP > 0 && topP <= 1, "topP must be in (0, 1] (1 = off): " + topP);
        require(minP >= 0 && minP < 1, "minP must be in [0, 1) (0 = off): " + minP);
        require(Double.isFinite(repetitionPenalty) && repetitionPenalty > 0,
                "repetitionPenalty must be a finite number > 0 (1 = off): " + repetitionPenalty);
        require(Double.isFinite(presencePenalty) && Math.abs(presencePenalty) <= 2,
                "presencePenalty must be in [-2, 2] (0 = off): " + presencePenalty);
        require(Double.isFinite(frequencyPenalty) && Math.abs(frequencyPenalty) <= 2,
                "frequencyPenalty must be in [-2, 2] (0 = off): " + frequencyPenalty);
        require(maxTokens > 0, "maxTokens must be positive: " + maxTokens);
        require(stopStrings != null, "stopStrings must not be null (use an empty list)");
        require(stopTokenIds != null, "stopTokenIds must not be null (use an empty set)");
        for (String s : stopStrings) require(s != null && !s.isEmpty(), "stop strings must be non-empty: " + stopStrings);
        for (Integer t : stopTokenIds) require(t != null && t >= 0, "stop token ids must be >= 0: " + stopTokenIds);
        stopStrings = List.copyOf(stopStrings);
        stopTokenIds = Set.copyOf(stopTokenIds);
    }

    /** Temperature 1, no truncation, no penalties, fresh seed, {@value #DEFAULT_MAX_TOKENS} tokens. */
    public static SamplingParams defaults() {
        return new SamplingParams(1.0, 0, 1.0, 0.0, 1.0, 0.0, 0.0, null, DEFAULT_MAX_TOKENS, List.of(), Set.of(), false);
    }

    /** Argmax decoding. */
    public static SamplingParams greedy() {
        return defaults().withTemperature(0);
    }

    public static Builder builder() {
        return new Builder(defaults());
    }

    public Builder toBuilder() {
        return new Builder(this);
    }

    public boolean isGreedy() { return temperature == 0; }

    public boolean hasPenalties() {
        return repetitionPenalty != 1 || presencePenalty != 0 || frequencyPenalty != 0;
    }

    /**
     * Sampling with a temperature and nothing else (no top-k, top-p, min-p or penalties): what the fused acceptance
     * kernel implements (docs/ALGORITHMS.md §6).
     */
    public boolean isTemperatureOnly() {
        return !isGreedy() && topK == 0 && topP == 1 && minP == 0 && !hasPenalties();
    }

    public SamplingParams withTemperature(double t) { return toBuilder().temperature(t).build(); }

    public SamplingParams withSeed(Long s) { return toBuilder().seed(s).build(); }

    public SamplingParams withMaxTokens(int n) { return toBuilder().maxTokens(n).build(); }

    public SamplingParams withTopK(int k) { return toBuilder().topK(k).build(); }

    public SamplingParams withTopP(double p) { return toBuilder().topP(p).build(); }

    public SamplingParams withMinP(double p) { return toBuilder().minP(p).build(); }

    public SamplingParams withStopStrings(List<String> stops) { return toBuilder().stopStrings(stops).build(); }

    public SamplingParams withStopTokenIds(Set<Integer> ids) { return toBuilder().stopTokenIds(ids).build(); }

    public SamplingParams withIgnoreEos(boolean ignore) { return toBuilder().ignoreEos(ignore).build(); }

    private static void require(boolean ok, String message) {
        if (!ok) throw new IllegalArgumentException(message);
    }

    /** Mutable builder; {@link #build()} validates. */
    public static final class Builder {
        private double temperature;
        private int topK;
        private double topP;
        private double minP;
        private double repetitionPenalty;
        private double presencePenalty;
        private double frequencyPenalty;
        private Long seed;
        private int maxTokens;
        private List<String> stopStrings;
        private Set<Integer> stopTokenIds;
        private boolean ignoreEos;

        private Builder(SamplingParams from) {
            temperature = from.temperature;
            topK = from.topK;
            topP = from.topP;
            minP = from.minP;
            repetitionPenalty = from.repetitionPenalty;
            presencePenalty = from.presencePenalty;
            frequencyPenalty = from.frequencyPenalty;
            seed = from.seed;
            maxTokens = from.maxTokens;
            stopStrings = from.stopStrings;
            stopTokenIds = from.stopTokenIds;
            ignoreEos = from.ignoreEos;
        }

        public Builder temperature(double v) { temperature = v; return this; }
        public Builder topK(int v) { topK = v; return this; }
        public Builder topP(double v) { topP = v; return this; }
        public Builder minP(double v) { minP = v; return this; }
        public Builder repetitionPenalty(double v) { repetitionPenalty = v; return this; }
        public Builder presencePenalty(double v) { presencePenalty = v; return this; }
        public Builder frequencyPenalty(double v) { frequencyPenalty = v; return this; }
        public Builder seed(Long v) { seed = v; return this; }
        public Builder maxTokens(int v) { maxTokens = v; return this; }
        public Builder stopStrings(List<String> v) { stopStrings = v; return this; }
        public Builder stopTokenIds(Set<Integer> v) { stopTokenIds = v; return this; }
        public Builder ignoreEos(boolean v) { ignoreEos = v; return this; }

        public SamplingParams build() {
            return new SamplingParams(temperature, topK, topP, minP, repetitionPenalty, presencePenalty, frequencyPenalty,
                    seed, maxTokens, stopStrings, stopTokenIds, ignoreEos);
        }
    }
}
