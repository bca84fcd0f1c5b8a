package io.specdec.deploy;

import io.fabric8.kubernetes.api.model.ConfigMap;
import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.ServiceAccount;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import io.fabric8.kubernetes.api.model.rbac.Role;
import io.fabric8.kubernetes.api.model.rbac.RoleBinding;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** `helm template` output parsed with the fabric8 model and checked for what a live install would reject or regret. */
class RenderedObjectsTest {
    private static final Chart CHART = Chart.specdec();

    private static List<HasMetadata> render(String values) {
        Path file = values.equals("gpu") ? CHART.gpuValues() : null;
        return CHART.render(file, Map.of());
    }

    private static <T> List<T> ofType(List<HasMetadata> objects, Class<T> type) {
        return objects.stream().filter(type::isInstance).map(type::cast).toList();
    }

    private static <T> T one(List<HasMetadata> objects, Class<T> type) {
        List<T> found = ofType(objects, type);
        assertThat(found).as(type.getSimpleName()).hasSize(1);
        return found.getFirst();
    }

    private record Workload(String name, Map<String, String> selector, PodTemplateSpec template) {}

    private static List<Workload> workloads(List<HasMetadata> objects) {
        List<Workload> w = new ArrayList<>();
        for (Deployment d : ofType(objects, Deployment.class))
            w.add(new Workload(d.getMetadata().getName(), d.getSpec().getSelector().getMatchLabels(), d.getSpec().getTemplate()));
        for (StatefulSet s : ofType(objects, StatefulSet.class))
            w.add(new Workload(s.getMetadata().getName(), s.getSpec().getSelector().getMatchLabels(), s.getSpec().getTemplate()));
        return w;
    }

    @ParameterizedTest @ValueSource(strings = {"default", "gpu"})
    void rendersFrontendDeploymentAndWorkerStatefulSet(String values) {
        List<HasMetadata> objects = render(values);
        assertThat(one(objects, Deployment.class).getMetadata().getName()).isEqualTo("specdec-frontend");
        assertThat(one(objects, StatefulSet.class).getMetadata().getName()).isEqualTo("specdec-worker");
        assertThat(objects).allSatisfy(o -> assertThat(o.getMetadata().getNamespace()).as(o.getKind()).isEqualTo(Chart.NAMESPACE));
    }

    @ParameterizedTest @ValueSource(strings = {"default", "gpu"})
    void everyContainerHasResourcesProbesAndARestrictedSecurityContext(String values) {
        for (Workload w : workloads(render(values))) {
            var pod = w.template().getSpec();
            assertThat(pod.getSecurityContext().getRunAsNonRoot()).as(w.name()).isTrue();
            List<Container> all = new ArrayList<>(pod.getContainers());
            all.addAll(pod.getInitContainers());
            for (Container c : all) {
                String what = w.name() + "/" + c.getName();
                assertThat(c.getResources().getRequests()).as(what + " requests").containsKeys("cpu", "memory");
                assertThat(c.getResources().getLimits()).as(what + " limits").containsKeys("cpu", "memory");
                var sc = c.getSecurityContext();
                assertThat(sc).as(what + " securityContext").isNotNull();
                assertThat(sc.getRunAsNonRoot()).as(what + " runAsNonRoot").isTrue();
                assertThat(sc.getReadOnlyRootFilesystem()).as(what + " readOnlyRootFilesystem").isTrue();
                assertThat(sc.getAllowPrivilegeEscalation()).as(what + " allowPrivilegeEscalation").isFalse();
                assertThat(sc.getCapabilities().getDrop()).as(what).contains("ALL");
            }
            for (Container c : pod.getContainers()) {
                String what = w.name() + "/" + c.getName();
                assertThat(c.getReadinessProbe()).as(what + " readiness").isNotNull();
                assertThat(c.getLivenessProbe()).as(what + " liveness").isNotNull();
                assertThat(c.getStartupProbe()).as(what + " startup").isNotNull();
                assertThat(c.getReadinessProbe().getGrpc().getPort()).as(what + " gRPC health").isEqualTo(50051);
                assertThat(c.getVolumeMounts()).as(what + " writable /tmp on a read-only root")
                        .anySatisfy(m -> assertThat(m.getMountPath()).isEqualTo("/tmp"));
            }
        }
    }

