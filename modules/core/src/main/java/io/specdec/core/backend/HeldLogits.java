package io.specdec.core.backend;

/**
 * Rows of a draft model's logits kept where the draft computed them (a GPU's memory), so the target can verify a
 * sampled chain against the draft's distributions by reference instead of moving them to the host
 * (docs/ALGORITHMS.md §1, §6). The target opens one per request ({@link LanguageModel#holdDraftLogits}); the draft
 * fills row i with its i-th draft step ({@link LanguageModel#forwardSampledHolding}); the target reads them in
 * {@link LanguageModel#verifyHeld}. Rows grow on demand; a round overwrites the last round's.
 */
public interface HeldLogits extends AutoCloseable {

    /** The width of a row (the target's vocabulary). */
    int vocab();

    /** Row {@code i} copied to the host (a host fallback of the verifier, checks). */
    float[] row(int i);

    /** Where {@link LanguageModel#verifyHeld} decides with these rows, for statistics (e.g. {@code device-fused}). */
    String acceptance();

    @Override
    void close();
}
