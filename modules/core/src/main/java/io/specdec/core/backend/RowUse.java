package io.specdec.core.backend;

import io.specdec.core.sampling.Sampler;
import io.specdec.core.sampling.SamplingParams;

/**
 * What one input of a batched forward needs from its logits rows ({@link LanguageModel#forwardEach}): the rows
 * themselves on the host, only their argmax, or the verification of a sampled draft whose distributions the model
 * holds ({@link HeldLogits}), or that of a whole held chain round ({@link HeldChain}). A backend that keeps the logits on
 * a device moves only what each input needs.
 */
public sealed interface RowUse {
    Rows ROWS = new Rows();
    Argmax ARGMAX = new Argmax();

    /** The rows' logits, on the host. */
    record Rows() implements RowUse { }

    /** The greedy token (argmax, lowest index on ties) of each row. */
    record Argmax() implements RowUse { }

    /**
     * A plain sampled step: one token per row drawn as {@link io.specdec.core.sampling.Sampler} draws it, the row's
     * distribution processed by {@code params} (no penalties: they need the history) at the inverse CDF of
     * {@code uniform} (the input asks for one row).
     */
    record Sampled(double uniform, SamplingParams params) implements RowUse {
        public Sampled {
            if (params.hasPenalties()) throw new IllegalArgumentException("a sampled row takes no penalties");
        }
    }

    /**
     * Chain verification of the drafted {@code tokens} against {@code held}'s draft rows, as
     * {@link LanguageModel#verifyHeld} decides it (the input asks for γ+1 rows; temperature-only {@code params}; the
     * uniforms are drawn from {@code sampler}).
     */
    record HeldVerify(int[] tokens, HeldLogits held, SamplingParams params, Sampler sampler) implements RowUse {
        public HeldVerify {
            if (tokens.length < 1) throw new IllegalArgumentException("a held verification needs at least one draft token");
            if (!params.isTemperatureOnly()) throw new IllegalArgumentException("held verification takes temperature-only sampling, got " + params);
        }
    }

    /**
     * Verification of a held chain round ({@link LanguageModel#draftHeldChains}): the input's last γ tokens are
     * placeholders the model replaces with the ids {@code chain} holds, and it asks for γ+1 rows (from its last fed
     * token on); decided as {@link LanguageModel#verifyHeldChain} decides it. Only models that
     * {@link LanguageModel#verifiesHeldChainsInBatches() verify held chains in batches} take it.
     */
    record HeldChainVerify(HeldChain chain, SamplingParams params, Sampler sampler) implements RowUse {
        public HeldChainVerify {
            java.util.Objects.requireNonNull(chain, "chain");
            if (!params.isTemperatureOnly() && !(params.isGreedy() && !params.hasPenalties())) {
                throw new IllegalArgumentException("a held chain takes greedy without penalties or temperature-only sampling, got " + params);
            }
        }
    }
}
