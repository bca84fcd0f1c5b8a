package io.specdec.core.backend;

/**
 * Which tokens of a chunk a new token may attend to. Every token always sees the sequence's whole cached prefix
 * (subject to a sliding window); the mask only governs the chunk's own tokens.
 */
public sealed interface AttentionMask {

    /** Whether chunk token {@code query} may attend to chunk token {@code key}. */
    boolean allows(int query, int key);

    /** Each token sees the tokens before it (prefill chunks, decode, chain verification). */
    record Causal() implements AttentionMask {
        @Override public boolean allows(int query, int key) { return key <= query; }
    }

    /** An explicit chunk-local mask (tree verification: each node sees itself and its ancestors). */
    record Explicit(boolean[][] allowed) implements AttentionMask {
        @Override public boolean allows(int query, int key) { return allowed[query][key]; }
    }

    AttentionMask CAUSAL = new Causal();

    /**
     * The mask of a token tree given each node's parent (index into the chunk, -1 for a child of the prefix).
     * Parents must come before their children.
     */
    static Explicit tree(int[] parents) {
        boolean[][] allowed = new boolean[parents.length][parents.length];
        for (int i = 0; i < parents.length; i++) {
            if (parents[i] >= i) throw new IllegalArgumentException("node " + i + " has parent " + parents[i] + " after it");
            allowed[i][i] = true;
            for (int a = parents[i]; a >= 0; a = parents[a]) allowed[i][a] = true;
        }
        return new Explicit(allowed);
    }
}
