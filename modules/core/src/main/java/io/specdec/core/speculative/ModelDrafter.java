package io.specdec.core.speculative;

import io.specdec.core.backend.HeldChain;
import io.specdec.core.backend.HeldLogits;
import io.specdec.core.backend.HeldRound;
import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.parallel.EasySpecDraftModel;
import io.specdec.core.sampling.LogitsProcessor;
import io.specdec.core.sampling.Sampler;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.sampling.TokenHistory;

import java.util.Arrays;

/**
 * A chain drafter backed by a small language model with its own KV sequence. Each draft token is really sampled from
 * the processed q_i that the verifier uses in the ratio p/q (docs/ALGORITHMS.md §1); under greedy, q_i is the
 * one-hot at the draft's argmax.
 */
public final class ModelDrafter implements Drafter {
    private final LanguageModel model;
    private LogitsProcessor processor;
    private SamplingParams params;
    /**
     * Where the target keeps this request's draft logits (null: q comes to the host): each draft step is then sampled
     * where its logits are and leaves its row there for the target's verifier.
     */
    private HeldLogits held;
    /** Where the target keeps whole rounds of this request, draft ids included (null: the ids come to the host). */
    private HeldChain chain;
    /**
     * Draft steps of the last held round whose ids the host never saw: slots lastDraftStart.. of the draft's cache
     * carry placeholder ids until {@link #settleHeldRound} tells which of them were accepted.
     */
    private int placeholders;
    /** Greedy without penalties: only the draft's argmax matters, so it is taken where the logits are. */
    private boolean argmaxOnly;
    private int vocabSize;
    private Sampler sampler;
    private DraftSequence draft;
    /** The last round's draft (start in the context, tokens), to tell a fully accepted round from a mismatch. */
    private int lastDraftStart = -1;
    private int[] lastDraftTokens = new int[0];
    /** A held round's γ, and once settled whether all its drafts were accepted (null: the last round was not held). */
    private int heldGamma;
    private Boolean heldRoundAccepted;

    public ModelDrafter(LanguageModel model) {
        this.model = model;
    }

    public LanguageModel model() { return model; }

    @Override
    public void begin(SamplingParams params, Sampler sampler, int vocabSize) {
        if (draft != null) throw new IllegalStateException("this drafter is already serving a request");
        this.processor = new LogitsProcessor(params);
        this.params = params;
        this.argmaxOnly = params.isGreedy() && !params.hasPenalties() && model.config().vocabSize() <= vocabSize;
        this.vocabSize = vocabSize;
        this.sampler = sampler;
        this.draft = new DraftSequence(model, vocabSize);
    }

    @Override
    public ChainDraft propose(TokenHistory context, int maxDepth) {
        if (draft == null) throw new IllegalStateException("propose before begin");
        if (maxDepth <= 0) return ChainDraft.empty();
        if (chain != null) return proposeHeldChain(context, maxDepth);
        Round round = startRound(context, maxDepth);
        if (argmaxOnly) {
            while (round.input() != null) round.offerToken(model.forwardArgmax(java.util.List.of(round.input()))[0]);
        } else if (held != null) {
            while (round.input() != null) {
                round.offerHeld(model.forwardSampledHolding(round.input(), params, sampler.uniform(), held, round.drafted));
            }
        } else {
            while (round.input() != null) round.offer(model.forward(round.input())[0]);
        }
        return round.draft();
    }

    /**
     * For this request, keeps each draft step's logits in {@code held} (opened by the target for this drafter's model,
     * {@link LanguageModel#holdDraftLogits}) instead of bringing q to the host: {@link #propose} then returns
     * {@link ChainDraft#held} drafts for {@link LanguageModel#verifyHeld}. The draft tokens are drawn with the same
     * uniforms as on the host path. Only for temperature-only sampling; the caller keeps ownership of {@code held}.
     */
    public void holdDistributions(HeldLogits held) {
        if (draft == null) throw new IllegalStateException("holdDistributions before begin");
        if (held != null && !params.isTemperatureOnly()) {
            throw new IllegalArgumentException("held draft distributions need temperature-only sampling, got " + params);
        }
        this.held = held;
    }

    /**
     * For this request, drafts whole rounds where the target keeps them ({@link HeldChain}, opened by the target for
     * this drafter's model, {@link LanguageModel#holdDraftChain}): {@link #propose} then returns
     * {@link ChainDraft#heldChain} drafts for {@link LanguageModel#verifyHeldChain}, drawn with the uniforms the
     * step-by-step path draws. The caller keeps ownership of {@code chain}.
     */
    public void holdChain(HeldChain chain) {
        if (draft == null) throw new IllegalStateException("holdChain before begin");
        if (chain != null && !argmaxOnly && !params.isTemperatureOnly()) {
            throw new IllegalArgumentException("a held chain needs greedy without penalties or temperature-only sampling, got " + params);
        }
        this.chain = chain;
    }

