package io.specdec.core.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.function.IntFunction;

/**
 * Turns generated tokens into text as they arrive. A token can end in the middle of a UTF-8 character (byte-fallback
 * {@code <0xE2>} or a byte-level piece holding half an emoji), so the incomplete tail is held back until the
 * character is complete; the concatenation of every {@link #push} and the final {@link #flush} equals
 * {@link Tokenizer#decode(int[])} of the same tokens. Not thread-safe: one per generation stream.
 */
public final class StreamingDetokenizer {

    private final IntFunction<byte[]> bytesOfToken;
    private boolean stripLeadingSpace;
    private final ByteArrayOutputStream pending = new ByteArrayOutputStream();

    /**
     * @param bytesOfToken      the bytes a token renders to
     * @param stripLeadingSpace drop one space at the very start of the output (SentencePiece's dummy prefix)
     */
    StreamingDetokenizer(IntFunction<byte[]> bytesOfToken, boolean stripLeadingSpace) {
        this.bytesOfToken = bytesOfToken;
        this.stripLeadingSpace = stripLeadingSpace;
    }

    /** Adds one token; returns the text that is now complete, never half a character (possibly ""). */
    public String push(int tokenId) {
        byte[] bytes = bytesOfToken.apply(tokenId);
        int from = 0;
        if (stripLeadingSpace && bytes.length > 0) {
            stripLeadingSpace = false;
            if (bytes[0] == ' ') {
                from = 1;
            }
        }
        pending.write(bytes, from, bytes.length - from);
        return drainComplete();
    }

    /** Returns whatever is still held back (a truncated character decodes to U+FFFD) and resets the buffer. */
    public String flush() {
        String rest = pending.toString(StandardCharsets.UTF_8);
        pending.reset();
        return rest;
    }

    private String drainComplete() {
        byte[] buffer = pending.toByteArray();
        int complete = Utf8.completePrefixLength(buffer, buffer.length);
        if (complete == 0) {
            return "";
        }
        pending.reset();
        pending.write(buffer, complete, buffer.length - complete);
        return new String(buffer, 0, complete, StandardCharsets.UTF_8);
    }
}
