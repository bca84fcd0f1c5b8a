package io.specdec.cuda;

import org.junit.jupiter.api.Test;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/** The host-staged transport's call words, without a GPU: parts gathered as the CPU collectives would. */
class TaggedGatherTest {

    /** Two ranks' tagged parts concatenated in rank order (what the all-gather delivers). */
    private static float[] gather(TaggedGather rank0, float[] part0, TaggedGather rank1, float[] part1) {
        float[] a = rank0.tag(part0), b = rank1.tag(part1);
        float[] all = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, all, a.length, b.length);
        return all;
    }

    @Test
    void equalCallsGiveThePartsBackUntouched() {
        TaggedGather call = TaggedGather.broadcast(Nccl.Type.I32, 1);
        float nanId = Float.intBitsToFloat(-7);
        float[] all = gather(call, new float[] {1f, nanId}, call, new float[] {3f, 4f});

        float[] parts = call.untag(all, 2, 2);

        assertThat(parts).hasSize(4);
        assertThat(Float.floatToRawIntBits(parts[1])).isEqualTo(-7);
        assertThat(parts[2]).isEqualTo(3f);
    }

    @Test
    void aBroadcastMetByAGatherOrAnotherRootFails() {
        TaggedGather broadcast = TaggedGather.broadcast(Nccl.Type.I32, 0);
        float[] one = {1f};

        assertThatThrownBy(() -> broadcast.untag(gather(broadcast, one, TaggedGather.allGather(Nccl.Type.I32), one), 1, 2))
                .hasMessage("the ranks called different collectives: rank 0 broadcast from rank 0 of I32, rank 1 all-gather of I32");
        assertThatThrownBy(() -> broadcast.untag(gather(broadcast, one, TaggedGather.broadcast(Nccl.Type.I32, 1), one), 1, 2))
                .hasMessageContaining("rank 1 broadcast from rank 1 of I32");
        assertThatThrownBy(() -> broadcast.untag(gather(broadcast, one, TaggedGather.broadcast(Nccl.Type.F32, 0), one), 1, 2))
                .hasMessageContaining("rank 1 broadcast from rank 0 of F32");
    }
}