    @ParameterizedTest @ValueSource(strings = {"default", "gpu"})
    void selectorsMatchTheirPodTemplateLabels(String values) {
        List<HasMetadata> objects = render(values);
        List<Workload> workloads = workloads(objects);
        for (Workload w : workloads)
            assertThat(w.template().getMetadata().getLabels()).as(w.name()).containsAllEntriesOf(w.selector());
        for (Service s : ofType(objects, Service.class))
            assertThat(workloads).as("a workload behind service " + s.getMetadata().getName())
                    .anySatisfy(w -> assertThat(w.template().getMetadata().getLabels()).containsAllEntriesOf(s.getSpec().getSelector()));
        for (PodDisruptionBudget p : ofType(objects, PodDisruptionBudget.class))
            assertThat(workloads).as("a workload behind PDB " + p.getMetadata().getName())
                    .anySatisfy(w -> assertThat(w.template().getMetadata().getLabels()).containsAllEntriesOf(p.getSpec().getSelector().getMatchLabels()));
    }

    @Test
    void gpuValuesRequestGpusAndLandOnGpuNodes() {
        var pod = one(render("gpu"), StatefulSet.class).getSpec().getTemplate().getSpec();
        Container worker = pod.getContainers().getFirst();
        assertThat(worker.getResources().getRequests()).containsEntry("nvidia.com/gpu", new Quantity("1"));
        assertThat(worker.getResources().getLimits()).containsEntry("nvidia.com/gpu", new Quantity("1"));
        assertThat(worker.getArgs()).contains("--backend=cuda");
        assertThat(pod.getNodeSelector()).containsEntry("nvidia.com/gpu.present", "true");
        assertThat(pod.getTolerations()).anySatisfy(t -> assertThat(t.getKey()).isEqualTo("nvidia.com/gpu"));
        assertThat(pod.getAffinity().getPodAntiAffinity().getRequiredDuringSchedulingIgnoredDuringExecution().getFirst().getTopologyKey())
                .isEqualTo("kubernetes.io/hostname");
        assertThat(worker.getImage()).as("the GPU image variant").isEqualTo("ghcr.io/specdec/specdec:0.1.0-gpu");
        // cudart/cuBLAS from the node's toolkit, where the GPU image's LD_LIBRARY_PATH looks (libcuda comes from the runtime)
        assertThat(worker.getVolumeMounts()).anySatisfy(m -> {
            assertThat(m.getMountPath()).isEqualTo("/usr/local/cuda/lib64");
            assertThat(m.getReadOnly()).isTrue();
        });
        assertThat(pod.getVolumes()).anySatisfy(v -> assertThat(v.getHostPath()).isNotNull()
                .satisfies(h -> assertThat(h.getPath()).isEqualTo("/usr/local/cuda/lib64")));
    }

    @Test
    void defaultValuesRequestNoGpu() {
        Container worker = one(render("default"), StatefulSet.class).getSpec().getTemplate().getSpec().getContainers().getFirst();
        assertThat(worker.getResources().getRequests()).doesNotContainKey("nvidia.com/gpu");
        assertThat(worker.getArgs()).contains("--backend=cpu");
        assertThat(worker.getImage()).isEqualTo("ghcr.io/specdec/specdec:0.1.0");
    }

