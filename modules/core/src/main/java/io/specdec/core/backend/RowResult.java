package io.specdec.core.backend;

import io.specdec.core.speculative.SpeculativeSampler;

/** One input's answer from {@link LanguageModel#forwardEach}, in the form its {@link RowUse} asked for. */
public sealed interface RowResult {

    /** {@link RowUse.Rows}: the logits rows. */
    record Rows(float[][] logits) implements RowResult { }

    /** {@link RowUse.Argmax}: each row's greedy token. */
    record Argmax(int[] ids) implements RowResult { }

    /** {@link RowUse.Sampled}: the drawn token. */
    record Sampled(int token) implements RowResult { }

    /** {@link RowUse.HeldVerify}: the acceptance decision (accepted count, emitted tokens). */
    record Verified(SpeculativeSampler.Outcome outcome) implements RowResult { }
}
