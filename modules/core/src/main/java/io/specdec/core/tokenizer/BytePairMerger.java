package io.specdec.core.tokenizer;

import java.util.Arrays;
import java.util.PriorityQueue;

/**
 * The BPE merge loop: repeatedly merge the adjacent pair with the lowest priority (leftmost on ties) until no pair
 * merges. Symbols live in a doubly linked list over their start positions and candidate pairs in a priority queue,
 * so a whole SentencePiece text (which has no pre-tokenizer) merges in O(n log n) instead of O(n²).
 */
final class BytePairMerger {

    private final Vocabulary vocabulary;
    private final MergeOrder order;

    BytePairMerger(Vocabulary vocabulary, MergeOrder order) {
        this.vocabulary = vocabulary;
        this.order = order;
    }

    /** A queued merge; stale when either symbol changed since it was queued. */
    private record Candidate(float priority, int left, int right, int leftId, int rightId, int resultId) {}

    /**
     * @param symbols initial token ids, -1 for symbols the vocabulary lacks (they never merge)
     * @return the merged ids in order; -1 entries are returned unchanged for the caller's fallback
     */
    int[] merge(int[] symbols) {
        int n = symbols.length;
        if (n < 2) {
            return symbols.clone();
        }
        int[] ids = symbols.clone();
        int[] prev = new int[n];
        int[] next = new int[n];
        for (int i = 0; i < n; i++) {
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        PriorityQueue<Candidate> queue = new PriorityQueue<>((a, b) -> a.priority != b.priority
                ? Float.compare(a.priority, b.priority)
                : Integer.compare(a.left, b.left));
        for (int i = 0; i + 1 < n; i++) {
            offer(queue, ids, i, i + 1);
        }
        while (!queue.isEmpty()) {
            Candidate c = queue.poll();
            boolean stale = ids[c.left] != c.leftId || ids[c.right] != c.rightId || next[c.left] != c.right;
            if (stale) {
                continue;
            }
            ids[c.left] = c.resultId;
            ids[c.right] = Integer.MIN_VALUE; // removed; never equals a queued id
            int after = next[c.right];
            next[c.left] = after;
            if (after >= 0) {
                prev[after] = c.left;
                offer(queue, ids, c.left, after);
            }
            if (prev[c.left] >= 0) {
                offer(queue, ids, prev[c.left], c.left);
            }
        }
        int[] out = new int[n];
        int count = 0;
        for (int i = 0; i >= 0; i = next[i]) {
            out[count++] = ids[i];
        }
        return Arrays.copyOf(out, count);
    }

    private void offer(PriorityQueue<Candidate> queue, int[] ids, int left, int right) {
        if (ids[left] < 0 || ids[right] < 0) {
            return;
        }
        MergeOrder.Merge merge = order.find(ids[left], ids[right], vocabulary);
        if (merge != null) {
            queue.add(new Candidate(merge.priority(), left, right, ids[left], ids[right], merge.resultId()));
        }
    }
}
