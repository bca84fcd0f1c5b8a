package io.specdec.cli;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What runs when no model is named: the bundled pair models/target + models/draft (see models/README.md). A checkout
 * without models/ falls back to llama2.c's stories260K from the workplace's shared test data, drafted by its own
 * first layers (an early-exit self-draft).
 */
final class Defaults {
    private Defaults() {
    }

    static Path home() {
        String h = System.getProperty("specdec.home");
        return h != null ? Path.of(h) : Path.of(".").toAbsolutePath().normalize();
    }

    /** A path as results should record it: relative to the specdec home when inside it, so no machine path leaks. */
    static String display(Path p) {
        Path absolute = p.toAbsolutePath().normalize();
        Path home = home().toAbsolutePath().normalize();
        return absolute.startsWith(home) ? home.relativize(absolute).toString() : absolute.toString();
    }

    private static Path bundled() {
        return home().resolve("models");
    }

    private static Path sharedData() {
        String p = System.getProperty("specdec.shared.data");
        return p != null ? Path.of(p) : home().resolve("../shared/data").normalize();
    }

    static boolean bundledPairExists() {
        return Files.isDirectory(bundled().resolve("target"));
    }

    static Path target() {
        if (bundledPairExists()) return bundled().resolve("target");
        Path interim = sharedData().resolve("llama2c/stories260K.bin");
        if (!Files.exists(interim)) {
            throw new IllegalArgumentException("no --model given and no default model found: neither "
                    + bundled().resolve("target") + " nor the interim default " + interim + " exists");
        }
        return interim;
    }

    static Path targetTokenizer() {
        if (bundledPairExists()) return null;
        return sharedData().resolve("llama2c/tok512.bin");
    }

    /**
     * The drafter when speculation is on and no --draft is given: the bundled draft for the bundled target; for the
     * interim stories260K default its first 4 of 5 layers (measured: acceptance 0.29, 2.15 tokens per target forward
     * at γ=4, where its first 2 layers reach only 0.005); for any other model the model-free n-gram drafter.
     */
    static String draft(boolean defaultModel) {
        if (!defaultModel) return "ngram";
        if (bundledPairExists() && Files.isDirectory(bundled().resolve("draft"))) return bundled().resolve("draft").toString();
        return "layers:4";
    }
}
