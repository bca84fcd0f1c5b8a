package io.specdec.core.format;

import io.specdec.core.format.hf.HuggingFaceModel;
import io.specdec.core.model.LayerWeights;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeScaling;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.tensor.DType;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;

import static io.specdec.core.format.FormatAssertions.assertFormatError;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

class HuggingFaceModelTest {
    @TempDir Path dir;

    @Test
    void loadsLlamaDirectoryWithEveryWeightInPlace() throws IOException {
        TinyModels.Weights w = TinyModels.writeHuggingFace(dir, TinyModels.Spec.llama(DType.BF16), 1, 4);
        Files.writeString(dir.resolve("generation_config.json"),
                "{\"temperature\": 0.6, \"top_p\": 0.9, \"eos_token_id\": [2, 7], \"do_sample\": true}");
        try (LoadedModel m = ModelFiles.load(dir)) {
            ModelConfig c = m.config();
            assertThat(c.architecture()).isEqualTo("llama");
            assertThat(new int[]{c.dim(), c.hiddenDim(), c.layers(), c.heads(), c.kvHeads(), c.headDim(), c.vocabSize(),
                    c.maxSequenceLength()}).containsExactly(64, 96, 2, 4, 2, 16, 40, 128);
            assertThat(c.ropeStyle()).isEqualTo(RopeStyle.HALF);
            assertThat(c.ropeTheta()).isEqualTo(500000.0);
            assertThat(c.rmsNormEps()).isEqualTo(1e-5f);
            assertThat(c.tiedEmbeddings()).isFalse();
            assertThat(c.bosTokenId()).isEqualTo(1);
            assertThat(c.eosTokenIds()).isEqualTo(Set.of(2, 3, 7)); // config.json's plus generation_config.json's
            assertThat(m.tokenizerSource()).isEqualTo(dir);
            assertThat(m.generationDefaults()).containsEntry("temperature", 0.6).containsEntry("top_p", 0.9)
                    .containsEntry("do_sample", true).containsEntry("eos_token_id", List.of(2, 7));
            LayerWeights l1 = m.weights().layers().get(1);
            assertThat(l1.wUp().type()).isEqualTo(DType.BF16);
            float[] up = w.values().get(TensorNames.HUGGING_FACE.layer(1, TensorNames.LayerPart.UP));
            for (int i = 0; i < up.length; i++) assertThat(l1.wUp().get(i)).isCloseTo(up[i], within(Math.abs(up[i]) / 256));
            float[] norm = w.values().get("model.norm.weight");
            assertThat(m.weights().finalNorm().get(3)).isEqualTo(norm[3]);
            assertThat(m.weights().output().name()).isEqualTo("lm_head.weight");
        }
    }

    @Test
    void qwen2HasBiasesAndQwen3HasQkNorms() throws IOException {
        Path q2 = Files.createDirectory(dir.resolve("q2"));
        TinyModels.writeHuggingFace(q2, new TinyModels.Spec("qwen2", DType.F16, true, true, false), 2, 1);
        try (LoadedModel m = ModelFiles.load(q2.resolve("config.json"))) {
            assertThat(m.config().qkvBias()).isTrue();
            assertThat(m.config().qkNorm()).isFalse();
            assertThat(m.config().tiedEmbeddings()).isTrue();
            assertThat(m.weights().output()).isSameAs(m.weights().tokenEmbedding());
            assertThat(m.weights().layers().get(1).bv().shape()).containsExactly(32);
            assertThat(m.generationDefaults()).isEmpty();
        }
        Path q3 = Files.createDirectory(dir.resolve("q3"));
        TinyModels.writeHuggingFace(q3, new TinyModels.Spec("qwen3", DType.F32, false, false, true), 1, 1);
        try (LoadedModel m = ModelFiles.load(q3)) {
            assertThat(m.config().qkNorm()).isTrue();
            assertThat(m.config().qkvBias()).isFalse();
            assertThat(m.weights().layers().getFirst().qNorm().shape()).containsExactly(16);
        }
    }

