package io.specdec.cuda;

import io.specdec.core.model.LayerWeights;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.tensor.DType;
import io.specdec.core.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * A model's weights in device memory: matrices bf16 [out, in] (q/k/v fused into one matrix, gate/up into another, so
 * a decode step reads each with one launch), norms and biases f32. Built from loaded tensors (bf16 copied as is,
 * other types converted to bf16 on the way) or generated on the device for benchmarks.
 */
public record DeviceWeights(DeviceBuffer embedding, List<Layer> layers, DeviceBuffer finalNorm, DeviceBuffer output,
                            long matrixBytes) {

    /** One block; {@code bqkv}, {@code qNorm}, {@code kNorm} are null when the config has none. */
    public record Layer(DeviceBuffer attentionNorm, DeviceBuffer wqkv, DeviceBuffer bqkv, DeviceBuffer qNorm,
                        DeviceBuffer kNorm, DeviceBuffer wo, DeviceBuffer ffnNorm, DeviceBuffer wGateUp,
                        DeviceBuffer wDown) {
    }

    public static DeviceWeights upload(CudaDevice device, ModelConfig c, TransformerWeights w) {
        int dim = c.dim(), q = c.queryDim(), kv = c.kvDim(), h = c.hiddenDim();
        long[] bytes = {0};
        List<Layer> layers = new ArrayList<>();
        for (LayerWeights lw : w.layers()) {
            DeviceBuffer wqkv = matrices(device, bytes, (long) (q + 2 * kv) * dim, lw.wq(), lw.wk(), lw.wv());
            DeviceBuffer bqkv = lw.bq() == null ? null : vectors(device, q + 2 * kv, lw.bq(), lw.bk(), lw.bv());
            layers.add(new Layer(vectors(device, dim, lw.attentionNorm()), wqkv, bqkv,
                    lw.qNorm() == null ? null : vectors(device, c.headDim(), lw.qNorm()),
                    lw.kNorm() == null ? null : vectors(device, c.headDim(), lw.kNorm()),
                    matrices(device, bytes, (long) dim * q, lw.wo()),
                    vectors(device, dim, lw.ffnNorm()),
                    matrices(device, bytes, 2L * h * dim, lw.wGate(), lw.wUp()),
                    matrices(device, bytes, (long) dim * h, lw.wDown())));
        }
        DeviceBuffer embedding = matrices(device, bytes, (long) c.vocabSize() * dim, w.tokenEmbedding());
        // a tensor-parallel shard's output layer is its vocabulary rows only (a slice even when embeddings are tied)
        DeviceBuffer output = w.output() == w.tokenEmbedding() ? embedding
                : matrices(device, bytes, (long) w.output().rows() * dim, w.output());
        return new DeviceWeights(embedding, layers, vectors(device, dim, w.finalNorm()), output, bytes[0]);
    }

    /**
     * Random weights generated on the device (no host memory, seconds for 8B): matrices N(0, 1/in), norms 1,
     * biases 0, embedding N(0, 1); tied output when the config says so.
     */
    public static DeviceWeights random(CudaDevice device, ModelConfig c, long seed) {
        int dim = c.dim(), q = c.queryDim(), kv = c.kvDim(), h = c.hiddenDim();
        long[] bytes = {0};
        long[] stream = {seed};
        List<Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            layers.add(new Layer(ones(device, dim),
                    normal(device, bytes, stream, (long) (q + 2 * kv) * dim, dim),
                    c.qkvBias() ? zeros(device, q + 2 * kv) : null,
                    c.qkNorm() ? ones(device, c.headDim()) : null,
                    c.qkNorm() ? ones(device, c.headDim()) : null,
                    normal(device, bytes, stream, (long) dim * q, q),
                    ones(device, dim),
                    normal(device, bytes, stream, 2L * h * dim, dim),
                    normal(device, bytes, stream, (long) dim * h, h)));
        }
        DeviceBuffer embedding = normal(device, bytes, stream, (long) c.vocabSize() * dim, 1);
        DeviceBuffer output = c.tiedEmbeddings() ? embedding : normal(device, bytes, stream, (long) c.vocabSize() * dim, dim);
        return new DeviceWeights(embedding, layers, ones(device, dim), output, bytes[0]);
    }

    /**
     * Rank {@code shard.rank()}'s part of {@link #random random(device, c, seed)}, generated directly in the shard's
     * shapes on this device ({@link ShardTiles}): the values are those of the whole model's random weights, so a
     * tensor-parallel model over these shards computes what the whole model computes. The embedding and the norms are
     * replicated; a tied output layer becomes the shard's rows of the embedding.
     */
    public static DeviceWeights randomShard(CudaDevice device, ModelConfig c, long seed, io.specdec.core.parallel.TensorParallelShard shard) {
        shard.checkDivides(c);
        int dim = c.dim(), q = c.queryDim(), kv = c.kvDim(), h = c.hiddenDim();
        int n = shard.size();
        long[] bytes = {0};
        long[] stream = {seed};
        List<Layer> layers = new ArrayList<>();
        for (int l = 0; l < c.layers(); l++) {
            layers.add(new Layer(ones(device, dim),
                    tiles(device, bytes, stream[0]++, ShardTiles.qkv(c, shard), dim),
                    c.qkvBias() ? zeros(device, (q + 2 * kv) / n) : null,
                    c.qkNorm() ? ones(device, c.headDim()) : null,
                    c.qkNorm() ? ones(device, c.headDim()) : null,
                    tiles(device, bytes, stream[0]++, ShardTiles.wo(c, shard), q),
                    ones(device, dim),
                    tiles(device, bytes, stream[0]++, ShardTiles.gateUp(c, shard), dim),
                    tiles(device, bytes, stream[0]++, ShardTiles.down(c, shard), h)));
        }
        long embeddingSeed = stream[0]++;
        DeviceBuffer embedding = normal(device, bytes, new long[]{embeddingSeed}, (long) c.vocabSize() * dim, 1);
        DeviceBuffer output = n == 1 && c.tiedEmbeddings() ? embedding
                : c.tiedEmbeddings() ? tiles(device, bytes, embeddingSeed, ShardTiles.output(c, shard), 1)
                : tiles(device, bytes, stream[0]++, ShardTiles.output(c, shard), dim);
        return new DeviceWeights(embedding, layers, ones(device, dim), output, bytes[0]);
    }

    /** The tiles of one whole random matrix (the {@code index}-th of {@link #random}'s sequence), stacked. */
    private static DeviceBuffer tiles(CudaDevice device, long[] bytes, long index, List<ShardTiles.Tile> tiles, int fanIn) {
        long total = ShardTiles.elements(tiles);
        DeviceBuffer b = device.allocate(2 * total);
        long offset = 0;
        for (ShardTiles.Tile t : tiles) {
            device.launch("fill_normal_bf16_tile", 4096, 1, 256, b.slice(2 * offset, 2 * t.elements()), t.rows(), t.cols(),
                    t.ld(), t.row0(), t.col0(), index * 0x9E3779B97F4A7C15L, (float) (1 / Math.sqrt(fanIn)));
            offset += t.elements();
        }
        bytes[0] += 2 * total;
        return b;
    }

    /** Frees every buffer of these weights on {@code device} (shared buffers once); the weights are unusable after. */
    public void free(CudaDevice device) {
        java.util.Set<Long> freed = new java.util.HashSet<>();
        java.util.function.Consumer<DeviceBuffer> f = b -> {
            if (b != null && freed.add(b.address())) device.free(b);
        };
        f.accept(embedding);
        f.accept(output);
        f.accept(finalNorm);
        for (Layer l : layers) {
            for (DeviceBuffer b : new DeviceBuffer[]{l.attentionNorm(), l.wqkv(), l.bqkv(), l.qNorm(), l.kNorm(), l.wo(), l.ffnNorm(), l.wGateUp(), l.wDown()}) f.accept(b);
        }
    }

    private static DeviceBuffer normal(CudaDevice device, long[] bytes, long[] stream, long count, int fanIn) {
        DeviceBuffer b = device.allocate(2 * count);
        device.launch("fill_normal_bf16", 4096, 1, 256, b, count, stream[0]++ * 0x9E3779B97F4A7C15L, (float) (1 / Math.sqrt(fanIn)));
        bytes[0] += 2 * count;
        return b;
    }

    private static DeviceBuffer ones(CudaDevice device, int n) {
        DeviceBuffer b = device.allocate(4L * n);
        device.launch("fill_f32", 64, 1, 256, b, (long) n, 1f);
        return b;
    }

    private static DeviceBuffer zeros(CudaDevice device, int n) {
        DeviceBuffer b = device.allocate(4L * n);
        device.launch("fill_f32", 64, 1, 256, b, (long) n, 0f);
        return b;
    }

    /** Tensors stacked along their rows into one bf16 matrix. */
    private static DeviceBuffer matrices(CudaDevice device, long[] bytes, long count, Tensor... parts) {
        DeviceBuffer b = device.allocate(2 * count);
        long offset = 0;
        for (Tensor t : parts) {
            long n = t.elementCount();
            DeviceBuffer target = b.slice(offset, 2 * n);
            if (t.type() == DType.BF16) {
                device.copyToDevice(target, t.data());
            } else {
                short[] chunk = new short[1 << 20];
                for (long start = 0; start < n; start += chunk.length) {
                    int len = (int) Math.min(chunk.length, n - start);
                    for (int i = 0; i < len; i++) chunk[i] = toBf16(t.get(start + i));
                    device.copyToDevice(target.slice(2 * start, 2L * len), chunk, len);
                }
            }
            offset += 2 * n;
        }
        if (offset != 2 * count) throw new IllegalArgumentException("expected " + count + " values, tensors hold " + offset / 2);
        bytes[0] += 2 * count;
        return b;
    }

    private static DeviceBuffer vectors(CudaDevice device, int count, Tensor... parts) {
        float[] v = new float[count];
        int o = 0;
        for (Tensor t : parts) {
            for (long i = 0; i < t.elementCount(); i++) v[o++] = t.get(i);
        }
        if (o != count) throw new IllegalArgumentException("expected " + count + " values, tensors hold " + o);
        DeviceBuffer b = device.allocate(4L * count);
        device.copyToDevice(b, v);
        return b;
    }

    /** Round to nearest even, as PyTorch's float → bfloat16. */
    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) 0x7fc0;
        return (short) ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16);
    }
}
