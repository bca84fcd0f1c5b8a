package io.specdec.core.speculative;

import io.specdec.core.backend.HeldChain;
import io.specdec.core.backend.HeldLogits;

import java.util.Arrays;

/**
 * Draft tokens x1..xγ, each drawn from {@code q[i]} (docs/ALGORITHMS.md §1), or from the distribution of row i of
 * {@code held} (logits the draft kept on its device, processed by the request's temperature; {@code q} is then null),
 * or deterministic proposals (both null: each q is a point mass at the proposed token, as for prompt lookup), or a
 * round held whole where the draft ran ({@code chain}: the ids themselves never reached the host, {@code tokens} are
 * placeholders of the round's length).
 */
public record ChainDraft(int[] tokens, double[][] q, HeldLogits held, HeldChain chain) implements Draft {

    public ChainDraft(int[] tokens, double[][] q) {
        this(tokens, q, null, null);
    }

    public ChainDraft(int[] tokens, double[][] q, HeldLogits held) {
        this(tokens, q, held, null);
    }

    public ChainDraft {
        if (q != null && held != null) throw new IllegalArgumentException("a draft's distributions are on the host or held, not both");
        if (chain != null && (q != null || held != null)) throw new IllegalArgumentException("a held chain carries its own distributions");
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

    /** γ draft ids held where the draft ran (placeholder tokens here): verified by {@code LanguageModel.verifyHeldChain}. */
    public static ChainDraft heldChain(int gamma, HeldChain chain) {
        return new ChainDraft(new int[gamma], null, null, java.util.Objects.requireNonNull(chain, "chain"));
    }

    public boolean isDeterministic() { return q == null && held == null && chain == null; }

    @Override public int size() { return tokens.length; }

    @Override public int depth() { return tokens.length; }

    @Override public String toString() {
        return "ChainDraft" + Arrays.toString(tokens) + (chain != null ? " (held chain)" : held != null ? " (held)" : q == null ? " (deterministic)" : "");
    }
}
