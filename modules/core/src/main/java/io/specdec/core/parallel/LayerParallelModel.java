package io.specdec.core.parallel;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;

import java.util.List;

/**
 * A draft model replicated on several devices that can run a forward layer-parallel (EasySpec's fuzzy step,
 * docs/ALGORITHMS.md §3). {@link #forward} is exact: every replica runs every layer, so every replica's KV stays
 * complete. {@link #forwardFuzzy} runs each multi-layer group of {@link #plan()} with the group's attentions in
 * parallel on different replicas from the same entry residual; a layer's K/V is then written only on the replica
 * that ran its attention, which is always the same replica for the same layer, so later fuzzy steps stay consistent.
 */
public interface LayerParallelModel extends LanguageModel {

    LayerGroupPlan plan();

    /** Replicas (devices) taking part. */
    int replicas();

    List<float[][]> forwardFuzzy(List<SequenceInput> batch);

    /** The argmax of each requested row of a fuzzy forward (see {@link LanguageModel#forwardArgmax}). */
    default int[] forwardFuzzyArgmax(List<SequenceInput> batch) {
        return LanguageModel.argmaxOfRows(forwardFuzzy(batch));
    }

    /**
     * Held rounds ({@link LanguageModel#draftHeldChains}) whose draft steps run fuzzy, but round r's first step exact
     * when {@code exactFirst[r]} (a calibrating round's catch-up, or a new sequence), as the step path drafts them: the
     * exact first steps as one forward, the fuzzy ones as another. The model must be able to hold the rounds where it
     * runs; unsupported by default.
     */
    default void draftHeldChains(List<io.specdec.core.backend.HeldRound> rounds, boolean[] exactFirst) {
        throw new UnsupportedOperationException(this + " drafts no held rounds with fuzzy steps");
    }
}
