package io.specdec.core.speculative;

import io.specdec.core.backend.AttentionMask;
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
import java.util.PriorityQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * CARD, cache-assisted parallel drafting (docs/ALGORITHMS.md §4): a drafter thread keeps growing a tree of
 * candidates (K nodes per level, up to D levels) over the context while the target verifies; the target never waits
 * for it. {@link #propose} is the "query and correct": it re-roots the tree at the context the target has just
 * produced (keeping the subtree under it on a hit, restarting on a miss) and returns the best path so far.
 * Proposals are deterministic (q is a point mass), so the verifier accepts each with probability p(token): the same
 * as sample-and-match, lossless under greedy and sampling alike. The draft model must run on its own device (its own
 * executor or GPU), since it computes while the target does.
 */
public final class CardDrafter implements Drafter {
    private final LanguageModel model;
    private final int width;
    private final int depth;
    private final Object lock = new Object();
    private final AtomicLong ids = new AtomicLong();
    private final AtomicLong expansions = new AtomicLong();
    private final AtomicLong hits = new AtomicLong();
    private final AtomicLong misses = new AtomicLong();
    private final AtomicLong discarded = new AtomicLong();
    private final AtomicLong behind = new AtomicLong();

    // guarded by lock
    private int[] base = new int[0];
    private List<Node[]> levels = new ArrayList<>();
    private boolean running;
    private RuntimeException failure;

    private LogitsProcessor scorer;
    /** Width 1 without penalties: the best child is the argmax of the logits, so only ids leave the device. */
    private boolean argmaxRanks;
    private KvSequence sequence;
    private Thread thread;
    private volatile ProposalOverride override;

    /**
     * ACCEPTANCE INJECTION, benchmarks only (never set by serving): rewrites the best child of each tree node as it is
     * grown, so a benchmark can make the tree hold the target's known continuation with a chosen probability while
     * the draft model still runs for real on the rewritten tokens.
     */
    @FunctionalInterface
    public interface ProposalOverride {
        /**
         * @param path     the context the child continues: the tree's base followed by its ancestors' tokens
         * @param proposed the draft's best child token there
         * @return the token the tree keeps instead
         */
        int token(int[] path, int proposed);
    }

    /** A candidate: its token, its parent's index in the level above (-1: a child of the root), its weights. */
    private record Node(long id, int token, int parent, long parentId, double weight) {
    }

    /**
     * What the drafter did: levels expanded; queries whose new tokens the tree held (hits), did not hold (misses), or
     * came before the tree had a level below them (behind); expansions thrown away because the tree moved on.
     */
    public record Stats(long expansions, long hits, long misses, long behind, long discarded) {
    }

    /**
     * @param width K: nodes kept per level
     * @param depth D: levels kept ahead of the context
     */
    public CardDrafter(LanguageModel model, int width, int depth) {
        if (width < 1 || depth < 1) throw new IllegalArgumentException("CARD needs width and depth >= 1, got " + width + "x" + depth);
        this.model = model;
        this.width = width;
        this.depth = depth;
    }

    public LanguageModel model() { return model; }

    /** Benchmarks only: see {@link ProposalOverride}. Set before {@link #begin}. */
    public CardDrafter withProposalOverride(ProposalOverride override) {
        this.override = override;
        return this;
    }

    public Stats stats() { return new Stats(expansions.get(), hits.get(), misses.get(), behind.get(), discarded.get()); }

    @Override
    public void begin(SamplingParams params, Sampler sampler, int vocabSize) {
        synchronized (lock) {
            if (running) throw new IllegalStateException("this drafter is already serving a request");
            // candidates are ranked by the draft's processed distribution; greedy ranks by the plain softmax
            this.scorer = new LogitsProcessor(params.isGreedy() ? params.withTemperature(1.0) : params);
            // temperature, top-k/p and min-p keep the most likely token first; penalties need the history on the host
            this.argmaxRanks = width == 1 && !params.hasPenalties();
            this.sequence = model.newSequence();
            this.base = new int[0];
            this.levels = new ArrayList<>();
            this.failure = null;
            this.running = true;
        }
        thread = Thread.ofPlatform().daemon().name("card-drafter").start(this::draftLoop);
    }

    @Override
    public ChainDraft propose(TokenHistory context, int maxDepth) {
        synchronized (lock) {
            if (!running) throw new IllegalStateException("propose before begin");
            if (failure != null) throw failure;
            correct(Arrays.copyOf(context.tokens(), context.length()));
            lock.notifyAll();
            int[] path = bestPath(maxDepth);
            return path.length == 0 ? ChainDraft.empty() : ChainDraft.deterministic(path);
        }
    }

    /** Re-roots the tree at {@code context}: keeps the subtree under it when the tree holds it, else starts over. */
    private void correct(int[] context) {
        boolean extends_ = base.length > 0 && context.length >= base.length
                && Arrays.equals(context, 0, base.length, base, 0, base.length);
        if (!extends_) {
            base = context;
            levels = new ArrayList<>();
            return;
        }
        int steps = context.length - base.length;
        int parent = -1;
        double rootWeight = 1;
        for (int j = 0; j < steps; j++) {
            int found = -1;
            if (j < levels.size()) {
                Node[] level = levels.get(j);
                for (int i = 0; i < level.length; i++) {
                    if (level[i].parent == parent && level[i].token == context[base.length + j]) found = i;
                }
            }
            if (found < 0) {
                (j < levels.size() ? misses : behind).incrementAndGet();
                base = context;
                levels = new ArrayList<>();
                return;
            }
            rootWeight = levels.get(j)[found].weight;
            parent = found;
        }
        if (steps == 0) return;
        hits.incrementAndGet();
        // keep the descendants of the new root, re-weighted relative to it
        List<Node[]> kept = new ArrayList<>();
        boolean[] alive = new boolean[levels.get(steps - 1).length];
        alive[parent] = true;
        int[] newIndex = new int[alive.length];
        Arrays.fill(newIndex, -1);
        for (int l = steps; l < levels.size(); l++) {
            Node[] level = levels.get(l);
            List<Node> survivors = new ArrayList<>();
            boolean[] nextAlive = new boolean[level.length];
            int[] nextIndex = new int[level.length];
            for (int i = 0; i < level.length; i++) {
                Node n = level[i];
                if (!alive[n.parent]) continue;
                nextAlive[i] = true;
                nextIndex[i] = survivors.size();
                int p = l == steps ? -1 : newIndex[n.parent];
                survivors.add(new Node(n.id, n.token, p, n.parentId, n.weight / rootWeight));
            }
            if (survivors.isEmpty()) break;
            kept.add(survivors.toArray(new Node[0]));
            alive = nextAlive;
            newIndex = nextIndex;
        }
        base = context;
        levels = kept;
    }

    /** Argmax weight among the root's children, then among that node's children, and so on. */
    private int[] bestPath(int maxDepth) {
        int[] path = new int[Math.min(maxDepth, levels.size())];
        int parent = -1;
        for (int l = 0; l < path.length; l++) {
            Node[] level = levels.get(l);
            int best = -1;
            for (int i = 0; i < level.length; i++) {
                if (level[i].parent == parent && (best < 0 || level[i].weight > level[best].weight)) best = i;
            }
            if (best < 0) return Arrays.copyOf(path, l);
            path[l] = level[best].token;
            parent = best;
        }
        return path;
    }

    private void draftLoop() {
        try {
            while (true) {
                int[] b;
                List<Node[]> snapshot;
                synchronized (lock) {
                    while (running && (base.length == 0 || levels.size() >= depth)) lock.wait();
                    if (!running) return;
                    b = base;
                    snapshot = List.copyOf(levels);
                }
                Node[] next = expand(b, snapshot);
                synchronized (lock) {
                    // the tree may have been re-rooted meanwhile: keep the children whose parents are still the newest level
                    Node[] newest = levels.isEmpty() ? null : levels.getLast();
                    List<Node> keep = new ArrayList<>();
                    for (Node n : next) {
                        int p = -1;
                        if (n.parentId >= 0) {
                            if (newest == null) {
                                // the target accepted everything down to this child's parent while it was computed:
                                // the parent is the new root and its children are the new first level
                                if (!Arrays.equals(base, pathTo(b, snapshot, n.parent))) continue;
                            } else {
                                for (int i = 0; i < newest.length; i++) if (newest[i].id == n.parentId) p = i;
                                if (p < 0) continue;
                            }
                        } else if (!levels.isEmpty() || base != b) {
                            continue;
                        }
                        double parentWeight = p < 0 ? 1 : newest[p].weight;
                        keep.add(new Node(n.id, n.token, p, p < 0 ? -1 : n.parentId, n.weight * parentWeight));
                    }
                    expansions.incrementAndGet();
                    if (keep.isEmpty() || levels.size() >= depth) {
                        discarded.incrementAndGet();
                    } else {
                        levels.add(keep.toArray(new Node[0]));
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (RuntimeException e) {
            synchronized (lock) {
                failure = e;
            }
        }
    }

    /**
     * One tree-masked draft forward over the context's uncached tail and every node of the tree; returns the best
     * {@code width} children of the newest level (weights relative to their parent, which the caller multiplies in).
     */
    private Node[] expand(int[] b, List<Node[]> tree) {
        if (argmaxRanks) return extendChain(b, tree);
        int common = 0;
        int max = Math.min(b.length - 1, sequence.length());
        while (common < max && sequence.tokenAt(common) == b[common]) common++;
        sequence.truncate(common);
        int tail = b.length - common;
        int nodes = 0;
        for (Node[] level : tree) nodes += level.length;
        int n = tail + nodes;
        int[] tokens = new int[n];
        int[] positions = new int[n];
        int[] parents = new int[n]; // chunk index of each token's predecessor, -1 for the first
        System.arraycopy(b, common, tokens, 0, tail);
        int startPosition = sequence.nextPosition();
        for (int i = 0; i < tail; i++) {
            positions[i] = startPosition + i;
            parents[i] = i - 1;
        }
        int[] levelStart = new int[tree.size()];
        int c = tail;
        for (int l = 0; l < tree.size(); l++) {
            levelStart[l] = c;
            for (Node node : tree.get(l)) {
                tokens[c] = node.token;
                positions[c] = startPosition + tail - 1 + l + 1;
                parents[c] = node.parent < 0 ? tail - 1 : levelStart[l - 1] + node.parent;
                c++;
            }
        }
        Node[] newest = tree.isEmpty() ? null : tree.getLast();
        int[] rows;
        if (newest == null) {
            rows = new int[] {tail - 1};
        } else {
            rows = new int[newest.length];
            for (int i = 0; i < rows.length; i++) rows[i] = levelStart[tree.size() - 1] + i;
        }
        SequenceInput input = new SequenceInput(sequence, tokens, positions, AttentionMask.tree(parents), rows);
        float[][] logits = model.forward(input);
        sequence.truncate(b.length); // keep the context, drop the tree nodes
        int[] history = Arrays.copyOf(b, b.length + tree.size() + 1);
        PriorityQueue<Node> best = new PriorityQueue<>((x, y) -> Double.compare(x.weight, y.weight));
        for (int r = 0; r < rows.length; r++) {
            double parentWeight = newest == null ? 1 : newest[r].weight;
            double[] p = scorer.probabilities(fit(logits[r]), new TokenHistory(history, b.length, 0));
            for (int token : topTokens(p, width)) {
                double w = p[token] * parentWeight;
                if (best.size() < width) {
                    best.add(new Node(ids.getAndIncrement(), token, r, newest == null ? -1 : newest[r].id, w));
                } else if (w > best.peek().weight) {
                    best.poll();
                    best.add(new Node(ids.getAndIncrement(), token, r, newest == null ? -1 : newest[r].id, w));
                }
            }
        }
        // weights are handed back relative to the parent, as the caller re-reads the parent's current weight
        List<Node> out = new ArrayList<>();
        for (Node x : best) {
            double parentWeight = newest == null ? 1 : newest[x.parent].weight;
            out.add(new Node(x.id, x.token, x.parent, x.parentId, x.weight / parentWeight));
        }
        out.sort((x, y) -> Double.compare(y.weight, x.weight));
        return overridden(b, tree, newest == null, rows.length, out);
    }

    /**
     * Width 1: the tree is a chain, kept in the draft's KV cache between expansions, so an expansion feeds only what
     * the cache lacks (usually the newest node: a one-token decode step) and reads back only the argmax, which is the
     * single child (weights only rank siblings).
     */
    private Node[] extendChain(int[] b, List<Node[]> tree) {
        int[] chain = pathTo(b, tree, tree.isEmpty() ? -1 : 0);
        int common = 0;
        int max = Math.min(chain.length - 1, sequence.length());
        while (common < max && sequence.tokenAt(common) == chain[common]) common++;
        sequence.truncate(common);
        int[] best = model.forwardArgmax(List.of(SequenceInput.chainLastLogits(sequence, Arrays.copyOfRange(chain, common, chain.length))));
        Node[] newest = tree.isEmpty() ? null : tree.getLast();
        List<Node> only = new ArrayList<>(List.of(new Node(ids.getAndIncrement(), best[0], 0, newest == null ? -1 : newest[0].id, 1.0)));
        return overridden(b, tree, newest == null, 1, only);
    }

    /** Applies the benchmark-only {@link ProposalOverride}, if set, to each parent's best child (out is best first). */
    private Node[] overridden(int[] b, List<Node[]> tree, boolean firstLevel, int parents, List<Node> out) {
        ProposalOverride o = override;
        if (o != null) {
            boolean[] done = new boolean[parents];
            for (int i = 0; i < out.size(); i++) {
                Node x = out.get(i);
                if (done[x.parent]) continue;
                done[x.parent] = true;
                int[] path = pathTo(b, tree, firstLevel ? -1 : x.parent);
                out.set(i, new Node(x.id, o.token(path, x.token), x.parent, x.parentId, x.weight));
            }
        }
        return out.toArray(new Node[0]);
    }

    /** The base followed by the tokens from the root down to node {@code index} of the tree's newest level (-1: none). */
    private static int[] pathTo(int[] base, List<Node[]> tree, int index) {
        int[] below = new int[index < 0 ? 0 : tree.size()];
        for (int l = below.length - 1; l >= 0; l--) {
            Node n = tree.get(l)[index];
            below[l] = n.token;
            index = n.parent;
        }
        int[] path = Arrays.copyOf(base, base.length + below.length);
        System.arraycopy(below, 0, path, base.length, below.length);
        return path;
    }

    private float[] fit(float[] logits) {
        return logits;
    }

    private static int[] topTokens(double[] p, int k) {
        PriorityQueue<Integer> heap = new PriorityQueue<>((a, b) -> Double.compare(p[a], p[b]));
        for (int i = 0; i < p.length; i++) {
            if (!(p[i] > 0)) continue;
            if (heap.size() < k) heap.add(i);
            else if (p[i] > p[heap.peek()]) {
                heap.poll();
                heap.add(i);
            }
        }
        return heap.stream().mapToInt(Integer::intValue).toArray();
    }

    @Override
    public void end() {
        Thread t;
        synchronized (lock) {
            if (!running) return;
            running = false;
            lock.notifyAll();
            t = thread;
        }
        try {
            if (t != null) t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (sequence != null) sequence.release();
        sequence = null;
    }

    @Override public String toString() { return "CardDrafter[" + width + "x" + depth + "]"; }
}