    /**
     * A held round: the catch-up input and γ-1 one-token steps described up front (their ids are placeholders, the
     * model feeds each step the id the step before produced), run in one call; the ids stay with the model.
     */
    private ChainDraft proposeHeldChain(TokenHistory context, int gamma) {
        HeldRound round = startHeldRound(context, gamma);
        model.draftHeldChains(java.util.List.of(round));
        return ChainDraft.heldChain(gamma, chain);
    }

    /**
     * Starts a held round driven from outside (a scheduler runs the rounds of many requests that share this drafter's
     * model together, {@link LanguageModel#draftHeldChains}), drawing the uniforms {@link #propose} would draw; the
     * round's draft is then {@code ChainDraft.heldChain(gamma, chain)}. Only after {@link #holdChain}; every round is
     * settled ({@link #settleHeldRound}) before the next starts.
     */
    public HeldRound startHeldRound(TokenHistory context, int gamma) {
        if (chain == null) throw new IllegalStateException("a held round needs a held chain (holdChain)");
        if (placeholders != 0) throw new IllegalStateException("the last held round was not settled (settleHeldRound)");
        SequenceInput first = draft.catchUpInput(context);
        if (model instanceof EasySpecDraftModel easySpec) first = easySpec.startRound(first, lastRoundAccepted(context));
        double[] uniforms = argmaxOnly ? null : new double[gamma];
        if (uniforms != null) for (int i = 0; i < gamma; i++) uniforms[i] = sampler.uniform();
        HeldRound round = new HeldRound(heldSteps(first, gamma), params, uniforms, chain);
        lastDraftStart = context.length();
        lastDraftTokens = new int[0];
        placeholders = gamma - 1;
        heldGamma = gamma;
        heldRoundAccepted = null;
        return round;
    }

    /** This request's held chain, or null. */
    public HeldChain heldChain() { return chain; }

    /**
     * The γ draft forwards of a held round: {@code first}, then γ-1 single tokens (placeholder id 0) at the positions
     * that follow it, each asking for its one logits row, as {@link Round#offerToken} would have built them.
     */
    public static java.util.List<SequenceInput> heldSteps(SequenceInput first, int gamma) {
        if (gamma < 1) throw new IllegalArgumentException("a held round has at least one draft step, got " + gamma);
        java.util.List<SequenceInput> steps = new java.util.ArrayList<>(gamma);
        steps.add(first);
        int position = first.positions()[first.positions().length - 1];
        for (int i = 1; i < gamma; i++) {
            steps.add(new SequenceInput(first.sequence(), new int[] {0}, new int[] {++position},
                    io.specdec.core.backend.AttentionMask.CAUSAL, new int[] {0}));
        }
        return steps;
    }

    /**
     * The decision on the last held round: the accepted drafts' slots in the draft's cache get their ids; the first
     * rejected draft's slot (and any after it) holds K/V of an id the context does not have, so it is dropped, as the
     * step-by-step path's common-prefix test would drop it. Call it after every held round's verification.
     */
    public void settleHeldRound(SpeculativeSampler.Outcome outcome) {
        if (heldGamma > 0) heldRoundAccepted = outcome.accepted() >= heldGamma;
        if (placeholders == 0) return;
        KvSequence s = draft.sequence();
        int known = Math.min(Math.min(placeholders, outcome.accepted()), s.length() - lastDraftStart);
        s.truncate(lastDraftStart + known);
        s.relabel(lastDraftStart, Arrays.copyOf(outcome.emitted(), known));
        placeholders = 0;
    }

    /**
     * Starts one round of drafting driven from outside, so a scheduler can batch the draft forwards of many requests
     * that share this drafter's model: feed {@link Round#input()} through {@link #model()} (with other rounds' inputs)
     * and hand the logits back with {@link Round#offer}, until the input is null; then take {@link Round#draft()}.
     * Draws exactly what {@link #propose} draws.
     */
    public Round startRound(TokenHistory context, int maxDepth) {
        if (draft == null) throw new IllegalStateException("propose before begin");
        return new Round(context, maxDepth);
    }

    /** One drafting round in progress. */
    public final class Round {
        private final int length;
        private final int maxDepth;
        private final int[] buffer;
        private final TokenHistory history;
        private final int[] tokens;
        private final double[][] q;
        private int drafted;
        private boolean deterministic;
        private boolean heldRound;
        private SequenceInput input;

        private Round(TokenHistory context, int maxDepth) {
            this.length = context.length();
            this.maxDepth = Math.max(0, maxDepth);
            this.buffer = Arrays.copyOf(context.tokens(), length + this.maxDepth);
            this.history = new TokenHistory(buffer, length, context.promptLength());
            this.tokens = new int[this.maxDepth];
            this.q = new double[this.maxDepth][];
            SequenceInput first = this.maxDepth == 0 ? null : draft.catchUpInput(context);
            if (first != null && model instanceof EasySpecDraftModel easySpec) {
                first = easySpec.startRound(first, lastRoundAccepted(context));
            }
            this.input = first;
        }