    @Test
    void withSeedNodeDiscoveryWorkersJoinThroughTheStatefulSetsStableNamesOnAHeadlessService() {
        List<HasMetadata> objects = CHART.render(null, Map.of("discovery.method", "seed-nodes"));
        StatefulSet sts = one(objects, StatefulSet.class);
        Service headless = ofType(objects, Service.class).stream().filter(s -> "None".equals(s.getSpec().getClusterIP())).findFirst().orElseThrow();
        assertThat(sts.getSpec().getServiceName()).isEqualTo(headless.getMetadata().getName());
        assertThat(headless.getSpec().getPublishNotReadyAddresses()).isTrue();
        assertThat(headless.getSpec().getPorts()).anySatisfy(p -> assertThat(p.getPort()).isEqualTo(25520));
        String seeds = ofType(objects, ConfigMap.class).getFirst().getData().get("SPECDEC_SEED_NODES");
        assertThat(seeds).isEqualTo("specdec-worker-0.specdec-cluster.specdec.svc.cluster.local:25520,"
                + "specdec-worker-1.specdec-cluster.specdec.svc.cluster.local:25520");
        var pod = sts.getSpec().getTemplate().getSpec();
        Container worker = pod.getContainers().getFirst();
        // The worker's canonical Pekko host must be the very name the seed list uses.
        assertThat(worker.getArgs()).contains("--host=$(POD_NAME).specdec-cluster.specdec.svc.cluster.local",
                "--seed-nodes=$(SPECDEC_SEED_NODES)", "--roles=worker").doesNotContain("--discovery=kubernetes-api");
        assertThat(pod.getAutomountServiceAccountToken()).as("no API access needed").isFalse();
        assertThat(objects).noneSatisfy(o -> assertThat(o.getKind()).isIn("Role", "RoleBinding"));
    }

    @Test
    void kubernetesApiDiscoveryIsTheDefaultAndMayOnlyListPods() {
        List<HasMetadata> objects = render("default");
        Role role = one(objects, Role.class);
        assertThat(role.getRules()).singleElement().satisfies(r -> {
            assertThat(r.getApiGroups()).containsExactly("");
            assertThat(r.getResources()).containsExactly("pods");
            assertThat(r.getVerbs()).containsExactlyInAnyOrder("get", "watch", "list");
        });
        RoleBinding binding = one(objects, RoleBinding.class);
        assertThat(binding.getRoleRef().getKind()).isEqualTo("Role");
        assertThat(binding.getRoleRef().getName()).isEqualTo(role.getMetadata().getName());
        String account = one(objects, ServiceAccount.class).getMetadata().getName();
        assertThat(binding.getSubjects()).singleElement().satisfies(s -> {
            assertThat(s.getKind()).isEqualTo("ServiceAccount");
            assertThat(s.getName()).isEqualTo(account);
            assertThat(s.getNamespace()).isEqualTo(Chart.NAMESPACE);
        });
        assertThat(ofType(objects, ConfigMap.class).getFirst().getData()).doesNotContainKey("SPECDEC_SEED_NODES");
        List<Workload> workloads = workloads(objects);
        assertThat(workloads).hasSize(2);
        for (Workload w : workloads) {
            var pod = w.template().getSpec();
            assertThat(pod.getServiceAccountName()).as(w.name()).isEqualTo(account);
            assertThat(pod.getAutomountServiceAccountToken()).as(w.name() + ": the API token").isTrue();
            Container c = pod.getContainers().getFirst();
            assertThat(c.getArgs()).as(w.name()).contains("--discovery=kubernetes-api", "--management-port=7626",
                    "--host=$(POD_IP)").noneMatch(a -> a.startsWith("--seed-nodes"));
            assertThat(c.getPorts()).as(w.name()).anySatisfy(p -> {
                assertThat(p.getName()).isEqualTo("management");
                assertThat(p.getContainerPort()).isEqualTo(7626);
            });
            // Bootstrap must find every pod of the release, frontends and workers alike.
            String selector = c.getArgs().stream().filter(a -> a.startsWith("--pod-selector=")).findFirst().orElseThrow()
                    .substring("--pod-selector=".length());
            for (Workload other : workloads)
                assertThat(other.template().getMetadata().getLabels()).as(selector + " selects " + other.name())
                        .containsAllEntriesOf(labels(selector));
        }
    }

