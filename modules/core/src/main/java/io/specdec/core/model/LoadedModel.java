package io.specdec.core.model;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.Map;

/**
 * A model read from disk: config, weights (slices of memory-mapped files owned by {@code arena}), generation
 * defaults and where its tokenizer lives. Closing it unmaps the files.
 *
 * @param tokenizerSource a path {@code Tokenizers.load} understands, or null when the format carries none
 * @param generationDefaults e.g. temperature/top_p from generation_config.json; empty when absent
 */
public record LoadedModel(Path source, ModelConfig config, TransformerWeights weights, Arena arena,
                          Path tokenizerSource, Map<String, Object> generationDefaults) implements AutoCloseable {
    @Override public void close() {
        arena.close();
    }
}
