package io.specdec.core.generate;

import io.specdec.core.backend.AttentionMask;
import io.specdec.core.backend.HeldRound;
import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.RowResult;
import io.specdec.core.backend.RowUse;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvCacheExhaustedException;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.sampling.StopStringMatcher;
import io.specdec.core.sampling.TokenHistory;
import io.specdec.core.speculative.ChainDraft;
import io.specdec.core.speculative.Draft;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.SpeculativeSampler;
import io.specdec.core.speculative.TreeDraft;
import io.specdec.core.speculative.TreeVerifier;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Continuous batching over one target model: every {@link #step()} runs ONE target forward over all running
 * requests — prefill chunks of new ones, [last] for plain decoding, [last, x1..xγ] or [last, tree] for speculative
 * rounds — then applies each request's acceptance rule (docs/ALGORITHMS.md §1, §2) with its own sampler, exactly as
 * {@link Generation} does for one request, so batched output equals one-at-a-time output token for token (greedy,
 * and sampled with a seed) and stays lossless. Chain drafts of requests sharing a draft model are batched too: one
 * draft forward per draft position over all of them. Requests join ({@link #add}) and leave ({@link #remove}, or by
 * finishing) between steps; leaving frees their KV blocks and ends their drafter.
 * Not thread-safe: the owner of the model (a device worker) drives it from one thread.
 */
public final class BatchEngine implements AutoCloseable {
    private final LanguageModel target;
    private final int prefillChunk;
    private final int vocabSize;
    private final int maxSequenceLength;
    private final Map<Long, BatchSequence> running = new LinkedHashMap<>();
    private long nextId = 1;
    private long steps;

    /**
     * @param target       the model every request's output follows
     * @param prefillChunk most prompt tokens one request feeds per step (longer prompts prefill over several steps,
     *                     so they do not stall the decoding requests)
     */
    public BatchEngine(LanguageModel target, int prefillChunk) {
        if (prefillChunk < 1) throw new IllegalArgumentException("prefill chunk must be >= 1: " + prefillChunk);
        this.target = target;
        this.prefillChunk = prefillChunk;
        this.vocabSize = target.config().vocabSize();
        this.maxSequenceLength = target.config().maxSequenceLength();
    }

    public LanguageModel target() { return target; }

    /**
     * Adds a request; its prefill starts with the next step. Validates like {@link Generator#start}.
     *
     * @param drafter  a drafter serving only this request (the engine begins and ends it), or null for plain decoding
     * @param gamma    this request's draft length policy (ignored without a drafter)
     * @param decoder  needed when {@code params} has stop strings
     * @param logprobs return log-probabilities with {@code topLogprobs} alternatives per token
     */
    public BatchSequence add(int[] prompt, SamplingParams params, Drafter drafter, GammaPolicy gamma, TextDecoder decoder,
                             boolean logprobs, int topLogprobs) {
        RequestChecks.validate(prompt, params, decoder, vocabSize, maxSequenceLength);
        if (drafter != null && gamma == null) throw new IllegalArgumentException("a drafter needs a gamma policy");
        if (topLogprobs < 0 || topLogprobs > 20) throw new IllegalArgumentException("top logprobs must be in [0, 20]: " + topLogprobs);
        BatchSequence s = new BatchSequence(nextId++, target.newSequence(), prompt, params, drafter, gamma, decoder,
                target.config().eosTokenIds(), logprobs, topLogprobs);
        if (drafter != null) {
            try {
                drafter.begin(params, s.sampler.split(), vocabSize);
                // a round whose ids and logits stay where the models run, when the target verifies such rounds in
                // batches: only each round's decision comes back (docs/DESIGN.md, the request's path)
                if (drafter instanceof ModelDrafter md && !logprobs && target.verifiesHeldChainsInBatches()
                        && (params.isTemperatureOnly() || (params.isGreedy() && !params.hasPenalties()))) {
                    s.chain = target.holdDraftChain(md.model(), params).orElse(null);
                    if (s.chain != null) md.holdChain(s.chain);
                }
                // a sampled chain whose logits both models keep on one device is verified there, as in Generation
                if (s.chain == null && drafter instanceof ModelDrafter md && params.isTemperatureOnly() && !logprobs) {
                    s.held = target.holdDraftLogits(md.model(), params).orElse(null);
                    if (s.held != null) md.holdDistributions(s.held);
                }
            } catch (RuntimeException e) {
                if (s.held != null) s.held.close();
                if (s.chain != null) s.chain.close();
                s.sequence.release();
                throw e;
            }
        }
        running.put(s.id, s);
        return s;
    }

    /** Drops a request (cancellation, deadline, error): frees its KV and ends its drafter. */
    public void remove(BatchSequence s) {
        running.remove(s.id);
        release(s);
    }

    public List<BatchSequence> running() { return List.copyOf(running.values()); }

    public int size() { return running.size(); }

    public long steps() { return steps; }

    private record Planned(BatchSequence s, Draft draft, int feed, int kvBefore, int rootRow, long draftNanos) { }

    /**
     * One iteration: drafts for every decoding request, one batched target forward, acceptance per request. Returns
     * an update for every request that emitted tokens, finished or failed; finished and failed requests have left.
     */
    public List<StepUpdate> step() {
        List<StepUpdate> updates = new ArrayList<>();
        List<Planned> plans = new ArrayList<>();
        List<Drafting> drafting = new ArrayList<>();
        List<HeldDrafting> heldRounds = new ArrayList<>();
        for (BatchSequence s : List.copyOf(running.values())) {
            try {
                int kv = s.sequence.length();
                int missing = s.length - kv;
                // Prefill: a long prompt is fed in chunks without logits; the step feeding its last token decodes too.
                if (missing - 1 > prefillChunk) {
                    plans.add(new Planned(s, null, prefillChunk, kv, -1, 0));
                    continue;
                }
                if (s.length >= maxSequenceLength) {
                    String trailing = finish(s, FinishReason.LENGTH);
                    updates.add(new StepUpdate(s, new int[0], "", null, null, null, FinishReason.LENGTH, null, trailing,
                            s.stats.snapshot()));
                    continue;
                }
                int remaining = s.params.maxTokens() - s.generated();
                int gamma = s.drafter == null ? 0
                        : Math.min(s.gamma.next(), Math.min(remaining - 1, maxSequenceLength - s.length - 1));
                if (gamma > 0 && s.chain != null && s.drafter instanceof ModelDrafter md) {
                    heldRounds.add(new HeldDrafting(s, kv, missing, md.model(), md.startHeldRound(s.history(), gamma)));
                    continue;
                }
                if (gamma > 0 && s.drafter instanceof ModelDrafter md) {
                    drafting.add(new Drafting(s, kv, missing, md.model(), md.startRound(s.history(), gamma)));
                    continue;
                }
                long t0 = System.nanoTime();
                Draft draft = gamma > 0 ? s.drafter.propose(s.history(), gamma) : ChainDraft.empty();
                plans.add(new Planned(s, draft, missing, kv, missing - 1, System.nanoTime() - t0));
            } catch (RuntimeException e) {
                updates.add(fail(s, "drafting failed: " + e.getMessage()));
            }
        }
        draftTogether(drafting, plans, updates);
        draftHeldTogether(heldRounds, plans, updates);
        List<SequenceInput> batch = new ArrayList<>(plans.size());
        for (Planned p : plans) batch.add(input(p));
        if (batch.isEmpty()) return updates;
        steps++;
        long t0 = System.nanoTime();
        // Greedy chain verification needs only each row's argmax, as in Generation: when that holds for the whole
        // batch it is taken where the logits are (on a GPU only the ids move, not rows x vocab floats).
        boolean argmaxOnly = plans.stream().allMatch(BatchEngine::argmaxSuffices);
        // Held drafts are verified, and plain sampled steps drawn, where their logits are: with either in the batch,
        // every input takes only what it needs (forwardEach).
        boolean anyHeld = plans.stream().anyMatch(p -> heldDraft(p) != null || heldChain(p) != null || plainSampled(p));
        List<float[][]> logits = null;
        int[] best = null;
        List<RowResult> each = null;
        try {
            if (argmaxOnly) best = target.forwardArgmax(batch);
            else if (anyHeld) {
                List<RowUse> uses = plans.stream().map(BatchEngine::rowUse).toList();
                try {
                    each = target.forwardEach(batch, uses);
                } catch (RuntimeException e) {
                    // a failed forward consumed no uniform: the requests draw the same ones next step
                    for (int i = 0; i < uses.size(); i++) {
                        if (uses.get(i) instanceof RowUse.Sampled u) plans.get(i).s.sampler.putBack(new double[] {u.uniform()}, 0);
                    }
                    throw e;
                }
            }
            else logits = target.forward(batch);
        } catch (KvCacheExhaustedException e) {
            // Roll every sequence back and drop the newest request: the others go on next step.
            for (Planned p : plans) {
                p.s.sequence.truncate(Math.min(p.kvBefore, p.s.sequence.length()));
                abandonHeldRound(p);
            }
            BatchSequence newest = plans.getFirst().s;
            for (Planned p : plans) if (p.s.id > newest.id) newest = p.s;
            updates.add(fail(newest, e.getMessage()));
            return updates;
        } catch (RuntimeException e) {
            for (Planned p : plans) {
                p.s.sequence.truncate(Math.min(p.kvBefore, p.s.sequence.length()));
                updates.add(fail(p.s, "target forward failed: " + e));
            }
            return updates;
        }
        long forwardNanos = System.nanoTime() - t0;
        int row = 0;
        for (int i = 0; i < plans.size(); i++) {
            Planned p = plans.get(i);
            int firstRow = row;
            row += batch.get(i).logitRows().length;
            try {
                StepUpdate u = argmaxOnly ? applyArgmax(p, best, firstRow, forwardNanos)
                        : each == null ? apply(p, logits.get(i), forwardNanos)
                        : switch (each.get(i)) {
                            case RowResult.Argmax a -> applyArgmax(p, a.ids(), 0, forwardNanos);
                            case RowResult.Rows r -> apply(p, r.logits(), forwardNanos);
                            case RowResult.Verified v -> applyOutcome(p, settleHeld(p, v.outcome()), forwardNanos);
                            case RowResult.Sampled t -> applySampled(p, t.token(), forwardNanos);
                        };
                if (u != null) updates.add(u);
            } catch (RuntimeException e) {
                updates.add(fail(p.s, "verification failed: " + e));
            }
        }
        return updates;
    }

    /** Greedy chain verification needs only each row's argmax (a prefill chunk needs no row at all). */
    private static boolean argmaxSuffices(Planned p) {
        return p.draft == null || (p.draft instanceof ChainDraft c && c.chain() == null && p.s.params.isGreedy()
                && !p.s.params.hasPenalties() && !p.s.logprobs);
    }

    /** A round held whole where the models run (its ids never reached the host), or null. */
    private static ChainDraft heldChain(Planned p) {
        return p.draft instanceof ChainDraft c && c.chain() != null && c.size() > 0 ? c : null;
    }

    /**
     * A held round's decision: the target's KV records of the accepted drafts get their ids (the forward appended
     * placeholders there), and the drafter's cache is settled alike.
     */
    private static SpeculativeSampler.Outcome settleHeld(Planned p, SpeculativeSampler.Outcome outcome) {
        if (heldChain(p) == null) return outcome;
        p.s.sequence.relabel(p.kvBefore + p.feed, Arrays.copyOf(outcome.emitted(), outcome.accepted()));
        ((ModelDrafter) p.s.drafter).settleHeldRound(outcome);
        return outcome;
    }

    /** A held round that was never verified (the forward failed): the drafter drops its placeholder steps. */
    private static void abandonHeldRound(Planned p) {
        if (heldChain(p) != null) ((ModelDrafter) p.s.drafter).settleHeldRound(new SpeculativeSampler.Outcome(0, new int[0]));
    }

    /** The draft whose distributions the target holds (verified where they are), or null. */
    private static ChainDraft heldDraft(Planned p) {
        return p.draft instanceof ChainDraft c && c.held() != null && c.size() > 0 ? c : null;
    }

    /** A plain sampled decode step (no draft tokens) that needs neither penalties nor log-probabilities. */
    private static boolean plainSampled(Planned p) {
        return p.draft instanceof ChainDraft c && c.size() == 0 && c.held() == null && !p.s.params.isGreedy()
                && !p.s.params.hasPenalties() && !p.s.logprobs;
    }

    private static RowUse rowUse(Planned p) {
        if (heldChain(p) != null) return new RowUse.HeldChainVerify(heldChain(p).chain(), p.s.params, p.s.sampler);
        ChainDraft held = heldDraft(p);
        if (held != null) return new RowUse.HeldVerify(held.tokens(), held.held(), p.s.params, p.s.sampler);
        // drawn here, as apply would draw it after the forward (one uniform per plain sampled step)
        if (plainSampled(p)) return new RowUse.Sampled(p.s.sampler.uniform(), p.s.params);
        return argmaxSuffices(p) ? RowUse.ARGMAX : RowUse.ROWS;
    }

    private record Drafting(BatchSequence s, int kv, int missing, LanguageModel model, ModelDrafter.Round round) implements DraftingRound { }

    /**
     * Chain drafting for every request with a model drafter, batched per draft model: one draft forward per draft
     * position over all those requests (the first also catches each draft cache up with its context); at a position
     * where greedy and sampled rounds mix, one argmax forward for the greedy ones and one logits forward for the rest.
     */
    private void draftTogether(List<Drafting> drafting, List<Planned> plans, List<StepUpdate> updates) {
        if (drafting.isEmpty()) return;
        long t0 = System.nanoTime();
        List<Drafting> done = perDraftModel(drafting, BatchEngine::draftPositions, updates);
        long draftNanos = System.nanoTime() - t0;
        for (Drafting d : done) plans.add(new Planned(d.s(), d.round().draft(), d.missing(), d.kv(), d.missing() - 1, draftNanos));
    }

    /** The rounds of one draft model, position by position until every round is complete. */
    private static void draftPositions(LanguageModel model, List<Drafting> rounds) {
        while (true) {
            // Greedy rounds take their draft ids where the logits are (forwardArgmax: on a GPU only ids
            // move); the others need their rows on the host to sample and keep q.
            List<Drafting> byId = new ArrayList<>(), byRow = new ArrayList<>();
            // held rounds keep their rows where the target verifies them: one forward per temperature
            Map<Double, List<Drafting>> byHeld = new java.util.TreeMap<>();
            for (Drafting d : rounds) {
                if (d.round().input() == null) continue;
                if (d.round().holding()) byHeld.computeIfAbsent(d.round().params().temperature(), t -> new ArrayList<>()).add(d);
                else (d.round().argmaxOnly() ? byId : byRow).add(d);
            }
            if (byId.isEmpty() && byRow.isEmpty() && byHeld.isEmpty()) break;
            for (List<Drafting> same : byHeld.values()) {
                double[] uniforms = new double[same.size()];
                int[] rows = new int[same.size()];
                List<io.specdec.core.backend.HeldLogits> held = new ArrayList<>(same.size());
                for (int i = 0; i < same.size(); i++) {
                    ModelDrafter.Round r = same.get(i).round();
                    uniforms[i] = r.heldUniform();
                    rows[i] = r.heldRow();
                    held.add(r.heldLogits());
                }
                int[] ids = model.forwardSampledHolding(inputsOf(same), same.getFirst().round().params(),
                        uniforms, held, rows);
                for (int i = 0; i < same.size(); i++) same.get(i).round().offerHeld(ids[i]);
            }
            if (!byId.isEmpty()) {
                int[] ids = model.forwardArgmax(inputsOf(byId));
                for (int i = 0; i < byId.size(); i++) byId.get(i).round().offerToken(ids[i]);
            }
            if (!byRow.isEmpty()) {
                List<float[][]> logits = model.forward(inputsOf(byRow));
                for (int i = 0; i < byRow.size(); i++) byRow.get(i).round().offer(logits.get(i)[0]);
            }
        }
    }

    /** A request's round in the drafting phase of a step: which request, and the draft model it runs on. */
    private sealed interface DraftingRound permits Drafting, HeldDrafting {
        BatchSequence s();

        LanguageModel model();
    }

    /**
     * Runs {@code draft} once per draft model over that model's rounds (requests sharing a draft model draft together);
     * a model whose drafting throws fails its requests. Returns the rounds that were drafted.
     */
    private <D extends DraftingRound> List<D> perDraftModel(List<D> rounds, java.util.function.BiConsumer<LanguageModel, List<D>> draft,
                                                            List<StepUpdate> updates) {
        Map<LanguageModel, List<D>> byModel = new java.util.IdentityHashMap<>();
        for (D d : rounds) byModel.computeIfAbsent(d.model(), m -> new ArrayList<>()).add(d);
        List<D> done = new ArrayList<>();
        for (Map.Entry<LanguageModel, List<D>> group : byModel.entrySet()) {
            try {
                draft.accept(group.getKey(), group.getValue());
                done.addAll(group.getValue());
            } catch (RuntimeException e) {
                for (D d : group.getValue()) updates.add(fail(d.s(), "drafting failed: " + e.getMessage()));
            }
        }
        return done;
    }

    private record HeldDrafting(BatchSequence s, int kv, int missing, LanguageModel model, HeldRound round) implements DraftingRound { }

    /**
     * Held rounds (draft ids kept where the draft runs), batched per draft model: one {@link LanguageModel#draftHeldChains}
     * call runs each draft position of all of them in one forward; nothing comes back until the verify's decisions.
     */
    private void draftHeldTogether(List<HeldDrafting> rounds, List<Planned> plans, List<StepUpdate> updates) {
        if (rounds.isEmpty()) return;
        long t0 = System.nanoTime();
        List<HeldDrafting> done = perDraftModel(rounds, (model, group) -> model.draftHeldChains(group.stream().map(HeldDrafting::round).toList()),
                updates);
        long draftNanos = System.nanoTime() - t0;
        for (HeldDrafting d : done) {
            plans.add(new Planned(d.s(), ChainDraft.heldChain(d.round().gamma(), d.round().chain()), d.missing(), d.kv(),
                    d.missing() - 1, draftNanos));
        }
    }

    private static List<SequenceInput> inputsOf(List<Drafting> rounds) {
        List<SequenceInput> inputs = new ArrayList<>(rounds.size());
        for (Drafting d : rounds) inputs.add(d.round().input());
        return inputs;
    }

    private SequenceInput input(Planned p) {
        KvSequence seq = p.s.sequence;
        int[] fed = Arrays.copyOfRange(p.s.context, p.kvBefore, p.kvBefore + p.feed);
        int base = seq.nextPosition();
        if (p.draft == null) {
            return SequenceInput.chain(seq, fed);
        }
        return switch (p.draft) {
            case ChainDraft chain -> {
                int[] tokens = concat(fed, chain.tokens());
                int[] rows = new int[chain.size() + 1];
                for (int r = 0; r < rows.length; r++) rows[r] = p.rootRow + r;
                yield SequenceInput.chain(seq, tokens, rows);
            }
            case TreeDraft tree -> {
                // [fed..., nodes...]: the fed tokens are causal; each node sees all of them and its ancestors.
                int k = fed.length;
                int n = k + tree.size();
                int[] tokens = concat(fed, tree.tokens());
                int[] positions = new int[n];
                int[] parents = new int[n];
                int[] depths = tree.depths();
                for (int i = 0; i < k; i++) {
                    positions[i] = base + i;
                    parents[i] = i - 1;
                }
                for (int i = 0; i < tree.size(); i++) {
                    positions[k + i] = base + p.rootRow + depths[i];
                    parents[k + i] = tree.parents()[i] < 0 ? p.rootRow : k + tree.parents()[i];
                }
                int[] rows = new int[tree.size() + 1];
                for (int r = 0; r < rows.length; r++) rows[r] = p.rootRow + r;
                yield new SequenceInput(seq, tokens, positions, AttentionMask.tree(parents), rows);
            }
        };
    }

    /** Greedy chain verification from the rows' argmax ids ({@code best[firstRow...]}: this request's rows). */
    private StepUpdate applyArgmax(Planned p, int[] best, int firstRow, long forwardNanos) {
        if (p.draft == null) return null; // a prefill chunk
        int[] x = ((ChainDraft) p.draft).tokens();
        return applyOutcome(p, SpeculativeSampler.Outcome.greedy(x, best, firstRow), forwardNanos);
    }

    /**
     * A chain's decision taken without logits on the host (greedy argmax, or a held chain verified where its logits
     * are, {@link RowUse.HeldVerify}): statistics, then the emitted tokens; such requests ask for no logprobs.
     */
    private StepUpdate applyOutcome(Planned p, SpeculativeSampler.Outcome outcome, long forwardNanos) {
        BatchSequence s = p.s;
        int gamma = ((ChainDraft) p.draft).size();
        int accepted = outcome.accepted();
        if (gamma == 0) s.stats.plainStep(p.draftNanos, forwardNanos);
        else s.stats.round(gamma, gamma, accepted, p.draftNanos, forwardNanos);
        if (s.drafter != null && gamma > 0) s.gamma.record(gamma, accepted, p.draftNanos, forwardNanos);
        int[] emitted = outcome.emitted();
        int[] rowOf = new int[emitted.length];
        for (int i = 0; i < rowOf.length; i++) rowOf[i] = i;
        return emit(s, emitted, rowOf, null); // no logprobs asked, so emit reads no logits
    }

    /** A plain sampled step whose token was drawn where the logits are ({@link RowUse.Sampled}). */
    private StepUpdate applySampled(Planned p, int token, long forwardNanos) {
        p.s.stats.plainStep(p.draftNanos, forwardNanos);
        return emit(p.s, new int[] {token}, new int[] {0}, null); // no logprobs asked
    }

    private StepUpdate apply(Planned p, float[][] logits, long forwardNanos) {
        BatchSequence s = p.s;
        if (p.draft == null) return null; // a prefill chunk: nothing to sample yet
        int[] emitted;
        int[] rowOf;
        switch (p.draft) {
            case ChainDraft chain -> {
                int[] x = chain.tokens();
                int length = s.length;
                int[] scored = Arrays.copyOf(s.context, length + x.length);
                System.arraycopy(x, 0, scored, length, x.length);
                SpeculativeSampler.Outcome outcome = SpeculativeSampler.verify(chain,
                        i -> s.processor.probabilities(logits[i], new TokenHistory(scored, length + i, s.promptLength)),
                        s.params.isGreedy(), s.sampler);
                if (x.length == 0) s.stats.plainStep(p.draftNanos, forwardNanos);
                else s.stats.round(x.length, x.length, outcome.accepted(), p.draftNanos, forwardNanos);
                if (s.drafter != null && x.length > 0) s.gamma.record(x.length, outcome.accepted(), p.draftNanos, forwardNanos);
                emitted = outcome.emitted();
                rowOf = new int[emitted.length];
                for (int i = 0; i < rowOf.length; i++) rowOf[i] = i;
            }
            case TreeDraft tree -> {
                int length = s.length;
                TreeVerifier.Outcome outcome = TreeVerifier.verify(tree, row -> {
                    int[] path = row == 0 ? new int[0] : tree.pathTokens(row - 1);
                    int[] scored = Arrays.copyOf(s.context, length + path.length);
                    System.arraycopy(path, 0, scored, length, path.length);
                    return s.processor.probabilities(logits[row], new TokenHistory(scored, scored.length, s.promptLength));
                }, s.params.isGreedy(), s.sampler);
                TreeVerifier.compact(s.sequence, p.kvBefore + p.rootRow, outcome.path());
                int depth = tree.depth();
                if (tree.size() == 0) s.stats.plainStep(p.draftNanos, forwardNanos);
                else s.stats.round(tree.size(), depth, outcome.accepted(), p.draftNanos, forwardNanos);
                if (depth > 0) s.gamma.record(depth, outcome.accepted(), p.draftNanos, forwardNanos);
                emitted = outcome.emitted();
                rowOf = new int[emitted.length];
                for (int i = 1; i < rowOf.length; i++) rowOf[i] = outcome.path()[i - 1] + 1;
            }
        }
        return emit(s, emitted, rowOf, logits);
    }

    /** Appends tokens until one ends the request; cuts the KV back to the context minus its last token. */
    private StepUpdate emit(BatchSequence s, int[] tokens, int[] rowOf, float[][] logits) {
        StringBuilder text = new StringBuilder();
        int n = 0;
        FinishReason reason = null;
        for (int token : tokens) {
            s.append(token);
            s.stats.emitted(1);
            n++;
            if (s.decoder != null) {
                StopStringMatcher.Match match = s.stopMatcher.append(s.decoder.next(token));
                text.append(match.text());
                if (match.stopped()) reason = FinishReason.STOP_STRING;
            }
            if (reason == null) {
                if (s.eos.contains(token)) reason = FinishReason.EOS;
                else if (s.params.stopTokenIds().contains(token)) reason = FinishReason.STOP_TOKEN;
                else if (s.generated() >= s.params.maxTokens() || s.length >= maxSequenceLength) reason = FinishReason.LENGTH;
            }
            if (reason != null) break;
        }
        int[] out = Arrays.copyOf(tokens, n);
        double[] lp = null;
        int[][] topIds = null;
        double[][] topLp = null;
        if (s.logprobs) {
            lp = new double[n];
            topIds = new int[n][];
            topLp = new double[n][];
            for (int i = 0; i < n; i++) {
                double[] logSoftmax = logSoftmax(logits[rowOf[i]]);
                lp[i] = out[i] < logSoftmax.length ? logSoftmax[out[i]] : Double.NEGATIVE_INFINITY;
                topIds[i] = top(logSoftmax, s.topLogprobs);
                topLp[i] = new double[topIds[i].length];
                for (int j = 0; j < topIds[i].length; j++) topLp[i][j] = logSoftmax[topIds[i][j]];
            }
        }
        if (reason != null) {
            String trailing = finish(s, reason);
            return new StepUpdate(s, out, text.toString(), lp, topIds, topLp, reason, null, trailing, s.stats.snapshot());
        }
        s.sequence.truncate(s.length - 1);
        return new StepUpdate(s, out, text.toString(), lp, topIds, topLp, null, null, "", null);
    }

    /** Ends a request normally; returns the text its stop matcher held back. */
    private String finish(BatchSequence s, FinishReason reason) {
        s.finishReason = reason;
        String trailing = "";
        if (s.stopMatcher != null && reason != FinishReason.STOP_STRING) trailing = s.stopMatcher.flush();
        running.remove(s.id);
        release(s);
        return trailing;
    }

    private StepUpdate fail(BatchSequence s, String message) {
        s.failure = message;
        running.remove(s.id);
        release(s);
        return new StepUpdate(s, new int[0], "", null, null, null, null, message, "", s.stats.snapshot());
    }

    private static void release(BatchSequence s) {
        if (s.released) return;
        s.released = true;
        try {
            if (s.drafter != null) s.drafter.end();
        } finally {
            try {
                if (s.held != null) s.held.close();
                if (s.chain != null) s.chain.close();
            } finally {
                s.sequence.release();
            }
        }
    }

    private static int[] concat(int[] a, int[] b) {
        int[] out = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }

    private static double[] logSoftmax(float[] logits) {
        double max = Double.NEGATIVE_INFINITY;
        for (float v : logits) max = Math.max(max, v);
        double sum = 0;
        for (float v : logits) sum += Math.exp(v - max);
        double log = max + Math.log(sum);
        double[] out = new double[logits.length];
        for (int i = 0; i < out.length; i++) out[i] = logits[i] - log;
        return out;
    }

    private static int[] top(double[] values, int k) {
        k = Math.min(k, values.length);
        int[] best = new int[k];
        boolean[] taken = new boolean[values.length];
        for (int j = 0; j < k; j++) {
            int b = -1;
            for (int i = 0; i < values.length; i++) if (!taken[i] && (b < 0 || values[i] > values[b])) b = i;
            taken[b] = true;
            best[j] = b;
        }
        return best;
    }

    /** Drops every request. */
    @Override
    public void close() {
        for (BatchSequence s : List.copyOf(running.values())) remove(s);
    }
}
