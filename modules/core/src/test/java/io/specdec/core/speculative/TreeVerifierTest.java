package io.specdec.core.speculative;

import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvBlockStore;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.sampling.LogitsProcessor;
import io.specdec.core.sampling.Sampler;
import io.specdec.core.testing.ChiSquare;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.IntFunction;

import static io.specdec.core.speculative.SpeculativeSamplerTest.P_THRESHOLD;
import static io.specdec.core.speculative.SpeculativeSamplerTest.TRIALS;
import static io.specdec.core.speculative.SpeculativeSamplerTest.V;
import static io.specdec.core.speculative.SpeculativeSamplerTest.randomDistribution;
import static org.assertj.core.api.Assertions.assertThat;

/** Tree verification (docs/ALGORITHMS.md §2) on explicit distributions: target p depends on the path's last token. */
class TreeVerifierTest {
    final SplittableRandom r = new SplittableRandom(77);
    final double[] p1 = randomDistribution(r, 1.2);
    final double[][] p2 = new double[V][];   // after one token
    final double[][] p3 = new double[V][];   // after two tokens, indexed by the second
    final double[] q1 = randomDistribution(r, 1.6);
    final double[][] q2 = new double[V][];

    {
        for (int i = 0; i < V; i++) {
            p2[i] = randomDistribution(r, 1.2);
            p3[i] = randomDistribution(r, 1.2);
            q2[i] = randomDistribution(r, 1.6);
        }
    }

    double[] pairDistribution() {
        double[] e = new double[V * V];
        for (int a = 0; a < V; a++) for (int b = 0; b < V; b++) e[a * V + b] = p1[a] * p2[a][b];
        return e;
    }

    /** Draws k distinct tokens one after another from q with earlier ones removed. */
    static int[] withoutReplacement(double[] q, int k, Sampler s) {
        double[] rest = q.clone();
        int[] out = new int[k];
        for (int i = 0; i < k; i++) {
            out[i] = s.sample(rest);
            rest[out[i]] = 0;
        }
        return out;
    }

    /** A depth-2 tree: {@code w1} root children, {@code w2} children each, drawn per {@code mode}. */
    TreeDraft sampledTree(int w1, int w2, TreeDraft.ChildSampling mode, Sampler s) {
        List<Integer> tokens = new ArrayList<>();
        List<Integer> parents = new ArrayList<>();
        List<double[]> dists = new ArrayList<>();
        dists.add(q1);
        int[] level1 = mode == TreeDraft.ChildSampling.WITHOUT_REPLACEMENT ? withoutReplacement(q1, w1, s) : iid(q1, w1, s);
        for (int c : level1) { tokens.add(c); parents.add(-1); dists.add(null); }
        for (int i = 0; i < w1; i++) {
            double[] q = q2[level1[i]];
            dists.set(i + 1, q);
            int[] kids = mode == TreeDraft.ChildSampling.WITHOUT_REPLACEMENT ? withoutReplacement(q, w2, s) : iid(q, w2, s);
            for (int c : kids) { tokens.add(c); parents.add(i); dists.add(null); }
        }
        return new TreeDraft(tokens.stream().mapToInt(Integer::intValue).toArray(),
                parents.stream().mapToInt(Integer::intValue).toArray(), dists.toArray(double[][]::new), mode);
    }

    static int[] iid(double[] q, int k, Sampler s) {
        int[] out = new int[k];
        for (int i = 0; i < k; i++) out[i] = s.sample(q);
        return out;
    }

    IntFunction<double[]> targetRows(TreeDraft tree) {
        int[] depths = tree.depths();
        return row -> {
            if (row == 0) return p1;
            int node = row - 1;
            return depths[node] == 1 ? p2[tree.tokens()[node]] : p3[tree.tokens()[node]];
        };
    }

    long[] pairCounts(TreeDraft.ChildSampling mode, int w1, int w2, long seed) {
        Sampler s = Sampler.seeded(seed);
        long[] pairs = new long[V * V];
        for (int t = 0; t < TRIALS; t++) {
            TreeDraft tree = sampledTree(w1, w2, mode, s);
            TreeVerifier.Outcome o = TreeVerifier.verify(tree, targetRows(tree), false, s);
            int a = o.emitted()[0];
            int b = o.emitted().length > 1 ? o.emitted()[1] : s.sample(p2[a]);
            pairs[a * V + b]++;
        }
        return pairs;
    }

    static long[] firstOf(long[] pairs) {
        long[] first = new long[V];
        for (int i = 0; i < pairs.length; i++) first[i / V] += pairs[i];
        return first;
    }

    @Test
    void treeWithChildrenSampledWithoutReplacementMatchesTargetDistribution() {
        long[] pairs = pairCounts(TreeDraft.ChildSampling.WITHOUT_REPLACEMENT, 3, 2, 11);
        ChiSquare.Result first = ChiSquare.test(firstOf(pairs), p1);
        ChiSquare.Result two = ChiSquare.test(pairs, pairDistribution());
        assertThat(first.pValue()).as("first token %s", first).isGreaterThan(P_THRESHOLD);
        assertThat(two.pValue()).as("pairs %s", two).isGreaterThan(P_THRESHOLD);
    }

