package io.specdec.core.generate;

/**
 * Incremental detokenization for one request, supplied by the tokenizer: the text that becomes complete once
 * {@code token} follows the tokens already decoded (possibly "" while a multi-byte character is incomplete).
 */
@FunctionalInterface
public interface TextDecoder {
    String next(int token);
}
