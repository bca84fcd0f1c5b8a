package io.specdec.cli;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/**
 * {@code --random-weights} of generate, bench, serve and loadtest: a model of a config's shape whose weights are made
 * at start (the server: on every worker device, with {@code ModelRuntime.RANDOM_SEED}, the same seed).
 */
final class RandomWeightsOption {
    /** The weights' seed: the same config gives the same model on every run (per backend). */
    static final long SEED = io.specdec.cluster.ModelRuntime.RANDOM_SEED;

    @Option(names = "--random-weights", paramLabel = "CONFIG.json",
            description = "Instead of --model: a model of this HuggingFace config.json's shape (or a directory holding "
                    + "one) with random weights, seed 1. --backend cuda generates them on the GPU (seconds for 8B; "
                    + "matrices N(0, 1/fan-in), norms 1); --backend cpu in host memory (bf16, also seeded, but other "
                    + "values than the GPU's). No tokenizer comes with random weights: --tokenizer, a tokenizer.json "
                    + "next to the config, or the bundled one is used when its vocabulary has exactly vocab_size "
                    + "tokens; otherwise prompts and output are token ids (e.g. --prompt '1 450 22'), and bench's "
                    + "generation prompt is the BOS token. serve: clients send token_ids (or text of ids) and get ids "
                    + "back as text; a draft defaults to none (--draft layers:N or random:CONFIG.json).")
    Path config;

    boolean enabled() {
        return config != null;
    }
}
