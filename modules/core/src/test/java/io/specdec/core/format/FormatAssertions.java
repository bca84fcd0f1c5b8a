package io.specdec.core.format;

import io.specdec.core.model.ModelFormatException;
import org.junit.jupiter.api.function.Executable;

import java.nio.file.Files;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

final class FormatAssertions {
    private FormatAssertions() {
    }

    /** Asserts a ModelFormatException whose message names {@code file} and contains {@code problem}. */
    static ModelFormatException assertFormatError(Path file, String problem, Executable action) {
        ModelFormatException e = assertThrows(ModelFormatException.class, action);
        assertThat(e.getMessage()).contains(file.toString()).contains(problem);
        assertThat(e.file()).isEqualTo(file);
        return e;
    }

    /** The shared test data folder, or a skipped test saying why. */
    static Path sharedData(String relative) {
        return io.specdec.core.testing.SharedTestData.file(relative);
    }
}