    @Test
    void treeWithIndependentChildrenMatchesTargetDistribution() {
        long[] pairs = pairCounts(TreeDraft.ChildSampling.WITH_REPLACEMENT, 3, 2, 12);
        assertThat(ChiSquare.test(pairs, pairDistribution()).pValue()).isGreaterThan(P_THRESHOLD);
    }

    @Test
    void deterministicCandidatesMatchTargetDistribution() {
        Sampler s = Sampler.seeded(13);
        long[] pairs = new long[V * V];
        // fixed candidates: root children 1, 4, 2; node 0 (token 1) has children 0, 5
        TreeDraft tree = new TreeDraft(new int[] {1, 4, 2, 0, 5}, new int[] {-1, -1, -1, 0, 0}, null,
                TreeDraft.ChildSampling.DETERMINISTIC);
        for (int t = 0; t < TRIALS; t++) {
            TreeVerifier.Outcome o = TreeVerifier.verify(tree, targetRows(tree), false, s);
            int a = o.emitted()[0];
            int b = o.emitted().length > 1 ? o.emitted()[1] : s.sample(p2[a]);
            pairs[a * V + b]++;
        }
        assertThat(ChiSquare.test(pairs, pairDistribution()).pValue()).isGreaterThan(P_THRESHOLD);
    }

    @Test
    void negativeControlLongestAcceptedPathIsRejected() {
        // Not lossless: test every root-to-leaf path as its own chain and keep the longest accepted prefix.
        Sampler s = Sampler.seeded(14);
        long[] first = new long[V];
        for (int t = 0; t < TRIALS; t++) {
            TreeDraft tree = sampledTree(3, 2, TreeDraft.ChildSampling.WITHOUT_REPLACEMENT, s);
            int[] best = null;
            for (int leaf = 3; leaf < tree.size(); leaf++) {
                int mid = tree.parents()[leaf];
                int[] x = {tree.tokens()[mid], tree.tokens()[leaf]};
                double[][] q = {q1, q2[x[0]]};
                SpeculativeSampler.Outcome o = SpeculativeSampler.verify(new ChainDraft(x, q),
                        i -> i == 0 ? p1 : i == 1 ? p2[x[0]] : p3[x[1]], false, s);
                if (best == null || o.emitted().length > best.length) best = o.emitted();
            }
            first[best[0]]++;
        }
        ChiSquare.Result result = ChiSquare.test(first, p1);
        assertThat(result.pValue()).as("%s", result).isLessThan(P_THRESHOLD);
    }

    @Test
    void greedyFollowsTheChildEqualToTheTargetArgmax() {
        TreeDraft tree = new TreeDraft(new int[] {1, 4, 2, 0}, new int[] {-1, -1, 1, 1}, null,
                TreeDraft.ChildSampling.DETERMINISTIC);
        double[][] rows = {LogitsProcessor.oneHot(V, 4), LogitsProcessor.oneHot(V, 5), LogitsProcessor.oneHot(V, 0),
                LogitsProcessor.oneHot(V, 3), LogitsProcessor.oneHot(V, 2)};
        TreeVerifier.Outcome o = TreeVerifier.verify(tree, row -> rows[row], true, Sampler.seeded(0L));
        // root argmax 4 = node 1; node 1's argmax 0 = node 3 (a leaf); bonus = argmax of node 3's row
        assertThat(o.path()).containsExactly(1, 3);
        assertThat(o.emitted()).containsExactly(4, 0, 2);
    }

    @Test
    void verifyInputUsesTreeMaskAndDepthPositionsAndCompactionKeepsTheAcceptedPath() {
        PagedKvCache cache = new PagedKvCache(16, 4, KvBlockStore.NONE);
        KvSequence seq = cache.newSequence();
        seq.append(new int[] {7, 8, 9}, new int[] {0, 1, 2});
        // root children 1 and 4; node 1 has children 2 and 0; node 3 (token 0) has child 5
        TreeDraft tree = new TreeDraft(new int[] {1, 4, 2, 0, 5}, new int[] {-1, -1, 1, 1, 3}, null,
                TreeDraft.ChildSampling.DETERMINISTIC);
        SequenceInput in = TreeVerifier.input(seq, 3, tree);
        assertThat(in.tokens()).containsExactly(3, 1, 4, 2, 0, 5);
        assertThat(in.positions()).containsExactly(3, 4, 4, 5, 5, 6);
        assertThat(in.logitRows()).containsExactly(0, 1, 2, 3, 4, 5);
        assertThat(in.mask().allows(5, 4)).isTrue();   // node 4 (row 5) sees node 3
        assertThat(in.mask().allows(5, 2)).isTrue();   // and node 1
        assertThat(in.mask().allows(5, 1)).isFalse();  // not node 0
        assertThat(in.mask().allows(4, 3)).isFalse();  // siblings do not see each other
        assertThat(in.mask().allows(1, 0)).isTrue();   // every node sees the root

        int chunkStart = seq.length();
        seq.append(in.tokens(), in.positions());
        TreeVerifier.compact(seq, chunkStart, new int[] {1, 3, 4});
        assertThat(seq.tokens()).containsExactly(7, 8, 9, 3, 4, 0, 5);
        for (int i = 0; i < seq.length(); i++) assertThat(seq.positionAt(i)).isEqualTo(i);
    }
}
