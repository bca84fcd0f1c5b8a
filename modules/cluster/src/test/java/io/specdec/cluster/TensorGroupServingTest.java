package io.specdec.cluster;

import com.typesafe.config.ConfigFactory;
import io.specdec.core.sampling.SamplingParams;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.javadsl.AskPattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;

/**
 * A node started with {@value Placement#TENSOR_PARALLEL} = 2 and two CPU devices: the devices form a group, and the
 * plans of the leading device's coordinator reach the other member while requests are served.
 */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class TensorGroupServingTest {

    static GroupMember.State state(SpecdecNode node, ActorRef<GroupMember.Command> member) throws Exception {
        return AskPattern.<GroupMember.Command, GroupMember.State>ask(member, GroupMember.GetState::new,
                Duration.ofSeconds(5), node.system().scheduler()).toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void theLeadingDevicesPlansReachTheOtherMemberWhileServing() throws Exception {
        ModelRuntime.Spec spec = TestModel.spec(null);
        int port = TestModel.freePort();
        var config = ConfigFactory.parseString("specdec.placement.tensor-parallel = 2");
        try (SpecdecNode node = SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", port, List.of(),
                List.of("frontend", "worker"), spec, 2, new Coordinator.Settings(16, 8, 64), config))) {
            ActorRef<GroupMember.Command> leader = node.groupMembers().get(0);
            ActorRef<GroupMember.Command> follower = node.groupMembers().get(1);
            ClusterServingTest.awaitReplicas(node, 2);
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (!(state(node, leader).ready() && state(node, follower).ready())) {
                assertThat(System.nanoTime()).as("group ready within 60 s").isLessThan(end);
                Thread.sleep(100);
            }
            GroupMember.State l = state(node, leader);
            assertThat(l.rank()).isZero();
            assertThat(state(node, follower).rank()).isEqualTo(1);
            assertThat(state(node, follower).groupId()).isEqualTo(l.groupId());
            // Two replicas serve: send requests until the leader's coordinator has run some.
            for (int i = 0; i < 16 && state(node, leader).lastSeq() == 0; i++) {
                var job = ClusterServingTest.job("Once upon a time " + i, SamplingParams.greedy().withMaxTokens(8), "off");
                StreamEvent last = ClusterServingTest.generate(node, job).end().get(30, TimeUnit.SECONDS);
                assertThat(last).isInstanceOf(StreamEvent.Finished.class);
            }
            l = state(node, leader);
            assertThat(l.lastSeq()).as("steps the leader passed on").isPositive();
            GroupMember.State f = state(node, follower);
            assertThat(f.lastSeq()).isEqualTo(l.lastSeq());
            assertThat(f.running()).isEqualTo(l.running());
        }
    }
}
