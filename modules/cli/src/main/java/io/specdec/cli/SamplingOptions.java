package io.specdec.cli;

import io.specdec.core.sampling.SamplingParams;
import picocli.CommandLine.Option;

import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;

/** Sampling options of `generate`, mapped one to one onto {@link SamplingParams}. */
public final class SamplingOptions {
    @Option(names = "--max-tokens", paramLabel = "N", defaultValue = "256", description = "Tokens to generate (default: ${DEFAULT-VALUE}).")
    int maxTokens;

    @Option(names = "--temperature", paramLabel = "T", defaultValue = "0", description = "0 = greedy (default: ${DEFAULT-VALUE}).")
    double temperature;

    @Option(names = "--top-k", paramLabel = "K", defaultValue = "0", description = "Keep the K most likely tokens; 0 = off.")
    int topK;

    @Option(names = "--top-p", paramLabel = "P", defaultValue = "1", description = "Nucleus sampling mass; 1 = off.")
    double topP;

    @Option(names = "--min-p", paramLabel = "P", defaultValue = "0", description = "Drop tokens below P x the top probability; 0 = off.")
    double minP;

    @Option(names = "--repetition-penalty", paramLabel = "R", defaultValue = "1", description = "1 = off.")
    double repetitionPenalty;

    @Option(names = "--presence-penalty", paramLabel = "X", defaultValue = "0", description = "0 = off.")
    double presencePenalty;

    @Option(names = "--frequency-penalty", paramLabel = "X", defaultValue = "0", description = "0 = off.")
    double frequencyPenalty;

    @Option(names = "--seed", paramLabel = "S", description = "Random seed: the same seed gives the same output.")
    Long seed;

    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop when the output contains TEXT (repeatable).")
    List<String> stops = new ArrayList<>();

    @Option(names = "--stop-token", paramLabel = "ID", description = "Stop after emitting token ID (repeatable).")
    List<Integer> stopTokens = new ArrayList<>();

    @Option(names = "--ignore-eos", description = "Keep generating past end-of-sequence tokens.")
    boolean ignoreEos;

    SamplingParams toParams() {
        return SamplingParams.builder()
                .maxTokens(maxTokens).temperature(temperature).topK(topK).topP(topP).minP(minP)
                .repetitionPenalty(repetitionPenalty).presencePenalty(presencePenalty).frequencyPenalty(frequencyPenalty)
                .seed(seed).stopStrings(stops).stopTokenIds(new HashSet<>(stopTokens)).ignoreEos(ignoreEos)
                .build();
    }
}
