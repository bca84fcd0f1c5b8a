package io.specdec.core.sampling;

import org.junit.jupiter.api.Test;

import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

class StopStringMatcherTest {

    @Test
    void releasesTextThatCannotStartAStopString() {
        StopStringMatcher m = new StopStringMatcher(List.of("END"));
        assertThat(m.append("hello ").text()).isEqualTo("hello ");
        assertThat(m.append("wor").text()).isEqualTo("wor");
    }

    @Test
    void holdsBackAPossibleStartAndReleasesItWhenItIsNot() {
        StopStringMatcher m = new StopStringMatcher(List.of("END"));
        assertThat(m.append("abcE").text()).isEqualTo("abc");
        assertThat(m.heldBack()).isEqualTo(1);
        assertThat(m.append("N").text()).isEmpty();
        StopStringMatcher.Match miss = m.append("x");
        assertThat(miss.stopped()).isFalse();
        assertThat(miss.text()).isEqualTo("ENx");
    }

    @Test
    void findsAStopStringSplitAcrossPiecesAndReportsTheCut() {
        StopStringMatcher m = new StopStringMatcher(List.of("END"));
        assertThat(m.append("hello E").text()).isEqualTo("hello ");
        StopStringMatcher.Match match = m.append("NDtrailing");
        assertThat(match.stopped()).isTrue();
        assertThat(match.stopString()).isEqualTo("END");
        assertThat(match.text()).isEmpty();
        assertThat(match.stopPosition()).isEqualTo(6);
        assertThat(m.append("more").text()).isEmpty();
        assertThat(m.flush()).isEmpty();
    }

    @Test
    void earliestOfSeveralStopStringsWins() {
        StopStringMatcher m = new StopStringMatcher(List.of("zz", "\n\n", "b"));
        StopStringMatcher.Match match = m.append("a\n\nbzz");
        assertThat(match.stopString()).isEqualTo("\n\n");
        assertThat(match.text()).isEqualTo("a");
        assertThat(match.stopPosition()).isEqualTo(1);
    }

    @Test
    void flushReleasesHeldTextAtTheEnd() {
        StopStringMatcher m = new StopStringMatcher(List.of("</s>"));
        assertThat(m.append("done</").text()).isEqualTo("done");
        assertThat(m.flush()).isEqualTo("</");
    }

    @Test
    void overlappingPrefixesHoldTheLongestPossibleStart() {
        StopStringMatcher m = new StopStringMatcher(List.of("aab"));
        assertThat(m.append("xaa").text()).isEqualTo("x");
        assertThat(m.append("a").text()).isEqualTo("a"); // "aaa": only the last "aa" can still start "aab"
        StopStringMatcher.Match match = m.append("b");
        assertThat(match.stopped()).isTrue();
        assertThat(match.stopPosition()).isEqualTo(2);
    }

    @Test
    void noStopStringsReleasesEverything() {
        StopStringMatcher m = new StopStringMatcher(List.of());
        assertThat(m.append("abc").text()).isEqualTo("abc");
        assertThat(m.heldBack()).isZero();
    }
}
