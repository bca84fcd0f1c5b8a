package io.specdec.core.backend;

import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.ModelConfig;

import java.util.List;

/**
 * A model a backend can run: the one interface the speculative algorithms, the scheduler and the CLI use, whatever
 * executes it (CPU threads, a GPU, a tensor-parallel group). Batch-first: every call takes a ragged batch.
 */
public interface LanguageModel extends AutoCloseable {

    ModelConfig config();

    /** A new, empty sequence in this model's KV cache. Release it when done. */
    KvSequence newSequence();

    /**
     * One forward over a ragged batch. Each input's tokens are appended to its sequence's KV cache. Returns, per
     * input, the logits (vocabulary-sized rows) of the rows it asked for, in the order asked.
     */
    List<float[][]> forward(List<SequenceInput> batch);

    /**
     * The greedy token (argmax, lowest index on ties) of each requested row, in order over the batch. A backend that
     * holds the logits elsewhere (a GPU) overrides this so only the ids reach the host.
     */
    default int[] forwardArgmax(List<SequenceInput> batch) {
        return argmaxOfRows(forward(batch));
    }

    /**
     * One token per requested row (in order over the batch), drawn as {@link io.specdec.core.sampling.Sampler} draws:
     * the row's distribution processed by {@code params} (no penalties: they need each sequence's history), then the
     * inverse CDF at that row's uniform. A backend holding the logits on a device overrides this so only ids move.
     */
    default int[] forwardSampled(List<SequenceInput> batch, io.specdec.core.sampling.SamplingParams params, double[] uniforms) {
        if (params.hasPenalties()) throw new IllegalArgumentException("forwardSampled takes no penalties");
        io.specdec.core.sampling.LogitsProcessor processor = new io.specdec.core.sampling.LogitsProcessor(params);
        List<float[][]> logits = forward(batch);
        int[] out = new int[uniforms.length];
        int i = 0;
        for (float[][] rows : logits) {
            for (float[] row : rows) {
                out[i] = io.specdec.core.sampling.Sampler.inverseCdf(
                        processor.probabilities(row, io.specdec.core.sampling.TokenHistory.empty()), uniforms[i]);
                i++;
            }
        }
        return out;
    }

    /**
     * A buffer that keeps {@code draft}'s logits rows where this model can verify them without moving them (same GPU),
     * for a request sampled with {@code params}; empty (the default: this backend verifies on the host, as
     * {@link io.specdec.core.speculative.SpeculativeSampler}) when the pair or the parameters do not allow it. The
     * caller closes it when the request ends.
     */
    default java.util.Optional<HeldLogits> holdDraftLogits(LanguageModel draft, io.specdec.core.sampling.SamplingParams params) {
        return java.util.Optional.empty();
    }

