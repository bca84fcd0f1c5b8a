package io.specdec.core.generate;

import io.specdec.core.backend.HeldChain;
import io.specdec.core.backend.HeldLogits;
import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.sampling.LogitsProcessor;
import io.specdec.core.sampling.Sampler;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.sampling.StopStringMatcher;
import io.specdec.core.sampling.TokenHistory;
import io.specdec.core.speculative.ChainDraft;
import io.specdec.core.speculative.Draft;
import io.specdec.core.speculative.Drafter;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.SpeculationStats;
import io.specdec.core.speculative.SpeculativeSampler;
import io.specdec.core.speculative.TreeDraft;
import io.specdec.core.speculative.TreeVerifier;

import java.util.Arrays;
import java.util.List;
import java.util.Set;

/**
 * One request's loop. Invariant between steps: the target's KV holds the context (prompt + output) except its last
 * token, which is the first token of the next forward ([last] to decode, [last, x1..xγ] or [last, tree] to verify).
 * Each step drafts, verifies in one target forward, emits the accepted tokens plus one, and cuts the KV back to the
 * invariant (truncate for a chain, compaction of the accepted path for a tree).
 */
public final class Generation implements AutoCloseable {
    private final Generator generator;
    private final LanguageModel target;
    private final Drafter drafter;
    private final SamplingParams params;
    private final LogitsProcessor processor;
    private final Sampler sampler;
    private final TokenListener listener;
    private final TextDecoder decoder;
    private final StopStringMatcher stopMatcher;
    private final StringBuilder text;
    private final Set<Integer> eos;
    private final int vocabSize;
    private final int maxSequenceLength;
    private final int promptLength;
    private final SpeculationStats.Recorder stats = new SpeculationStats.Recorder();
    /** The draft's logits rows kept where the target verifies them (sampled chain on one device), else null. */
    private HeldLogits held;
    /** Whole rounds kept where the target verifies them, draft ids included (see {@link HeldChain}), else null. */
    private HeldChain chain;
    private KvSequence sequence;
    private int[] context;
    private int length;
    private FinishReason finishReason;
    private boolean closed;

    Generation(Generator generator, int[] prompt, SamplingParams params, TokenListener listener, TextDecoder decoder) {
        this.generator = generator;
        this.target = generator.target();
        this.drafter = generator.drafter();
        this.params = params;
        this.vocabSize = target.config().vocabSize();
        this.maxSequenceLength = target.config().maxSequenceLength();
        RequestChecks.validate(prompt, params, decoder, vocabSize, maxSequenceLength);
        this.processor = new LogitsProcessor(params);
        this.sampler = Sampler.seeded(params.seed());
        this.listener = listener;
        this.decoder = decoder;
        this.stopMatcher = decoder == null ? null : new StopStringMatcher(params.stopStrings());
        this.text = decoder == null ? null : new StringBuilder();
        this.eos = params.ignoreEos() ? Set.of() : target.config().eosTokenIds();
        this.promptLength = prompt.length;
        this.context = Arrays.copyOf(prompt, Math.max(16, prompt.length + Math.min(params.maxTokens(), 1024) + 16));
        this.length = prompt.length;

        sequence = target.newSequence();
        boolean drafterStarted = false;
        try {
            if (prompt.length > 1) {
                target.forward(SequenceInput.chainLastLogits(sequence, Arrays.copyOf(prompt, prompt.length - 1)));
            }
            if (drafter != null) {
                drafter.begin(params, sampler.split(), vocabSize);
                drafterStarted = true;
                // a round whose ids and logits stay on the devices: only the decision comes back (docs/DESIGN.md)
                if (drafter instanceof ModelDrafter md && (params.isTemperatureOnly() || (params.isGreedy() && !params.hasPenalties()))) {
                    chain = target.holdDraftChain(md.model(), params).orElse(null);
                    if (chain != null) md.holdChain(chain);
                }
                // a sampled chain whose logits both models keep on one device is verified there (docs/ALGORITHMS.md §6)
                if (chain == null && drafter instanceof ModelDrafter md && params.isTemperatureOnly()) {
                    held = target.holdDraftLogits(md.model(), params).orElse(null);
                    if (held != null) md.holdDistributions(held);
                }
            }
        } catch (RuntimeException e) {
            if (held != null) held.close();
            if (chain != null) chain.close();
            if (drafterStarted) drafter.end();
            sequence.release();
            throw e;
        }
    }

