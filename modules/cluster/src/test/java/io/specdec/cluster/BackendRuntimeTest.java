package io.specdec.cluster;

import com.typesafe.config.ConfigFactory;
import io.specdec.core.generate.BatchEngine;
import io.specdec.core.generate.BatchSequence;
import io.specdec.core.generate.Generator;
import io.specdec.core.generate.TokenListener;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.sampling.SamplingParams;
import io.specdec.core.tokenizer.TokenIdTokenizer;
import io.specdec.cpu.CpuModels;
import io.specdec.cpu.ParallelExecutor;
import io.specdec.cuda.CudaDevice;
import io.specdec.cuda.check.RandomHostModels;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

/**
 * The served runtime's backends: cpu (the default, unchanged) and cuda (device i on GPU i), and random weights from a
 * config.json. Without a usable GPU a cuda spec is refused with the reason, before any model is loaded; the GPU test
 * skips with the reason printed.
 */
class BackendRuntimeTest {

    static Path tinyConfig(Path dir) throws Exception {
        Path config = dir.resolve("config.json");
        Files.writeString(config, """
                {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
                 "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 300,
                 "max_position_embeddings": 512, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "tie_word_embeddings": false,
                 "bos_token_id": 1, "eos_token_id": 2}
                """);
        return config;
    }

    private static ModelRuntime.Spec randomSpec(Path config, ModelRuntime.Backend backend, String draft) {
        return new ModelRuntime.Spec("tiny-random", config, null, draft, 1, 1024, ModelRuntime.Parallelism.NONE, backend, true);
    }

    @Test
    void specsDefaultToTheCpuBackendWithCheckpointWeights() {
        ModelRuntime.Spec spec = new ModelRuntime.Spec("m", Path.of("model.bin"), null, null, 1, 1024);
        assertThat(spec.backend()).isEqualTo(ModelRuntime.Backend.CPU);
        assertThat(spec.randomWeights()).isFalse();
        assertThat(spec.withBackend(ModelRuntime.Backend.CUDA).withRandomWeights(true))
                .extracting(ModelRuntime.Spec::backend, ModelRuntime.Spec::randomWeights)
                .containsExactly(ModelRuntime.Backend.CUDA, true);
        assertThat(ModelRuntime.Backend.of("CUDA")).isEqualTo(ModelRuntime.Backend.CUDA);
        assertThat(ModelRuntime.Backend.of("cpu")).isEqualTo(ModelRuntime.Backend.CPU);
        assertThatThrownBy(() -> ModelRuntime.Backend.of("tpu")).hasMessage("backend must be cpu or cuda, got tpu");
    }

