package io.specdec.core.tokenizer;

import io.specdec.core.testing.SharedTestData;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** What the loaders read besides the vocabulary: special ids, BOS defaults, types, templates, and errors. */
class TokenizerLoadingTest {

    @Test
    void gpt2TokenizerJsonTakesBosAndEosFromTokenizerConfig() {
        Tokenizer gpt2 = TestTokenizers.named("gpt2 tokenizer.json");
        assertThat(gpt2.vocabSize()).isEqualTo(50257);
        assertThat(gpt2.bosId()).isEqualTo(50256);
        assertThat(gpt2.eosId()).isEqualTo(50256);
        assertThat(gpt2.eosIds()).containsExactly(50256);
        assertThat(gpt2.addBosByDefault()).isFalse();
        assertThat(gpt2.tokenType(50256)).isEqualTo(TokenType.CONTROL);
        assertThat(gpt2.chatTemplate()).isEmpty();
    }

    @Test
    void tinyLlamaTokenizerJsonAddsBosByDefaultAndShipsChatTemplate() {
        Tokenizer tinyLlama = TestTokenizers.named("tinyllama tokenizer.json");
        assertThat(tinyLlama.bosId()).isEqualTo(1);
        assertThat(tinyLlama.eosId()).isEqualTo(2);
        assertThat(tinyLlama.addBosByDefault()).isTrue();
        assertThat(tinyLlama.tokenType(0)).isEqualTo(TokenType.UNKNOWN);
        assertThat(tinyLlama.tokenType(3)).isEqualTo(TokenType.BYTE);
        assertThat(tinyLlama.chatTemplate()).hasValueSatisfying(t -> assertThat(t).contains("<|assistant|>"));
    }

    @Test
    void ggufAndTokenizerJsonAgreeOnLlamaSpecialIdsAndTypes() {
        Tokenizer gguf = TestTokenizers.named("gguf llama-spm");
        Tokenizer json = TestTokenizers.named("tinyllama tokenizer.json");
        assertThat(gguf.bosId()).isEqualTo(json.bosId());
        assertThat(gguf.eosId()).isEqualTo(json.eosId());
        assertThat(gguf.vocabSize()).isEqualTo(json.vocabSize());
        for (int id = 0; id < gguf.vocabSize(); id++) {
            assertThat(gguf.tokenText(id)).as("piece %d", id).isEqualTo(json.tokenText(id));
        }
    }

    @Test
    void specialTokensAreParsedOnlyWhenAsked() {
        Tokenizer gpt2 = TestTokenizers.named("gpt2 tokenizer.json");
        assertThat(gpt2.encode("a<|endoftext|>b", false, true)).containsExactly(64, 50256, 65);
        assertThat(gpt2.encode("a<|endoftext|>b")).doesNotContain(50256);
        assertThat(gpt2.decode(gpt2.encode("a<|endoftext|>b"))).isEqualTo("a<|endoftext|>b");
    }

    @Test
    void sentencePieceTextAfterASpecialTokenGetsItsOwnDummyPrefix() {
        for (String name : TestTokenizers.SENTENCE_PIECE) {
            Tokenizer tokenizer = TestTokenizers.named(name);
            int[] hello = tokenizer.encode("Hello");
            int[] ids = tokenizer.encode("Hello</s>Hello", true, true);
            assertThat(ids).as(name).containsExactly(concat(new int[] {1}, hello, new int[] {2}, hello));
        }
    }

    @Test
    void controlTokensDecodeToNothingUnlessRenderingThem() {
        Tokenizer tokenizer = TestTokenizers.named("tinyllama tokenizer.json");
        int[] ids = concat(tokenizer.encode("Hello", true, false), new int[] {2});
        assertThat(tokenizer.decode(ids)).isEqualTo("Hello");
        assertThat(tokenizer.decode(ids, true)).isEqualTo("<s> Hello</s>");
    }

    @Test
    void emptyTextEncodesToNothingOrJustBos() {
        for (String name : TestTokenizers.ALL) {
            Tokenizer tokenizer = TestTokenizers.named(name);
            assertThat(tokenizer.encode("")).as(name).isEmpty();
            assertThat(tokenizer.encode("", true, false)).as(name).containsExactly(tokenizer.bosId());
        }
    }

    @Test
    void ggufVocabularyLoadsFromThePathAlone() {
        var file = SharedTestData.file("llamacpp-vocab/ggml-vocab-gpt-2.gguf");
        assertThat(Tokenizers.load(file).vocabSize()).isEqualTo(50257);
    }

    @Test
    void unsupportedGgufTokenizerModelIsNamedInTheError() {
        Map<String, Object> metadata = Map.of(
                "tokenizer.ggml.model", "bert", "tokenizer.ggml.tokens", List.<Object>of("[CLS]", "a"));
        assertThatThrownBy(() -> GgufTokenizerMetadata.toTokenizer(metadata, "model.gguf"))
                .isInstanceOf(TokenizerFormatException.class)
                .hasMessageContaining("model.gguf")
                .hasMessageContaining("'bert'");
    }

    @Test
    void unknownGgufPreTokenizerIsNamedInTheError() {
        Map<String, Object> metadata = Map.of("tokenizer.ggml.model", "gpt2", "tokenizer.ggml.pre", "falcon",
                "tokenizer.ggml.tokens", List.<Object>of("a"), "tokenizer.ggml.merges", List.<Object>of());
        assertThatThrownBy(() -> GgufTokenizerMetadata.toTokenizer(metadata, "model.gguf"))
                .isInstanceOf(TokenizerFormatException.class)
                .hasMessageContaining("'falcon'");
    }

    private static int[] concat(int[]... parts) {
        return java.util.Arrays.stream(parts).flatMapToInt(java.util.Arrays::stream).toArray();
    }
}
