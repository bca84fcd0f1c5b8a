package io.specdec.core.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;

class PreTokenizerPatternTest {

    private static List<String> split(Pattern pattern, String text) {
        return pattern.matcher(text).results().map(r -> r.group()).toList();
    }

    @Test
    void gpt2KeepsDigitRunsAndMatchesContractionsCaseSensitively() {
        assertThat(split(PreTokenizerPattern.forGgufName("gpt-2", "test"), "Hello world 123456 I'M"))
                .containsExactly("Hello", " world", " 123456", " I", "'", "M");
    }

    @Test
    void llama3SplitsDigitsInThreesAndMatchesContractionsCaseInsensitively() {
        assertThat(split(PreTokenizerPattern.forGgufName("llama-bpe", "test"), "Hello world 123456 I'M"))
                .containsExactly("Hello", " world", " ", "123", "456", " I", "'M");
    }

    @Test
    void qwen2SplitsEveryDigit() {
        assertThat(split(PreTokenizerPattern.forGgufName("qwen2", "test"), "ab 1234"))
                .containsExactly("ab", " ", "1", "2", "3", "4");
    }

    @Test
    void whitespaceClassIsUnicodeAware() {
        // U+3000 ideographic space is White_Space in Rust's regex; Java needs UNICODE_CHARACTER_CLASS for that.
        assertThat(split(PreTokenizerPattern.forGgufName("gpt-2", "test"), "a\u3000\u3000b"))
                .containsExactly("a", "\u3000", "\u3000", "b");
    }
}
