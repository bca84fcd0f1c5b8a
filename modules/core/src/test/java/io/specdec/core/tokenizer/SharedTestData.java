package io.specdec.core.tokenizer;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates /work/shared/data (never copied into the repo); tests skip with the reason when it is absent. */
final class SharedTestData {

    private SharedTestData() {}

    static Path file(String relative) {
        String configured = System.getProperty("specdec.shared.data");
        Path root = configured != null
                ? Path.of(configured)
                : Path.of(System.getProperty("user.dir")).resolve("../../../shared/data");
        Path file = root.resolve(relative).normalize();
        assumeTrue(Files.exists(file), "shared test data absent: " + file + " (set -Dspecdec.shared.data)");
        return file;
    }
}
