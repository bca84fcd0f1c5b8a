package io.specdec.core.speculative;

import io.specdec.core.sampling.TokenHistory;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class NgramDrafterTest {

    private static ChainDraft propose(NgramDrafter d, int[] context, int max) {
        return d.propose(TokenHistory.of(context, context.length), max);
    }

    @Test
    void proposesWhatFollowedTheMostRecentEarlierOccurrence() {
        NgramDrafter d = new NgramDrafter(1, 3);
        //                    0  1  2  3  4  5  6  7  8  9
        int[] context = {5, 6, 7, 1, 5, 6, 8, 2, 5, 6};
        ChainDraft draft = propose(d, context, 3);
        assertThat(draft.tokens()).containsExactly(8, 2, 5); // the later "5 6" (slots 4-5) wins over slots 0-1
        assertThat(draft.isDeterministic()).isTrue();
    }

    @Test
    void prefersTheLongestMatchingSuffix() {
        NgramDrafter d = new NgramDrafter(1, 3);
        // "3 4 5" occurs at 0, "4 5" alone later at 5: the 3-gram match wins
        int[] context = {3, 4, 5, 9, 9, 4, 5, 1, 3, 4, 5};
        assertThat(propose(d, context, 2).tokens()).containsExactly(9, 9);
    }

    @Test
    void stopsAtTheEndOfTheContextAndAtMaxDepth() {
        NgramDrafter d = new NgramDrafter(1, 2);
        assertThat(propose(d, new int[] {1, 2, 1}, 5).tokens()).containsExactly(2, 1);
        assertThat(propose(d, new int[] {1, 2, 3, 4, 1}, 2).tokens()).containsExactly(2, 3);
        assertThat(propose(d, new int[] {1, 2, 3, 4, 1}, 0).size()).isZero();
    }

    @Test
    void proposesNothingWithoutAMatch() {
        NgramDrafter d = new NgramDrafter(2, 3);
        assertThat(propose(d, new int[] {1, 2, 3, 1}, 4).size()).isZero(); // only a 1-gram match, below minN
        assertThat(propose(d, new int[] {1}, 4).size()).isZero();
    }

    @Test
    void rejectsBadSizes() {
        assertThatThrownBy(() -> new NgramDrafter(0, 2)).hasMessageContaining("minN");
        assertThatThrownBy(() -> new NgramDrafter(3, 2)).hasMessageContaining("maxN");
    }
}
