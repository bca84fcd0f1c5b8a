package io.specdec.deploy;

import com.marcnuri.helm.LintResult;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.util.Map;
import java.nio.file.Path;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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

    /**
     * helm-java 0.0.21's lint passed a chart whose values make a template call `fail` (seen by hand), so lint alone
     * does not prove the templates render: RenderedObjectsTest renders them, and this checks the refusal there.
     */
    @Test
    void templateRefusesAnUnknownDiscoveryMethod() {
        assertThatThrownBy(() -> chart.template(null, Map.of("discovery.method", "dns")))
                .hasMessageContaining("discovery.method must be kubernetes-api or seed-nodes, got dns");
    }

    @Test
    void templateRefusesAnUnknownModelVolumeType() {
        assertThatThrownBy(() -> chart.template(null, Map.of("model.volume.type", "nfs")))
                .hasMessageContaining("model.volume.type must be none, pvc, hostPath or emptyDir, got nfs");
    }
}
