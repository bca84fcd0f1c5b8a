package io.specdec.core.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

class StreamingDetokenizerTest {

    static final List<String> ALL = TestTokenizers.ALL;

    /** Every push, in order, then the flush. */
    private static List<String> stream(Tokenizer tokenizer, int[] ids) {
        StreamingDetokenizer detokenizer = tokenizer.newStreamingDetokenizer();
        List<String> pieces = new ArrayList<>();
        for (int id : ids) {
            pieces.add(detokenizer.push(id));
        }
        pieces.add(detokenizer.flush());
        return pieces;
    }

    private static boolean isWholeCharacters(String text) {
        return text.indexOf('\uFFFD') < 0 && new String(text.getBytes(StandardCharsets.UTF_8), StandardCharsets.UTF_8)
                .equals(text) && text.codePoints().noneMatch(cp -> Character.isSurrogate((char) cp) && cp < 0x10000);
    }

    @Test
    void emojiSplitIntoByteFallbackTokensIsHeldBackUntilComplete() {
        Tokenizer tokenizer = TestTokenizers.named("tinyllama tokenizer.json");
        int[] ids = tokenizer.encode("🦙");
        // "▁" then <0xF0> <0x9F> <0xA6> <0x99>: the llama emoji is not in the Llama 2 vocabulary.
        assertThat(ids).hasSize(5);
        assertThat(tokenizer.tokenText(ids[1])).isEqualTo("<0xF0>");
        assertThat(stream(tokenizer, ids)).containsExactly("", "", "", "", "🦙", "");
    }

    @Test
    void euroSignFromByteTokensArrivesWhole() {
        Tokenizer tokenizer = TestTokenizers.named("gguf llama-spm");
        int e2 = tokenizer.tokenId("<0xE2>").orElseThrow();
        int x82 = tokenizer.tokenId("<0x82>").orElseThrow();
        int xac = tokenizer.tokenId("<0xAC>").orElseThrow();
        int hello = tokenizer.tokenId("▁Hello").orElseThrow();
        StreamingDetokenizer detokenizer = tokenizer.newStreamingDetokenizer(false);
        assertThat(detokenizer.push(hello)).isEqualTo(" Hello");
        assertThat(detokenizer.push(e2)).isEmpty();
        assertThat(detokenizer.push(x82)).isEmpty();
        assertThat(detokenizer.push(xac)).isEqualTo("€");
        assertThat(detokenizer.flush()).isEmpty();
    }

    @Test
    void byteLevelPiecesHoldingHalfAnEmojiAreHeldBack() {
        Tokenizer tokenizer = TestTokenizers.named("gpt2 tokenizer.json");
        int[] ids = tokenizer.encode("a🦙b");
        List<String> pieces = stream(tokenizer, ids);
        assertThat(ids.length).isGreaterThan(3); // the emoji spans several byte-level tokens
        assertThat(pieces).allMatch(StreamingDetokenizerTest::isWholeCharacters);
        assertThat(String.join("", pieces)).isEqualTo("a🦙b");
    }

    @Test
    void truncatedCharacterIsFlushedAsReplacementCharacter() {
        Tokenizer tokenizer = TestTokenizers.named("gguf llama-spm");
        StreamingDetokenizer detokenizer = tokenizer.newStreamingDetokenizer(false);
        assertThat(detokenizer.push(tokenizer.tokenId("<0xE2>").orElseThrow())).isEmpty();
        assertThat(detokenizer.flush()).isEqualTo("\uFFFD");
    }

    @Test
    void continuationStreamKeepsTheFirstWordsLeadingSpace() {
        Tokenizer tokenizer = TestTokenizers.named("llama2.c tokenizer.bin");
        int[] ids = tokenizer.encode("Hello world");
        assertThat(String.join("", stream(tokenizer, ids))).isEqualTo("Hello world");
        StreamingDetokenizer continuing = tokenizer.newStreamingDetokenizer(false);
        StringBuilder text = new StringBuilder();
        for (int id : ids) {
            text.append(continuing.push(id));
        }
        assertThat(text.toString()).isEqualTo(" Hello world");
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("ALL")
    void streamedRandomUnicodeNeverSplitsACharacterAndEqualsDecode(String name) {
        Tokenizer tokenizer = TestTokenizers.named(name);
        for (String text : RandomText.strings(7, 200, 30)) {
            int[] ids = tokenizer.encode(text, true, false);
            List<String> pieces = stream(tokenizer, ids);
            assertThat(pieces).as("pieces of %s", LlamaCppVocabVectorsTest.escape(text))
                    .allMatch(StreamingDetokenizerTest::isWholeCharacters);
            assertThat(String.join("", pieces)).isEqualTo(tokenizer.decode(ids)).isEqualTo(text);
        }
    }
}
