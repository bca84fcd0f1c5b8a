package io.specdec.core.backend;

import io.specdec.core.kv.KvSequence;

/**
 * One sequence's part of a batched forward: {@code tokens} are appended to {@code sequence}'s KV at the given
 * {@code positions} (RoPE position ids), attending per {@code mask}; logits come back only for the chunk rows in
 * {@code logitRows}. The same record covers prefill chunks, single decode tokens, γ+1 verify tokens and tree nodes.
 */
public record SequenceInput(KvSequence sequence, int[] tokens, int[] positions, AttentionMask mask, int[] logitRows) {

    public SequenceInput {
        if (tokens.length == 0) throw new IllegalArgumentException("a forward input needs at least one token");
        if (positions.length != tokens.length) {
            throw new IllegalArgumentException(tokens.length + " tokens but " + positions.length + " positions");
        }
        for (int r : logitRows) {
            if (r < 0 || r >= tokens.length) throw new IllegalArgumentException("logit row " + r + " outside the chunk");
        }
    }

    /** Consecutive tokens after the sequence's current end, causal, with logits for the rows asked. */
    public static SequenceInput chain(KvSequence sequence, int[] tokens, int... logitRows) {
        int[] positions = new int[tokens.length];
        int p = sequence.nextPosition();
        for (int i = 0; i < tokens.length; i++) positions[i] = p + i;
        return new SequenceInput(sequence, tokens, positions, AttentionMask.CAUSAL, logitRows);
    }

    /** Consecutive tokens with logits for every row (verification). */
    public static SequenceInput chainAllLogits(KvSequence sequence, int[] tokens) {
        int[] rows = new int[tokens.length];
        for (int i = 0; i < rows.length; i++) rows[i] = i;
        return chain(sequence, tokens, rows);
    }

    /** Consecutive tokens with logits for the last row only (prefill, decode). */
    public static SequenceInput chainLastLogits(KvSequence sequence, int[] tokens) {
        return chain(sequence, tokens, tokens.length - 1);
    }
}
