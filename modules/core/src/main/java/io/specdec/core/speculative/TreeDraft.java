package io.specdec.core.speculative;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A tree of candidate tokens (docs/ALGORITHMS.md §2). Nodes are in topological order: {@code parents[i]} is an
 * earlier node or -1 for a child of the root (the last token of the context). {@code childDistributions[n + 1]} is
 * the draft distribution the children of node n (index 0: of the root) were drawn from, null where a node has no
 * children; the whole array may be null for deterministic candidates. Siblings are listed in draft order.
 */
public record TreeDraft(int[] tokens, int[] parents, double[][] childDistributions, ChildSampling sampling)
        implements Draft {

    /** How siblings were proposed; decides how the verifier updates q after a rejection. */
    public enum ChildSampling {
        /** Fixed candidates: q is a point mass at each one. */
        DETERMINISTIC,
        /** Siblings drawn independently from the same q (q unchanged after a rejection). */
        WITH_REPLACEMENT,
        /** Distinct siblings drawn one after another from q with earlier ones removed (q(c) = 0, renormalize). */
        WITHOUT_REPLACEMENT
    }

    public TreeDraft {
        if (parents.length != tokens.length) {
            throw new IllegalArgumentException(tokens.length + " tree tokens but " + parents.length + " parents");
        }
        for (int i = 0; i < parents.length; i++) {
            if (parents[i] < -1 || parents[i] >= i) {
                throw new IllegalArgumentException("tree node " + i + " has parent " + parents[i]
                        + "; parents must be -1 (root) or an earlier node");
            }
        }
        if (sampling != ChildSampling.DETERMINISTIC) {
            if (childDistributions == null || childDistributions.length != tokens.length + 1) {
                throw new IllegalArgumentException("a sampled tree needs one child distribution per node plus the root");
            }
            for (int i = 0; i < tokens.length; i++) {
                double[] q = childDistributions[parents[i] + 1];
                if (q == null || tokens[i] < 0 || tokens[i] >= q.length || !(q[tokens[i]] > 0)) {
                    throw new IllegalArgumentException("tree node " + i + " (token " + tokens[i]
                            + ") has no mass under its parent's draft distribution");
                }
            }
        }
    }

    /** Children of {@code node} (-1 for the root), in draft order. */
    public int[] children(int node) {
        List<Integer> out = new ArrayList<>();
        for (int i = node + 1; i < parents.length; i++) if (parents[i] == node) out.add(i);
        return out.stream().mapToInt(Integer::intValue).toArray();
    }

    /** Depth of each node: 1 for children of the root. */
    public int[] depths() {
        int[] d = new int[tokens.length];
        for (int i = 0; i < d.length; i++) d[i] = parents[i] < 0 ? 1 : d[parents[i]] + 1;
        return d;
    }

    /** Tokens from the root's child down to {@code node}. */
    public int[] pathTokens(int node) {
        int n = 0;
        for (int a = node; a >= 0; a = parents[a]) n++;
        int[] out = new int[n];
        for (int a = node; a >= 0; a = parents[a]) out[--n] = tokens[a];
        return out;
    }

    @Override public int size() { return tokens.length; }

    @Override public int depth() {
        int max = 0;
        for (int d : depths()) max = Math.max(max, d);
        return max;
    }

    @Override public String toString() {
        return "TreeDraft" + Arrays.toString(tokens) + " parents " + Arrays.toString(parents) + " " + sampling;
    }
}
