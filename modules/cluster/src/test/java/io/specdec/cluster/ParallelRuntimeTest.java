package io.specdec.cluster;

import io.specdec.core.generate.BatchEngine;
import io.specdec.core.generate.BatchSequence;
import io.specdec.core.generate.Generator;
import io.specdec.core.generate.TokenListener;
import io.specdec.core.parallel.EasySpecDraftModel;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.speculative.GammaPolicy;
import io.specdec.core.speculative.ModelDrafter;
import io.specdec.cpu.CpuTensorParallelModel;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * A served replica with its target split over two CPU devices and an EasySpec draft (`serve --tp 2 --draft-mode
 * easyspec`): continuous batching over it gives every request the output the whole model gives it alone.
 */
class ParallelRuntimeTest {

    @Test
    void tensorParallelTargetWithEasySpecDraftServesWhatThePlainModelGenerates() {
        ModelRuntime.Spec plain = TestModel.spec("layers:4");
        ModelRuntime.Spec split = new ModelRuntime.Spec(plain.name(), plain.model(), plain.tokenizer(), "layers:4", 2,
                plain.kvTokens(), new ModelRuntime.Parallelism(2, "easyspec", 2, "0|1-2|3", "every-round"));
        SamplingParams greedy = SamplingParams.greedy().withMaxTokens(48).withIgnoreEos(true);
        int[][] prompts = {{1, 403, 407, 261}, {1, 21, 300}, {1, 9, 87, 64, 2}};
        List<int[]> expected = new ArrayList<>();
        try (ModelRuntime r = new ModelRuntime(plain, "plain")) {
            for (int[] p : prompts) expected.add(Generator.plain(r.target()).generate(p, greedy, TokenListener.NONE).tokens());
        }
        try (ModelRuntime r = new ModelRuntime(split, "split"); BatchEngine engine = new BatchEngine(r.target(), 64)) {
            assertThat(r.target()).isInstanceOf(CpuTensorParallelModel.class);
            List<BatchSequence> running = new ArrayList<>();
            List<ModelDrafter> drafters = new ArrayList<>();
            for (int[] p : prompts) {
                ModelDrafter d = (ModelDrafter) r.newDrafter("model");
                drafters.add(d);
                running.add(engine.add(p, greedy, d, GammaPolicy.fixed(3), null, false, 0));
            }
            while (running.stream().anyMatch(s -> !s.finished())) engine.step();
            for (int i = 0; i < prompts.length; i++) assertThat(running.get(i).output()).as("request " + i).containsExactly(expected.get(i));
            EasySpecDraftModel easy = (EasySpecDraftModel) drafters.getFirst().model();
            assertThat(easy.stats().fuzzyTokens()).isPositive();
            assertThat(r.kvBlocksInUse()).isZero();
        }
        assertThatThrownBy(() -> new ModelRuntime.Parallelism(1, "card", 2, null, "every-round"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("one request at a time");
    }
}
