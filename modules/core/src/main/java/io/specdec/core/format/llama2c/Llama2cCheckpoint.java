package io.specdec.core.format.llama2c;

import io.specdec.core.format.MappedFile;
import io.specdec.core.format.TensorNames;
import io.specdec.core.format.TransformerWeightsReader;
import io.specdec.core.model.LoadedModel;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.ModelFormatException;
import io.specdec.core.model.RopeScaling;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.tensor.DType;
import io.specdec.core.tensor.Tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.DoubleConsumer;

/**
 * A llama2.c checkpoint (legacy "version 0" export): a header of 7 int32 (dim, hidden_dim, n_layers, n_heads,
 * n_kv_heads, vocab_size, seq_len; a negative vocab_size means the classifier is stored separately), then float32
 * arrays in a fixed order. Weights are zero-copy slices of the mapping; llama2.c's w1/w3/w2 are gate/up/down.
 */
public final class Llama2cCheckpoint {
    private static final int HEADER_BYTES = 7 * 4;
    /** "ak42": the magic of llama2.c's later export versions, which we do not read. */
    private static final int EXPORT_MAGIC = 0x616b3432;

    private Llama2cCheckpoint() {
    }

    /** The seven header integers, validated. */
    public record Header(int dim, int hiddenDim, int layers, int heads, int kvHeads, int vocabSize, boolean sharedClassifier,
                         int seqLen) {
        int headSize() { return dim / heads; }

        int kvDim() { return dim / heads * kvHeads; }

        /** Float counts of every section in file order: what the file size must match. */
        long[] sectionFloats() {
            long d = dim, h = hiddenDim, l = layers, v = vocabSize, kv = kvDim();
            long freq = (long) seqLen * headSize() / 2;
            return new long[]{v * d, l * d, l * d * d, l * kv * d, l * kv * d, l * d * d, l * d, l * h * d, l * h * d,
                    l * d * h, d, freq, freq, sharedClassifier ? 0 : v * d};
        }

        long expectedFileSize() {
            long floats = 0;
            for (long n : sectionFloats()) floats += n;
            return HEADER_BYTES + floats * 4;
        }
    }

