package io.specdec.core.speculative;

import io.specdec.core.sampling.Sampler;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.sampling.TokenHistory;

/**
 * Proposes tokens for the target to verify. One request at a time: {@link #begin} … {@link #propose} per round …
 * {@link #end}. A drafter with a KV cache keeps it in step with the context itself: each {@code propose} sees the
 * whole context and feeds only what the cache lacks (accepted and bonus tokens of the last round).
 */
public sealed interface Drafter extends AutoCloseable permits ModelDrafter, NgramDrafter, TreeDrafter, CardDrafter {

    /**
     * Starts a request.
     *
     * @param params    the request's sampling transforms, applied to q exactly as to p
     * @param sampler   the drafter's own random stream (split from the request's)
     * @param vocabSize the target's vocabulary size: every q has this length
     */
    void begin(SamplingParams params, Sampler sampler, int vocabSize);

    /** Proposes continuations of {@code context} at most {@code maxDepth} tokens deep (may be empty). */
    Draft propose(TokenHistory context, int maxDepth);

    /** Ends the request and frees what it held (KV blocks). Safe to call twice. */
    void end();

    @Override
    default void close() { end(); }
}
