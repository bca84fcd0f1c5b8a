package io.specdec.cluster;

import io.specdec.core.sampling.SamplingParams;

import java.util.List;

/**
 * What a coordinator tells its device worker to do in one iteration (vLLM v1's split: the scheduler decides, the
 * worker executes): requests joining the batch, requests leaving it (cancelled, past their deadline), then one step.
 */
public record StepPlan(long iteration, List<Admit> admits, List<String> removals) {

    /** A request joining: its tokenized prompt and how to speculate it ({@code drafter} null = plain decoding). */
    public record Admit(String requestId, int[] prompt, SamplingParams params, String drafter, int gamma, int gammaMin,
                        int gammaMax, boolean logprobs, int topLogprobs) { }
}
