package io.specdec.core.sampling;

/**
 * The tokens a distribution is conditioned on: the first {@code length} entries of {@code tokens}, of which the first
 * {@code promptLength} are the prompt. A view, so the speculative code can score draft position i against the same
 * array (context followed by drafts) by varying {@code length}, without copying.
 */
public record TokenHistory(int[] tokens, int length, int promptLength) {

    public TokenHistory {
        if (length < 0 || length > tokens.length) {
            throw new IllegalArgumentException("history length " + length + " outside an array of " + tokens.length);
        }
        if (promptLength < 0 || promptLength > length) {
            throw new IllegalArgumentException("prompt length " + promptLength + " outside a history of " + length);
        }
    }

    /** All of {@code tokens}, the first {@code promptLength} being the prompt. */
    public static TokenHistory of(int[] tokens, int promptLength) {
        return new TokenHistory(tokens, tokens.length, promptLength);
    }

    /** A history with no tokens (tests, and processors without penalties). */
    public static TokenHistory empty() {
        return new TokenHistory(new int[0], 0, 0);
    }

    /** The same array seen up to another length. */
    public TokenHistory withLength(int newLength) {
        return new TokenHistory(tokens, newLength, Math.min(promptLength, newLength));
    }

    public int generatedCount() { return length - promptLength; }
}
