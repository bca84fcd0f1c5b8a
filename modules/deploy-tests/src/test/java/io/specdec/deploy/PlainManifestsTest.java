package io.specdec.deploy;

import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * k8s/specdec.yaml is the chart rendered with default values, so users without Helm get the same objects.
 * Regenerate: ./mvnw -B -o -q -pl modules/deploy-tests test -Dtest=PlainManifestsTest -Dspecdec.k8s.write=true
 */
class PlainManifestsTest {
    /** Default values: the admin token Secret is created by the operator, so none is committed. */
    static final Map<String, Object> SETS = Map.of();

    static final String HEADER = """
            # Generated from helm/specdec with default values (release specdec, namespace specdec) by
            # modules/deploy-tests PlainManifestsTest; do not edit: change the chart and regenerate (k8s/README.md).
            """;

    @Test
    void k8sManifestsEqualAFreshRenderOfTheChart() throws Exception {
        String fresh = HEADER + Chart.specdec().template(null, SETS);
        Path file = Chart.root().resolve("k8s/specdec.yaml");
        if (Boolean.getBoolean("specdec.k8s.write")) Files.writeString(file, fresh);
        assertThat(Files.exists(file)).as("%s missing; regenerate it (k8s/README.md)", file).isTrue();
        assertThat(Chart.read(file)).as("k8s/specdec.yaml is stale; regenerate it (k8s/README.md)").isEqualTo(fresh);
    }

    @Test
    void k8sManifestsCommitNoSecret() {
        assertThat(Chart.parse(Chart.read(Chart.root().resolve("k8s/specdec.yaml"))))
                .noneSatisfy(o -> assertThat(o.getKind()).isEqualTo("Secret"));
    }
}
