package io.specdec.core.tokenizer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.FieldSource;

/** decode(encode(s)) == s: SentencePiece's dummy-prefix space is added by encode and removed by decode. */
class RoundTripTest {

    static final List<String> ALL = TestTokenizers.ALL;

    private static void assertRoundTrips(Tokenizer tokenizer, List<String> texts, boolean addBos) {
        List<String> failures = new ArrayList<>();
        for (String text : texts) {
            int[] ids = tokenizer.encode(text, addBos, false);
            String decoded = tokenizer.decode(ids);
            if (!decoded.equals(text)) {
                failures.add(LlamaCppVocabVectorsTest.escape(text) + " -> " + Arrays.toString(ids) + " -> "
                        + LlamaCppVocabVectorsTest.escape(decoded));
            }
        }
        assertThat(failures).as("%d of %d texts do not round-trip:\n%s", failures.size(), texts.size(),
                String.join("\n", failures)).isEmpty();
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("ALL")
    void vectorStringsRoundTrip(String name) {
        assertRoundTrips(TestTokenizers.named(name), TestTokenizers.vectorTexts(), false);
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("ALL")
    void vectorStringsRoundTripWithBos(String name) {
        assertRoundTrips(TestTokenizers.named(name), TestTokenizers.vectorTexts(), true);
    }

    @ParameterizedTest(name = "{0}")
    @FieldSource("ALL")
    void randomUnicodeWithEmojiAndCjkRoundTrips(String name) {
        assertRoundTrips(TestTokenizers.named(name), RandomText.strings(42, 300, 40), false);
    }
}