    @Test
    void readsRopeScalingVariantsAndSlidingWindows() throws IOException {
        assertThat(configWith("llama", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}").ropeScaling())
                .isEqualTo(new RopeScaling.Linear(2));
        assertThat(configWith("llama", "\"rope_scaling\": {\"rope_type\": \"dynamic\", \"factor\": 4}").ropeScaling())
                .isEqualTo(new RopeScaling.Ntk(4));
        assertThat(configWith("llama", """
                "rope_scaling": {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                 "original_max_position_embeddings": 8192}""").ropeScaling())
                .isEqualTo(new RopeScaling.Llama3(8, 1, 4, 8192));
        assertThat(configWith("llama", "\"rope_scaling\": null").ropeScaling()).isEqualTo(new RopeScaling.None());
        assertThat(configWith("mistral", "\"sliding_window\": 4096").slidingWindow()).isEqualTo(4096);
        assertThat(configWith("mistral", "\"sliding_window\": null").slidingWindow()).isZero();
        assertThat(configWith("qwen2", "\"sliding_window\": 4096, \"use_sliding_window\": false").slidingWindow()).isZero();
        assertThat(configWith("qwen2", "\"sliding_window\": 4096, \"use_sliding_window\": true").slidingWindow()).isEqualTo(4096);
        assertThat(configWith("llama", "\"sliding_window\": 4096").slidingWindow()).isZero();
        ModelConfig defaults = configWith("llama", "\"eos_token_id\": 5");
        assertThat(defaults.kvHeads()).isEqualTo(4);
        assertThat(defaults.headDim()).isEqualTo(16);
        assertThat(defaults.ropeTheta()).isEqualTo(10000.0);
        assertThat(defaults.eosTokenIds()).isEqualTo(Set.of(5));
        assertThat(defaults.qkvBias()).isFalse();
        assertThat(configWith("llama", "\"attention_bias\": true").qkvBias()).isTrue();
        assertThat(configWith("llama", "\"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1000000.0}")
                .ropeTheta()).isEqualTo(1e6);
        Path config = dir.resolve("config.json");
        assertFormatError(config, "rope_scaling type yarn is not supported",
                () -> configWith("llama", "\"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4}"));
        assertFormatError(config, "rope_scaling.factor must be positive",
                () -> configWith("llama", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 0}"));
    }

    @Test
    void rejectsConfigMissingARequiredKey() throws IOException {
        for (String key : new String[]{"hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "vocab_size", "max_position_embeddings"}) {
            Files.writeString(dir.resolve("config.json"), minimalConfig("LlamaForCausalLM", "").replaceFirst(
                    "\"" + key + "\": \\d+,", ""));
            assertFormatError(dir.resolve("config.json"), "missing required key " + key, () -> HuggingFaceModel.config(dir));
        }
    }

    @Test
    void rejectsMalformedConfigs() throws IOException {
        Path config = dir.resolve("config.json");
        Files.writeString(config, minimalConfig("GPT2LMHeadModel", ""));
        assertFormatError(config, "names none that specdec reads", () -> HuggingFaceModel.config(dir));
        Files.writeString(config, minimalConfig("LlamaForCausalLM", "").replace("\"hidden_size\": 64", "\"hidden_size\": \"64\""));
        assertFormatError(config, "hidden_size must be a non-negative integer", () -> HuggingFaceModel.config(dir));
        Files.writeString(config, minimalConfig("LlamaForCausalLM", "\"num_key_value_heads\": 3"));
        assertFormatError(config, "inconsistent config", () -> HuggingFaceModel.config(dir));
        Files.writeString(config, "{\"architectures\": [");
        assertFormatError(config, "not valid JSON", () -> HuggingFaceModel.config(dir));
    }

    @Test
    void rejectsWeightsThatDoNotMatchTheConfig() throws IOException {
        TinyModels.writeHuggingFace(dir, TinyModels.Spec.llama(DType.F32), 1, 4);
        Files.writeString(dir.resolve("config.json"), Files.readString(dir.resolve("config.json"))
                .replace("\"intermediate_size\": 96", "\"intermediate_size\": 128"));
        assertFormatError(dir, "tensor model.layers.0.mlp.gate_proj.weight has shape [96, 64], the config needs [128, 64]",
                () -> ModelFiles.load(dir));
        Files.writeString(dir.resolve("config.json"), Files.readString(dir.resolve("config.json"))
                .replace("\"intermediate_size\": 128", "\"intermediate_size\": 96")
                .replace("\"attention_bias\": false", "\"attention_bias\": true"));
        assertFormatError(dir, "missing tensor model.layers.0.self_attn.q_proj.bias", () -> ModelFiles.load(dir));
    }

    private ModelConfig configWith(String arch, String extra) throws IOException {
        String name = Map.of("llama", "LlamaForCausalLM", "mistral", "MistralForCausalLM", "qwen2", "Qwen2ForCausalLM")
                .get(arch);
        Files.writeString(dir.resolve("config.json"), minimalConfig(name, extra));
        return HuggingFaceModel.config(dir);
    }

    private static String minimalConfig(String architecture, String extra) {
        return """
                {"architectures": ["%s"], "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
                 "num_attention_heads": 4, "vocab_size": 40, "max_position_embeddings": 128,%s "rms_norm_eps": 1e-6}
                """.formatted(architecture, extra.isEmpty() ? "" : " " + extra + ",");
    }
}
