package io.specdec.cluster;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.generate.BatchEngine;
import io.specdec.core.generate.BatchSequence;
import io.specdec.core.generate.StepUpdate;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvCacheExhaustedException;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.AdaptiveGamma;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.SpeculationStats;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;

/**
 * A {@link BatchEngine} driven by {@link StepPlan}s: removals, admits, one step, and the step's {@link StreamEvent}s.
 * A device worker runs one over its whole model; each rank of a tensor-parallel group runs one over its shard, all
 * with the same plans, so every rank emits the same events (only rank 0's reach the coordinator). Not thread-safe.
 */
final class ReplicaEngine implements AutoCloseable {
    private final ModelRuntime runtime;
    private final PagedKvCache cache;
    private final String deviceId;
    private final String stepFailureStatus;
    private final Function<String, Drafter> drafters;
    private final int ranks;
    private final BatchEngine engine;
    private final Map<String, BatchSequence> byRequest = new HashMap<>();
    private final Map<Long, String> requestOf = new HashMap<>();
    private final Map<String, String> drafterOf = new HashMap<>();
    private List<String> finishedLastStep = List.of();
    private RuntimeException lastFailure;

    /**
     * @param runtime           the device's runtime: tokenizer and drafters
     * @param target            the model the engine runs (the runtime's target, or this device's rank of a group)
     * @param stepFailureStatus the status a request fails with when a step throws (a group's rank: UNAVAILABLE)
     * @param drafters          a fresh drafter of a kind ("model", "ngram") for one request
     */
    ReplicaEngine(ModelRuntime runtime, LanguageModel target, PagedKvCache cache, int prefillChunk, String deviceId,
                  String stepFailureStatus, Function<String, Drafter> drafters) {
        this(runtime, target, cache, prefillChunk, deviceId, stepFailureStatus, drafters, 0);
    }

    /**
     * @param ranks the ranks of a group whose engines must take the same decisions from the same plans, or 0: adaptive γ
     *              then uses a cost ratio fixed from the models' sizes instead of this engine's own timings, which
     *              differ between ranks and would make them draft and verify different lengths
     */
    ReplicaEngine(ModelRuntime runtime, LanguageModel target, PagedKvCache cache, int prefillChunk, String deviceId,
                  String stepFailureStatus, Function<String, Drafter> drafters, int ranks) {
        this.ranks = ranks;
        this.runtime = runtime;
        this.drafters = drafters;
        this.cache = cache;
        this.deviceId = deviceId;
        this.stepFailureStatus = stepFailureStatus;
        this.engine = new BatchEngine(new Watched(target), prefillChunk);
    }

    /**
     * The target as the engine sees it: the same calls, but a forward that throws is remembered. The engine turns it
     * into failed requests; for a group's rank it also means a collective broke, so the group cannot go on.
     */
    private final class Watched implements LanguageModel {
        private final LanguageModel model;

        Watched(LanguageModel model) { this.model = model; }

        @Override public ModelConfig config() { return model.config(); }

        @Override public KvSequence newSequence() { return model.newSequence(); }

        @Override public List<float[][]> forward(List<SequenceInput> batch) {
            try {
                return model.forward(batch);
            } catch (RuntimeException e) {
                throw seen(e);
            }
        }

        @Override public int[] forwardArgmax(List<SequenceInput> batch) {
            try {
                return model.forwardArgmax(batch);
            } catch (RuntimeException e) {
                throw seen(e);
            }
        }

        @Override public int[] forwardSampled(List<SequenceInput> batch, SamplingParams params, double[] uniforms) {
            try {
                return model.forwardSampled(batch, params, uniforms);
            } catch (RuntimeException e) {
                throw seen(e);
            }
        }

        /** Sampled drafts held and verified where the logits are (a GPU), as on the bare model. */
        @Override public java.util.Optional<io.specdec.core.backend.HeldLogits> holdDraftLogits(LanguageModel draft,
                                                                                          SamplingParams params) {
            return model.holdDraftLogits(draft, params);
        }

        /** Whole rounds held where the models run (a GPU), as on the bare model: only if it verifies them in batches. */
        @Override public boolean verifiesHeldChainsInBatches() { return model.verifiesHeldChainsInBatches(); }

        @Override public java.util.Optional<io.specdec.core.backend.HeldChain> holdDraftChain(LanguageModel draft,
                                                                                        SamplingParams params) {
            return model.holdDraftChain(draft, params);
        }

        @Override public List<io.specdec.core.backend.RowResult> forwardEach(List<SequenceInput> batch,
                                                                          List<io.specdec.core.backend.RowUse> uses) {
            try {
                return model.forwardEach(batch, uses);
            } catch (RuntimeException e) {
                throw seen(e);
            }
        }

        private RuntimeException seen(RuntimeException e) {
            if (!(e instanceof KvCacheExhaustedException) && lastFailure == null) lastFailure = e;
            return e;
        }

        @Override public void close() { model.close(); }
    }

