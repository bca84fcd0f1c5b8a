package io.specdec.core.speculative;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.sampling.TokenHistory;

import java.util.Arrays;

/**
 * A draft model's KV sequence kept in step with the request's context: each round it drops what the context no
 * longer agrees with (rejected drafts) and feeds what it lacks (accepted and bonus tokens), then extends with drafts.
 */
final class DraftSequence {
    private final LanguageModel model;
    private final int vocabSize;
    private KvSequence sequence;

    DraftSequence(LanguageModel model, int vocabSize) {
        this.model = model;
        this.vocabSize = vocabSize;
        this.sequence = model.newSequence();
    }

    KvSequence sequence() { return sequence; }

    /** Brings the cache to exactly {@code context} and returns the logits for the token after it. */
    float[] catchUp(TokenHistory context) {
        return fit(model.forward(catchUpInput(context))[0]);
    }

    /**
     * Drops what the cache holds beyond its common prefix with {@code context} and returns the forward input that
     * feeds the rest (its logits are those of the token after the context), for callers that batch it.
     */
    SequenceInput catchUpInput(TokenHistory context) {
        int[] t = context.tokens();
        int len = context.length();
        if (len == 0) throw new IllegalArgumentException("the draft needs a non-empty context");
        int common = 0;
        int max = Math.min(len, sequence.length());
        while (common < max && sequence.tokenAt(common) == t[common]) common++;
        if (common == len) common--; // the last token must be fed again to get its logits
        sequence.truncate(common);
        return SequenceInput.chainLastLogits(sequence, Arrays.copyOfRange(t, common, len));
    }

    /** Appends one token and returns the logits for the token after it. */
    float[] step(int token) {
        return fit(model.forward(SequenceInput.chainLastLogits(sequence, new int[] {token}))[0]);
    }

    /**
     * Draft logits over the target's vocabulary: extra draft tokens are masked out (the draft never proposes what the
     * target cannot emit) and missing ones get -infinity.
     */
    float[] fit(float[] logits) {
        if (logits.length == vocabSize) return logits;
        float[] out = Arrays.copyOf(logits, vocabSize);
        for (int i = logits.length; i < vocabSize; i++) out[i] = Float.NEGATIVE_INFINITY;
        return out;
    }

    void release() {
        if (sequence != null) sequence.release();
        sequence = null;
    }
}
