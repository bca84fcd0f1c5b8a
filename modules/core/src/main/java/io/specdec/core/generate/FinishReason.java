package io.specdec.core.generate;

/** Why a generation ended. */
public enum FinishReason {
    /** maxTokens reached, or the model's maximum sequence length. */
    LENGTH,
    /** The model emitted one of its end-of-sequence tokens (kept in the output tokens). */
    EOS,
    /** The request's stop token ids (kept in the output tokens). */
    STOP_TOKEN,
    /** The text contained a stop string; the text is cut before it, the tokens end with the one completing it. */
    STOP_STRING
}
