package io.specdec.server;

import io.grpc.stub.ServerCallStreamObserver;
import io.grpc.stub.StreamObserver;
import io.specdec.api.v1.AdminServiceGrpc;
import io.specdec.api.v1.ClusterEvent;
import io.specdec.api.v1.ClusterStatus;
import io.specdec.api.v1.Device;
import io.specdec.api.v1.DrainNodeRequest;
import io.specdec.api.v1.DrainNodeResponse;
import io.specdec.api.v1.GetClusterStatusRequest;
import io.specdec.api.v1.GetModelInfoRequest;
import io.specdec.api.v1.GetSpeculationPolicyRequest;
import io.specdec.api.v1.Load;
import io.specdec.api.v1.Member;
import io.specdec.api.v1.ModelInfo;
import io.specdec.api.v1.Replica;
import io.specdec.api.v1.SetSpeculationPolicyRequest;
import io.specdec.api.v1.WatchEventsRequest;
import io.specdec.cluster.Coordinator;
import io.specdec.cluster.NodeAgent;
import io.specdec.cluster.SpecdecNode;
import io.specdec.cluster.SpeculationPolicy;

import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.TimeUnit;

/** AdminService: cluster status, drain, speculation policy, model info, events. Guarded by {@link OperatorAuth}. */
final class AdminServiceImpl extends AdminServiceGrpc.AdminServiceImplBase {
    private final SpecdecNode node;
    private final ModelNames models;

    AdminServiceImpl(SpecdecNode node, ModelNames models) {
        this.node = node;
        this.models = models;
    }

    @Override
    public void getClusterStatus(GetClusterStatusRequest request, StreamObserver<ClusterStatus> responses) {
        try {
            var state = node.cluster().state();
            List<NodeAgent.Devices> devices = node.devices().toCompletableFuture().get(10, TimeUnit.SECONDS);
            List<Coordinator.Load> loads = node.loads().toCompletableFuture().get(10, TimeUnit.SECONDS);
            ClusterStatus.Builder b = ClusterStatus.newBuilder().setSelfAddress(node.selfAddress())
                    .setLeader(state.getLeader() == null ? "" : state.getLeader().toString());
            for (org.apache.pekko.cluster.Member m : state.getMembers()) {
                String address = m.address().toString();
                Member.Builder mb = Member.newBuilder().setAddress(address).setStatus(m.status().toString())
                        .setReachable(!state.getUnreachable().contains(m));
                m.getRoles().stream().filter(r -> !r.startsWith("dc-")).sorted().forEach(mb::addRoles);
                for (NodeAgent.Devices d : devices) {
                    if (!d.address().equals(address)) continue;
                    for (Map.Entry<String, String> e : d.devices().entrySet()) {
                        mb.addDevices(Device.newBuilder().setId(e.getKey() + "@" + address).setKind("cpu").setReplica(e.getValue()));
                    }
                }
                b.addMembers(mb);
            }
            for (Coordinator.Load l : loads) {
                b.addReplicas(Replica.newBuilder().setId(l.replicaId()).setModel(l.model()).setNode(l.node())
                        .addDevices(l.device() + "@" + l.node())
                        .setDraining(l.draining())
                        .setLoad(Load.newBuilder().setWaiting(l.waiting()).setRunning(l.running())
                                .setKvBlocksUsed(l.kvBlocksUsed()).setKvBlocksTotal(l.kvBlocksTotal())
                                .setKvCacheUsage(l.kvBlocksTotal() == 0 ? 0 : (double) l.kvBlocksUsed() / l.kvBlocksTotal())));
            }
            responses.onNext(b.build());
            responses.onCompleted();
        } catch (Exception e) {
            responses.onError(GrpcErrors.toStatus(e));
        }
    }