    /**
     * A model the engine does not wrap itself (a group rank's draft replica) failed in this step: its requests fail
     * with the step-failure status and {@link #lastFailure()} reports it, as for a failed target forward.
     */
    void failed(RuntimeException e) {
        if (lastFailure == null) lastFailure = e;
    }

    /** Runs one plan; {@code t0} is when the worker received it (for the step time). */
    StepResult run(StepPlan plan, long t0) {
        lastFailure = null;
        List<StreamEvent> events = new ArrayList<>();
        for (String id : plan.removals()) {
            BatchSequence s = byRequest.remove(id);
            if (s != null) {
                engine.remove(s);
                requestOf.remove(s.id());
                drafterOf.remove(id);
            }
        }
        for (StepPlan.Admit a : plan.admits()) {
            Drafter drafter = null;
            try {
                GammaPolicy gamma = null;
                if (a.drafter() != null) {
                    drafter = drafters.apply(a.drafter());
                    gamma = a.gamma() > 0 ? GammaPolicy.fixed(a.gamma()) : adaptive(a, drafter);
                }
                var detokenizer = runtime.tokenizer().newStreamingDetokenizer(a.prompt().length <= 1);
                BatchSequence s = engine.add(a.prompt(), a.params(), drafter, gamma, detokenizer::push, a.logprobs(),
                        a.topLogprobs());
                byRequest.put(a.requestId(), s);
                requestOf.put(s.id(), a.requestId());
                drafterOf.put(a.requestId(), a.drafter() == null ? "off" : drafter.toString());
            } catch (IllegalArgumentException e) {
                if (drafter != null) drafter.end();
                events.add(new StreamEvent.Failed(a.requestId(), "INVALID_ARGUMENT", e.getMessage()));
            }
        }
        List<StepUpdate> updates;
        try {
            updates = engine.step();
        } catch (RuntimeException e) {
            lastFailure = e;
            updates = List.of();
            for (BatchSequence s : engine.running()) {
                String id = requestOf.remove(s.id());
                byRequest.remove(id);
                drafterOf.remove(id);
                events.add(new StreamEvent.Failed(id, stepFailureStatus, "step failed on device " + deviceId + ": " + e.getMessage()));
                engine.remove(s);
            }
        }
        for (StepUpdate u : updates) {
            String id = requestOf.get(u.sequence().id());
            if (u.tokens().length > 0 || !u.text().isEmpty()) {
                events.add(new StreamEvent.Tokens(id, u.tokens(), u.text(), u.logprobs(), u.topTokens(), u.topLogprobs()));
            }
            if (u.last()) {
                byRequest.remove(id);
                requestOf.remove(u.sequence().id());
                String drafter = drafterOf.remove(id);
                if (u.failure() != null) {
                    String status = u.failure().startsWith("KV cache full") ? "RESOURCE_EXHAUSTED"
                            : lastFailure != null ? stepFailureStatus : "INTERNAL";
                    events.add(new StreamEvent.Failed(id, status, u.failure()));
                } else {
                    SpeculationStats st = u.stats();
                    events.add(new StreamEvent.Finished(id, u.finishReason().name(), u.trailingText(),
                            u.sequence().promptLength(), u.sequence().generated(), "", drafter, st.rounds(), st.drafted(),
                            st.accepted(), st.targetForwards(), st.draftedAtPosition(), st.acceptedAtPosition()));
                }
            }
        }
        List<String> finished = new ArrayList<>();
        for (StreamEvent e : events) if (!(e instanceof StreamEvent.Tokens)) finished.add(e.requestId());
        finishedLastStep = finished;
        return new StepResult(plan.iteration(), events, engine.size(), cache.totalBlocks() - cache.freeBlocks(),
                cache.totalBlocks(), System.nanoTime() - t0);
    }

    private GammaPolicy adaptive(StepPlan.Admit a, Drafter drafter) {
        AdaptiveGamma gamma = new AdaptiveGamma(a.gammaMin(), a.gammaMax(), Math.clamp(4, a.gammaMin(), a.gammaMax()), 0.9);
        if (ranks == 0) return gamma;
        // decode is a weight stream: a draft token costs its bytes against the target's share a rank streams (an
        // approximation: EasySpec's fuzzy steps read less); n-grams cost nothing
        double c = drafter instanceof ModelDrafter md
                ? (double) md.model().config().parameterCount() * ranks / engine.target().config().parameterCount() : 0;
        return gamma.withFixedCostRatio(c);
    }

    /** Requests that finished or failed in the last step (a group's leader passes them on with the next plan). */
    List<String> finishedLastStep() { return finishedLastStep; }

    /** The exception the last step's target forward (or the step itself) threw — its requests failed — or null. */
    RuntimeException lastFailure() { return lastFailure; }

    /** Request ids in the batch. */
    Set<String> requests() { return Set.copyOf(byRequest.keySet()); }

    int size() { return engine.size(); }

    PagedKvCache cache() { return cache; }

    @Override
    public void close() { engine.close(); }
}
