package io.specdec.core.format;

import io.specdec.core.format.gguf.GgufWriter;
import io.specdec.core.format.safetensors.SafetensorsWriter;
import io.specdec.core.tensor.DType;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * Small random Llama-family models written in each format, with the float values kept for comparison. Sizes are
 * multiples of 32 so every storage type (including Q8_0/Q4_0 blocks) can hold them.
 */
final class TinyModels {
    static final int DIM = 64, HIDDEN = 96, LAYERS = 2, HEADS = 4, KV_HEADS = 2, HEAD_DIM = 16, VOCAB = 40, SEQ = 128;

    /** Options for one tiny model. */
    record Spec(String arch, DType matrixType, boolean tied, boolean qkvBias, boolean qkNorm) {
        static Spec llama(DType type) { return new Spec("llama", type, false, false, false); }
    }

    /** Tensor name → (shape, values) in insertion order. */
    record Weights(Map<String, long[]> shapes, Map<String, float[]> values) {
    }

    private TinyModels() {
    }

    static float[] random(long seed, int n, float scale) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (r.nextGaussian() * scale);
        return v;
    }

    /** All weights of a tiny model, named by {@code names}. */
    static Weights weights(Spec spec, TensorNames names, long seed) {
        Map<String, long[]> shapes = new LinkedHashMap<>();
        Map<String, float[]> values = new LinkedHashMap<>();
        int kv = KV_HEADS * HEAD_DIM, q = HEADS * HEAD_DIM;
        long[] s = {seed};
        java.util.function.BiConsumer<String, long[]> add = (name, shape) -> {
            int n = (int) io.specdec.core.tensor.Tensor.product(shape);
            shapes.put(name, shape);
            values.put(name, random(s[0]++, n, shape.length == 1 ? 0.5f : 0.1f));
        };
        add.accept(names.embedding(), new long[]{VOCAB, DIM});
        for (int l = 0; l < LAYERS; l++) {
            add.accept(names.layer(l, TensorNames.LayerPart.ATTENTION_NORM), new long[]{DIM});
            add.accept(names.layer(l, TensorNames.LayerPart.WQ), new long[]{q, DIM});
            add.accept(names.layer(l, TensorNames.LayerPart.WK), new long[]{kv, DIM});
            add.accept(names.layer(l, TensorNames.LayerPart.WV), new long[]{kv, DIM});
            add.accept(names.layer(l, TensorNames.LayerPart.WO), new long[]{DIM, q});
            if (spec.qkvBias()) {
                add.accept(names.layer(l, TensorNames.LayerPart.BQ), new long[]{q});
                add.accept(names.layer(l, TensorNames.LayerPart.BK), new long[]{kv});
                add.accept(names.layer(l, TensorNames.LayerPart.BV), new long[]{kv});
            }
            if (spec.qkNorm()) {
                add.accept(names.layer(l, TensorNames.LayerPart.Q_NORM), new long[]{HEAD_DIM});
                add.accept(names.layer(l, TensorNames.LayerPart.K_NORM), new long[]{HEAD_DIM});
            }
            add.accept(names.layer(l, TensorNames.LayerPart.FFN_NORM), new long[]{DIM});
            add.accept(names.layer(l, TensorNames.LayerPart.GATE), new long[]{HIDDEN, DIM});
            add.accept(names.layer(l, TensorNames.LayerPart.UP), new long[]{HIDDEN, DIM});
            add.accept(names.layer(l, TensorNames.LayerPart.DOWN), new long[]{DIM, HIDDEN});
        }
        add.accept(names.finalNorm(), new long[]{DIM});
        if (!spec.tied()) add.accept(names.output(), new long[]{VOCAB, DIM});
        return new Weights(shapes, values);
    }

    /** A GGUF model: matrices as {@code spec.matrixType()}, 1-D tensors F32. */
    static Weights writeGguf(Path file, Spec spec, long seed) {
        Weights w = weights(spec, TensorNames.GGUF, seed);
        GgufWriter g = new GgufWriter();
        String a = spec.arch() + ".";
        g.putString("general.architecture", spec.arch());
        g.putUInt32(a + "context_length", SEQ);
        g.putUInt32(a + "embedding_length", DIM);
        g.putUInt32(a + "feed_forward_length", HIDDEN);
        g.putUInt32(a + "block_count", LAYERS);
        g.putUInt32(a + "attention.head_count", HEADS);
        g.putUInt32(a + "attention.head_count_kv", KV_HEADS);
        g.putFloat32(a + "attention.layer_norm_rms_epsilon", 1e-6f);
        g.putFloat32(a + "rope.freq_base", 500000f);
        g.putUInt32("tokenizer.ggml.bos_token_id", 1);
        g.putUInt32("tokenizer.ggml.eos_token_id", 2);
        w.shapes().forEach((name, shape) ->
                g.addTensor(name, shape.length == 1 ? DType.F32 : spec.matrixType(), shape, w.values().get(name)));
        g.write(file);
        return w;
    }

    /** A HuggingFace directory: config.json plus one model.safetensors, or {@code shards} files and an index. */
    static Weights writeHuggingFace(Path dir, Spec spec, int shards, long seed) {
        Weights w = weights(spec, TensorNames.HUGGING_FACE, seed);
        String architecture = switch (spec.arch()) {
            case "llama" -> "LlamaForCausalLM";
            case "mistral" -> "MistralForCausalLM";
            case "qwen2" -> "Qwen2ForCausalLM";
            case "qwen3" -> "Qwen3ForCausalLM";
            default -> throw new IllegalArgumentException(spec.arch());
        };
        writeString(dir.resolve("config.json"), """
                {"architectures": ["%s"], "model_type": "%s", "hidden_size": %d, "intermediate_size": %d,
                 "num_hidden_layers": %d, "num_attention_heads": %d, "num_key_value_heads": %d, "head_dim": %d,
                 "vocab_size": %d, "max_position_embeddings": %d, "rms_norm_eps": 1e-05, "rope_theta": 500000.0,
                 "tie_word_embeddings": %s, "attention_bias": %s, "bos_token_id": 1, "eos_token_id": [2, 3],
                 "torch_dtype": "bfloat16"}
                """.formatted(architecture, spec.arch(), DIM, HIDDEN, LAYERS, HEADS, KV_HEADS, HEAD_DIM, VOCAB, SEQ,
                spec.tied(), spec.qkvBias() && !spec.arch().equals("qwen2")));
        String[] names = w.shapes().keySet().toArray(String[]::new);
        StringBuilder index = new StringBuilder("{\"metadata\": {}, \"weight_map\": {");
        for (int s = 0; s < shards; s++) {
            SafetensorsWriter out = new SafetensorsWriter().metadata("format", "pt");
            String file = shards == 1 ? "model.safetensors" : "model-%05d-of-%05d.safetensors".formatted(s + 1, shards);
            for (int i = s; i < names.length; i += shards) {
                DType type = w.shapes().get(names[i]).length == 1 ? DType.F32 : spec.matrixType();
                out.add(names[i], type, w.shapes().get(names[i]), w.values().get(names[i]));
                index.append(index.charAt(index.length() - 1) == '{' ? "" : ", ")
                        .append('"').append(names[i]).append("\": \"").append(file).append('"');
            }
            out.write(dir.resolve(file));
        }
        if (shards > 1) writeString(dir.resolve("model.safetensors.index.json"), index.append("}}").toString());
        return w;
    }

    /** A llama2.c checkpoint of the tiny shape (KV heads as configured; classifier shared when {@code tied}). */
    static Weights writeLlama2c(Path file, boolean tied, long seed) {
        Spec spec = new Spec("llama", DType.F32, tied, false, false);
        Weights w = weights(spec, io.specdec.core.format.llama2c.Llama2cCheckpoint.NAMES, seed);
        TensorNames n = io.specdec.core.format.llama2c.Llama2cCheckpoint.NAMES;
        int freqFloats = SEQ * HEAD_DIM / 2;
        long floats = w.values().values().stream().mapToLong(v -> v.length).sum() + 2L * freqFloats;
        ByteBuffer b = ByteBuffer.allocate((int) (28 + 4 * floats)).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(DIM).putInt(HIDDEN).putInt(LAYERS).putInt(HEADS).putInt(KV_HEADS).putInt(tied ? VOCAB : -VOCAB).putInt(SEQ);
        java.util.function.Consumer<String> put = name -> { for (float f : w.values().get(name)) b.putFloat(f); };
        put.accept(n.embedding());
        for (TensorNames.LayerPart part : new TensorNames.LayerPart[]{TensorNames.LayerPart.ATTENTION_NORM,
                TensorNames.LayerPart.WQ, TensorNames.LayerPart.WK, TensorNames.LayerPart.WV, TensorNames.LayerPart.WO,
                TensorNames.LayerPart.FFN_NORM, TensorNames.LayerPart.GATE, TensorNames.LayerPart.DOWN,
                TensorNames.LayerPart.UP}) { // run.c's order: w1 (gate), w2 (down), w3 (up)
            for (int l = 0; l < LAYERS; l++) put.accept(n.layer(l, part));
        }
        put.accept(n.finalNorm());
        for (int i = 0; i < 2 * freqFloats; i++) b.putFloat(-7f); // freq_cis real and imag: skipped by the loader
        if (!tied) put.accept(n.output());
        try {
            Files.write(file, b.array());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return w;
    }

    static void writeString(Path path, String s) {
        try {
            Files.writeString(path, s);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
