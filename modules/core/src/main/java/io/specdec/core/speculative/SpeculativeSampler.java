package io.specdec.core.speculative;

import io.specdec.core.sampling.LogitsProcessor;
import io.specdec.core.sampling.Sampler;

import java.util.Arrays;
import java.util.function.IntFunction;

/**
 * Chain acceptance, docs/ALGORITHMS.md §1: accept x_i with probability min(1, p_i(x_i)/q_i(x_i)); at the first
 * rejection emit a token from normalize(max(0, p_i - q_i)); if all are accepted emit a bonus token from p_{γ+1}.
 * Under greedy, x_i is accepted iff it is argmax p_i and the replacement/bonus is argmax p. The emitted tokens then
 * follow the target's processed distribution exactly, whatever the draft.
 */
public final class SpeculativeSampler {
    private SpeculativeSampler() { }

    /**
     * @param accepted number of draft tokens accepted (0..γ)
     * @param emitted  the accepted drafts followed by the replacement or bonus token (accepted + 1 tokens)
     */
    public record Outcome(int accepted, int[] emitted) {
        public int bonusOrReplacement() { return emitted[emitted.length - 1]; }

        /**
         * Greedy chain verification from the target's argmax ids alone: {@code best[from + i]} is the argmax of the
         * row after draft token i-1 (row 0 follows the context). Accepts while the draft matches, then emits the
         * target's token there (the replacement, or the bonus after a fully accepted chain).
         */
        public static Outcome greedy(int[] draft, int[] best, int from) {
            int accepted = 0;
            while (accepted < draft.length && draft[accepted] == best[from + accepted]) accepted++;
            int[] emitted = Arrays.copyOf(draft, accepted + 1);
            emitted[accepted] = best[from + accepted];
            return new Outcome(accepted, emitted);
        }

        @Override public String toString() { return "Outcome[accepted=" + accepted + ", emitted=" + Arrays.toString(emitted) + "]"; }
    }

    /**
     * @param draft   the drafted chain and the q it was drawn from
     * @param target  processed target distribution p_{i+1} for i in 0..γ (row 0 follows the context); asked lazily,
     *                so rows after a rejection are never processed
     * @param greedy  temperature 0: compare with argmax instead of sampling
     * @param sampler the request's random stream (uniforms and replacement draws)
     */
    public static Outcome verify(ChainDraft draft, IntFunction<double[]> target, boolean greedy, Sampler sampler) {
        if (draft.chain() != null) {
            throw new IllegalArgumentException("a held chain round is verified by LanguageModel.verifyHeldChain");
        }
        if (draft.held() != null) {
            throw new IllegalArgumentException("a draft with held distributions is verified by LanguageModel.verifyHeld");
        }
        int[] x = draft.tokens();
        int[] emitted = new int[x.length + 1];
        for (int i = 0; i < x.length; i++) {
            double[] p = target.apply(i);
            if (greedy) {
                int best = LogitsProcessor.argmax(p);
                if (x[i] != best) return rejected(emitted, i, best);
            } else if (!(sampler.uniform() < Distributions.ratio(p, draft.isDeterministic() ? null : draft.q()[i], x[i]))) {
                double[] residual = draft.isDeterministic()
                        ? Distributions.without(p, x[i])
                        : Distributions.residual(p, draft.q()[i]);
                return rejected(emitted, i, sampler.sample(residual == null ? p : residual));
            }
            emitted[i] = x[i];
        }
        double[] bonus = target.apply(x.length);
        emitted[x.length] = greedy ? LogitsProcessor.argmax(bonus) : sampler.sample(bonus);
        return new Outcome(x.length, emitted);
    }

    private static Outcome rejected(int[] emitted, int at, int replacement) {
        emitted[at] = replacement;
        return new Outcome(at, Arrays.copyOf(emitted, at + 1));
    }
}
