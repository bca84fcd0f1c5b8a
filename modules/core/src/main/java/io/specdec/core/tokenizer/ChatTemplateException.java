package io.specdec.core.tokenizer;

/** A chat template that failed to render, or that rejected the conversation through {@code raise_exception}. */
public final class ChatTemplateException extends RuntimeException {
    public ChatTemplateException(String message) {
        super(message);
    }
}
