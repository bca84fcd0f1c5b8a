package io.specdec.deploy;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.ContainerPort;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodSpec;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The container images `./mvnw -Pimage` writes (modules/cli/target/specdec-image.tar and specdec-image-gpu.tar),
 * opened as a container runtime would read them, and checked against what the chart expects of them. Runs when the
 * `image` profile passes -Dspecdec.image.dir (CI's second step); skipped, saying so, in a plain `./mvnw verify`.
 */
@EnabledIfSystemProperty(named = "specdec.image.dir", matches = ".+", disabledReason = "no image to check: build and check it with "
        + "./mvnw -Pimage -pl modules/cli,modules/deploy-tests -am verify -Dtest=ImageTarTest -Dsurefire.failIfNoSpecifiedTests=false")
class ImageTarTest {
    private static final String JAVA = "/opt/specdec/runtime/bin/java";
    private static ImageTar cpu;
    private static ImageTar gpu;

    @BeforeAll
    static void open() throws Exception {
        String dir = System.getProperty("specdec.image.dir");
        cpu = ImageTar.open(Path.of(dir, "specdec-image.tar"));
        gpu = ImageTar.open(Path.of(dir, "specdec-image-gpu.tar"));
    }

    private static Container container(List<HasMetadata> objects, Class<?> kind) {
        for (HasMetadata o : objects) {
            if (o instanceof Deployment d && kind == Deployment.class) return d.getSpec().getTemplate().getSpec().getContainers().getFirst();
            if (o instanceof StatefulSet s && kind == StatefulSet.class) return s.getSpec().getTemplate().getSpec().getContainers().getFirst();
        }
        throw new AssertionError("no " + kind.getSimpleName());
    }

    private static PodSpec workerPod(List<HasMetadata> objects) {
        return objects.stream().filter(StatefulSet.class::isInstance).map(StatefulSet.class::cast).findFirst().orElseThrow()
                .getSpec().getTemplate().getSpec();
    }

    @Test
    void runsAsTheChartsNonRootNumericUser() {
        for (ImageTar image : List.of(cpu, gpu)) {
            String user = image.config().get("User").asText();
            assertThat(user).as("numeric uid:gid, so runAsNonRoot can verify it").matches("\\d+:\\d+");
            assertThat(Long.parseLong(user.split(":")[0])).as("uid").isNotZero();
            var security = workerPod(Chart.specdec().render(null, Map.of())).getSecurityContext();
            assertThat(user).isEqualTo(security.getRunAsUser() + ":" + security.getRunAsGroup());
        }
        assertThat(cpu.file("/etc/passwd")).isPresent();
    }

    @Test
    void entrypointIsExecFormRunningAJavaThatTheLayersCanStart() throws Exception {
        List<String> entrypoint = cpu.strings("Entrypoint");
        assertThat(entrypoint).as("exec form: the runtime's java, no shell").startsWith(JAVA).endsWith("io.specdec.cli.Main");
        assertThat(cpu.strings("Cmd")).as("no shell-form command").isEmpty();
        ImageTar.Entry java = cpu.file(JAVA).orElseThrow(() -> new AssertionError(JAVA + " is in no layer"));
        assertThat(java.directory() || java.symlink()).isFalse();
        assertThat(java.executable()).as("mode %o", java.mode()).isTrue();
        // scratch has no libc: the kernel starts java through this loader, which must be in the image.
        String interpreter = ImageTar.elfInterpreter(cpu.read(JAVA));
        assertThat(cpu.file(interpreter)).as(interpreter).hasValueSatisfying(e -> assertThat(e.executable()).isTrue());
        assertThat(cpu.file("/lib/x86_64-linux-gnu/libc.so.6")).isPresent();
        assertThat(cpu.file("/opt/specdec/runtime/lib/server/libjvm.so")).isPresent();
        assertThat(cpu.file("/opt/specdec/runtime/lib/modules")).as("the jlink image").isPresent();
        // Writes go to /tmp only (an emptyDir under readOnlyRootFilesystem).
        assertThat(entrypoint).contains("-Djava.io.tmpdir=/tmp", "-Duser.home=/tmp", "-XX:-UsePerfData");
        String classpath = entrypoint.get(entrypoint.indexOf("-cp") + 1);
        for (String part : classpath.split(":")) {
            String dir = part.endsWith("/*") ? part.substring(0, part.length() - 2) : part;
            assertThat(cpu.file(dir)).as("classpath entry " + part).hasValueSatisfying(e -> assertThat(e.directory()).isTrue());
        }
        assertThat(cpu.file("/opt/specdec/app/classes/io/specdec/cli/Main.class")).isPresent();
        assertThat(cpu.files().keySet()).as("the jars").anyMatch(p -> p.startsWith("opt/specdec/app/libs/specdec-server-"));
    }

    @Test
    void exposesTheChartsPorts() {
        assertThat(cpu.config().get("ExposedPorts").properties()).extracting(Map.Entry::getKey)
                .containsExactlyInAnyOrder("50051/tcp", "9400/tcp", "25520/tcp", "7626/tcp");
        for (Class<?> kind : List.of(Deployment.class, StatefulSet.class)) {
            List<Integer> chartPorts = container(Chart.specdec().render(null, Map.of()), kind).getPorts().stream()
                    .map(ContainerPort::getContainerPort).toList();
            assertThat(chartPorts).allSatisfy(p -> assertThat(cpu.config().get("ExposedPorts").has(p + "/tcp")).as("port " + p).isTrue());
        }
    }

    @Test
    void bundlesTheDefaultModelUnderSpecdecHome() {
        assertThat(cpu.strings("Entrypoint")).contains("-Dspecdec.home=/opt/specdec");
        assertThat(cpu.file("/opt/specdec/models/target/config.json")).isPresent();
        assertThat(cpu.file("/opt/specdec/models/draft/model.safetensors")).isPresent();
    }

    @Test
    void nothingInTheImageIsWritableByItsUser() {
        assertThat(cpu.files().values()).as("owned by root, not group/world-writable")
                .filteredOn(ImageTar.Entry::writableByOthersThanRoot).isEmpty();
    }

    @Test
    void chartRunsTheImagesEntrypointAndDrainsWithItWithoutAShell() {
        List<String> entrypoint = cpu.strings("Entrypoint");
        List<HasMetadata> defaults = Chart.specdec().render(null, Map.of());
        for (Class<?> kind : List.of(Deployment.class, StatefulSet.class)) {
            Container c = container(defaults, kind);
            assertThat(c.getCommand()).as(kind.getSimpleName() + " command").isEqualTo(entrypoint);
            assertThat(c.getImage()).isEqualTo(cpu.repoTags().getFirst());
        }
        List<String> preStop = container(defaults, StatefulSet.class).getLifecycle().getPreStop().getExec().getCommand();
        assertThat(preStop.subList(0, entrypoint.size())).isEqualTo(entrypoint);
        assertThat(preStop.subList(entrypoint.size(), preStop.size())).startsWith("admin", "drain");
        Container gpuWorker = container(Chart.specdec().render(Chart.specdec().gpuValues(), Map.of()), StatefulSet.class);
        assertThat(gpuWorker.getImage()).isEqualTo(gpu.repoTags().getFirst());
        assertThat(gpuWorker.getCommand()).isEqualTo(gpu.strings("Entrypoint"));
    }

    @Test
    void gpuVariantAsksTheNvidiaRuntimeForTheDriverAndFindsTheNodesCudaLibraries() {
        Map<String, String> env = gpu.env();
        assertThat(env).containsEntry("NVIDIA_VISIBLE_DEVICES", "all");
        assertThat(env.get("NVIDIA_DRIVER_CAPABILITIES")).contains("compute");
        assertThat(env.get("LD_LIBRARY_PATH").split(":")).contains("/usr/local/cuda/lib64");
        assertThat(cpu.env()).doesNotContainKey("NVIDIA_VISIBLE_DEVICES");
        assertThat(gpu.files().keySet()).as("JCuda's driver-API JNI library").anyMatch(p -> p.matches("opt/specdec/app/libs/jcuda-natives-.*-linux-x86_64\\.jar"));
        assertThat(gpu.files().keySet()).as("libcuda comes from the node, never from the image").noneMatch(p -> p.contains("libcuda.so"));
        assertThat(gpu.file("/lib/x86_64-linux-gnu/libstdc++.so.6")).as("needed by the JNI libraries").isPresent();
    }

    private static int freePort() throws Exception {
        try (ServerSocket s = new ServerSocket(0)) {
            return s.getLocalPort();
        }
    }

    /**
     * Runs args in the unpacked image the way a container runtime with readOnlyRootFilesystem would: a private mount
     * and PID namespace, the root bind-mounted read-only, a fresh tmpfs on /tmp (the chart's emptyDir), /proc, and
     * the image's user. The host's sh, unshare, mount and chroot set this up; the image itself has none of them.
     */
    private static ProcessBuilder isolated(Path root, Map<String, String> env, List<String> args) {
        List<String> command = new ArrayList<>(List.of("unshare", "--mount", "--pid", "--fork", "--kill-child", "sh", "-c",
                "set -e; mount --bind \"$0\" \"$0\"; mount -o remount,bind,ro \"$0\"; mount -t tmpfs -o mode=1777 tmpfs \"$0/tmp\"; "
                        + "mount -t proc proc \"$0/proc\"; exec chroot --userspec=\"$IMAGE_USER\" \"$0\" \"$@\"", root.toString()));
        command.addAll(args);
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().clear();
        pb.environment().put("PATH", "/usr/sbin:/usr/bin:/sbin:/bin");
        pb.environment().put("IMAGE_USER", cpu.config().get("User").asText());
        pb.environment().putAll(env);
        return pb;
    }

    @Test
    @Timeout(value = 240, unit = TimeUnit.SECONDS)
    void servesFromTheImageAsItsUserOnAReadOnlyRootAndTheChartsPreStopDrainsIt(@TempDir Path tmp) throws Exception {
        Path root = tmp.resolve("rootfs");
        cpu.extractTo(root);
        Files.createDirectories(root.resolve("tmp"));   // mount points, as the runtime makes them
        Files.createDirectories(root.resolve("proc"));
        Process probe = isolated(root, Map.of(), List.of(JAVA, "-version")).start();
        String probeOutput = new String(probe.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        probe.waitFor(60, TimeUnit.SECONDS);
        assumeTrue(probe.exitValue() == 0 || !Pattern.compile("(?m)^(unshare|mount|chroot): ").matcher(probeOutput).find(),
                "needs root for mount namespaces and chroot (a container runtime's work): " + probeOutput.strip());
        assertThat(probe.exitValue()).as("java -version in the image:\n%s", probeOutput).isZero();

        int port = freePort();
        List<String> serve = new ArrayList<>(cpu.strings("Entrypoint"));
        serve.addAll(List.of("serve", "--port=" + port, "--metrics-port=-1", "--cluster-port=" + freePort(),
                "--admin-token=image-test-token", "--threads=1"));
        Process server = isolated(root, Map.of(), serve).start();
        try {
            BufferedReader lines = new BufferedReader(new InputStreamReader(server.getInputStream(), StandardCharsets.UTF_8));
            StringBuilder seen = new StringBuilder();
            String line;
            while ((line = lines.readLine()) != null && !line.startsWith("specdec serving")) seen.append(line).append('\n');
            assertThat(line).as("serve from the image, bundled model, read-only root:\n%s", seen).isNotNull().contains(":" + port);
            Thread.ofVirtual().start(() -> {
                try {
                    while (lines.readLine() != null) { }
                } catch (Exception ignored) {
                    // the server went away
                }
            });

            // The worker's preStop hook exactly as the chart renders it, with the environment it gives it.
            List<String> preStop = container(Chart.specdec().render(null, Map.of()), StatefulSet.class)
                    .getLifecycle().getPreStop().getExec().getCommand();
            Process drain = isolated(root, Map.of("SPECDEC_SERVER", "127.0.0.1:" + port, "SPECDEC_ADMIN_TOKEN", "image-test-token"),
                    preStop.stream().map(a -> a.equals("--timeout=300") ? "--timeout=60" : a).toList()).start();
            String drained = new String(drain.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertThat(drain.waitFor(90, TimeUnit.SECONDS)).isTrue();
            assertThat(drain.exitValue()).as(drained).isZero();
            assertThat(drained).contains("\"completed\": true");
        } finally {
            server.destroy();
            if (!server.waitFor(30, TimeUnit.SECONDS)) server.destroyForcibly();
        }
    }
}
