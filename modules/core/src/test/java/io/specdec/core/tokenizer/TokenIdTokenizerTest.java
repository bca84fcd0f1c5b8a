package io.specdec.core.tokenizer;

import org.junit.jupiter.api.Test;

import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class TokenIdTokenizerTest {
    private final TokenIdTokenizer ids = new TokenIdTokenizer(1000, 1, Set.of(2));

    @Test
    void textIsIdsSeparatedBySpacesOrCommas() {
        assertThat(ids.encode(" 5, 17  999\n0 ", false, false)).containsExactly(5, 17, 999, 0);
        assertThat(ids.encode("5", true, false)).containsExactly(1, 5);
        assertThat(ids.encode("   ", false, false)).isEmpty();
        assertThat(ids.addBosByDefault()).isFalse();
    }

    @Test
    void anythingElseIsRefusedWithTheRule() {
        assertThatThrownBy(() -> ids.encode("Once upon a time", false, false))
                .hasMessageContaining("no tokenizer").hasMessageContaining("'Once' is not a token id");
        assertThatThrownBy(() -> ids.encode("3 1000", false, false)).hasMessageContaining("token id 1000 is outside [0, 1000)");
        assertThatThrownBy(() -> ids.encode("-1", false, false)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void streamingDecodeEqualsDecodeAndSeparatesAContinuation() {
        int[] tokens = {7, 2, 450};
        StringBuilder fromStart = new StringBuilder(), continuing = new StringBuilder();
        StreamingDetokenizer a = ids.newStreamingDetokenizer(true), b = ids.newStreamingDetokenizer(false);
        for (int t : tokens) {
            fromStart.append(a.push(t));
            continuing.append(b.push(t));
        }
        assertThat(fromStart.append(a.flush()).toString()).isEqualTo(ids.decode(tokens)).isEqualTo("7 2 450");
        assertThat(continuing.append(b.flush()).toString()).isEqualTo(" 7 2 450");
        assertThat(ids.eosId()).isEqualTo(2);
        assertThat(ids.tokenId("450")).contains(450);
        assertThat(ids.tokenId("x")).isEmpty();
    }
}
