package io.specdec.cluster;

import java.util.List;

/** A device worker's answer to a {@link StepPlan}: the step's events and the KV cache afterwards. */
public record StepResult(long iteration, List<StreamEvent> events, int running, int kvBlocksUsed, int kvBlocksTotal,
                         long stepNanos) {
}
