package io.specdec.core.generate;

import io.specdec.core.speculative.SpeculationStats;

import java.util.Arrays;

/**
 * One finished request.
 *
 * @param tokens       generated tokens (not the prompt); a final EOS / stop token is included
 * @param finishReason why it ended
 * @param text         the released text when a decoder was given (cut before a stop string), else null
 * @param stats        speculation counters and timings
 * @param acceptance   where chain acceptance ran: {@code host}, or the device verifier's name (e.g. {@code device-fused})
 * @param draftTokens  how draft ids reached the verifier: {@code host}, or a held chain's path (e.g. {@code device-nccl})
 */
public record GenerationResult(int[] tokens, FinishReason finishReason, String text, SpeculationStats stats,
                               String acceptance, String draftTokens) {

    public GenerationResult(int[] tokens, FinishReason finishReason, String text, SpeculationStats stats) {
        this(tokens, finishReason, text, stats, "host", "host");
    }

    public GenerationResult(int[] tokens, FinishReason finishReason, String text, SpeculationStats stats, String acceptance) {
        this(tokens, finishReason, text, stats, acceptance, "host");
    }

    @Override public String toString() {
        return "GenerationResult[tokens=" + Arrays.toString(tokens) + ", finish=" + finishReason
                + (text == null ? "" : ", text=" + text) + ", " + stats + ", acceptance=" + acceptance
                + ", draftTokens=" + draftTokens + "]";
    }
}
