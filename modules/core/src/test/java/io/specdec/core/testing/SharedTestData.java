package io.specdec.core.testing;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Finds the workplace's shared test data (../shared/data, never copied into the repository; surefire passes its
 * location as -Dspecdec.shared.data). Tests that need a file call {@link #file} and are skipped, with the reason
 * printed, when it is absent (for example in a user's clone). Shared by all modules through core's test jar.
 */
public final class SharedTestData {
    private SharedTestData() {
    }

    public static Path root() {
        String configured = System.getProperty("specdec.shared.data");
        return configured != null ? Path.of(configured)
                : Path.of(System.getProperty("user.dir")).resolve("../../../shared/data").normalize();
    }

    public static Path file(String relative) {
        Path file = root().resolve(relative).normalize();
        assumeTrue(Files.exists(file), "shared test data absent: " + file + " (set -Dspecdec.shared.data)");
        return file;
    }
}
