package io.specdec.core.tokenizer;

import java.util.regex.Pattern;

/**
 * The regexes byte-level tokenizers split text with before BPE, so merges never cross word/number/punctuation
 * boundaries. tokenizer.json carries the pattern itself; GGUF only names it in {@code tokenizer.ggml.pre}.
 */
final class PreTokenizerPattern {

    static final String GPT2 =
            "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

    static final String LLAMA3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    static final String QWEN2 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
            + "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

    private PreTokenizerPattern() {}

    /**
     * Compiles a HuggingFace (Rust regex / Oniguruma) pattern for java.util.regex. Their {@code \s}, {@code \w} and
     * case folding are Unicode-aware, Java's only with UNICODE_CHARACTER_CLASS; {@code \p{L}}, {@code \p{N}},
     * lookahead and {@code (?i:...)} mean the same in both.
     */
    static Pattern compile(String huggingFacePattern) {
        return Pattern.compile(huggingFacePattern, Pattern.UNICODE_CHARACTER_CLASS);
    }

    /** The pattern for a GGUF {@code tokenizer.ggml.pre} name. */
    static Pattern forGgufName(String pre, String source) {
        return switch (pre) {
            case "default", "gpt-2", "gpt2" -> compile(GPT2);
            case "llama-bpe", "llama3", "llama-v3", "smaug-bpe" -> compile(LLAMA3);
            case "qwen2" -> compile(QWEN2);
            default -> throw new TokenizerFormatException(source + ": tokenizer.ggml.pre '" + pre
                    + "' is not supported (known: default, gpt-2, llama-bpe, llama3, qwen2)");
        };
    }
}
