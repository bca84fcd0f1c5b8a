package io.specdec.core.format;

import io.specdec.core.format.TensorNames.LayerPart;
import io.specdec.core.model.LayerWeights;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.ModelFormatException;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.tensor.Tensor;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.function.DoubleConsumer;
import java.util.function.Function;

/**
 * Collects a model's weights by name from any format and checks every shape against the config, so that a
 * checkpoint that does not match its config fails here, naming the tensor, rather than inside a kernel.
 */
public final class TransformerWeightsReader {
    private final ModelConfig config;
    private final TensorNames names;
    private final Function<String, Tensor> lookup;
    private final Path file;
    private final DoubleConsumer progress;
    private final int total;
    private int done;

    /**
     * @param lookup   the named tensor, or null when the file has no such tensor
     * @param file     named in errors
     * @param progress receives the fraction of tensors read (0..1] after each one; may be null
     */
    private TransformerWeightsReader(ModelConfig config, TensorNames names, Function<String, Tensor> lookup, Path file,
                                     DoubleConsumer progress) {
        this.config = config;
        this.names = names;
        this.lookup = lookup;
        this.file = file;
        this.progress = progress;
        int perLayer = 9 + (config.qkvBias() ? 3 : 0) + (config.qkNorm() ? 2 : 0);
        this.total = 2 + (config.tiedEmbeddings() ? 0 : 1) + perLayer * config.layers();
    }

    public static TransformerWeights read(ModelConfig config, TensorNames names, Function<String, Tensor> lookup,
                                          Path file, DoubleConsumer progress) {
        return new TransformerWeightsReader(config, names, lookup, file, progress).read();
    }

    private TransformerWeights read() {
        long dim = config.dim();
        long qDim = (long) config.heads() * config.headDim();
        long kvDim = (long) config.kvHeads() * config.headDim();
        long hidden = config.hiddenDim();
        long vocab = config.vocabSize();
        Tensor embedding = require(names.embedding(), vocab, dim);
        List<LayerWeights> layers = new ArrayList<>(config.layers());
        for (int l = 0; l < config.layers(); l++) {
            Map<LayerPart, Tensor> t = new EnumMap<>(LayerPart.class);
            t.put(LayerPart.ATTENTION_NORM, require(l, LayerPart.ATTENTION_NORM, dim));
            t.put(LayerPart.WQ, require(l, LayerPart.WQ, qDim, dim));
            t.put(LayerPart.WK, require(l, LayerPart.WK, kvDim, dim));
            t.put(LayerPart.WV, require(l, LayerPart.WV, kvDim, dim));
            t.put(LayerPart.WO, require(l, LayerPart.WO, dim, qDim));
            if (config.qkvBias()) {
                t.put(LayerPart.BQ, require(l, LayerPart.BQ, qDim));
                t.put(LayerPart.BK, require(l, LayerPart.BK, kvDim));
                t.put(LayerPart.BV, require(l, LayerPart.BV, kvDim));
            }
            if (config.qkNorm()) {
                t.put(LayerPart.Q_NORM, require(l, LayerPart.Q_NORM, config.headDim()));
                t.put(LayerPart.K_NORM, require(l, LayerPart.K_NORM, config.headDim()));
            }
            t.put(LayerPart.FFN_NORM, require(l, LayerPart.FFN_NORM, dim));
            t.put(LayerPart.GATE, require(l, LayerPart.GATE, hidden, dim));
            t.put(LayerPart.UP, require(l, LayerPart.UP, hidden, dim));
            t.put(LayerPart.DOWN, require(l, LayerPart.DOWN, dim, hidden));
            layers.add(new LayerWeights(
                    t.get(LayerPart.ATTENTION_NORM),
                    t.get(LayerPart.WQ), t.get(LayerPart.WK), t.get(LayerPart.WV), t.get(LayerPart.WO),
                    t.get(LayerPart.BQ), t.get(LayerPart.BK), t.get(LayerPart.BV),
                    t.get(LayerPart.Q_NORM), t.get(LayerPart.K_NORM),
                    t.get(LayerPart.FFN_NORM),
                    t.get(LayerPart.GATE), t.get(LayerPart.UP), t.get(LayerPart.DOWN)));
        }
        Tensor finalNorm = require(names.finalNorm(), dim);
        Tensor output = config.tiedEmbeddings() ? embedding : require(names.output(), vocab, dim);
        return new TransformerWeights(embedding, layers, finalNorm, output);
    }

    private Tensor require(int layer, LayerPart part, long... shape) {
        return require(names.layer(layer, part), shape);
    }

    private Tensor require(String name, long... expected) {
        Tensor t = lookup.apply(name);
        if (t == null) throw new ModelFormatException(file, "missing tensor " + name);
        if (!Arrays.equals(t.shape(), expected)) {
            throw new ModelFormatException(file, "tensor " + name + " has shape " + Arrays.toString(t.shape())
                    + ", the config needs " + Arrays.toString(expected));
        }
        done++;
        if (progress != null) progress.accept((double) done / total);
        return t;
    }
}