    /**
     * One draft step: {@link #forwardSampled} for a single input with one requested row and the request's next
     * uniform, also keeping that row's logits as row {@code row} of {@code held} (opened by the target for this model).
     * Only backends whose targets hand out {@link HeldLogits} implement it.
     */
    default int forwardSampledHolding(SequenceInput input, io.specdec.core.sampling.SamplingParams params, double uniform,
                                      HeldLogits held, int row) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " keeps no logits rows for a target to verify");
    }

    /**
     * Chain verification of a sampled draft whose distributions are {@code held} (docs/ALGORITHMS.md §1): one forward
     * over {@code input} ([last, x1..xγ], every row's logits) and the acceptance test, drawing the request's uniforms
     * from {@code sampler} exactly as {@link io.specdec.core.speculative.SpeculativeSampler#verify} does. The default
     * decides on the host (copies the held rows back); a backend holding both sides on a device overrides it.
     *
     * @param params temperature-only sampling ({@link io.specdec.core.sampling.SamplingParams#isTemperatureOnly})
     */
    default io.specdec.core.speculative.SpeculativeSampler.Outcome verifyHeld(SequenceInput input, int[] tokens, HeldLogits held,
            io.specdec.core.sampling.SamplingParams params, io.specdec.core.sampling.Sampler sampler) {
        if (!params.isTemperatureOnly()) throw new IllegalArgumentException("verifyHeld takes temperature-only sampling, got " + params);
        return verifyOnHost(forward(input), tokens, held, params, sampler);
    }

    /**
     * {@link #verifyHeld}'s decision on the host, from the verify forward's logits rows and the held draft rows copied
     * back: exactly {@link io.specdec.core.speculative.SpeculativeSampler#verify} with the draft's q rebuilt.
     */
    static io.specdec.core.speculative.SpeculativeSampler.Outcome verifyOnHost(float[][] logits, int[] tokens, HeldLogits held,
            io.specdec.core.sampling.SamplingParams params, io.specdec.core.sampling.Sampler sampler) {
        io.specdec.core.sampling.LogitsProcessor processor = new io.specdec.core.sampling.LogitsProcessor(params);
        io.specdec.core.sampling.TokenHistory none = io.specdec.core.sampling.TokenHistory.empty();
        double[][] q = new double[tokens.length][];
        for (int i = 0; i < tokens.length; i++) q[i] = processor.probabilities(held.row(i), none);
        return io.specdec.core.speculative.SpeculativeSampler.verify(new io.specdec.core.speculative.ChainDraft(tokens, q),
                i -> processor.probabilities(logits[i], none), false, sampler);
    }

    /** {@link RowUse.Sampled}'s draw on the host from the input's one row. */
    static int sampleOnHost(float[][] rows, RowUse.Sampled u) {
        if (rows.length != 1) throw new IllegalArgumentException("a sampled step asks for one logits row, got " + rows.length);
        return io.specdec.core.sampling.Sampler.inverseCdf(new io.specdec.core.sampling.LogitsProcessor(u.params())
                .probabilities(rows[0], io.specdec.core.sampling.TokenHistory.empty()), u.uniform());
    }

    /**
     * Held draft steps of several requests in one forward ({@link #forwardSampledHolding} batched): each input asks for
     * one row, sampled with {@code params} (temperature-only; every input the same temperature, seeds aside) and its
     * uniform, and kept as row {@code rows[i]} of {@code held.get(i)}. Returns the drawn ids in order. The default runs
     * {@link #forwardSampledHolding} input by input (one forward each).
     */
    default int[] forwardSampledHolding(List<SequenceInput> batch, io.specdec.core.sampling.SamplingParams params,
                                        double[] uniforms, List<HeldLogits> held, int[] rows) {
        if (uniforms.length != batch.size() || held.size() != batch.size() || rows.length != batch.size()) {
            throw new IllegalArgumentException("one uniform, held buffer and row per input");
        }
        int[] out = new int[batch.size()];
        for (int i = 0; i < out.length; i++) out[i] = forwardSampledHolding(batch.get(i), params, uniforms[i], held.get(i), rows[i]);
        return out;
    }

    /**
     * One forward over a ragged batch whose inputs need their rows in different forms ({@link RowUse}): logits on the
     * host, only the argmax ids, or a held draft's verification. A backend that holds the logits on a device overrides
     * it so that only what each input needs leaves the device (a batch of sampled speculative requests then moves
     * decisions, not rows x vocabulary floats); the default computes every answer from {@link #forward}.
     */
    default List<RowResult> forwardEach(List<SequenceInput> batch, List<RowUse> uses) {
        if (uses.size() != batch.size()) throw new IllegalArgumentException("one row use per input: " + uses.size() + " != " + batch.size());
        List<float[][]> logits = forward(batch);
        List<RowResult> out = new java.util.ArrayList<>(batch.size());
        for (int i = 0; i < batch.size(); i++) {
            float[][] rows = logits.get(i);
            out.add(switch (uses.get(i)) {
                case RowUse.Rows r -> new RowResult.Rows(rows);
                case RowUse.Argmax a -> new RowResult.Argmax(argmaxOfRows(List.<float[][]>of(rows)));
                case RowUse.Sampled u -> new RowResult.Sampled(sampleOnHost(rows, u));
                case RowUse.HeldVerify h -> {
                    if (rows.length != h.tokens().length + 1) {
                        throw new IllegalArgumentException("a verify of " + h.tokens().length + " draft tokens asks for "
                                + (h.tokens().length + 1) + " logits rows, got " + rows.length);
                    }
                    yield new RowResult.Verified(verifyOnHost(rows, h.tokens(), h.held(), h.params(), h.sampler()));
                }
                case RowUse.HeldChainVerify h -> throw new UnsupportedOperationException(
                        getClass().getSimpleName() + " verifies no held chains in a batch (its ids are where the draft ran)");
            });
        }
        return out;
    }

    /**
     * A buffer that keeps a whole chain round of {@code draft} where this model verifies it, draft ids included
     * ({@link HeldChain}), for a greedy request without penalties or a temperature-only one; empty (the default) when
     * this backend or the pair cannot: the caller then drafts and verifies as before. The caller closes it.
     */
    default java.util.Optional<HeldChain> holdDraftChain(LanguageModel draft, io.specdec.core.sampling.SamplingParams params) {
        return java.util.Optional.empty();
    }

    /**
     * The γ draft steps of a held chain round, in order: {@code steps.get(0)} feeds what the draft's cache lacks (its
     * last row gives x1); every later step is one token whose id here is a placeholder: the backend uses the id the
     * step before produced, where it produced it (greedy: the argmax; sampled: the draw with {@code uniforms[i]}, the
     * request's next uniforms as {@link #forwardSampledHolding} would take them one by one). Nothing comes back.
     */
    default void draftHeldChain(List<SequenceInput> steps, io.specdec.core.sampling.SamplingParams params, double[] uniforms,
                                HeldChain chain) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " drafts no held chains");
    }

    /**
     * Verifies the round {@link #draftHeldChain} left in {@code chain}: one forward over {@code input} ([last, γ
     * placeholders], every row's logits), whose placeholders the backend replaces with the held ids, then the chain
     * test of docs/ALGORITHMS.md §1 (greedy: argmax compare; sampled: the request's uniforms from {@code sampler}
     * exactly as {@link #verifyHeld} draws them). Returns the decision, the only thing that reaches the host.
     */
    default io.specdec.core.speculative.SpeculativeSampler.Outcome verifyHeldChain(SequenceInput input, HeldChain chain,
            io.specdec.core.sampling.SamplingParams params, io.specdec.core.sampling.Sampler sampler) {
        throw new UnsupportedOperationException(getClass().getSimpleName() + " verifies no held chains");
    }

    /**
     * The model whose forwards this one runs unchanged: a wrapper that only watches or guards the calls returns the
     * wrapped model's (so that a target can recognise a draft beside it on its device, {@link #holdDraftChain}); a
     * model that computes something else (a layer-parallel draft's fuzzy steps) returns itself, the default.
     */
    default LanguageModel unwrapped() {
        return this;
    }

    /**
     * Whether {@link #forwardEach} verifies held chains ({@link RowUse.HeldChainVerify}), so that a batch scheduler may
     * keep its requests' rounds where they run ({@link #holdDraftChain}, {@link #draftHeldChains}); false by default.
     */
    default boolean verifiesHeldChainsInBatches() {
        return false;
    }

    /**
     * The held rounds of several requests whose drafts share this model, run together: draft step i of every round
     * still drafting in one forward, each id fed to that round's next step where it was computed. Nothing comes back.
     * Drafters call this one (a single round too), so a wrapper forwards it alone; the default runs
     * {@link #draftHeldChain} round by round.
     */
    default void draftHeldChains(List<HeldRound> rounds) {
        for (HeldRound r : rounds) draftHeldChain(r.steps(), r.params(), r.uniforms(), r.chain());
    }

    /** The argmax of every row of per-input logits, flattened in order. */
    static int[] argmaxOfRows(List<float[][]> logits) {
        int n = 0;
        for (float[][] rows : logits) n += rows.length;
        int[] out = new int[n];
        int i = 0;
        for (float[][] rows : logits) for (float[] row : rows) out[i++] = io.specdec.core.sampling.LogitsProcessor.argmax(row);
        return out;
    }

    /** Convenience for a single input. */
    default float[][] forward(SequenceInput input) {
        return forward(List.of(input)).getFirst();
    }

    @Override
    void close();
}
