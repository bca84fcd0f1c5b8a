package io.specdec.cluster;

import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvCacheExhaustedException;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.parallel.LayerGroupPlan;
import io.specdec.core.parallel.LayerParallelModel;

import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * A rank's draft replica as its engine sees it: the same calls, but a forward that throws (other than for a full KV
 * cache) is reported. The engine fails only the drafting requests; a fuzzy step's collective breaking means the group cannot
 * go on, exactly as when the target's forward throws.
 */
final class WatchedDraft implements LayerParallelModel {
    private final LayerParallelModel model;
    private final Consumer<RuntimeException> failed;

    WatchedDraft(LayerParallelModel model, Consumer<RuntimeException> failed) {
        this.model = model;
        this.failed = failed;
    }

    @Override public ModelConfig config() { return model.config(); }

    @Override public LayerGroupPlan plan() { return model.plan(); }

    @Override public int replicas() { return model.replicas(); }

    @Override public KvSequence newSequence() { return model.newSequence(); }

    @Override public List<float[][]> forward(List<SequenceInput> batch) { return watch(() -> model.forward(batch)); }

    @Override public int[] forwardArgmax(List<SequenceInput> batch) { return watch(() -> model.forwardArgmax(batch)); }

    @Override public List<float[][]> forwardFuzzy(List<SequenceInput> batch) { return watch(() -> model.forwardFuzzy(batch)); }

    @Override public int[] forwardFuzzyArgmax(List<SequenceInput> batch) { return watch(() -> model.forwardFuzzyArgmax(batch)); }

    /** Held chain rounds (a GPU rank's draft beside its target) are drafted by the wrapped model, watched alike. */
    @Override public void draftHeldChains(List<io.specdec.core.backend.HeldRound> rounds) {
        watch(() -> {
            model.draftHeldChains(rounds);
            return null;
        });
    }

    @Override public void draftHeldChains(List<io.specdec.core.backend.HeldRound> rounds, boolean[] exactFirst) {
        watch(() -> {
            model.draftHeldChains(rounds, exactFirst);
            return null;
        });
    }

    @Override public io.specdec.core.backend.LanguageModel unwrapped() { return model.unwrapped(); }

    private <T> T watch(Supplier<T> forward) {
        try {
            return forward.get();
        } catch (RuntimeException e) {
            // a full cache is raised before any collective (when the sequences grow), alike on every rank
            if (!(e instanceof KvCacheExhaustedException)) failed.accept(e);
            throw e;
        }
    }

    @Override public void close() { model.close(); }

    @Override public String toString() { return model.toString(); }
}
