package io.specdec.core.speculative;

import java.util.Arrays;

/**
 * Draft tokens x1..xγ, each drawn from {@code q[i]} (docs/ALGORITHMS.md §1), or deterministic proposals
 * ({@code q == null}: each q is a point mass at the proposed token, as for prompt lookup).
 */
public record ChainDraft(int[] tokens, double[][] q) implements Draft {

    public ChainDraft {
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

    public boolean isDeterministic() { return q == null; }

    @Override public int size() { return tokens.length; }

    @Override public int depth() { return tokens.length; }

    @Override public String toString() {
        return "ChainDraft" + Arrays.toString(tokens) + (q == null ? " (deterministic)" : "");
    }
}
