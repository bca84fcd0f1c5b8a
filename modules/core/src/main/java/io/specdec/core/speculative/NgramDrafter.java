package io.specdec.core.speculative;

import io.specdec.core.sampling.Sampler;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.sampling.TokenHistory;

/**
 * Prompt lookup: find the most recent earlier occurrence of the context's last n tokens (n from {@code maxN} down to
 * {@code minN}) and propose the tokens that followed it. No model, no randomness: proposals are deterministic, so the
 * verifier treats q as a point mass at each one.
 */
public final class NgramDrafter implements Drafter {
    private final int minN;
    private final int maxN;

    public NgramDrafter(int minN, int maxN) {
        if (minN < 1 || maxN < minN) {
            throw new IllegalArgumentException("n-gram sizes must satisfy 1 <= minN <= maxN: minN=" + minN + ", maxN=" + maxN);
        }
        this.minN = minN;
        this.maxN = maxN;
    }

    @Override public void begin(SamplingParams params, Sampler sampler, int vocabSize) { }

    @Override
    public ChainDraft propose(TokenHistory context, int maxDepth) {
        int[] t = context.tokens();
        int len = context.length();
        if (maxDepth <= 0) return ChainDraft.empty();
        for (int n = Math.min(maxN, len - 1); n >= minN; n--) {
            for (int start = len - n - 1; start >= 0; start--) {
                if (matches(t, start, len - n, n)) {
                    int from = start + n;
                    int count = Math.min(maxDepth, len - from);
                    int[] proposal = new int[count];
                    System.arraycopy(t, from, proposal, 0, count);
                    return ChainDraft.deterministic(proposal);
                }
            }
        }
        return ChainDraft.empty();
    }

    private static boolean matches(int[] t, int a, int b, int n) {
        for (int i = 0; i < n; i++) if (t[a + i] != t[b + i]) return false;
        return true;
    }

    @Override public void end() { }

    @Override public String toString() { return "NgramDrafter[n=" + minN + ".." + maxN + "]"; }
}
