package io.specdec.core.backend;

import io.specdec.core.sampling.Sampler;
import io.specdec.core.sampling.SamplingParams;

/**
 * What one input of a batched forward needs from its logits rows ({@link LanguageModel#forwardEach}): the rows
 * themselves on the host, only their argmax, or the verification of a sampled draft whose distributions the model
 * holds ({@link HeldLogits}). A backend that keeps the logits on a device moves only what each input needs.
 */
public sealed interface RowUse {
    Rows ROWS = new Rows();
    Argmax ARGMAX = new Argmax();

    /** The rows' logits, on the host. */
    record Rows() implements RowUse { }

    /** The greedy token (argmax, lowest index on ties) of each row. */
    record Argmax() implements RowUse { }

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
}
