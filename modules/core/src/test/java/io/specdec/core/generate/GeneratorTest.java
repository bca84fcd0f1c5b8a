package io.specdec.core.generate;

import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.TreeDrafter;
import io.specdec.core.testing.FakeLanguageModel;
import io.specdec.core.testing.FakeLanguageModel.LogitsFunction;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

class GeneratorTest {
    static final int V = 26;
    static final int EOS = 0;
    static final LogitsFunction RANDOM = FakeLanguageModel.random(V, 2.0, 31);
    /** Random logits that never pick EOS. */
    static final LogitsFunction TARGET = visible -> {
        float[] l = RANDOM.logits(visible).clone();
        l[EOS] = -50;
        return l;
    };
    static final int[] PROMPT = {4, 8, 15, 16};

    /** TARGET, except that EOS becomes by far the most likely once the history reaches {@code eosAt} tokens. */
    static LogitsFunction endingAt(int eosAt) {
        return visible -> {
            float[] l = TARGET.logits(visible).clone();
            l[EOS] = visible.length >= eosAt ? 50 : -50;
            return l;
        };
    }

    static FakeLanguageModel model(LogitsFunction f, int maxSequenceLength) {
        return new FakeLanguageModel("fake", V, maxSequenceLength, Set.of(EOS), f);
    }

    static Generator speculative(FakeLanguageModel target, LogitsFunction draft, int gamma) {
        return new Generator(target, new ModelDrafter(model(draft, target.config().maxSequenceLength())),
                GammaPolicy.fixed(gamma));
    }

    /** Each token decodes to one letter. */
    static TextDecoder letters() {
        return token -> String.valueOf((char) ('a' + token));
    }

    @Test
    void sameSeedGivesTheSameOutputAndAnotherSeedAnother() {
        SamplingParams params = SamplingParams.defaults().withMaxTokens(40).withSeed(123L);
        for (int variant = 0; variant < 3; variant++) {
            int[] a = run(variant, params);
            int[] b = run(variant, params);
            int[] c = run(variant, params.withSeed(124L));
            assertThat(a).as("variant %d, same seed", variant).containsExactly(b);
            assertThat(a).as("variant %d, different seed", variant).isNotEqualTo(c);
        }
    }

    private static int[] run(int variant, SamplingParams params) {
        FakeLanguageModel target = model(TARGET, 256);
        LogitsFunction draft = FakeLanguageModel.noisy(TARGET, 1.5, 32);
        Generator g = switch (variant) {
            case 0 -> Generator.plain(target);
            case 1 -> speculative(target, draft, 4);
            default -> new Generator(target, TreeDrafter.of(model(draft, 256), 2, 3), GammaPolicy.fixed(3));
        };
        return g.generate(PROMPT, params, TokenListener.NONE).tokens();
    }

    @Test
    void stopsAtEosEvenInTheMiddleOfAnAcceptedDraftAndKeepsTheKvConsistent() {
        int eosAt = PROMPT.length + 6; // the 7th generated token is EOS
        FakeLanguageModel target = model(endingAt(eosAt), 256);
        Generator g = speculative(target, endingAt(eosAt), 5); // identical draft: whole rounds accepted
        try (Generation run = g.start(PROMPT, SamplingParams.greedy().withMaxTokens(50), TokenListener.NONE, null)) {
            GenerationResult r = run.run();
            assertThat(r.finishReason()).isEqualTo(FinishReason.EOS);
            assertThat(r.tokens()).hasSize(7);
            assertThat(r.tokens()[6]).isEqualTo(EOS);
            int[] context = run.context();
            assertThat(run.targetSequence().tokens()).containsExactly(Arrays.copyOf(context, context.length - 1));
        }
    }

    @Test
    void ignoreEosRunsToMaxTokens() {
        FakeLanguageModel target = model(endingAt(PROMPT.length + 3), 256);
        GenerationResult r = speculative(target, TARGET, 3)
                .generate(PROMPT, SamplingParams.greedy().withMaxTokens(20).withIgnoreEos(true), TokenListener.NONE);
        assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(r.tokens()).hasSize(20).contains(EOS);
    }

    @Test
    void stopTokenIdsEndTheRequestAndAreKept() {
        int[] plain = Generator.plain(model(TARGET, 256))
                .generate(PROMPT, SamplingParams.greedy().withMaxTokens(30), TokenListener.NONE).tokens();
        int stop = plain[9];
        int firstAt = 0;
        while (plain[firstAt] != stop) firstAt++;
        GenerationResult r = speculative(model(TARGET, 256), FakeLanguageModel.noisy(TARGET, 0.3, 33), 4)
                .generate(PROMPT, SamplingParams.greedy().withMaxTokens(30).withStopTokenIds(Set.of(stop)), TokenListener.NONE);
        assertThat(r.finishReason()).isEqualTo(FinishReason.STOP_TOKEN);
        assertThat(r.tokens()).containsExactly(Arrays.copyOf(plain, firstAt + 1));
    }

