package io.specdec.cuda;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.assertj.core.api.Assertions.assertThat;

/** The CUDA sources under native/, read by tests that check the kernels' text (no GPU needed). */
final class KernelSources {
    private static final Path NATIVE = Path.of("../../native");

    private KernelSources() {
    }

    /** Every .cu and .cuh file, concatenated. */
    static String all() throws IOException {
        try (Stream<Path> files = Files.list(NATIVE)) {
            StringBuilder all = new StringBuilder();
            for (Path p : files.filter(f -> f.toString().endsWith(".cu") || f.toString().endsWith(".cuh")).sorted().toList()) {
                all.append(Files.readString(p)).append('\n');
            }
            return all.toString();
        }
    }

    /**
     * The body of {@code name}: a kernel or device function defined under its own name, or else the macro whose
     * invocation defines the kernel.
     */
    static String body(String src, String name) {
        Matcher direct = Pattern.compile("(__global__|__device__)[^;{]*?\\b" + name + "\\s*\\(").matcher(src);
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
        assertThat(viaMacro.find()).as("definition of %s", name).isTrue();
        int define = src.indexOf("#define " + viaMacro.group(1) + "(");
        assertThat(define).as("macro %s", viaMacro.group(1)).isNotNegative();
        int end = define;
        while (true) {
            int nl = src.indexOf('\n', end);
            if (nl < 0 || src.charAt(nl - 1) != '\\') return src.substring(define, nl < 0 ? src.length() : nl);
            end = nl + 1;
        }
    }
}
