package io.specdec.cuda;

import io.specdec.core.parallel.LayerGroupPlan;
import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** Which layer's attention each EasySpec replica runs (no GPU: the communicator is only checked for presence). */
class ParallelRoleTest {

    @Test
    void eachReplicaRunsItsOwnLayerOfAGroupAndEveryoneRunsSingleLayers() {
        LayerGroupPlan plan = LayerGroupPlan.standard(16, 2, 1);   // 0 | 1-2 | 3-4 | ... | 13-14 | 15
        Replica r0 = replica(0, 2, plan), r1 = replica(1, 2, plan);
        assertThat(r0.attentionLayer(0)).isZero();
        assertThat(r1.attentionLayer(0)).isZero();
        assertThat(r0.attentionLayer(1)).isEqualTo(1);
        assertThat(r1.attentionLayer(1)).isEqualTo(2);
        assertThat(r1.attentionLayer(7)).isEqualTo(14);
        assertThat(r0.attentionLayer(8)).isEqualTo(15);
        assertThat(r1.attentionLayer(8)).isEqualTo(15);
        assertThat(r0.slots()).isEqualTo(2);
    }

    @Test
    void replicasBeyondAShortGroupOnlyTakePartInTheGather() {
        LayerGroupPlan plan = LayerGroupPlan.parse("0|1-4|5-6|7");
        assertThat(replica(3, 4, plan).attentionLayer(1)).isEqualTo(4);
        assertThat(replica(2, 4, plan).attentionLayer(2)).isEqualTo(-1);
        assertThat(replica(1, 4, plan).attentionLayer(2)).isEqualTo(6);
    }

    @Test
    void oneReplicaRunsEveryAttentionOfAGroupItself() {
        LayerGroupPlan plan = LayerGroupPlan.parse("0|1-3|4");
        ParallelRole.LayerReplica alone = new ParallelRole.LayerReplica(null, 0, 1, plan);
        assertThat(alone.attentionLayer(1)).isEqualTo(-1);
        assertThat(alone.attentionLayer(2)).isEqualTo(4);
        assertThat(alone.slots()).isEqualTo(3);
    }

    @Test
    void refusesAPlanWiderThanTheReplicas() {
        assertThatThrownBy(() -> replica(0, 2, LayerGroupPlan.parse("0-2|3"))).hasMessageContaining("only 2 replicas");
        assertThatThrownBy(() -> new ParallelRole.LayerReplica(null, 2, 2, LayerGroupPlan.parse("0|1"))).hasMessageContaining("replica 2 of 2");
        assertThatThrownBy(() -> new ParallelRole.LayerReplica(null, 0, 2, LayerGroupPlan.parse("0|1"))).hasMessageContaining("communicator");
    }

    /** The assignment of replica {@code rank} (no communicator needed to ask). */
    private static Replica replica(int rank, int replicas, LayerGroupPlan plan) {
        if (replicas > 1 && plan.width() > replicas) new ParallelRole.LayerReplica(null, rank, replicas, plan);   // throws
        return new Replica(rank, replicas, plan);
    }

    private record Replica(int rank, int replicas, LayerGroupPlan plan) {
        int attentionLayer(int group) { return ParallelRole.LayerReplica.attentionLayer(plan, rank, replicas, group); }

        int slots() { return ParallelRole.LayerReplica.slots(plan, replicas); }
    }
}