    @Test
    void maxTokensIsExactWhateverGamma() {
        for (int max : new int[] {1, 2, 3, 7, 13}) {
            GenerationResult r = speculative(model(TARGET, 256), TARGET, 6)
                    .generate(PROMPT, SamplingParams.defaults().withSeed(1L).withMaxTokens(max), TokenListener.NONE);
            assertThat(r.tokens()).hasSize(max);
            assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
        }
    }

    @Test
    void stopsAtTheModelsMaximumSequenceLength() {
        FakeLanguageModel target = model(TARGET, 12); // the fake asserts no forward goes past 12 tokens
        GenerationResult r = speculative(target, TARGET, 5)
                .generate(PROMPT, SamplingParams.greedy().withMaxTokens(100), TokenListener.NONE);
        assertThat(r.finishReason()).isEqualTo(FinishReason.LENGTH);
        assertThat(PROMPT.length + r.tokens().length).isEqualTo(12);
    }

    @Test
    void stopStringCutsTheTextAndEndsAtTheTokenCompletingIt() {
        SamplingParams greedy = SamplingParams.greedy().withMaxTokens(40);
        GenerationResult full = Generator.plain(model(TARGET, 256)).generate(PROMPT, greedy, TokenListener.NONE, letters());
        String text = full.text();
        String stop = text.substring(12, 15);
        int cut = text.indexOf(stop);

        List<Integer> streamedTokens = new ArrayList<>();
        StringBuilder streamed = new StringBuilder();
        TokenListener listener = new TokenListener() {
            @Override public void onToken(int token, String t) {
                streamedTokens.add(token);
                streamed.append(t);
            }

            @Override public void onFinish(FinishReason reason, String trailing) {
                streamed.append(trailing);
            }
        };
        GenerationResult r = speculative(model(TARGET, 256), FakeLanguageModel.noisy(TARGET, 0.3, 34), 4)
                .generate(PROMPT, greedy.withStopStrings(List.of(stop)), listener, letters());

        assertThat(r.finishReason()).isEqualTo(FinishReason.STOP_STRING);
        assertThat(r.text()).isEqualTo(text.substring(0, cut));
        assertThat(streamed.toString()).isEqualTo(r.text());
        assertThat(r.tokens()).containsExactly(Arrays.copyOf(full.tokens(), cut + stop.length()));
        assertThat(streamedTokens).containsExactlyElementsOf(Arrays.stream(r.tokens()).boxed().toList());
    }

    @Test
    void listenerSeesEveryTokenInOrderAndHeldTextIsFlushedAtTheEnd() {
        List<Integer> seen = new ArrayList<>();
        StringBuilder streamed = new StringBuilder();
        TokenListener listener = new TokenListener() {
            @Override public void onToken(int token, String t) {
                seen.add(token);
                streamed.append(t);
            }

            @Override public void onFinish(FinishReason reason, String trailing) {
                streamed.append(trailing);
            }
        };
        // a stop string that never occurs but whose first letter does: text is held back and released
        GenerationResult r = speculative(model(TARGET, 256), TARGET, 3).generate(PROMPT,
                SamplingParams.defaults().withSeed(3L).withMaxTokens(25).withStopStrings(List.of("a{")), listener, letters());
        assertThat(seen).containsExactlyElementsOf(Arrays.stream(r.tokens()).boxed().toList());
        assertThat(streamed.toString()).isEqualTo(r.text()).hasSize(25);
    }

    @Test
    void singleTokenPromptNeedsNoPrefill() {
        FakeLanguageModel target = model(TARGET, 256);
        GenerationResult r = speculative(target, TARGET, 3)
                .generate(new int[] {7}, SamplingParams.greedy().withMaxTokens(10), TokenListener.NONE);
        assertThat(r.tokens()).hasSize(10);
        assertThat(r.stats().targetForwards()).isEqualTo(target.forwards());
    }

    @Test
    void rejectsInvalidRequests() {
        Generator g = Generator.plain(model(TARGET, 16));
        assertThatThrownBy(() -> g.generate(new int[0], SamplingParams.greedy(), TokenListener.NONE))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("BOS");
        assertThatThrownBy(() -> g.generate(new int[] {1, V}, SamplingParams.greedy(), TokenListener.NONE))
                .hasMessageContaining("prompt token 1").hasMessageContaining("vocabulary");
        assertThatThrownBy(() -> g.generate(new int[16], SamplingParams.greedy(), TokenListener.NONE))
                .hasMessageContaining("16-token context");
        assertThatThrownBy(() -> g.generate(PROMPT, SamplingParams.greedy().withStopStrings(List.of("x")), TokenListener.NONE))
                .hasMessageContaining("decoder");
    }

    @Test
    void oneRequestAtATime() {
        Generator g = speculative(model(TARGET, 256), TARGET, 2);
        try (Generation first = g.start(PROMPT, SamplingParams.greedy(), TokenListener.NONE, null)) {
            assertThatThrownBy(() -> g.start(PROMPT, SamplingParams.greedy(), TokenListener.NONE, null))
                    .isInstanceOf(IllegalStateException.class);
            first.step();
        }
        assertThat(g.generate(PROMPT, SamplingParams.greedy().withMaxTokens(3), TokenListener.NONE).tokens()).hasSize(3);
    }
}