    private static Map<String, String> labels(String selector) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String kv : selector.split(",")) m.put(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
        return m;
    }

    @Test
    void workersDrainThroughTheAdminApiBeforeStoppingWithoutAShell() {
        var pod = one(render("default"), StatefulSet.class).getSpec().getTemplate().getSpec();
        Container worker = pod.getContainers().getFirst();
        List<String> preStop = worker.getLifecycle().getPreStop().getExec().getCommand();
        assertThat(preStop.getFirst()).as("the image has no shell: java itself").isEqualTo("/opt/specdec/runtime/bin/java");
        assertThat(preStop).doesNotContain("sh", "-c", "/bin/sh").noneMatch(a -> a.contains("$"));
        assertThat(preStop.subList(0, worker.getCommand().size())).as("the container's own java command").isEqualTo(worker.getCommand());
        assertThat(preStop.subList(worker.getCommand().size(), preStop.size())).containsExactly("admin", "drain", "--timeout=300");
        assertThat(pod.getTerminationGracePeriodSeconds()).as("grace period outlasts the drain").isGreaterThan(300L);
        assertThat(worker.getEnv()).anySatisfy(e -> {
            assertThat(e.getName()).isEqualTo("SPECDEC_SERVER");
            assertThat(e.getValue()).isEqualTo("$(POD_NAME).specdec-cluster.specdec.svc.cluster.local:50051");
        });
        assertThat(worker.getEnv()).anySatisfy(e -> {
            assertThat(e.getName()).isEqualTo("SPECDEC_ADMIN_TOKEN");
            assertThat(e.getValueFrom().getSecretKeyRef().getName()).isEqualTo("specdec-admin-token");
        });
        List<String> names = worker.getEnv().stream().map(e -> e.getName()).toList();
        assertThat(names.indexOf("POD_NAME")).as("defined before SPECDEC_SERVER refers to it").isLessThan(names.indexOf("SPECDEC_SERVER"));
    }

    @Test
    void withTlsTheDrainTrustsTheReleaseCa() {
        Container worker = one(CHART.render(null, Map.of("tls.enabled", true, "tls.secretName", "specdec-tls", "tls.clientAuth", true)),
                StatefulSet.class).getSpec().getTemplate().getSpec().getContainers().getFirst();
        assertThat(worker.getLifecycle().getPreStop().getExec().getCommand()).endsWith("admin", "drain", "--timeout=300",
                "--tls-ca=/etc/specdec/tls/ca.crt", "--tls-cert=/etc/specdec/tls/tls.crt", "--tls-key=/etc/specdec/tls/tls.key");
    }

    @Test
    void clusterAndManagementPortsAdmitOnlyThisReleasesPods() {
        NetworkPolicy np = one(render("default"), NetworkPolicy.class);
        for (int port : new int[]{25520, 7626}) {
            var rules = np.getSpec().getIngress().stream()
                    .filter(r -> r.getPorts().stream().anyMatch(p -> p.getPort().getIntVal() == port)).toList();
            assertThat(rules).as("rules admitting port %d", port).hasSize(1);
            assertThat(rules.getFirst().getFrom()).singleElement().satisfies(peer ->
                    assertThat(peer.getPodSelector().getMatchLabels()).containsEntry("app.kubernetes.io/instance", "specdec"));
        }
    }

    @Test
    void gpuValuesScaleWorkersOnQueueDepthThroughThePrometheusAdapter() {
        List<HasMetadata> objects = render("gpu");
        HorizontalPodAutoscaler hpa = one(objects, HorizontalPodAutoscaler.class);
        assertThat(hpa.getSpec().getScaleTargetRef().getKind()).isEqualTo("StatefulSet");
        assertThat(hpa.getSpec().getMetrics().getFirst().getPods().getMetric().getName()).isEqualTo("vllm_num_requests_waiting");
        assertThat(one(objects, StatefulSet.class).getSpec().getReplicas()).as("replicas left to the HPA").isNull();
    }

    @Test
    void optionalPartsRenderWhenEnabled() {
        List<HasMetadata> objects = CHART.render(null, Map.of(
                "serviceMonitor.enabled", true, "autoscaling.keda.enabled", true,
                "tls.enabled", true, "tls.secretName", "specdec-tls", "tls.clientAuth", true,
                "model.volume.type", "pvc", "model.init.enabled", true));
        assertThat(objects).anySatisfy(o -> assertThat(o.getKind()).isEqualTo("ServiceMonitor"));
        GenericKubernetesResource scaled = objects.stream().filter(o -> o.getKind().equals("ScaledObject"))
                .map(GenericKubernetesResource.class::cast).findFirst().orElseThrow();
        assertThat(scaled.toString()).contains("vllm:num_requests_waiting");
        assertThat(objects).anySatisfy(o -> assertThat(o.getKind()).isEqualTo("PersistentVolumeClaim"));
        var pod = one(objects, StatefulSet.class).getSpec().getTemplate().getSpec();
        assertThat(pod.getInitContainers()).singleElement().satisfies(c -> assertThat(c.getName()).isEqualTo("copy-model"));
        Container worker = pod.getContainers().getFirst();
        assertThat(worker.getArgs()).contains("--tls-cert=/etc/specdec/tls/tls.crt", "--tls-client-ca=/etc/specdec/tls/ca.crt");
        assertThat(worker.getReadinessProbe().getTcpSocket()).as("kubelet gRPC probes cannot speak TLS").isNotNull();
        everyContainerStillHasResourcesAndSecurityContext(objects);
    }

    private static void everyContainerStillHasResourcesAndSecurityContext(List<HasMetadata> objects) {
        for (Workload w : workloads(objects))
            for (Container c : w.template().getSpec().getInitContainers()) {
                assertThat(c.getResources().getLimits()).as(c.getName()).containsKeys("cpu", "memory");
                assertThat(c.getSecurityContext().getReadOnlyRootFilesystem()).as(c.getName()).isTrue();
            }
    }

    @Test
    void parallelismValuesReachTheNodesFlags() {
        Container byDefault = one(CHART.render(null, Map.of()), StatefulSet.class).getSpec().getTemplate().getSpec()
                .getContainers().getFirst();
        assertThat(byDefault.getArgs()).contains("--tp=1", "--draft-mode=sequential", "--calibration=every-round", "--group-size=1")
                .noneMatch(a -> a.startsWith("--layer-groups"));
        Container grouped = one(CHART.render(null, Map.of("model.draftMode", "easyspec", "model.layerGroups", "0|1-2|3",
                "model.calibration", "every-mismatch", "placement.groupSize", 2)), StatefulSet.class).getSpec().getTemplate()
                .getSpec().getContainers().getFirst();
        assertThat(grouped.getArgs()).contains("--draft-mode=easyspec", "--layer-groups=0|1-2|3", "--calibration=every-mismatch",
                "--group-size=2");
        // the Placement singleton that forms groups may run on a frontend: it must read the same size
        Container frontend = one(CHART.render(null, Map.of("placement.groupSize", 2)), Deployment.class).getSpec().getTemplate()
                .getSpec().getContainers().getFirst();
        assertThat(frontend.getArgs()).contains("--group-size=2");
        assertThat(byDefault.getArgs()).doesNotContain("--rank-only");
        Container rankOnly = one(CHART.render(null, Map.of("placement.groupSize", 2, "placement.rankOnly", true)),
                StatefulSet.class).getSpec().getTemplate().getSpec().getContainers().getFirst();
        assertThat(rankOnly.getArgs()).contains("--group-size=2", "--rank-only");
        assertThatThrownBy(() -> CHART.template(null, Map.of("placement.rankOnly", true)))
                .hasMessageContaining("placement.rankOnly needs placement.groupSize >= 2 (is 1)");
    }

    @Test
    void refusesFewerGpusPerPodThanItsDevicesSplitTargetsTake() {
        assertThatThrownBy(() -> CHART.template(CHART.gpuValues(), Map.of("worker.devices", 2, "model.tensorParallel", 2,
                "gpu.perPod", 2))).hasMessageContaining("gpu.perPod (2) is less than worker.devices (2) x model.tensorParallel (2)");
        assertThat(CHART.render(CHART.gpuValues(), Map.of("worker.devices", 2, "model.tensorParallel", 2, "gpu.perPod", 4)))
                .isNotEmpty();
    }

    @Test
    void refusesHpaAndKedaTogether() {
        assertThatThrownBy(() -> CHART.template(null, Map.of("autoscaling.hpa.enabled", true, "autoscaling.keda.enabled", true)))
                .hasMessageContaining("enable only one of autoscaling.hpa and autoscaling.keda");
    }
}