    /** Runs until the request finishes and returns the result. */
    public GenerationResult run() {
        while (step()) { }
        return result();
    }

    /** One round (plain or speculative). Returns whether the request goes on. */
    public boolean step() {
        if (closed) throw new IllegalStateException("generation already closed");
        if (finishReason != null) return false;
        if (length >= maxSequenceLength) {
            finish(FinishReason.LENGTH);
            return false;
        }
        int remaining = params.maxTokens() - generated();
        int gamma = drafter == null ? 0
                : Math.min(generator.gamma().next(), Math.min(remaining - 1, maxSequenceLength - length - 1));
        long t0 = System.nanoTime();
        Draft draft = gamma > 0 ? drafter.propose(history(length), gamma) : ChainDraft.empty();
        long t1 = System.nanoTime();
        int[] emitted = switch (draft) {
            case ChainDraft chain -> verifyChain(chain, t1 - t0);
            case TreeDraft tree -> verifyTree(tree, t1 - t0);
        };
        emit(emitted);
        sequence.truncate(length - 1);
        return finishReason == null;
    }

    private int[] verifyChain(ChainDraft draft, long draftNanos) {
        long t0 = System.nanoTime();
        int[] x = draft.tokens();
        int[] input = new int[x.length + 1];
        input[0] = context[length - 1];
        System.arraycopy(x, 0, input, 1, x.length);
        SequenceInput verifyInput = x.length == 0
                ? SequenceInput.chainLastLogits(sequence, input)
                : SequenceInput.chainAllLogits(sequence, input);
        SpeculativeSampler.Outcome outcome;
        if (draft.chain() != null && x.length > 0) {
            // the draft ids are on the device: the target puts them into its input there and sends back the decision
            int first = sequence.length() + 1;
            outcome = target.verifyHeldChain(verifyInput, draft.chain(), params, sampler);
            sequence.relabel(first, Arrays.copyOf(outcome.emitted(), outcome.accepted()));
            ((ModelDrafter) drafter).settleHeldRound(outcome);
        } else if (params.isGreedy() && !params.hasPenalties()) {
            // greedy verification needs only each row's argmax: taken where the logits are (on a GPU, only ids move)
            outcome = SpeculativeSampler.Outcome.greedy(x, target.forwardArgmax(List.of(verifyInput)), 0);
        } else if (draft.held() != null && x.length > 0) {
            // the draft's q rows and the target's verify logits stay where they are; only the decision comes back
            outcome = target.verifyHeld(verifyInput, x, draft.held(), params, sampler);
        } else if (x.length == 0 && !params.hasPenalties()) {
            // a plain sampled step: the backend samples where the logits are, with this request's next uniform
            int token = target.forwardSampled(List.of(verifyInput), params, new double[] {sampler.uniform()})[0];
            outcome = new SpeculativeSampler.Outcome(0, new int[] {token});
        } else {
            float[][] logits = target.forward(verifyInput);
            int[] scored = Arrays.copyOf(context, length + x.length);
            System.arraycopy(x, 0, scored, length, x.length);
            outcome = SpeculativeSampler.verify(draft,
                    i -> processor.probabilities(logits[i], new TokenHistory(scored, length + i, promptLength)),
                    params.isGreedy(), sampler);
        }
        long verifyNanos = System.nanoTime() - t0;
        if (x.length == 0) stats.plainStep(draftNanos, verifyNanos);
        else stats.round(x.length, x.length, outcome.accepted(), draftNanos, verifyNanos);
        if (drafter != null && x.length > 0) generator.gamma().record(x.length, outcome.accepted(), draftNanos, verifyNanos);
        return outcome.emitted();
    }

