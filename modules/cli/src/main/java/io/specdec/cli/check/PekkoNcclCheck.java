package io.specdec.cli.check;

import io.specdec.cluster.GroupMember;
import io.specdec.cluster.GroupShard;
import io.specdec.cluster.Placement;
import io.specdec.cluster.SpecdecNode;
import io.specdec.cluster.StepResult;
import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.DeviceBuffer;
import io.specdec.cuda.Nccl;
import com.typesafe.config.ConfigFactory;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.actor.typed.Behavior;
import org.apache.pekko.actor.typed.javadsl.Behaviors;
import org.apache.pekko.cluster.typed.ClusterSingleton;
import org.apache.pekko.cluster.typed.SingletonActor;

import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Issue #6, point 1 across processes: one JVM per GPU, each a Pekko cluster node with one device {@link GroupMember};
 * the {@link Placement} singleton forms the tensor-parallel group and hands every member the NCCL unique id that
 * rank 0 made; each member's shard calls {@code ncclCommInitRank} with it and checks an all-reduce. Prints one JSON
 * line per process. Run by bench/gpu/pekko-nccl.sh (CUDA_VISIBLE_DEVICES picks each process's GPU).
 *
 * <p>Usage: PekkoNcclCheck PORT SEED_HOST:PORT GROUP_SIZE
 */
public final class PekkoNcclCheck {
    private PekkoNcclCheck() {
    }

    public static void main(String[] args) throws Exception {
        Locale.setDefault(Locale.ROOT);
        int port = Integer.parseInt(args[0]);
        String seed = args[1];
        int size = Integer.parseInt(args[2]);
        CountDownLatch done = new CountDownLatch(1);
        String[] result = {"{\"check\":\"pekko-nccl\",\"port\":" + port + ",\"pass\":false,\"error\":\"no group within 120 s\"}"};
        try (CudaDevice device = CudaDevice.open(0)) {
            GroupShard shard = new GroupShard() {
                Nccl.Communicator comm;

                @Override public void join(GroupMember.JoinGroup join) {
                    long t0 = System.nanoTime();
                    comm = Nccl.initRank(device, join.communicatorId(), join.size(), join.rank());
                    int n = 1024;
                    DeviceBuffer buf = device.allocate(4L * n);
                    device.launch("fill_f32", 4, 1, 256, buf, (long) n, (float) (join.rank() + 1));
                    comm.allReduceSum(buf, n);
                    device.synchronize();
                    float[] got = new float[n];
                    device.copyToHost(got, buf, n);
                    device.free(buf);
                    float expected = join.size() * (join.size() + 1) / 2f;
                    boolean ok = true;
                    for (float v : got) ok &= v == expected;
                    result[0] = String.format("{\"check\":\"pekko-nccl\",\"port\":%d,\"gpu\":\"%s\",\"group\":\"%s\",\"rank\":%d,"
                                    + "\"size\":%d,\"id_bytes\":%d,\"init_and_allreduce_ms\":%.1f,\"sum\":%.1f,\"expected\":%.1f,\"pass\":%b}",
                            port, device.name(), join.groupId(), join.rank(), join.size(), join.communicatorId().length,
                            (System.nanoTime() - t0) / 1e6, got[0], expected, ok);
                    done.countDown();
                }

                @Override public StepResult step(GroupMember.GroupStep step) { return null; }

                @Override public void leave(String groupId) {
                    if (comm != null) comm.close();
                    comm = null;
                }
            };
            Behavior<Void> guardian = Behaviors.setup(ctx -> {
                ctx.spawn(GroupMember.create("gpu0", Nccl::uniqueId, shard), "group-gpu0");
                ClusterSingleton.get(ctx.getSystem()).init(SingletonActor.of(Placement.create(), "placement"));
                return Behaviors.empty();
            });
            ActorSystem<Void> system = ActorSystem.create(guardian, "specdec", SpecdecNode.config("127.0.0.1", port, List.of(seed),
                    List.of("worker"), ConfigFactory.parseString("specdec.placement.tensor-parallel = " + size)));
            try {
                done.await(120, TimeUnit.SECONDS);
                Thread.sleep(3000); // let the other members finish their all-reduce before this node leaves
            } finally {
                system.terminate();
                system.getWhenTerminated().toCompletableFuture().get(30, TimeUnit.SECONDS);
            }
        }
        System.out.println(result[0]);
        System.exit(result[0].contains("\"pass\":true") ? 0 : 1);
    }
}
