package io.specdec.core.speculative;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.kv.KvSequence;
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
    private Sampler sampler;
    private DraftSequence draft;

    public ModelDrafter(LanguageModel model) {
        this.model = model;
    }

    public LanguageModel model() { return model; }

    @Override
    public void begin(SamplingParams params, Sampler sampler, int vocabSize) {
        if (draft != null) throw new IllegalStateException("this drafter is already serving a request");
        this.processor = new LogitsProcessor(params);
        this.sampler = sampler;
        this.draft = new DraftSequence(model, vocabSize);
    }

    @Override
    public ChainDraft propose(TokenHistory context, int maxDepth) {
        if (draft == null) throw new IllegalStateException("propose before begin");
        if (maxDepth <= 0) return ChainDraft.empty();
        int len = context.length();
        int[] buffer = Arrays.copyOf(context.tokens(), len + maxDepth);
        TokenHistory history = new TokenHistory(buffer, len, context.promptLength());
        int[] tokens = new int[maxDepth];
        double[][] q = new double[maxDepth][];
        float[] logits = draft.catchUp(context);
        for (int i = 0; i < maxDepth; i++) {
            q[i] = processor.probabilities(logits, history.withLength(len + i));
            tokens[i] = sampler.sample(q[i]);
            buffer[len + i] = tokens[i];
            if (i + 1 < maxDepth) logits = draft.step(tokens[i]);
        }
        return new ChainDraft(tokens, q);
    }

    /** The draft's KV sequence (tests check it stays in step with the context). */
    public KvSequence sequence() {
        return draft == null ? null : draft.sequence();
    }

    @Override
    public void end() {
        if (draft != null) draft.release();
        draft = null;
    }

    @Override public String toString() { return "ModelDrafter[" + model.config().architecture() + "]"; }
}
