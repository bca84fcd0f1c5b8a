package io.specdec.core.tokenizer;

/** A tokenizer file that is malformed or uses a feature we do not support; the message names file and field. */
public final class TokenizerFormatException extends RuntimeException {
    public TokenizerFormatException(String message) {
        super(message);
    }

    public TokenizerFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
