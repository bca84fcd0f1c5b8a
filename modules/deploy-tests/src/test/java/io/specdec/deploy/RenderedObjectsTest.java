package io.specdec.deploy;

import io.fabric8.kubernetes.api.model.Container;
import io.fabric8.kubernetes.api.model.GenericKubernetesResource;
import io.fabric8.kubernetes.api.model.HasMetadata;
import io.fabric8.kubernetes.api.model.PodTemplateSpec;
import io.fabric8.kubernetes.api.model.Quantity;
import io.fabric8.kubernetes.api.model.Service;
import io.fabric8.kubernetes.api.model.apps.Deployment;
import io.fabric8.kubernetes.api.model.apps.StatefulSet;
import io.fabric8.kubernetes.api.model.autoscaling.v2.HorizontalPodAutoscaler;
import io.fabric8.kubernetes.api.model.networking.v1.NetworkPolicy;
import io.fabric8.kubernetes.api.model.policy.v1.PodDisruptionBudget;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;
import java.util.ArrayList;
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
    }

    @Test
    void defaultValuesRequestNoGpu() {
        Container worker = one(render("default"), StatefulSet.class).getSpec().getTemplate().getSpec().getContainers().getFirst();
        assertThat(worker.getResources().getRequests()).doesNotContainKey("nvidia.com/gpu");
        assertThat(worker.getArgs()).contains("--backend=cpu");
    }

    @Test
    void workersJoinThroughTheStatefulSetsStableNamesOnAHeadlessService() {
        List<HasMetadata> objects = render("default");
        StatefulSet sts = one(objects, StatefulSet.class);
        Service headless = ofType(objects, Service.class).stream().filter(s -> "None".equals(s.getSpec().getClusterIP())).findFirst().orElseThrow();
        assertThat(sts.getSpec().getServiceName()).isEqualTo(headless.getMetadata().getName());
        assertThat(headless.getSpec().getPublishNotReadyAddresses()).isTrue();
        assertThat(headless.getSpec().getPorts()).anySatisfy(p -> assertThat(p.getPort()).isEqualTo(25520));
        String seeds = ofType(objects, io.fabric8.kubernetes.api.model.ConfigMap.class).getFirst().getData().get("SPECDEC_SEED_NODES");
        assertThat(seeds).isEqualTo("specdec-worker-0.specdec-cluster.specdec.svc.cluster.local:25520,"
                + "specdec-worker-1.specdec-cluster.specdec.svc.cluster.local:25520");
        Container worker = sts.getSpec().getTemplate().getSpec().getContainers().getFirst();
        // The worker's canonical Pekko host must be the very name the seed list uses.
        assertThat(worker.getArgs()).contains("--host=$(POD_NAME).specdec-cluster.specdec.svc.cluster.local",
                "--seed-nodes=$(SPECDEC_SEED_NODES)", "--roles=worker");
    }

    @Test
    void workersDrainThroughTheAdminApiBeforeStopping() {
        var pod = one(render("default"), StatefulSet.class).getSpec().getTemplate().getSpec();
        Container worker = pod.getContainers().getFirst();
        String preStop = String.join(" ", worker.getLifecycle().getPreStop().getExec().getCommand());
        assertThat(preStop).contains("specdec admin drain --server \"$SPECDEC_HOST:50051\"", "--timeout 300");
        assertThat(pod.getTerminationGracePeriodSeconds()).isGreaterThan(300L);
        assertThat(worker.getEnv()).anySatisfy(e -> {
            assertThat(e.getName()).isEqualTo("SPECDEC_ADMIN_TOKEN");
            assertThat(e.getValueFrom().getSecretKeyRef().getName()).isEqualTo("specdec-admin-token");
        });
    }

    @Test
    void clusterPortAdmitsOnlyThisReleasesPods() {
        NetworkPolicy np = one(render("default"), NetworkPolicy.class);
        var rules = np.getSpec().getIngress();
        var clusterRules = rules.stream().filter(r -> r.getPorts().stream().anyMatch(p -> p.getPort().getIntVal() == 25520)).toList();
        assertThat(clusterRules).hasSize(1);
        assertThat(clusterRules.getFirst().getFrom()).singleElement().satisfies(peer ->
                assertThat(peer.getPodSelector().getMatchLabels()).containsEntry("app.kubernetes.io/instance", "specdec"));
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
    void refusesHpaAndKedaTogether() {
        assertThatThrownBy(() -> CHART.template(null, Map.of("autoscaling.hpa.enabled", true, "autoscaling.keda.enabled", true)))
                .hasMessageContaining("enable only one of autoscaling.hpa and autoscaling.keda");
    }
}
