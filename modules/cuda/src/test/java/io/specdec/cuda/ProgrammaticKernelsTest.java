package io.specdec.cuda;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A kernel launched as a programmatic dependent may start before the kernel before it ends; unless it calls
 * pdl_wait() first, it reads half-written activations. This reads the kernel sources (no GPU needed) and checks that
 * every kernel CudaDevice launches that way has the wait in its body.
 */
class ProgrammaticKernelsTest {
    private static final Path NATIVE = Path.of("../../native");

    private static String sources() throws IOException {
        try (Stream<Path> files = Files.list(NATIVE)) {
            StringBuilder all = new StringBuilder();
            for (Path p : files.filter(f -> f.toString().endsWith(".cu") || f.toString().endsWith(".cuh")).sorted().toList()) {
                all.append(Files.readString(p)).append('\n');
            }
            return all.toString();
        }
    }

    /** The body of kernel {@code name}: a definition of its own, or the macro that defines it. */
    private static String body(String src, String name) {
        Matcher direct = Pattern.compile("__global__[^;{]*?\\b" + name + "\\s*\\(").matcher(src);
        if (direct.find()) {
            int open = src.indexOf('{', direct.end());
            int depth = 0;
            for (int i = open; i < src.length(); i++) {
                char c = src.charAt(i);
                if (c == '{') depth++;
                if (c == '}' && --depth == 0) return src.substring(open, i + 1);
            }
            throw new AssertionError("unbalanced braces after " + name);
        }
        Matcher viaMacro = Pattern.compile("\\n([A-Z_]+)\\(" + name + "\\s*,").matcher(src);
        assertThat(viaMacro.find()).as("definition of kernel %s", name).isTrue();
        int define = src.indexOf("#define " + viaMacro.group(1) + "(");
        assertThat(define).as("macro %s", viaMacro.group(1)).isNotNegative();
        int end = define;
        while (true) {
            int nl = src.indexOf('\n', end);
            if (nl < 0 || src.charAt(nl - 1) != '\\') return src.substring(define, nl < 0 ? src.length() : nl);
            end = nl + 1;
        }
    }

    @Test
    void everyProgrammaticKernelWaitsForTheKernelBeforeIt() throws IOException {
        String src = sources();
        assertThat(CudaDevice.PROGRAMMATIC_KERNELS).isNotEmpty();
        for (String kernel : CudaDevice.PROGRAMMATIC_KERNELS) {
            assertThat(body(src, kernel)).as("body of %s", kernel).contains("pdl_wait()");
        }
    }

    @Test
    void aKernelWithoutTheWaitIsFoundOut() throws IOException {
        // the check above would pass vacuously if body() found nothing to look at
        assertThat(body(sources(), "embed_gather")).contains("tokens").doesNotContain("pdl_wait()");
    }
}
