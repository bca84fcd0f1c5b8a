package io.specdec.core.speculative;

import io.specdec.core.backend.HeldLogits;

import java.util.Arrays;

/**
 * Draft tokens x1..xγ, each drawn from {@code q[i]} (docs/ALGORITHMS.md §1), or from the distribution of row i of
 * {@code held} (logits the draft kept on its device, processed by the request's temperature; {@code q} is then null),
 * or deterministic proposals (both null: each q is a point mass at the proposed token, as for prompt lookup).
 */
public record ChainDraft(int[] tokens, double[][] q, HeldLogits held) implements Draft {

    public ChainDraft(int[] tokens, double[][] q) {
        this(tokens, q, null);
    }

    public ChainDraft {
        if (q != null && held != null) throw new IllegalArgumentException("a draft's distributions are on the host or held, not both");
        if (q != null && q.length != tokens.length) {
            throw new IllegalArgumentException(tokens.length + " draft tokens but " + q.length + " draft distributions");
        }
        if (q != null) {
            for (int i = 0; i < tokens.length; i++) {
                if (tokens[i] < 0 || tokens[i] >= q[i].length || !(q[i][tokens[i]] > 0)) {
                    throw new IllegalArgumentException("draft token " + tokens[i] + " at position " + i
                            + " has no mass under the distribution it was drawn from");
                }
            }
        }
    }

    public static ChainDraft empty() {
        return new ChainDraft(new int[0], null);
    }

    public static ChainDraft deterministic(int[] tokens) {
        return new ChainDraft(tokens, null);
    }

    /** Drawn from distributions a backend holds: verified by {@code LanguageModel.verifyHeld}. */
    public static ChainDraft held(int[] tokens, HeldLogits held) {
        return new ChainDraft(tokens, null, java.util.Objects.requireNonNull(held, "held"));
    }

    public boolean isDeterministic() { return q == null && held == null; }

    @Override public int size() { return tokens.length; }

    @Override public int depth() { return tokens.length; }

    @Override public String toString() {
        return "ChainDraft" + Arrays.toString(tokens) + (held != null ? " (held)" : q == null ? " (deterministic)" : "");
    }
}