    /**
     * Maps {@code checkpoint} into a new shared arena owned by the returned model.
     *
     * @param tokenizer the tokenizer to report, or null to look for {@code tok<vocab>.bin}, then a
     *                  {@code tokenizer.bin} with a matching token count, next to the checkpoint
     * @param progress  fraction of tensors read, or null
     */
    public static LoadedModel load(Path checkpoint, Path tokenizer, DoubleConsumer progress) {
        Arena arena = Arena.ofShared();
        try {
            MemorySegment file = MappedFile.map(checkpoint, arena, "llama2.c checkpoint");
            Header h = header(checkpoint, file);
            ModelConfig config = config(checkpoint, h);
            Map<String, Tensor> tensors = slices(h, file);
            TransformerWeights weights = TransformerWeightsReader.read(config, NAMES, tensors::get, checkpoint, progress);
            Path tokenizerSource = tokenizer != null ? tokenizer : siblingTokenizer(checkpoint, h.vocabSize());
            return new LoadedModel(checkpoint, config, weights, arena, tokenizerSource, Map.of());
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    /** Reads and validates the header, including the file size it implies. */
    public static Header header(Path path, MemorySegment file) {
        if (file.byteSize() < HEADER_BYTES) {
            throw new ModelFormatException(path, "llama2.c checkpoint of " + file.byteSize()
                    + " bytes is shorter than its 28-byte header");
        }
        int[] v = new int[7];
        for (int i = 0; i < 7; i++) v[i] = file.get(ValueLayout.JAVA_INT_UNALIGNED, 4L * i);
        if (v[0] == EXPORT_MAGIC) {
            throw new ModelFormatException(path, "llama2.c export version " + v[1]
                    + " (magic \"ak42\") is not supported; export with --version 0 (legacy)");
        }
        int dim = v[0], hidden = v[1], layers = v[2], heads = v[3], kvHeads = v[4], vocab = Math.abs(v[5]), seqLen = v[6];
        String header = "header (dim " + dim + ", hidden_dim " + hidden + ", n_layers " + layers + ", n_heads " + heads
                + ", n_kv_heads " + kvHeads + ", vocab_size " + v[5] + ", seq_len " + seqLen + ")";
        boolean sane = dim > 0 && hidden > 0 && layers > 0 && heads > 0 && kvHeads > 0 && vocab > 0 && seqLen > 0
                && dim % heads == 0 && heads % kvHeads == 0 && (dim / heads) % 2 == 0
                && dim <= 1 << 16 && hidden <= 1 << 18 && layers <= 1 << 10 && vocab <= 1 << 22 && seqLen <= 1 << 24;
        if (!sane) throw new ModelFormatException(path, "implausible llama2.c " + header);
        Header h = new Header(dim, hidden, layers, heads, kvHeads, vocab, v[5] > 0, seqLen);
        long expected = h.expectedFileSize();
        if (expected != file.byteSize()) {
            throw new ModelFormatException(path, "file has " + file.byteSize() + " bytes but its " + header + " implies "
                    + expected + (v[5] > 0 ? " (shared classifier)" : " (separate classifier)") + ": truncated or not a llama2.c checkpoint");
        }
        return h;
    }

    private static ModelConfig config(Path path, Header h) {
        try {
            return new ModelConfig("llama", h.dim(), h.hiddenDim(), h.layers(), h.heads(), h.kvHeads(), h.headSize(),
                    h.vocabSize(), h.seqLen(), 1e-5f, 10000.0, new RopeScaling.None(), RopeStyle.INTERLEAVED,
                    h.sharedClassifier(), false, false, 0, 1, Set.of(2));
        } catch (IllegalArgumentException e) {
            throw new ModelFormatException(path, "inconsistent llama2.c header: " + e.getMessage(), e);
        }
    }

    /** Slices every weight out of the mapping, named as {@link #NAMES} says. */
    private static Map<String, Tensor> slices(Header h, MemorySegment file) {
        long[] floats = h.sectionFloats();
        long[] starts = new long[floats.length];
        long at = HEADER_BYTES;
        for (int i = 0; i < floats.length; i++) {
            starts[i] = at;
            at += floats[i] * 4;
        }
        long d = h.dim(), hd = h.hiddenDim(), v = h.vocabSize(), kv = h.kvDim();
        Map<String, Tensor> t = new HashMap<>();
        t.put(NAMES.embedding(), f32(file, NAMES.embedding(), starts[0], v, d));
        for (int l = 0; l < h.layers(); l++) {
            layer(t, file, l, TensorNames.LayerPart.ATTENTION_NORM, starts[1], d);
            layer(t, file, l, TensorNames.LayerPart.WQ, starts[2], d, d);
            layer(t, file, l, TensorNames.LayerPart.WK, starts[3], kv, d);
            layer(t, file, l, TensorNames.LayerPart.WV, starts[4], kv, d);
            layer(t, file, l, TensorNames.LayerPart.WO, starts[5], d, d);
            layer(t, file, l, TensorNames.LayerPart.FFN_NORM, starts[6], d);
            layer(t, file, l, TensorNames.LayerPart.GATE, starts[7], hd, d);
            // file order is w1, w2, w3 = gate, down, up (run.c's memory_map_weights)
            layer(t, file, l, TensorNames.LayerPart.DOWN, starts[8], d, hd);
            layer(t, file, l, TensorNames.LayerPart.UP, starts[9], hd, d);
        }
        t.put(NAMES.finalNorm(), f32(file, NAMES.finalNorm(), starts[10], d));
        if (!h.sharedClassifier()) t.put(NAMES.output(), f32(file, NAMES.output(), starts[13], v, d));
        return t;
    }

    /** Layer {@code l}'s slice of an array that stacks all layers. */
    private static void layer(Map<String, Tensor> t, MemorySegment file, int l, TensorNames.LayerPart part, long start,
                              long... shape) {
        String name = NAMES.layer(l, part);
        long bytes = Tensor.product(shape) * 4;
        t.put(name, f32(file, name, start + l * bytes, shape));
    }

    private static Tensor f32(MemorySegment file, String name, long offset, long... shape) {
        long bytes = Tensor.product(shape) * 4;
        return Tensor.of(name, DType.F32, shape, file.asSlice(offset, bytes));
    }

    private static Path siblingTokenizer(Path checkpoint, int vocab) {
        Path dir = checkpoint.toAbsolutePath().getParent();
        if (dir == null) return null;
        Path specific = dir.resolve("tok" + vocab + ".bin");
        if (Files.isRegularFile(specific)) return specific;
        Path generic = dir.resolve("tokenizer.bin");
        if (Files.isRegularFile(generic) && Llama2cVocabFile.countTokens(generic) == vocab) return generic;
        return null;
    }

    /** Names for llama2.c's arrays, after llama2.c's own field names. */
    public static final TensorNames NAMES = new TensorNames() {
        @Override public String embedding() { return "token_embedding_table"; }

        @Override public String finalNorm() { return "rms_final_weight"; }

        @Override public String output() { return "wcls"; }

        @Override public String layer(int layer, LayerPart part) {
            String field = switch (part) {
                case ATTENTION_NORM -> "rms_att_weight";
                case WQ -> "wq";
                case WK -> "wk";
                case WV -> "wv";
                case WO -> "wo";
                case FFN_NORM -> "rms_ffn_weight";
                case GATE -> "w1";
                case UP -> "w3";
                case DOWN -> "w2";
                case BQ, BK, BV, Q_NORM, K_NORM -> part.name().toLowerCase();
            };
            return field + "[" + layer + "]";
        }
    };
}