        /** The next draft forward's input, or null when the round is complete. */
        public SequenceInput input() { return input; }

        /**
         * Whether this round needs only the argmax of each draft row (greedy without penalties): a scheduler then
         * feeds {@link #offerToken} from {@link LanguageModel#forwardArgmax}, so no logits row leaves the draft's
         * device.
         */
        public boolean argmaxOnly() { return argmaxOnly; }

        /** The logits of {@link #input()}'s row: samples the next draft token. */
        public void offer(float[] logits) {
            if (input == null) throw new IllegalStateException("the round is complete");
            int i = drafted;
            q[i] = processor.probabilities(draft.fit(logits), history.withLength(length + i));
            tokens[i] = sampler.sample(q[i]);
            buffer[length + i] = tokens[i];
            drafted++;
            input = drafted < maxDepth ? SequenceInput.chainLastLogits(draft.sequence(), new int[] {tokens[i]}) : null;
        }

        /**
         * The greedy draft token itself (the argmax of {@link #input()}'s row, taken by the model): for greedy requests
         * without penalties, where q is the point mass at that token. The round's draft is then deterministic.
         */
        public void offerToken(int token) {
            if (input == null) throw new IllegalStateException("the round is complete");
            int i = drafted;
            tokens[i] = token;
            buffer[length + i] = token;
            deterministic = true;
            drafted++;
            input = drafted < maxDepth ? SequenceInput.chainLastLogits(draft.sequence(), new int[] {token}) : null;
        }

        /**
         * Whether this round's draft steps keep their logits where the target verifies them ({@link #holdDistributions}):
         * a scheduler then feeds {@link #offerHeld} from {@link LanguageModel#forwardSampledHolding}, each step with
         * {@link #heldUniform()}, into row {@link #heldRow()} of {@link #heldLogits()}.
         */
        public boolean holding() { return held != null && !argmaxOnly; }

        /** The held buffer this round's rows go to. */
        public HeldLogits heldLogits() { return held; }

        /** The held row the next draft step fills (the step's index in the round). */
        public int heldRow() { return drafted; }

        /** The request's sampling parameters (temperature-only when {@link #holding()}). */
        public SamplingParams params() { return params; }

        /** The next draft step's uniform, drawn where {@link #propose} draws it. */
        public double heldUniform() { return sampler.uniform(); }

        /** The draft token sampled where its logits are, which stay as row {@code drafted} of the held buffer. */
        public void offerHeld(int token) {
            if (input == null) throw new IllegalStateException("the round is complete");
            int i = drafted;
            tokens[i] = token;
            buffer[length + i] = token;
            heldRound = true;
            drafted++;
            input = drafted < maxDepth ? SequenceInput.chainLastLogits(draft.sequence(), new int[] {token}) : null;
        }

        public ChainDraft draft() {
            if (input != null) throw new IllegalStateException("the round is not complete");
            lastDraftStart = length;
            lastDraftTokens = Arrays.copyOf(tokens, drafted);
            heldGamma = 0;
            heldRoundAccepted = null;
            if (maxDepth == 0) return ChainDraft.empty();
            if (heldRound) return ChainDraft.held(tokens, held);
            return deterministic ? ChainDraft.deterministic(tokens) : new ChainDraft(tokens, q);
        }
    }

    /** Whether the context carries every token of the last round's draft (a fully accepted round). */
    private boolean lastRoundAccepted(TokenHistory context) {
        if (lastDraftStart < 0) return true;
        if (heldRoundAccepted != null) return heldRoundAccepted;   // a held round's ids never reached the host
        if (context.length() < lastDraftStart + lastDraftTokens.length) return false;
        for (int i = 0; i < lastDraftTokens.length; i++) {
            if (context.tokens()[lastDraftStart + i] != lastDraftTokens[i]) return false;
        }
        return true;
    }

    /** The draft's KV sequence (tests check it stays in step with the context). */
    public KvSequence sequence() {
        return draft == null ? null : draft.sequence();
    }

    @Override
    public void end() {
        if (draft != null) draft.release();
        draft = null;
        held = null;
        chain = null;
        placeholders = 0;
        lastDraftStart = -1;
        lastDraftTokens = new int[0];
        heldGamma = 0;
        heldRoundAccepted = null;
    }

    @Override public String toString() {
        // the served statistics' drafter: say when the draft runs layer-parallel
        return "ModelDrafter[" + model.config().architecture() + (model instanceof EasySpecDraftModel e ? ", " + e : "") + "]";
    }
}
