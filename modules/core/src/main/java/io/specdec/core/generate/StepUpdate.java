package io.specdec.core.generate;

import io.specdec.core.speculative.SpeculationStats;

/**
 * What one engine step did for one request: the tokens it emitted (possibly none while prefilling), the text they
 * released, and, on the request's last step, why it ended.
 *
 * @param tokens       emitted token ids, in order
 * @param text         text released by them ("" without a decoder or while held back)
 * @param logprobs     per token, its log-probability under the target's raw softmax; null unless asked for
 * @param topTokens    per token, the most likely alternatives (ids); null unless asked for
 * @param topLogprobs  their log-probabilities
 * @param finishReason set on the last update of a request that ended normally
 * @param failure      set when the engine had to drop the request (the message says why)
 * @param trailingText text held back until the end (with {@code finishReason})
 * @param stats        the request's speculation counters, on its last update
 */
public record StepUpdate(BatchSequence sequence, int[] tokens, String text, double[] logprobs, int[][] topTokens,
                         double[][] topLogprobs, FinishReason finishReason, String failure, String trailingText,
                         SpeculationStats stats) {

    public boolean last() { return finishReason != null || failure != null; }
}
