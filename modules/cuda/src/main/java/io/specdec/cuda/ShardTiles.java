package io.specdec.cuda;

import io.specdec.core.model.ModelConfig;
import io.specdec.core.parallel.TensorParallelShard;

import java.util.List;

/**
 * Which parts of the whole model's matrices one tensor-parallel rank holds, as tiles of the whole matrices in the
 * fused layouts of {@link DeviceWeights} (q/k/v stacked by rows, gate/up stacked by rows) — the same split as
 * {@link TensorParallelShard#slice}. Used to generate a shard's random weights on its own GPU with exactly the values
 * of the whole model's ({@code fill_normal_bf16_tile}); stacking a matrix's tiles in order gives the shard's matrix.
 */
public final class ShardTiles {
    private ShardTiles() {
    }

    /** Rows {@code row0..row0+rows-1} × columns {@code col0..col0+cols-1} of a matrix with {@code ld} columns. */
    public record Tile(long row0, long col0, int rows, int cols, long ld) {
        public long elements() { return (long) rows * cols; }
    }

    /** The shard's [q/N + 2 kv/N, dim] part of the fused [q + 2 kv, dim] matrix: its heads of q, of k, of v. */
    public static List<Tile> qkv(ModelConfig c, TensorParallelShard s) {
        int q = c.queryDim(), kv = c.kvDim(), dim = c.dim();
        int qs = q / s.size(), kvs = kv / s.size();
        return List.of(new Tile((long) s.rank() * qs, 0, qs, dim, dim),
                new Tile(q + (long) s.rank() * kvs, 0, kvs, dim, dim),
                new Tile(q + kv + (long) s.rank() * kvs, 0, kvs, dim, dim));
    }

    /** The shard's [dim, q/N] columns of o_proj [dim, q]. */
    public static List<Tile> wo(ModelConfig c, TensorParallelShard s) {
        int qs = c.queryDim() / s.size();
        return List.of(new Tile(0, (long) s.rank() * qs, c.dim(), qs, c.queryDim()));
    }

    /** The shard's [2 h/N, dim] part of the fused [2 h, dim] gate/up matrix. */
    public static List<Tile> gateUp(ModelConfig c, TensorParallelShard s) {
        int h = c.hiddenDim(), hs = h / s.size(), dim = c.dim();
        return List.of(new Tile((long) s.rank() * hs, 0, hs, dim, dim), new Tile(h + (long) s.rank() * hs, 0, hs, dim, dim));
    }

    /** The shard's [dim, h/N] columns of down [dim, h]. */
    public static List<Tile> down(ModelConfig c, TensorParallelShard s) {
        int hs = c.hiddenDim() / s.size();
        return List.of(new Tile(0, (long) s.rank() * hs, c.dim(), hs, c.hiddenDim()));
    }

    /** The shard's [V/N, dim] vocabulary rows of the output layer [V, dim]. */
    public static List<Tile> output(ModelConfig c, TensorParallelShard s) {
        return List.of(new Tile(s.vocabStart(c), 0, s.vocabRows(c), c.dim(), c.dim()));
    }

    static long elements(List<Tile> tiles) {
        return tiles.stream().mapToLong(Tile::elements).sum();
    }
}
