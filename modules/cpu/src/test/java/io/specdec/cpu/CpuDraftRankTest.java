package io.specdec.cpu;

import io.specdec.core.backend.SequenceInput;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.parallel.LayerGroupPlan;
import io.specdec.core.tensor.DType;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A group's ranks, each holding a {@link CpuDraftRank} replica on its own thread, give every rank the logits one
 * process's {@link CpuLayerParallelModel} over as many devices gives (exact and fuzzy steps, several steps in a row),
 * also when the group has more ranks than a layer group has layers (those ranks only take part in the all-gather).
 */
class CpuDraftRankTest {
    private static final int[] PROMPT = {1, 5, 9, 13, 20, 31, 40};

    /** Runs {@code perRank} on every rank's thread at once and returns the results in rank order. */
    private static <T> List<T> onEveryRank(int ranks, java.util.function.IntFunction<T> perRank) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(ranks);
        try {
            List<Future<T>> futures = new ArrayList<>();
            for (int r = 0; r < ranks; r++) {
                int rank = r;
                futures.add(pool.submit(() -> perRank.apply(rank)));
            }
            List<T> out = new ArrayList<>();
            for (Future<T> f : futures) out.add(f.get());
            return out;
        } finally {
            pool.shutdownNow();
        }
    }

    private static void check(ModelConfig c, TransformerWeights w, String plan, int ranks) throws Exception {
        LayerGroupPlan p = LayerGroupPlan.parse(plan);
        List<float[]> reference = new ArrayList<>();
        try (CpuLayerParallelModel one = new CpuLayerParallelModel(c, w, p, ranks, 1, 128, 4)) {
            var seq = one.newSequence();
            reference.add(one.forward(SequenceInput.chainLastLogits(seq, PROMPT))[0]);
            for (int token : new int[] {3, 17, 29}) {
                reference.add(one.forwardFuzzy(List.of(SequenceInput.chainLastLogits(seq, new int[] {token}))).getFirst()[0]);
            }
        }
        CpuCollectives collectives = new CpuCollectives(ranks);
        List<List<float[]>> perRank = onEveryRank(ranks, rank -> {
            try (CpuDraftRank replica = new CpuDraftRank(c, w, p, collectives.member(rank), 1, 128, 4)) {
                List<float[]> out = new ArrayList<>();
                var seq = replica.newSequence();
                out.add(replica.forward(List.of(SequenceInput.chainLastLogits(seq, PROMPT))).getFirst()[0]);
                for (int token : new int[] {3, 17, 29}) {
                    out.add(replica.forwardFuzzy(List.of(SequenceInput.chainLastLogits(seq, new int[] {token}))).getFirst()[0]);
                }
                return out;
            }
        });
        for (int rank = 0; rank < ranks; rank++) {
            for (int step = 0; step < reference.size(); step++) {
                assertThat(perRank.get(rank).get(step)).as("plan %s, %d ranks: rank %d, step %d", plan, ranks, rank, step)
                        .containsExactly(reference.get(step));
            }
        }
    }

    @Test
    void everyRankGetsTheLogitsOfOneProcesssLayerParallelDraft() throws Exception {
        ModelConfig c = RandomModels.llama(64, 96, 4, 4, 2, 97);
        try (Arena arena = Arena.ofShared()) {
            TransformerWeights w = RandomModels.weights(c, DType.F32, 11, arena);
            check(c, w, "0|1-2|3", 2);
            check(c, w, "0-1|2-3", 2);
            check(c, w, "0|1-2|3", 3);   // rank 2 runs no attention of a group: it only joins the all-gather
            check(c, w, "0|1|2|3", 2);   // one-layer groups: every rank runs every layer exactly
        }
    }

    @Test
    void aPlanWiderThanTheGroupOrOfAnotherLengthIsRefused() {
        ModelConfig c = RandomModels.llama(64, 96, 4, 4, 2, 97);
        try (Arena arena = Arena.ofShared()) {
            TransformerWeights w = RandomModels.weights(c, DType.F32, 11, arena);
            CpuCollectives two = new CpuCollectives(2);
            assertThatThrownBy(() -> new CpuDraftRank(c, w, LayerGroupPlan.parse("0-2|3"), two.member(0), 1, 128, 4))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("the group has 2 ranks");
            assertThatThrownBy(() -> new CpuDraftRank(c, w, LayerGroupPlan.parse("0|1"), two.member(0), 1, 128, 4))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("the draft has 4");
        }
    }
}
