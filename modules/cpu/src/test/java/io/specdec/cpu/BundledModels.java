package io.specdec.cpu;

import io.specdec.core.format.ModelFiles;
import io.specdec.core.model.LoadedModel;
import org.junit.jupiter.api.Assumptions;

import java.nio.file.Files;
import java.nio.file.Path;

/** The repository's bundled model pair (models/target, models/draft), found from the module's directory. */
final class BundledModels {
    private BundledModels() {
    }

    static LoadedModel load(String name) {
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null && !Files.isDirectory(dir.resolve("models").resolve(name))) dir = dir.getParent();
        Assumptions.assumeTrue(dir != null, "the bundled model models/" + name + " was not found above the working directory");
        return ModelFiles.load(dir.resolve("models").resolve(name));
    }
}
