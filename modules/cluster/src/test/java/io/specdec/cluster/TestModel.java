package io.specdec.cluster;

import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The shared stories260K checkpoint (../shared/data), or a skipped test that says why. */
public final class TestModel {
    private TestModel() { }

    public static ModelRuntime.Spec spec(String draft) {
        String data = System.getProperty("specdec.shared.data", "../../../shared/data");
        Path model = Path.of(data, "llama2c", "stories260K.bin");
        Path tok = Path.of(data, "llama2c", "tok512.bin");
        assumeTrue(Files.exists(model) && Files.exists(tok), "skipped: " + model + " (shared test data) is absent");
        return new ModelRuntime.Spec("stories260K", model, tok, draft, 1, 4096);
    }

    public static int freePort() {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
