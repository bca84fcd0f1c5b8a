package io.specdec.cluster;

import com.typesafe.config.ConfigFactory;
import io.specdec.core.sampling.SamplingParams;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * Rank-only devices ({@code specdec.placement.rank-only = on}): two ActorSystems whose devices open no model of their
 * own, only their rank of the group (a target larger than one device fits this way). The group is the only replica,
 * admits against its ranks' KV capacity, drafts with the ranks' replicas and gives the target's output; when it
 * dissolves nothing serves, and a request says so instead of hanging or running on a model that is not there.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class TensorGroupRankOnlyTest {
    static final String RANK_ONLY = SpecdecNode.RANK_ONLY + " = on";
    final List<SpecdecNode> nodes = new ArrayList<>();

    @AfterEach
    void stop() {
        for (SpecdecNode n : nodes.reversed()) n.close();
    }

    @Test
    void rankOnlyDevicesHoldNoModelOfTheirOwnAndServeThroughTheirGroup() throws Exception {
        ModelRuntime.Spec spec = TensorGroupDraftTest.withDraft(new ModelRuntime.Parallelism(1, "easyspec", 2, null, "every-round"));
        TensorGroupReplicaTest.startGroup(spec, nodes, null, RANK_ONLY);
        for (SpecdecNode n : nodes) {
            ModelRuntime r = n.runtimes().getFirst();
            assertThat(r.rankOnly()).isTrue();
            assertThat(r.target()).as("no target of the device's own").isNull();
            assertThat(r.targetCache()).as("no KV cache of the device's own").isNull();
            assertThat(r.hasDraftModel()).as("the draft's weights are kept for the rank's replica").isTrue();
        }
        // Admission counts with the group's KV capacity: a rank's cache of 4096 tokens in blocks of 16.
        List<Coordinator.Load> loads = nodes.getFirst().loads().toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertThat(loads).hasSize(1);
        assertThat(loads.getFirst().kvBlocksTotal()).isEqualTo(4096 / 16);

        var helper = new TensorGroupDraftTest();
        helper.nodes.addAll(nodes);
        List<TensorGroupDraftTest.Served> served = helper.serveStarted();
        assertThat(served.getFirst().end().drafter()).contains("EasySpec").contains("on 2 devices");
        // the target's greedy ids (lossless), and what one device's own EasySpec draft proposes, request by request
        helper.assertSameAsOneDevice(served, spec);
        helper.nodes.clear();
    }

    @Test
    void aRankOnlyLeaderWhoseGroupDissolvedServesNothingAndSaysWhy() throws Exception {
        ModelRuntime.Spec spec = TensorGroupReplicaTest.bundledTarget();
        TensorGroupReplicaTest.startGroup(spec, nodes, null, RANK_ONLY);
        SpecdecNode leader = nodes.get(0), follower = nodes.get(1);
        StreamEvent last = TensorGroupReplicaTest.stopFollowerMidGeneration(leader, follower, "off");
        assertThat(last).isInstanceOfSatisfying(StreamEvent.Failed.class, f -> assertThat(f.status()).isEqualTo("UNAVAILABLE"));
        long until = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (!(TensorGroupServingTest.state(leader, leader.groupMembers().getFirst()).groupId().isEmpty()
                && leader.replicas().toCompletableFuture().get().isEmpty())) {
            assertThat(System.nanoTime()).as("group dissolved and its replica gone within 60 s").isLessThan(until);
            Thread.sleep(200);
        }
        // Alone, the leader's device has nothing to run a request on: it is not offered as a replica.
        ClusterServingTest.Outcome after = ClusterServingTest.generate(leader,
                ClusterServingTest.job("The little dog", SamplingParams.greedy().withMaxTokens(8), "off"));
        assertThat(after.end().get(30, TimeUnit.SECONDS)).isInstanceOfSatisfying(StreamEvent.Failed.class, f -> {
            assertThat(f.status()).isEqualTo("UNAVAILABLE");
            assertThat(f.message()).contains("no model replica is serving");
        });
        assertThat(after.tokens()).isEmpty();
    }

    @Test
    void rankOnlyWithoutGroupsIsRefusedAtStart() {
        var options = new SpecdecNode.Options("127.0.0.1", TestModel.freePort(), List.of(), List.of("frontend", "worker"),
                TensorGroupReplicaTest.bundledTarget(), 1, new Coordinator.Settings(16, 8, 64), ConfigFactory.parseString(RANK_ONLY));
        assertThatThrownBy(() -> nodes.add(SpecdecNode.start(options)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("rank-only").hasMessageContaining("tensor-parallel > 1, is 1");
    }
}
