package io.specdec.cluster;

/** What a coordinator sends back for one request: token deltas, then exactly one {@link Finished} or {@link Failed}. */
public sealed interface StreamEvent extends ClusterMessage {
    String requestId();

    /** Tokens emitted by one step (logprob arrays are null unless asked for). */
    record Tokens(String requestId, int[] ids, String text, double[] logprobs, int[][] topIds, double[][] topLogprobs)
            implements StreamEvent { }

    /**
     * The normal end.
     *
     * @param finishReason     a {@link io.specdec.core.generate.FinishReason} name
     * @param drafter          "off" when the request was not speculated
     * @param acceptedAtPosition per draft position, rounds accepting it; {@code draftedAtPosition} rounds offering it
     */
    record Finished(String requestId, String finishReason, String trailingText, int promptTokens, int completionTokens,
                    String replica, String drafter, long rounds, long drafted, long accepted, long targetForwards,
                    long[] draftedAtPosition, long[] acceptedAtPosition) implements StreamEvent { }

    /**
     * The request could not complete.
     *
     * @param status a gRPC status code name: INVALID_ARGUMENT, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, UNAVAILABLE,
     *               CANCELLED, INTERNAL (mapped to gRPC in the server module; this module knows no gRPC)
     */
    record Failed(String requestId, String status, String message) implements StreamEvent { }
}
