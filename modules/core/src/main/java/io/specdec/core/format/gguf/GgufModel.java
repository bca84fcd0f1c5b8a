package io.specdec.core.format.gguf;

import io.specdec.core.format.TensorNames;
import io.specdec.core.format.TransformerWeightsReader;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.ModelFormatException;
import io.specdec.core.model.RopeScaling;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.tensor.Tensor;

import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.DoubleConsumer;

/**
 * Loads a Llama-family model (GGUF architectures llama, mistral, qwen2, qwen3) from a GGUF file written by
 * llama.cpp's converter or {@link GgufWriter}. llama.cpp permutes q/k of "llama"/"mistral" so that RoPE rotates
 * adjacent pairs (INTERLEAVED); qwen2/qwen3 keep HuggingFace's half-split layout (HALF).
 */
public final class GgufModel {
    private static final Set<String> ARCHITECTURES = Set.of("llama", "mistral", "qwen2", "qwen3");

    private GgufModel() {
    }

    /** Maps the file into a new shared arena owned by the returned model. */
    public static LoadedModel load(Path path, DoubleConsumer progress) {
        Arena arena = Arena.ofShared();
        try {
            GgufFile file = GgufFile.open(path, arena);
            ModelConfig config = config(file);
            TransformerWeights weights = TransformerWeightsReader.read(config, TensorNames.GGUF, name -> find(file, name),
                    path, progress);
            return new LoadedModel(path, config, weights, arena, path, Map.of());
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Tensor find(GgufFile file, String name) {
        return file.hasTensor(name) ? file.tensor(name) : null;
    }

    /** The model config described by the file's metadata (and, for vocab size and options, its tensor table). */
    public static ModelConfig config(GgufFile file) {
        Path path = file.path();
        Object archValue = file.require("general.architecture");
        if (!(archValue instanceof String arch) || !ARCHITECTURES.contains(arch)) {
            throw new ModelFormatException(path, "general.architecture is " + archValue + ", specdec reads "
                    + ARCHITECTURES);
        }
        Metadata m = new Metadata(file, arch + ".");
        int dim = m.requireInt("embedding_length");
        int heads = m.requireInt("attention.head_count");
        int kvHeads = m.optionalInt("attention.head_count_kv", heads);
        if (heads <= 0 || dim % heads != 0 && !m.has("attention.key_length")) {
            throw new ModelFormatException(path, "embedding_length " + dim + " is not a multiple of head_count " + heads
                    + " and " + arch + ".attention.key_length is not given");
        }
        int headDim = m.optionalInt("attention.key_length", dim / heads);
        int valueDim = m.optionalInt("attention.value_length", headDim);
        if (valueDim != headDim) {
            throw new ModelFormatException(path, "attention.value_length " + valueDim + " differs from key_length "
                    + headDim + "; specdec needs them equal");
        }
        if (!file.hasTensor(TensorNames.GGUF.embedding())) {
            throw new ModelFormatException(path, "missing tensor " + TensorNames.GGUF.embedding());
        }
        long[] embeddingShape = file.tensorInfos().get(TensorNames.GGUF.embedding()).shape();
        long vocab = embeddingShape[0];
        if (embeddingShape.length != 2 || vocab > Integer.MAX_VALUE) {
            throw new ModelFormatException(path, "tensor " + TensorNames.GGUF.embedding() + " has shape "
                    + java.util.Arrays.toString(embeddingShape) + ", expected [vocab, " + dim + "]");
        }
        double theta = m.optionalReal("rope.freq_base", 10000.0);
        if (!(theta > 0)) throw new ModelFormatException(path, arch + ".rope.freq_base must be positive, got " + theta);
        RopeScaling scaling = ropeScaling(file, m, headDim, theta);
        boolean qwen = arch.startsWith("qwen");
        Set<Integer> eos = new LinkedHashSet<>();
        int eosId = m.optionalIntAbsolute("tokenizer.ggml.eos_token_id", -1);
        if (eosId >= 0) eos.add(eosId);
        int eotId = m.optionalIntAbsolute("tokenizer.ggml.eot_token_id", -1);
        if (eotId >= 0) eos.add(eotId);
        try {
            return new ModelConfig(arch, dim, m.requireInt("feed_forward_length"), m.requireInt("block_count"), heads,
                    kvHeads, headDim, (int) vocab, m.requireInt("context_length"),
                    (float) m.requireReal("attention.layer_norm_rms_epsilon"), theta, scaling,
                    qwen ? RopeStyle.HALF : RopeStyle.INTERLEAVED,
                    !file.hasTensor(TensorNames.GGUF.output()),
                    file.hasTensor(TensorNames.GGUF.layer(0, TensorNames.LayerPart.BQ)),
                    file.hasTensor(TensorNames.GGUF.layer(0, TensorNames.LayerPart.Q_NORM)),
                    m.optionalInt("attention.sliding_window", 0),
                    m.optionalIntAbsolute("tokenizer.ggml.bos_token_id", -1), eos);
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(path, "inconsistent model metadata: " + e.getMessage(), e);
        }
    }

    private static RopeScaling ropeScaling(GgufFile file, Metadata m, int headDim, double theta) {
        Path path = file.path();
        Object type = m.get("rope.scaling.type");
        if (type != null && !(type instanceof String)) {
            throw new ModelFormatException(path, m.prefix + "rope.scaling.type must be a string, got " + type);
        }
        if (type == null || type.equals("none")) {
            return file.hasTensor("rope_freqs.weight") ? llama3FromFrequencyFactors(file, headDim, theta) : new RopeScaling.None();
        }
        double factor = m.requireReal("rope.scaling.factor");
        if (!(factor > 0) || Double.isInfinite(factor)) {
            throw new ModelFormatException(path, m.prefix + "rope.scaling.factor must be positive, got " + factor);
        }
        return switch ((String) type) {
            case "linear" -> new RopeScaling.Linear(factor);
            default -> throw new ModelFormatException(path, m.prefix + "rope.scaling.type " + type
                    + " is not supported (supported: none, linear)");
        };
    }

    /**
     * llama.cpp stores Llama 3.1 RoPE scaling as a tensor of per-frequency divisors rather than as parameters. We
     * recover the parameters by assuming Meta's published ones (low 1, high 4, original context 8192; factor = the
     * largest divisor) and accept them only if they reproduce every divisor.
     */
    private static RopeScaling llama3FromFrequencyFactors(GgufFile file, int headDim, double theta) {
        Tensor freqs = file.tensor("rope_freqs.weight");
        if (freqs.elementCount() != headDim / 2) {
            throw new ModelFormatException(file.path(), "tensor rope_freqs.weight has " + freqs.elementCount()
                    + " values, expected head_dim/2 = " + headDim / 2);
        }
        double factor = 1;
        for (int i = 0; i < headDim / 2; i++) factor = Math.max(factor, freqs.get(i));
        RopeScaling.Llama3 candidate = new RopeScaling.Llama3(factor, 1, 4, 8192);
        double[] plain = RopeScaling.plain(headDim, theta);
        double[] scaled = candidate.inverseFrequencies(headDim, theta);
        for (int i = 0; i < plain.length; i++) {
            double expected = plain[i] / scaled[i];
            if (Math.abs(freqs.get(i) - expected) > 1e-3 * expected) {
                throw new ModelFormatException(file.path(), "tensor rope_freqs.weight does not match Llama 3 RoPE scaling "
                        + "(factor " + factor + ", low 1, high 4, original context 8192) at index " + i
                        + ": specdec cannot represent these frequencies");
            }
        }
        return candidate;
    }

    /** Typed access to {@code <arch>.*} metadata; wrong types fail with the key named. */
    private static final class Metadata {
        private final GgufFile file;
        private final String prefix;

        Metadata(GgufFile file, String prefix) {
            this.file = file;
            this.prefix = prefix;
        }

        Object get(String key) { return file.metadata().get(prefix + key); }

        boolean has(String key) { return get(key) != null; }

        int requireInt(String key) {
            return toInt(prefix + key, file.require(prefix + key));
        }

        int optionalInt(String key, int otherwise) {
            Object v = get(key);
            return v == null ? otherwise : toInt(prefix + key, v);
        }

        int optionalIntAbsolute(String key, int otherwise) {
            Object v = file.metadata().get(key);
            return v == null ? otherwise : toInt(key, v);
        }

        double requireReal(String key) {
            return toReal(prefix + key, file.require(prefix + key));
        }

        double optionalReal(String key, double otherwise) {
            Object v = get(key);
            return v == null ? otherwise : toReal(prefix + key, v);
        }

        private int toInt(String key, Object v) {
            if (v instanceof Byte || v instanceof Short || v instanceof Integer || v instanceof Long) {
                long x = ((Number) v).longValue();
                if (x >= 0 && x <= Integer.MAX_VALUE) return (int) x;
            }
            throw new ModelFormatException(file.path(), "metadata " + key + " must be a non-negative integer below 2^31, got " + v);
        }

        private double toReal(String key, Object v) {
            if (v instanceof Number n && Double.isFinite(n.doubleValue())) return n.doubleValue();
            throw new ModelFormatException(file.path(), "metadata " + key + " must be a finite number, got " + v);
        }
    }
}
