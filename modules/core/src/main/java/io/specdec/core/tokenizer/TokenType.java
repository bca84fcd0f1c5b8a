package io.specdec.core.tokenizer;

/** What a vocabulary entry is, with the codes GGUF's {@code tokenizer.ggml.token_type} uses. */
public enum TokenType {
    NORMAL,
    UNKNOWN,
    /** BOS, EOS, chat markers: rendered as empty text by default, never produced by merges. */
    CONTROL,
    /** Added tokens matched whole in the input when special tokens are parsed. */
    USER_DEFINED,
    UNUSED,
    /** SentencePiece byte-fallback pieces {@code <0xNN>}: decode to that single byte. */
    BYTE;

    public static TokenType fromGgufCode(int code) {
        return switch (code) {
            case 0, 1 -> NORMAL; // 0 = "undefined" in llama.cpp, treated like a normal piece
            case 2 -> UNKNOWN;
            case 3 -> CONTROL;
            case 4 -> USER_DEFINED;
            case 5 -> UNUSED;
            case 6 -> BYTE;
            default -> throw new IllegalArgumentException("unknown GGUF token type code " + code);
        };
    }

    /** Tokens that {@code parseSpecial} recognises in input text. */
    boolean isSpecial() {
        return this == CONTROL || this == USER_DEFINED || this == UNKNOWN;
    }
}
