package io.specdec.core.speculative;

import io.specdec.core.backend.AttentionMask;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.sampling.LogitsProcessor;
import io.specdec.core.sampling.Sampler;

import java.util.Arrays;
import java.util.function.IntFunction;

/**
 * Tree verification, docs/ALGORITHMS.md §2: from the root, try the children of the current node in draft order with
 * the ratio test, updating p to the residual after each rejection (and, for distinct children, removing the rejected
 * child from q); the first accepted child becomes the current node; when all are rejected a token is drawn from the
 * residual; at a leaf the bonus token comes from the leaf's p. Not "longest accepted path", which is not lossless.
 * Also builds the verify input (tree mask, positions base + depth) and compacts the accepted path in the KV cache.
 */
public final class TreeVerifier {
    private TreeVerifier() { }

    /**
     * @param path    accepted node indices, root side first
     * @param emitted the accepted nodes' tokens followed by the replacement or bonus token
     */
    public record Outcome(int[] path, int[] emitted) {
        public int accepted() { return path.length; }

        @Override public String toString() {
            return "Outcome[path=" + Arrays.toString(path) + ", emitted=" + Arrays.toString(emitted) + "]";
        }
    }

    /**
     * @param tree    the candidates
     * @param target  processed target distribution at chunk row r: row 0 is the root (the context's last token),
     *                row n + 1 is node n; asked lazily, only along the walked path
     * @param greedy  temperature 0: follow the child equal to argmax p, else emit argmax p
     * @param sampler the request's random stream
     */
    public static Outcome verify(TreeDraft tree, IntFunction<double[]> target, boolean greedy, Sampler sampler) {
        int[] path = new int[tree.size()];
        int accepted = 0;
        int node = -1;
        walk:
        while (true) {
            double[] p = target.apply(node + 1);
            int[] children = tree.children(node);
            if (greedy) {
                int best = LogitsProcessor.argmax(p);
                for (int c : children) {
                    if (tree.tokens()[c] == best) {
                        path[accepted++] = c;
                        node = c;
                        continue walk;
                    }
                }
                return outcome(tree, path, accepted, best);
            }
            double[] q = tree.sampling() == TreeDraft.ChildSampling.DETERMINISTIC || children.length == 0
                    ? null : tree.childDistributions()[node + 1].clone();
            for (int c : children) {
                int token = tree.tokens()[c];
                if (q != null && !(q[token] > 0)) continue; // already removed: a duplicate can never be accepted
                if (sampler.uniform() < Distributions.ratio(p, q, token)) {
                    path[accepted++] = c;
                    node = c;
                    continue walk;
                }
                double[] residual = q == null ? Distributions.without(p, token) : Distributions.residual(p, q);
                if (residual != null) p = residual;
                if (tree.sampling() == TreeDraft.ChildSampling.WITHOUT_REPLACEMENT) {
                    q[token] = 0;
                    double mass = 0;
                    for (double v : q) mass += v;
                    if (mass > 0) for (int i = 0; i < q.length; i++) q[i] /= mass;
                }
            }
            return outcome(tree, path, accepted, sampler.sample(p));
        }
    }

    private static Outcome outcome(TreeDraft tree, int[] path, int accepted, int last) {
        int[] emitted = new int[accepted + 1];
        for (int i = 0; i < accepted; i++) emitted[i] = tree.tokens()[path[i]];
        emitted[accepted] = last;
        return new Outcome(Arrays.copyOf(path, accepted), emitted);
    }

    /**
     * The verify chunk [last, nodes...]: each node attends to the cached prefix, the root and its ancestors, at
     * position base + depth, with logits for every row.
     */
    public static SequenceInput input(KvSequence sequence, int lastToken, TreeDraft tree) {
        int n = tree.size() + 1;
        int[] tokens = new int[n];
        int[] parents = new int[n];
        int[] positions = new int[n];
        int[] rows = new int[n];
        int base = sequence.nextPosition();
        int[] depths = tree.depths();
        tokens[0] = lastToken;
        parents[0] = -1;
        positions[0] = base;
        for (int i = 0; i < tree.size(); i++) {
            tokens[i + 1] = tree.tokens()[i];
            parents[i + 1] = tree.parents()[i] + 1;
            positions[i + 1] = base + depths[i];
        }
        for (int i = 0; i < n; i++) rows[i] = i;
        return new SequenceInput(sequence, tokens, positions, AttentionMask.tree(parents), rows);
    }

    /**
     * After verifying a chunk that started at slot {@code chunkStart}, keeps the root and the accepted path, moved
     * to contiguous slots, and frees the other nodes.
     */
    public static void compact(KvSequence sequence, int chunkStart, int[] path) {
        int[] slots = new int[path.length];
        for (int i = 0; i < path.length; i++) slots[i] = chunkStart + 1 + path[i];
        sequence.keepOnly(chunkStart + 1, slots);
    }
}