    @Test
    void cudaSpecsRefuseEarlyExitDraftsOfSplitTargetsAndEasySpecWithOneGpuPerTarget() {
        // a tensor-parallel target on cuda is served (split over GPUs d*tp ..); a draft of its own layers is not
        ModelRuntime.Parallelism tp2 = new ModelRuntime.Parallelism(2, "sequential", 2, null, "every-round");
        assertThat(new ModelRuntime.Spec("m", Path.of("m"), null, "random:draft.json", 1, 1024, tp2, ModelRuntime.Backend.CUDA,
                true).parallelism().tensorParallel()).isEqualTo(2);
        assertThatThrownBy(() -> new ModelRuntime.Spec("m", Path.of("m"), null, "layers:2", 1, 1024, tp2,
                ModelRuntime.Backend.CUDA, false))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("give a draft model");
        // easyspec on cuda drafts over the target's GPUs (or a Pekko group's ranks): a node with one GPU per target and
        // no groups is refused before anything loads
        ModelRuntime.Spec alone = new ModelRuntime.Spec("m", Path.of("m"), null, "random:draft.json", 1, 1024,
                new ModelRuntime.Parallelism(1, "easyspec", 2, null, "every-round"), ModelRuntime.Backend.CUDA, true);
        assertThatThrownBy(() -> SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", TestModel.freePort(), List.of(),
                List.of("frontend", "worker"), alone, 1, Coordinator.Settings.defaults(), ConfigFactory.empty())))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("easyspec drafts over the target's GPUs");
    }

    @Test
    void aLayerPlanWiderThanATensorParallelGroupIsRefusedAtStart() {
        ModelRuntime.Spec spec = new ModelRuntime.Spec("m", Path.of("m"), null, "random:draft.json", 1, 1024,
                new ModelRuntime.Parallelism(1, "easyspec", 3, "0-2|3", "every-round"));
        var groups = ConfigFactory.parseString("specdec.placement.tensor-parallel = 2\nspecdec.placement.rank-model = cpu");
        assertThatThrownBy(() -> SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", TestModel.freePort(), List.of(),
                List.of("frontend", "worker"), spec, 1, Coordinator.Settings.defaults(), groups)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("run 3 layers at once")
                .hasMessageContaining("drafts over its 2 ranks");
    }

    @Test
    void cudaWithoutAUsableGpuIsRefusedWithTheReason(@TempDir Path dir) throws Exception {
        String reason = CudaDevice.unavailableReason().orElse(null);
        if (reason == null) System.out.println("[skip] cudaWithoutAUsableGpuIsRefusedWithTheReason: a GPU is usable here");
        Assumptions.assumeTrue(reason != null, "a GPU is usable here");
        ModelRuntime.Spec spec = randomSpec(tinyConfig(dir), ModelRuntime.Backend.CUDA, null);
        // the reason's wording depends on what this JVM tried before (the driver class fails to load once, then to initialize)
        assertThatThrownBy(() -> new ModelRuntime(spec, "gpu"))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("backend cuda: ");
        // a node refuses to start the same way, before its actor system exists
        assertThatThrownBy(() -> SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", TestModel.freePort(), List.of(),
                List.of("frontend", "worker"), spec, 1, Coordinator.Settings.defaults(), ConfigFactory.empty())))
                .isInstanceOf(IllegalArgumentException.class).hasMessageStartingWith("backend cuda: ");
    }

    /** Random weights on the CPU are generate --random-weights's (same seed), and text is token ids. */
    @Test
    void randomWeightsOnTheCpuAreSeededAndSpeakTokenIds(@TempDir Path dir) throws Exception {
        Path config = tinyConfig(dir);
        SamplingParams greedy = SamplingParams.greedy().withMaxTokens(12).withIgnoreEos(true);
        int[] prompt = {1, 17, 250};
        int[] expected;
        try (Arena arena = Arena.ofShared(); ParallelExecutor executor = new ParallelExecutor(1, "reference")) {
            var c = io.specdec.core.format.hf.HuggingFaceModel.config(config);
            LoadedModel reference = new LoadedModel(config, c, RandomHostModels.weights(c, ModelRuntime.RANDOM_SEED, arena),
                    arena, null, Map.of());
            var model = CpuModels.of(reference, executor, 1024);
            expected = Generator.plain(model).generate(prompt, greedy, TokenListener.NONE).tokens();
            model.close();
        }
        try (ModelRuntime r = new ModelRuntime(randomSpec(config, ModelRuntime.Backend.CPU, "layers:1"), "cpu0")) {
            assertThat(r.tokenizer()).isInstanceOf(TokenIdTokenizer.class);
            assertThat(r.tokenizer().encode("1 17 250", false, false)).containsExactly(prompt);
            assertThat(r.hasDraftModel()).isTrue();
            assertThat(Generator.plain(r.target()).generate(prompt, greedy, TokenListener.NONE).tokens()).containsExactly(expected);
        }
    }

    @Test
    void randomWeightsRefuseATokenizerOfAnotherVocabulary(@TempDir Path dir) throws Exception {
        ModelRuntime.Spec tokenized = TestModel.spec(null); // tok512: 512 tokens, the config 300
        ModelRuntime.Spec spec = new ModelRuntime.Spec("tiny-random", tinyConfig(dir), tokenized.tokenizer(), null, 1, 1024,
                ModelRuntime.Parallelism.NONE, ModelRuntime.Backend.CPU, true);
        assertThatThrownBy(() -> new ModelRuntime(spec, "cpu0")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("has 512 tokens, the random-weights config's vocab_size is 300");
    }

    /** A node serving random weights: a token-id prompt streams exactly max_tokens ids back, as text too. */
    @Test
    void aNodeServesRandomWeightsByTokenIds(@TempDir Path dir) throws Exception {
        ModelRuntime.Spec spec = randomSpec(tinyConfig(dir), ModelRuntime.Backend.CPU, null);
        try (SpecdecNode node = SpecdecNode.start(new SpecdecNode.Options("127.0.0.1", TestModel.freePort(), List.of(),
                List.of("frontend", "worker"), spec, 1, Coordinator.Settings.defaults(), ConfigFactory.empty()))) {
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (node.replicas().toCompletableFuture().get(10, TimeUnit.SECONDS).isEmpty()) {
                assertThat(System.nanoTime()).as("a replica forms").isLessThan(deadline);
                Thread.sleep(100);
            }
            List<Integer> ids = new ArrayList<>();
            StringBuilder text = new StringBuilder();
            CompletableFuture<StreamEvent.Finished> done = new CompletableFuture<>();
            GenerationJob job = new GenerationJob("r1", null, new int[]{1, 17, 250}, null,
                    SamplingParams.greedy().withMaxTokens(16).withIgnoreEos(true), "off", 0, "", false, 0, 0, null);
            node.generate(job, e -> {
                switch (e) {
                    case StreamEvent.Tokens t -> {
                        for (int id : t.ids()) ids.add(id);
                        text.append(t.text());
                    }
                    case StreamEvent.Finished f -> {
                        text.append(f.trailingText());
                        done.complete(f);
                    }
                    case StreamEvent.Failed f -> done.completeExceptionally(new AssertionError(f.status() + ": " + f.message()));
                }
            });
            StreamEvent.Finished f = done.get(60, TimeUnit.SECONDS);
            assertThat(f.completionTokens()).isEqualTo(16);
            assertThat(ids).hasSize(16).allMatch(id -> id >= 0 && id < 300);
            assertThat(text.toString().strip()).isEqualTo(String.join(" ", ids.stream().map(String::valueOf).toList()));
        }
    }

    /** On a GPU: batched serving on cuda gives every request its one-at-a-time greedy output and frees the KV. */
    @Test
    void cudaRuntimeBatchesLikeOneAtATime(@TempDir Path dir) throws Exception {
        String reason = CudaDevice.unavailableReason().orElse(null);
        if (reason != null) System.out.println("[skip] cudaRuntimeBatchesLikeOneAtATime: " + reason);
        Assumptions.assumeTrue(reason == null, reason);
        SamplingParams greedy = SamplingParams.greedy().withMaxTokens(24).withIgnoreEos(true);
        int[][] prompts = {{1, 17, 250}, {1, 5}, {1, 9, 87, 64, 2, 33}};
        try (ModelRuntime r = new ModelRuntime(randomSpec(tinyConfig(dir), ModelRuntime.Backend.CUDA, "layers:1"), "cuda0", 0)) {
            List<int[]> expected = new ArrayList<>();
            for (int[] p : prompts) expected.add(Generator.plain(r.target()).generate(p, greedy, TokenListener.NONE).tokens());
            try (BatchEngine engine = new BatchEngine(r.target(), 256)) {
                List<BatchSequence> running = new ArrayList<>();
                for (int[] p : prompts) running.add(engine.add(p, greedy, null, null, null, false, 0));
                while (running.stream().anyMatch(s -> !s.finished())) engine.step();
                for (int i = 0; i < prompts.length; i++) {
                    assertThat(running.get(i).output()).as("request " + i).containsExactly(expected.get(i));
                }
            }
            assertThat(r.kvBlocksInUse()).isZero();
        }
    }
}
