package io.specdec.core.generate;

/** Streams a generation: called once per emitted token, in order, on the generating thread. */
@FunctionalInterface
public interface TokenListener {

    /**
     * @param token the token id
     * @param text  text released by this token ("" without a decoder, or while text is held back because it could be
     *              the start of a stop string)
     */
    void onToken(int token, String text);

    /** The end: {@code trailingText} is text held back until now that turned out not to be a stop string. */
    default void onFinish(FinishReason reason, String trailingText) { }

    TokenListener NONE = (token, text) -> { };
}
