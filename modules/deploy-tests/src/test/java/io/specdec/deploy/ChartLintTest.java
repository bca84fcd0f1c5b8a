package io.specdec.deploy;

import com.marcnuri.helm.LintResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;

/** `helm lint --strict` through helm-java, the stand-in for a dry run against a live API server. */
class ChartLintTest {
    private final Chart chart = Chart.specdec();

    @Test
    void lintsCleanWithDefaultValues() {
        LintResult r = chart.lint();
        assertThat(r.isFailed()).as("helm lint --strict: %s", r.getMessages()).isFalse();
    }

    @Test
    void lintsCleanWithGpuValues(@TempDir Path tmp) throws Exception {
        LintResult r = chart.lintWith(chart.gpuValues(), tmp);
        assertThat(r.isFailed()).as("helm lint --strict -f values-gpu.yaml: %s", r.getMessages()).isFalse();
    }
}