    private int[] verifyTree(TreeDraft tree, long draftNanos) {
        long t0 = System.nanoTime();
        int chunkStart = sequence.length();
        float[][] logits = target.forward(TreeVerifier.input(sequence, context[length - 1], tree));
        TreeVerifier.Outcome outcome = TreeVerifier.verify(tree, row -> {
            int[] path = row == 0 ? new int[0] : tree.pathTokens(row - 1);
            int[] scored = Arrays.copyOf(context, length + path.length);
            System.arraycopy(path, 0, scored, length, path.length);
            return processor.probabilities(logits[row], new TokenHistory(scored, scored.length, promptLength));
        }, params.isGreedy(), sampler);
        TreeVerifier.compact(sequence, chunkStart, outcome.path());
        long verifyNanos = System.nanoTime() - t0;
        int depth = tree.depth();
        if (tree.size() == 0) stats.plainStep(draftNanos, verifyNanos);
        else stats.round(tree.size(), depth, outcome.accepted(), draftNanos, verifyNanos);
        if (depth > 0) generator.gamma().record(depth, outcome.accepted(), draftNanos, verifyNanos);
        return outcome.emitted();
    }

    /** Appends tokens to the output until one ends the request. */
    private void emit(int[] tokens) {
        for (int token : tokens) {
            if (length == context.length) context = Arrays.copyOf(context, context.length * 2);
            context[length++] = token;
            stats.emitted(1);
            String released = "";
            FinishReason reason = null;
            if (decoder != null) {
                StopStringMatcher.Match match = stopMatcher.append(decoder.next(token));
                released = match.text();
                text.append(released);
                if (match.stopped()) reason = FinishReason.STOP_STRING;
            }
            listener.onToken(token, released);
            if (reason == null) {
                if (eos.contains(token)) reason = FinishReason.EOS;
                else if (params.stopTokenIds().contains(token)) reason = FinishReason.STOP_TOKEN;
                else if (generated() >= params.maxTokens() || length >= maxSequenceLength) reason = FinishReason.LENGTH;
            }
            if (reason != null) {
                finish(reason);
                return;
            }
        }
    }

    private void finish(FinishReason reason) {
        finishReason = reason;
        String trailing = "";
        if (stopMatcher != null && reason != FinishReason.STOP_STRING) {
            trailing = stopMatcher.flush();
            text.append(trailing);
        }
        listener.onFinish(reason, trailing);
    }

    private TokenHistory history(int upTo) {
        return new TokenHistory(context, upTo, promptLength);
    }

    public int generated() { return length - promptLength; }

    public boolean finished() { return finishReason != null; }

    /** Prompt followed by the output so far. */
    public int[] context() { return Arrays.copyOf(context, length); }

    /** The target's KV sequence (holds {@link #context()} minus its last token between steps). */
    public KvSequence targetSequence() { return sequence; }

    public SpeculationStats stats() { return stats.snapshot(); }

    /** Where sampled chain acceptance runs for this request: the held rows' verifier (e.g. device-fused) or the host. */
    public String acceptance() { return chain != null ? chain.acceptance() : held != null ? held.acceptance() : "host"; }

    /** How draft ids reach the verifier for this request: a held chain's path (e.g. device-nccl) or the host. */
    public String draftTokens() { return chain != null ? chain.draftTokens() : "host"; }

    public GenerationResult result() {
        if (finishReason == null) throw new IllegalStateException("generation has not finished");
        return new GenerationResult(Arrays.copyOfRange(context, promptLength, length), finishReason,
                text == null ? null : text.toString(), stats.snapshot(), acceptance(), draftTokens());
    }

    /** Frees the target KV and ends the drafter's request. */
    @Override
    public void close() {
        if (closed) return;
        closed = true;
        try {
            if (drafter != null) drafter.end();
        } finally {
            if (held != null) held.close();
            if (chain != null) chain.close();
            sequence.release();
            generator.finished();
        }
    }
}
