package io.specdec.core.format.gguf;

import io.specdec.core.format.RowSource;
import io.specdec.core.format.llama2c.Llama2cVocabFile;
import io.specdec.core.tensor.DType;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;

/**
 * Writes a Llama model with random weights as GGUF, for benchmarks that need a realistic shape but no download:
 * matrices N(0, 0.02) from a fixed seed (each tensor its own stream, so the values do not depend on the storage
 * type), norms 1, tied embeddings. Tensors are generated row by row while writing, so memory stays small.
 *
 * <p>Run: {@code java -cp specdec-core.jar io.specdec.core.format.gguf.RandomLlamaWriter out.gguf Q8_0 [tokenizer.bin] [seed]}
 */
public final class RandomLlamaWriter {

    /** A Llama shape in llama2.c's terms. */
    public record Shape(int dim, int hiddenDim, int layers, int heads, int kvHeads, int vocabSize, int seqLen) {
        /** karpathy/tinyllamas stories110M. */
        public static final Shape STORIES_110M = new Shape(768, 2048, 12, 12, 12, 32000, 1024);

        public int headDim() { return dim / heads; }
    }

    private RandomLlamaWriter() {
    }

    /**
     * @param matrixType storage of the 2-D weights (F32, F16, BF16, Q8_0 or Q4_0); norms are always F32
     * @param tokenizer  a llama2.c tokenizer.bin whose vocabulary becomes the GGUF's tokenizer metadata, or null
     */
    public static void write(Path out, Shape shape, DType matrixType, long seed, Path tokenizer) {
        GgufWriter w = new GgufWriter();
        w.putString("general.architecture", "llama");
        w.putString("general.name", "random-llama-" + shape.dim() + "x" + shape.layers());
        w.putUInt32("general.file_type", fileType(matrixType));
        w.putUInt32("llama.context_length", shape.seqLen());
        w.putUInt32("llama.embedding_length", shape.dim());
        w.putUInt32("llama.feed_forward_length", shape.hiddenDim());
        w.putUInt32("llama.block_count", shape.layers());
        w.putUInt32("llama.attention.head_count", shape.heads());
        w.putUInt32("llama.attention.head_count_kv", shape.kvHeads());
        w.putUInt32("llama.rope.dimension_count", shape.headDim());
        w.putUInt32("llama.vocab_size", shape.vocabSize());
        w.putFloat32("llama.attention.layer_norm_rms_epsilon", 1e-5f);
        w.putFloat32("llama.rope.freq_base", 10000f);
        if (tokenizer != null) putTokenizer(w, Llama2cVocabFile.read(tokenizer), shape.vocabSize(), tokenizer);

        long d = shape.dim(), h = shape.hiddenDim(), kv = (long) shape.kvHeads() * shape.headDim();
        int[] index = {0};
        w.addTensor("token_embd.weight", matrixType, new long[]{shape.vocabSize(), d}, gaussian(seed, index[0]++));
        for (int l = 0; l < shape.layers(); l++) {
            String p = "blk." + l + ".";
            w.addTensor(p + "attn_norm.weight", DType.F32, new long[]{d}, ones());
            w.addTensor(p + "attn_q.weight", matrixType, new long[]{d, d}, gaussian(seed, index[0]++));
            w.addTensor(p + "attn_k.weight", matrixType, new long[]{kv, d}, gaussian(seed, index[0]++));
            w.addTensor(p + "attn_v.weight", matrixType, new long[]{kv, d}, gaussian(seed, index[0]++));
            w.addTensor(p + "attn_output.weight", matrixType, new long[]{d, d}, gaussian(seed, index[0]++));
            w.addTensor(p + "ffn_norm.weight", DType.F32, new long[]{d}, ones());
            w.addTensor(p + "ffn_gate.weight", matrixType, new long[]{h, d}, gaussian(seed, index[0]++));
            w.addTensor(p + "ffn_up.weight", matrixType, new long[]{h, d}, gaussian(seed, index[0]++));
            w.addTensor(p + "ffn_down.weight", matrixType, new long[]{d, h}, gaussian(seed, index[0]++));
        }
        w.addTensor("output_norm.weight", DType.F32, new long[]{d}, ones());
        w.write(out);
    }

    /** N(0, 0.02), one independent stream per tensor; rows must be requested in order (writers do). */
    private static RowSource gaussian(long seed, int tensorIndex) {
        SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + tensorIndex);
        return (row, out) -> {
            for (int i = 0; i < out.length; i++) out[i] = (float) (rng.nextGaussian() * 0.02);
        };
    }

    private static RowSource ones() {
        return (row, out) -> java.util.Arrays.fill(out, 1f);
    }

    /** llama.cpp's general.file_type (LLAMA_FTYPE_*) for a model whose matrices are {@code type}. */
    private static int fileType(DType type) {
        return switch (type) {
            case F32 -> 0;
            case F16 -> 1;
            case Q4_0 -> 2;
            case Q8_0 -> 7;
            case BF16 -> 32;
        };
    }

    /**
     * llama.cpp's SentencePiece ("llama") tokenizer metadata from a llama2.c vocabulary. llama2.c's export replaced
     * "▁" by a space and wrapped BOS/EOS in newlines; this undoes both so the pieces match llama.cpp's.
     */
    private static void putTokenizer(GgufWriter w, Llama2cVocabFile vocab, int vocabSize, Path source) {
        if (vocab.size() != vocabSize) {
            throw new IllegalArgumentException(source + " has " + vocab.size() + " tokens, the model " + vocabSize);
        }
        List<String> tokens = new ArrayList<>(vocab.size());
        List<Float> scores = new ArrayList<>(vocab.size());
        List<Integer> types = new ArrayList<>(vocab.size());
        for (int i = 0; i < vocab.size(); i++) {
            String piece = switch (i) {
                case 1 -> "<s>";
                case 2 -> "</s>";
                default -> new String(vocab.pieces().get(i), StandardCharsets.UTF_8).replace(' ', '\u2581');
            };
            tokens.add(piece);
            scores.add(vocab.scores()[i]);
            types.add(i == 0 ? 2 : i <= 2 ? 3 : piece.matches("<0x[0-9A-F]{2}>") ? 6 : 1); // unknown, control, byte, normal
        }
        w.putString("tokenizer.ggml.model", "llama");
        w.putArray("tokenizer.ggml.tokens", GgufValueType.STRING, tokens);
        w.putArray("tokenizer.ggml.scores", GgufValueType.FLOAT32, scores);
        w.putArray("tokenizer.ggml.token_type", GgufValueType.INT32, types);
        w.putUInt32("tokenizer.ggml.unknown_token_id", 0);
        w.putUInt32("tokenizer.ggml.bos_token_id", 1);
        w.putUInt32("tokenizer.ggml.eos_token_id", 2);
        w.putBool("tokenizer.ggml.add_bos_token", true);
        w.putBool("tokenizer.ggml.add_eos_token", false);
    }

    public static void main(String[] args) {
        if (args.length < 2) {
            System.err.println("usage: RandomLlamaWriter OUT.gguf F32|F16|BF16|Q8_0|Q4_0 [tokenizer.bin|-] [seed]");
            System.exit(2);
        }
        Path tokenizer = args.length > 2 && !args[2].equals("-") ? Path.of(args[2]) : null;
        long seed = args.length > 3 ? Long.parseLong(args[3]) : 42;
        long start = System.nanoTime();
        write(Path.of(args[0]), Shape.STORIES_110M, DType.valueOf(args[1]), seed, tokenizer);
        System.out.printf("wrote %s in %.1f s%n", args[0], (System.nanoTime() - start) / 1e9);
    }
}
