package io.specdec.deploy;

import com.marcnuri.helm.Helm;
import com.marcnuri.helm.LintResult;
import com.marcnuri.helm.TemplateCommand;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.client.utils.Serialization;
import org.yaml.snakeyaml.Yaml;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

/** helm/specdec driven through helm-java (Helm's Go library, shipped natively), no helm binary and no cluster. */
record Chart(Path dir) {
    static final String RELEASE = "specdec";
    static final String NAMESPACE = "specdec";

    static Path root() {
        return Path.of(System.getProperty("specdec.root", "../..")).toAbsolutePath().normalize();
    }

    static Chart specdec() {
        return new Chart(root().resolve("helm/specdec"));
    }

    Path gpuValues() {
        return dir.resolve("values-gpu.yaml");
    }

    /** `helm template RELEASE dir --namespace NAMESPACE [-f values] [--set k=v ...]`. */
    String template(Path valuesFile, Map<String, Object> sets) {
        TemplateCommand t = new Helm(dir).template().withName(RELEASE).withNamespace(NAMESPACE);
        if (valuesFile != null) t = t.withValuesFile(valuesFile);
        for (var e : sets.entrySet()) t = t.set(e.getKey(), e.getValue());
        return t.call();
    }

    /** Every rendered document, parsed by the fabric8 model (unknown kinds become GenericKubernetesResource). */
    List<HasMetadata> render(Path valuesFile, Map<String, Object> sets) {
        return parse(template(valuesFile, sets));
    }

    static List<HasMetadata> parse(String multiDocument) {
        List<HasMetadata> objects = new ArrayList<>();
        for (String doc : multiDocument.split("(?m)^---\\s*$")) {
            if (doc.lines().allMatch(l -> l.isBlank() || l.startsWith("#"))) continue;
            Object o = Serialization.unmarshal(doc);
            if (!(o instanceof HasMetadata h)) throw new AssertionError("not a Kubernetes object:\n" + doc);
            objects.add(h);
        }
        return objects;
    }

    /** `helm lint --strict` of this chart. */
    LintResult lint() {
        return new Helm(dir).lint().strict().call();
    }

    /**
     * `helm lint --strict` with an overlay values file: helm-java's lint takes no -f, so lint a temporary copy of
     * the chart whose values.yaml is values.yaml deep-merged with the overlay (Helm's own merge rule for -f).
     */
    LintResult lintWith(Path overlay, Path tmp) throws IOException {
        Path copy = tmp.resolve("specdec");
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.naturalOrder()).toList()) {
                Path target = copy.resolve(dir.relativize(p).toString());
                if (Files.isDirectory(p)) Files.createDirectories(target);
                else Files.copy(p, target);
            }
        }
        Yaml yaml = new Yaml();
        Map<String, Object> values = yaml.load(Files.readString(dir.resolve("values.yaml")));
        Map<String, Object> extra = yaml.load(Files.readString(overlay));
        Files.writeString(copy.resolve("values.yaml"), yaml.dump(merge(values, extra)));
        return new Helm(copy).lint().strict().call();
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> merge(Map<String, Object> base, Map<String, Object> overlay) {
        Map<String, Object> out = new LinkedHashMap<>(base);
        overlay.forEach((k, v) -> out.merge(k, v, (a, b) -> a instanceof Map && b instanceof Map
                ? merge((Map<String, Object>) a, (Map<String, Object>) b) : b));
        return out;
    }

    static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
