package io.specdec.core.speculative;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.sampling.LogitsProcessor;
import io.specdec.core.sampling.Sampler;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.sampling.TokenHistory;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A tree drafter backed by a small model: {@code branching[d]} children per node at depth d+1. Under sampling the
 * children of a node are drawn WITHOUT replacement from its processed q (so the verifier zeroes and renormalizes q
 * after each rejection, docs/ALGORITHMS.md §2); under greedy they are the top-k by draft probability. Each level is
 * one batched draft forward: every new node extends a copy-on-write fork of its parent's sequence.
 */
public final class TreeDrafter implements Drafter {
    private final LanguageModel model;
    private final int[] branching;
    private SamplingParams params;
    private LogitsProcessor processor;
    private Sampler sampler;
    private DraftSequence draft;

    public TreeDrafter(LanguageModel model, int... branching) {
        if (branching.length == 0) throw new IllegalArgumentException("a draft tree needs at least one level");
        for (int b : branching) {
            if (b < 1) throw new IllegalArgumentException("children per node must be >= 1: " + Arrays.toString(branching));
        }
        this.model = model;
        this.branching = branching.clone();
    }

    /** {@code width} children per node at every one of {@code depth} levels. */
    public static TreeDrafter of(LanguageModel model, int width, int depth) {
        int[] b = new int[depth];
        Arrays.fill(b, width);
        return new TreeDrafter(model, b);
    }

    public int[] branching() { return branching.clone(); }

    @Override
    public void begin(SamplingParams params, Sampler sampler, int vocabSize) {
        if (draft != null) throw new IllegalStateException("this drafter is already serving a request");
        this.params = params;
        // Under greedy, q is one-hot; children are ranked by the (penalized) draft softmax instead.
        this.processor = new LogitsProcessor(params.isGreedy()
                ? params.toBuilder().temperature(1).topK(0).topP(1).minP(0).build()
                : params);
        this.sampler = sampler;
        this.draft = new DraftSequence(model, vocabSize);
    }

    private record Node(int index, KvSequence sequence, int[] path) { }

    @Override
    public TreeDraft propose(TokenHistory context, int maxDepth) {
        if (draft == null) throw new IllegalStateException("propose before begin");
        int depth = Math.min(branching.length, maxDepth);
        List<Integer> tokens = new ArrayList<>();
        List<Integer> parents = new ArrayList<>();
        List<double[]> distributions = new ArrayList<>();
        int[] contextTokens = Arrays.copyOf(context.tokens(), context.length());
        if (depth <= 0) return build(tokens, parents, List.of(new double[0]));

        distributions.add(processor.probabilities(draft.catchUp(context), context));
        List<Node> frontier = List.of(new Node(-1, draft.sequence(), contextTokens));
        for (int d = 0; d < depth && !frontier.isEmpty(); d++) {
            List<Node> next = new ArrayList<>();
            for (Node parent : frontier) {
                for (int c : chooseChildren(distributions.get(parent.index + 1), branching[d])) {
                    int[] path = Arrays.copyOf(parent.path, parent.path.length + 1);
                    path[path.length - 1] = c;
                    next.add(new Node(tokens.size(), parent.sequence, path));
                    tokens.add(c);
                    parents.add(parent.index);
                    distributions.add(null);
                }
            }
            if (d + 1 < depth && !next.isEmpty()) next = expand(next, context.promptLength(), distributions);
            for (Node parent : frontier) if (parent.sequence != draft.sequence()) parent.sequence.release();
            frontier = d + 1 < depth ? next : List.of();
        }
        return build(tokens, parents, distributions);
    }

    /** One batched draft forward over the new level: each node forks its parent's sequence and appends itself. */
    private List<Node> expand(List<Node> level, int promptLength, List<double[]> distributions) {
        List<Node> forked = new ArrayList<>(level.size());
        List<SequenceInput> batch = new ArrayList<>(level.size());
        for (Node n : level) {
            KvSequence sequence = n.sequence.fork();
            forked.add(new Node(n.index, sequence, n.path));
            batch.add(SequenceInput.chainLastLogits(sequence, new int[] {n.path[n.path.length - 1]}));
        }
        List<float[][]> logits = model.forward(batch);
        for (int i = 0; i < forked.size(); i++) {
            Node n = forked.get(i);
            TokenHistory history = TokenHistory.of(n.path, Math.min(promptLength, n.path.length));
            distributions.set(n.index + 1, processor.probabilities(draft.fit(logits.get(i)[0]), history));
        }
        return forked;
    }

    private int[] chooseChildren(double[] q, int k) {
        int[] out = new int[k];
        int n = 0;
        if (params.isGreedy()) {
            boolean[] taken = new boolean[q.length];
            for (; n < k; n++) {
                int best = -1;
                for (int i = 0; i < q.length; i++) if (!taken[i] && q[i] > 0 && (best < 0 || q[i] > q[best])) best = i;
                if (best < 0) break;
                taken[best] = true;
                out[n] = best;
            }
        } else {
            double[] remaining = q.clone();
            for (; n < k; n++) {
                double mass = 0;
                for (double v : remaining) mass += v;
                if (!(mass > 1e-12)) break;
                int c = sampler.sample(remaining);
                out[n] = c;
                remaining[c] = 0;
            }
        }
        return Arrays.copyOf(out, n);
    }

    private static TreeDraft build(List<Integer> tokens, List<Integer> parents, List<double[]> distributions) {
        return new TreeDraft(tokens.stream().mapToInt(Integer::intValue).toArray(),
                parents.stream().mapToInt(Integer::intValue).toArray(),
                distributions.toArray(double[][]::new), TreeDraft.ChildSampling.WITHOUT_REPLACEMENT);
    }

    @Override
    public void end() {
        if (draft != null) draft.release();
        draft = null;
    }

    @Override public String toString() { return "TreeDrafter" + Arrays.toString(branching); }
}
