package io.specdec.server;

import com.typesafe.config.ConfigFactory;
import io.specdec.cluster.Coordinator;
import io.specdec.cluster.SpecdecNode;

import java.util.List;

/** A worker node in its own JVM, for tests that kill one: {@code WorkerProcess CLUSTER_PORT SEED_HOST:PORT}. */
public final class WorkerProcess {
    private WorkerProcess() { }

    public static void main(String[] args) throws Exception {
        SpecdecNode node = SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", Integer.parseInt(args[0]), List.of(args[1]),
                List.of("worker"), TestNodes.spec("layers:4"), 1, Coordinator.Settings.defaults(),
                ConfigFactory.parseString("pekko.cluster.split-brain-resolver.stable-after = 3s")));
        System.out.println("READY " + node.selfAddress());
        System.out.flush();
        node.system().getWhenTerminated().toCompletableFuture().join();
    }
}
