package io.specdec.cluster;

import io.specdec.core.sampling.SamplingParams;
import org.apache.pekko.actor.typed.ActorRef;

import java.util.List;

/**
 * A request as it travels from a frontend to a replica's coordinator. The prompt is tokenized by the replica (it
 * holds the tokenizer): exactly one of {@code text}, {@code tokenIds}, {@code chat} is set.
 *
 * @param chat            alternating role, content strings
 * @param speculationMode "default", "off" or "on"
 * @param gamma           with "on": draft length (0 = the policy's)
 * @param drafter         with "on": "model" / "ngram" ("" = the policy's)
 * @param deadlineMillis  epoch millis after which the request is dropped with DEADLINE_EXCEEDED; 0 = none
 * @param replyTo         receives the request's {@link StreamEvent}s
 */
public record GenerationJob(String requestId, String text, int[] tokenIds, List<String> chat, SamplingParams params,
                            String speculationMode, int gamma, String drafter, boolean logprobs, int topLogprobs,
                            long deadlineMillis, ActorRef<StreamEvent> replyTo) implements ClusterMessage {
}
