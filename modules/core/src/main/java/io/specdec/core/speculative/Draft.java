package io.specdec.core.speculative;

/** What a {@link Drafter} proposes for one round: a chain of tokens or a tree of candidates. */
public sealed interface Draft permits ChainDraft, TreeDraft {

    /** Number of drafted tokens (tree nodes). */
    int size();

    /** Length of the longest candidate continuation (chain length, tree depth). */
    int depth();
}
