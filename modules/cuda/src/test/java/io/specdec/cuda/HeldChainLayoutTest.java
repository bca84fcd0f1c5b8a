package io.specdec.cuda;

import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvBlockStore;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeScaling;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.core.speculative.SpeculativeSampler;
import org.junit.jupiter.api.Test;

import java.util.Arrays;
import java.util.List;
import java.util.Set;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The host half of a held chain round (no GPU): the γ draft steps described up front differ from the host-driven
 * loop's, step by step, only in the placeholder id of token slot 0, so the device computes the same forwards once
 * that slot holds the previous step's id; and the decision ints decode as the acceptance kernels lay them out.
 */
class HeldChainLayoutTest {
    static final int BLOCK = 4;

    @Test
    void draftStepsDescribedUpFrontDifferOnlyInTheirTokenSlot() {
        for (int window : new int[] {0, 6}) {
            ModelConfig c = config(window);
            int[] context = {5, 9, 2, 7, 7, 1, 3};
            int[] ids = {11, 4, 30, 8, 19};   // what the draft "produced" at steps 0..4
            int gamma = ids.length;

            // the host-driven loop: catch up, then one real id per step, appended and described one after another
            KvSequence host = new PagedKvCache(64, BLOCK, KvBlockStore.NONE).newSequence();
            host.append(Arrays.copyOf(context, 5), new int[] {0, 1, 2, 3, 4});
            List<int[]> hostMeta = new java.util.ArrayList<>();
            SequenceInput in = SequenceInput.chainLastLogits(host, Arrays.copyOfRange(context, 5, 7));
            for (int i = 0; i < gamma; i++) {
                hostMeta.add(CudaTransformer.describe(c, List.of(in), CudaTransformer.append(c, List.of(in))).meta());
                in = SequenceInput.chainLastLogits(host, new int[] {ids[i]});
            }

            // the held round: the same catch-up, then γ-1 placeholder steps, all described before anything runs
            KvSequence held = new PagedKvCache(64, BLOCK, KvBlockStore.NONE).newSequence();
            held.append(Arrays.copyOf(context, 5), new int[] {0, 1, 2, 3, 4});
            List<SequenceInput> steps = ModelDrafter.heldSteps(SequenceInput.chainLastLogits(held, Arrays.copyOfRange(context, 5, 7)), gamma);
            List<CudaTransformer.Step> described = CudaTransformer.describeChain(c, steps);

            for (int i = 0; i < gamma; i++) {
                int[] expected = hostMeta.get(i).clone(), got = described.get(i).meta().clone();
                if (i > 0) {
                    assertThat(got[0]).as("placeholder of step " + i).isZero();
                    got[0] = ids[i - 1];   // what chain_take_id writes there on the device
                }
                assertThat(got).as("window " + window + ", step " + i).containsExactly(expected);
            }
            assertThat(held.length()).isEqualTo(host.length());
        }
    }

    @Test
    void decisionIntsDecodeToTheOutcome() {
        int[] ints = {0, 2, 17, 4, 99, -5, -5};   // status, a = 2, x1 x2 accepted, 99 the replacement
        SpeculativeSampler.Outcome o = ChainDecision.decode(ints, 4, 128).outcome();
        assertThat(o.accepted()).isEqualTo(2);
        assertThat(o.emitted()).containsExactly(17, 4, 99);
        SpeculativeSampler.Outcome all = ChainDecision.decode(new int[] {0, 3, 1, 2, 3, 4}, 3, 128).outcome();
        assertThat(all.emitted()).containsExactly(1, 2, 3, 4);
        assertThat(ChainDecision.ints(5)).isEqualTo(8);
    }

    @Test
    void refusesAFailedDraftStepOrAnImpossibleDecision() {
        assertThatThrownBy(() -> ChainDecision.decode(new int[] {1, 0, 3, 0, 0}, 2, 128)).hasMessageContaining("NaN");
        assertThatThrownBy(() -> ChainDecision.decode(new int[] {0, 3, 1, 2, 3}, 2, 128)).hasMessageContaining("3 accepted");
        assertThatThrownBy(() -> ChainDecision.decode(new int[] {0, 0, -1, 0, 0}, 2, 128)).hasMessageContaining("outside the vocabulary");
        assertThatThrownBy(() -> ChainDecision.decode(new int[] {0, 0}, 2, 128)).hasMessageContaining("leaves 5 ints");
    }

    static ModelConfig config(int window) {
        return new ModelConfig("test", 64, 128, 2, 4, 2, 16, 128, 256, 1e-5f, 10000, new RopeScaling.None(), RopeStyle.HALF,
                true, false, false, window, 0, Set.of());
    }
}