    @Override
    public void drainNode(DrainNodeRequest request, StreamObserver<DrainNodeResponse> responses) {
        if (request.getTimeoutSeconds() < 0) {
            responses.onError(GrpcErrors.invalid("timeout_seconds must be >= 0"));
            return;
        }
        Duration timeout = Duration.ofSeconds(request.getTimeoutSeconds() == 0 ? 3600 : request.getTimeoutSeconds());
        node.drain(request.getAddress(), timeout).whenComplete((drained, error) -> {
            if (error != null) {
                responses.onError(GrpcErrors.toStatus(error));
            } else {
                responses.onNext(DrainNodeResponse.newBuilder().setAddress(drained.address())
                        .setInFlightAtStart(drained.inFlightAtStart()).setCompleted(drained.completed()).build());
                responses.onCompleted();
            }
        });
    }

    @Override
    public void getSpeculationPolicy(GetSpeculationPolicyRequest request,
                                     StreamObserver<io.specdec.api.v1.SpeculationPolicy> responses) {
        node.policy().whenComplete((p, error) -> reply(responses, p, error));
    }

    @Override
    public void setSpeculationPolicy(SetSpeculationPolicyRequest request,
                                     StreamObserver<io.specdec.api.v1.SpeculationPolicy> responses) {
        try {
            var p = request.getPolicy();
            SpeculationPolicy policy = new SpeculationPolicy(p.getEnabled(), p.getDrafter().isEmpty() ? "model" : p.getDrafter(),
                    p.getGamma(), p.getGammaMin() == 0 ? 1 : p.getGammaMin(), p.getGammaMax() == 0 ? 8 : p.getGammaMax(),
                    p.getAutoOffRunningAbove(), p.getMinAcceptance());
            node.setPolicy(policy).whenComplete((set, error) -> reply(responses, set, error));
        } catch (RuntimeException e) {
            responses.onError(GrpcErrors.toStatus(e));
        }
    }

    private static void reply(StreamObserver<io.specdec.api.v1.SpeculationPolicy> responses, SpeculationPolicy p, Throwable error) {
        if (error != null) {
            responses.onError(GrpcErrors.toStatus(error));
            return;
        }
        responses.onNext(io.specdec.api.v1.SpeculationPolicy.newBuilder().setEnabled(p.enabled()).setDrafter(p.drafter())
                .setGamma(p.gamma()).setGammaMin(p.gammaMin()).setGammaMax(p.gammaMax())
                .setAutoOffRunningAbove(p.autoOffRunningAbove()).setMinAcceptance(p.minAcceptance()).build());
        responses.onCompleted();
    }

    @Override
    public void getModelInfo(GetModelInfoRequest request, StreamObserver<ModelInfo> responses) {
        try {
            models.check(request.getModel());
            Coordinator.ModelDescription d = models.description();
            int replicas = node.replicas().toCompletableFuture().get(10, TimeUnit.SECONDS).size();
            responses.onNext(ModelInfo.newBuilder().setName(d.name()).setArchitecture(d.architecture()).setLayers(d.layers())
                    .setDim(d.dim()).setHeads(d.heads()).setKvHeads(d.kvHeads()).setVocabSize(d.vocabSize())
                    .setMaxSequenceLength(d.maxSequenceLength()).setSource(d.source()).setDraft(d.draft())
                    .setReplicas(replicas).build());
            responses.onCompleted();
        } catch (Exception e) {
            responses.onError(GrpcErrors.toStatus(e));
        }
    }

    @Override
    public void watchEvents(WatchEventsRequest request, StreamObserver<ClusterEvent> responses) {
        ServerCallStreamObserver<ClusterEvent> call = (ServerCallStreamObserver<ClusterEvent>) responses;
        Object lock = new Object();
        var subscriber = node.subscribe(e -> {
            synchronized (lock) {
                if (call.isCancelled()) return;
                call.onNext(ClusterEvent.newBuilder().setUnixMillis(e.unixMillis()).setKind(e.kind())
                        .setSubject(e.subject()).setDetail(e.detail()).build());
            }
        }, "watch-" + UUID.randomUUID());
        call.setOnCancelHandler(subscriber::close);
    }
}
