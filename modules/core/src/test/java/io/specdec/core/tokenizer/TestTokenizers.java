package io.specdec.core.tokenizer;

import io.specdec.core.testing.SharedTestData;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;

/** The shared-data tokenizers, each loaded once per test JVM (tokenizer.json files take a moment to parse). */
final class TestTokenizers {

    private static final Map<String, Tokenizer> LOADED = new ConcurrentHashMap<>();

    private TestTokenizers() {}

    static final List<String> ALL = List.of(
            "gguf llama-spm", "tinyllama tokenizer.json", "llama2.c tokenizer.bin", "gguf gpt-2", "gpt2 tokenizer.json");

    static final List<String> SENTENCE_PIECE = ALL.subList(0, 3);

    static Tokenizer named(String name) {
        // Resolve paths outside the cache so a missing data folder skips every time, not just the first.
        Supplier<Tokenizer> loader = switch (name) {
            case "gguf llama-spm" -> gguf(SharedTestData.file("llamacpp-vocab/ggml-vocab-llama-spm.gguf"));
            case "gguf gpt-2" -> gguf(SharedTestData.file("llamacpp-vocab/ggml-vocab-gpt-2.gguf"));
            case "tinyllama tokenizer.json" -> load(SharedTestData.file("hf-tokenizers/tinyllama"));
            case "gpt2 tokenizer.json" -> load(SharedTestData.file("hf-tokenizers/gpt2/tokenizer.json"));
            case "llama2.c tokenizer.bin" -> load(SharedTestData.file("llama2c/tokenizer.bin"));
            default -> throw new IllegalArgumentException("no test tokenizer named " + name);
        };
        return LOADED.computeIfAbsent(name, n -> loader.get());
    }

    private static Supplier<Tokenizer> load(java.nio.file.Path path) {
        return () -> Tokenizers.load(path);
    }

    private static Supplier<Tokenizer> gguf(java.nio.file.Path path) {
        return () -> Tokenizers.load(path);
    }

    static List<String> vectorTexts() {
        try {
            var dir = SharedTestData.file("llamacpp-vocab");
            return LlamaCppVocabVectorsTest.readCases(dir.resolve("ggml-vocab-gpt-2.gguf.inp"),
                    dir.resolve("ggml-vocab-gpt-2.gguf.out")).stream().map(LlamaCppVocabVectorsTest.VectorCase::text).toList();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
