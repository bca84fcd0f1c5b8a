package io.specdec.core.format.hf;

import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.json.JsonMapper;
import io.specdec.core.format.TensorNames;
import io.specdec.core.format.TransformerWeightsReader;
import io.specdec.core.format.safetensors.SafetensorsCheckpoint;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.ModelFormatException;
import io.specdec.core.model.RopeScaling;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.model.TransformerWeights;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.DoubleConsumer;

/**
 * Loads a HuggingFace model directory: {@code config.json} (Llama, Mistral, Qwen2, Qwen3), safetensors weights
 * (single file or shards), optional {@code generation_config.json}; the tokenizer is the directory's
 * {@code tokenizer.json}. HuggingFace checkpoints rotate half-split pairs, so RoPE style is HALF.
 */
public final class HuggingFaceModel {
    public static final String CONFIG = "config.json";
    public static final String GENERATION_CONFIG = "generation_config.json";

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .build();

    private static final Map<String, String> ARCHITECTURES = Map.of(
            "LlamaForCausalLM", "llama",
            "MistralForCausalLM", "mistral",
            "Qwen2ForCausalLM", "qwen2",
            "Qwen3ForCausalLM", "qwen3");

    private HuggingFaceModel() {
    }

    /** Maps the directory's weights into a new shared arena owned by the returned model. */
    public static LoadedModel load(Path directory, DoubleConsumer progress) {
        Arena arena = Arena.ofShared();
        try {
            ModelConfig config = config(directory);
            Map<String, Object> generation = generationDefaults(directory);
            if (generation.get("eos_token_id") != null) config = withExtraEos(directory, config, generation.get("eos_token_id"));
            SafetensorsCheckpoint checkpoint = SafetensorsCheckpoint.open(directory, arena);
            TransformerWeights weights = TransformerWeightsReader.read(config, TensorNames.HUGGING_FACE, checkpoint::find,
                    directory, progress);
            return new LoadedModel(directory, config, weights, arena, directory, generation);
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** The model config from {@code directory/config.json} (or from {@code directory} itself when it is a file). */
    public static ModelConfig config(Path directory) {
        Path path = Files.isRegularFile(directory) ? directory : directory.resolve(CONFIG);
        Config c = new Config(path, readJson(path));
        String arch = architecture(c);
        boolean qwen = arch.startsWith("qwen");
        int dim = c.requireInt("hidden_size");
        int heads = c.requireInt("num_attention_heads");
        int kvHeads = c.optionalInt("num_key_value_heads", heads);
        if (heads <= 0 || (dim % heads != 0 && c.absent("head_dim"))) {
            throw new ModelFormatException(path, "hidden_size " + dim + " is not a multiple of num_attention_heads "
                    + heads + " and head_dim is not given");
        }
        int headDim = c.optionalInt("head_dim", dim / heads);
        JsonNode ropeParameters = c.root.get("rope_parameters"); // newer transformers nest rope_theta/rope_type here
        double theta = c.optionalReal("rope_theta", ropeParameters != null && ropeParameters.has("rope_theta")
                ? c.real("rope_parameters.rope_theta", ropeParameters.get("rope_theta")) : 10000.0);
        if (!(theta > 0)) throw new ModelFormatException(path, "rope_theta must be positive, got " + theta);
        RopeScaling scaling = ropeScaling(c, c.root.hasNonNull("rope_scaling") ? c.root.get("rope_scaling") : ropeParameters);
        int slidingWindow = 0; // Qwen's sliding_window is inert unless use_sliding_window (default false, as in transformers)
        if (arch.equals("mistral") || (qwen && c.optionalBool("use_sliding_window", false))) {
            slidingWindow = c.optionalInt("sliding_window", 0);
        }
        boolean qkvBias = arch.equals("qwen2") || c.optionalBool("attention_bias", false);
        Set<Integer> eos = new LinkedHashSet<>(c.tokenIds("eos_token_id"));
        Set<Integer> bos = c.tokenIds("bos_token_id");
        try {
            return new ModelConfig(arch, dim, c.requireInt("intermediate_size"), c.requireInt("num_hidden_layers"),
                    heads, kvHeads, headDim, c.requireInt("vocab_size"), c.requireInt("max_position_embeddings"),
                    (float) c.optionalReal("rms_norm_eps", 1e-6), theta, scaling, RopeStyle.HALF,
                    c.optionalBool("tie_word_embeddings", false), qkvBias, arch.equals("qwen3"), slidingWindow,
                    bos.isEmpty() ? -1 : bos.iterator().next(), eos);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(path, "inconsistent config: " + e.getMessage(), e);
        }
    }

    /** {@code generation_config.json} as plain Java values (Map, List, String, Number, Boolean), empty when absent. */
    public static Map<String, Object> generationDefaults(Path directory) {
        Path path = directory.resolve(GENERATION_CONFIG);
        if (!Files.isRegularFile(path)) return Map.of();
        JsonNode root = readJson(path);
        @SuppressWarnings("unchecked")
        Map<String, Object> values = JSON.convertValue(root, LinkedHashMap.class);
        return Collections.unmodifiableMap(values);
    }

    private static ModelConfig withExtraEos(Path directory, ModelConfig c, Object eosValue) {
        Set<Integer> eos = new LinkedHashSet<>(c.eosTokenIds());
        Iterable<?> ids = eosValue instanceof Iterable<?> list ? list : java.util.List.of(eosValue);
        for (Object id : ids) {
            if (!(id instanceof Integer i) || i < 0) {
                throw new ModelFormatException(directory.resolve(GENERATION_CONFIG), "eos_token_id must be a token id or a list of them, got " + eosValue);
            }
            eos.add(i);
        }
        return new ModelConfig(c.architecture(), c.dim(), c.hiddenDim(), c.layers(), c.heads(), c.kvHeads(), c.headDim(),
                c.vocabSize(), c.maxSequenceLength(), c.rmsNormEps(), c.ropeTheta(), c.ropeScaling(), c.ropeStyle(),
                c.tiedEmbeddings(), c.qkvBias(), c.qkNorm(), c.slidingWindow(), c.bosTokenId(), eos);
    }

    private static JsonNode readJson(Path path) {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(path);
        } catch (IOException e) {
            throw new ModelFormatException(path, "cannot read: " + e.getMessage(), e);
        }
        JsonNode root;
        try {
            root = JSON.readTree(bytes);
        } catch (IOException e) {
            String message = String.valueOf(e.getMessage());
            throw new ModelFormatException(path, "not valid JSON: " + message.lines().findFirst().orElse(""), e);
        }
        if (root == null || !root.isObject()) throw new ModelFormatException(path, "must hold a JSON object");
        return root;
    }

    private static String architecture(Config c) {
        JsonNode archs = c.root.get("architectures");
        if (archs != null && archs.isArray()) {
            for (JsonNode a : archs) {
                String arch = ARCHITECTURES.get(a.asText());
                if (arch != null) return arch;
            }
            throw new ModelFormatException(c.path, "architectures " + archs + " names none that specdec reads "
                    + ARCHITECTURES.keySet());
        }
        JsonNode type = c.root.get("model_type");
        if (type != null && ARCHITECTURES.containsValue(type.asText())) return type.asText();
        throw new ModelFormatException(c.path, "missing key architectures (or a model_type among "
                + ARCHITECTURES.values() + ")");
    }

    private static RopeScaling ropeScaling(Config c, JsonNode node) {
        if (node == null || node.isNull()) return new RopeScaling.None();
        if (!node.isObject()) throw new ModelFormatException(c.path, "rope_scaling must be an object, got " + node);
        JsonNode typeNode = node.hasNonNull("rope_type") ? node.get("rope_type") : node.get("type");
        String type = typeNode == null ? "default" : typeNode.asText();
        Config s = new Config(c.path, node, "rope_scaling.");
        return switch (type) {
            case "default" -> new RopeScaling.None();
            case "linear" -> new RopeScaling.Linear(s.positive("factor"));
            case "dynamic" -> new RopeScaling.Ntk(s.positive("factor"));
            case "llama3" -> {
                double low = s.positive("low_freq_factor");
                double high = s.positive("high_freq_factor");
                if (high <= low) {
                    throw new ModelFormatException(c.path, "rope_scaling.high_freq_factor " + high
                            + " must exceed low_freq_factor " + low);
                }
                yield new RopeScaling.Llama3(s.positive("factor"), low, high, s.requireInt("original_max_position_embeddings"));
            }
            default -> throw new ModelFormatException(c.path, "rope_scaling type " + type
                    + " is not supported (supported: linear, dynamic, llama3)");
        };
    }

    /** Typed access to a JSON object; every failure names the file and the key. */
    private static final class Config {
        final Path path;
        final JsonNode root;
        final String prefix;

        Config(Path path, JsonNode root) {
            this(path, root, "");
        }

        Config(Path path, JsonNode root, String prefix) {
            this.path = path;
            this.root = root;
            this.prefix = prefix;
        }

        boolean absent(String key) { return !root.hasNonNull(key); }

        int requireInt(String key) {
            if (absent(key)) throw new ModelFormatException(path, "missing required key " + prefix + key);
            return integer(key, root.get(key));
        }

        int optionalInt(String key, int otherwise) {
            return absent(key) ? otherwise : integer(key, root.get(key));
        }

        double optionalReal(String key, double otherwise) {
            return absent(key) ? otherwise : real(key, root.get(key));
        }

        double positive(String key) {
            if (absent(key)) throw new ModelFormatException(path, "missing required key " + prefix + key);
            double v = real(key, root.get(key));
            if (!(v > 0)) throw new ModelFormatException(path, prefix + key + " must be positive, got " + v);
            return v;
        }

        boolean optionalBool(String key, boolean otherwise) {
            if (absent(key)) return otherwise;
            JsonNode v = root.get(key);
            if (!v.isBoolean()) throw new ModelFormatException(path, prefix + key + " must be true or false, got " + v);
            return v.booleanValue();
        }

        /** A token id or a list of them; empty when absent. */
        Set<Integer> tokenIds(String key) {
            if (absent(key)) return Set.of();
            JsonNode v = root.get(key);
            Set<Integer> ids = new LinkedHashSet<>();
            if (v.isArray()) {
                for (JsonNode id : v) ids.add(integer(key, id));
            } else {
                ids.add(integer(key, v));
            }
            return ids;
        }

        int integer(String key, JsonNode v) {
            if (v.isIntegralNumber() && v.canConvertToInt() && v.intValue() >= 0) return v.intValue();
            throw new ModelFormatException(path, prefix + key + " must be a non-negative integer, got " + v);
        }

        double real(String key, JsonNode v) {
            if (v.isNumber() && Double.isFinite(v.doubleValue())) return v.doubleValue();
            throw new ModelFormatException(path, prefix + key + " must be a number, got " + v);
        }
    }
}
