package io.specdec.core.tokenizer;

/** UTF-8 boundary arithmetic for holding back characters split across tokens. */
final class Utf8 {

    private Utf8() {}

    /**
     * The length of the longest prefix of {@code bytes[0, length)} that does not end inside a character which
     * later bytes could still complete. Malformed bytes are not held back (they decode to U+FFFD right away).
     */
    static int completePrefixLength(byte[] bytes, int length) {
        int i = length - 1;
        int continuations = 0;
        while (i >= 0 && continuations < 3 && isContinuation(bytes[i])) {
            i--;
            continuations++;
        }
        if (i < 0) {
            return length;
        }
        int expected = sequenceLength(bytes[i]);
        boolean incomplete = expected > 1 && continuations + 1 < expected;
        return incomplete ? i : length;
    }

    private static boolean isContinuation(byte b) {
        return (b & 0xC0) == 0x80;
    }

    /** Bytes in the character a lead byte starts; 1 for ASCII and for bytes that cannot start one. */
    private static int sequenceLength(byte lead) {
        int b = lead & 0xFF;
        if (b >= 0xC2 && b <= 0xDF) return 2;
        if (b >= 0xE0 && b <= 0xEF) return 3;
        if (b >= 0xF0 && b <= 0xF4) return 4;
        return 1;
    }
}
