package io.specdec.core.backend;

/**
 * A chain round whose draft ids never visit the host (docs/DESIGN.md, the request's path): the draft feeds each of
 * its γ steps from the previous step's id where the draft computes it ({@link LanguageModel#draftHeldChain}), the ids
 * reach the target's verify input there ({@link LanguageModel#verifyHeldChain}), and only the decision (accepted
 * count and emitted ids) comes back. The target opens one per request ({@link LanguageModel#holdDraftChain}) for
 * greedy requests without penalties or temperature-only sampling; a round overwrites the last round's.
 */
public interface HeldChain extends AutoCloseable {

    /** Where the chain's acceptance runs, for statistics (e.g. {@code device-greedy}, {@code device-fused}). */
    String acceptance();

    /** How the draft ids travel to the verifier, for statistics (e.g. {@code device-nccl}). */
    String draftTokens();

    @Override
    void close();
}
