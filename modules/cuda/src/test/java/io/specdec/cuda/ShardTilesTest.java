package io.specdec.cuda;

import io.specdec.core.model.LayerWeights;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeScaling;
import io.specdec.core.model.RopeStyle;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.parallel.TensorParallelShard;
import io.specdec.core.tensor.Tensor;
import io.specdec.cuda.check.RandomHostModels;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.util.List;

import static org.assertj.core.api.Assertions.assertThat;

/** The tiles a rank generates on its GPU hold exactly what TensorParallelShard.slice gives it (no GPU needed). */
class ShardTilesTest {
    private static final ModelConfig C = RandomHostModels.config(64, 96, 1, 8, 4, 40, RopeStyle.HALF, new RopeScaling.None(),
            false, false, false, 0);

    @Test
    void tilesOfAllRanksCoverEveryMatrixExactlyOnce() {
        for (int n : new int[]{1, 2, 4}) {
            int dim = C.dim(), q = C.queryDim(), kv = C.kvDim(), h = C.hiddenDim(), v = C.vocabSize();
            int[][] qkv = new int[q + 2 * kv][dim], wo = new int[dim][q], gateUp = new int[2 * h][dim], down = new int[dim][h], out = new int[v][dim];
            for (int r = 0; r < n; r++) {
                TensorParallelShard s = new TensorParallelShard(r, n);
                ModelConfig sc = s.shardConfig(C);
                mark(qkv, ShardTiles.qkv(C, s));
                mark(wo, ShardTiles.wo(C, s));
                mark(gateUp, ShardTiles.gateUp(C, s));
                mark(down, ShardTiles.down(C, s));
                mark(out, ShardTiles.output(C, s));
                assertThat(ShardTiles.elements(ShardTiles.qkv(C, s))).isEqualTo((long) (sc.queryDim() + 2 * sc.kvDim()) * dim);
                assertThat(ShardTiles.elements(ShardTiles.wo(C, s))).isEqualTo((long) dim * sc.queryDim());
                assertThat(ShardTiles.elements(ShardTiles.gateUp(C, s))).isEqualTo(2L * sc.hiddenDim() * dim);
                assertThat(ShardTiles.elements(ShardTiles.down(C, s))).isEqualTo((long) dim * sc.hiddenDim());
                assertThat(ShardTiles.elements(ShardTiles.output(C, s))).isEqualTo((long) v / n * dim);
            }
            for (int[][] m : List.of(qkv, wo, gateUp, down, out)) {
                for (int[] row : m) for (int count : row) assertThat(count).as("n=" + n).isEqualTo(1);
            }
        }
    }

    @Test
    void stackedTilesEqualTheHostSlice() {
        try (Arena arena = Arena.ofConfined()) {
            TransformerWeights w = RandomHostModels.weights(C, 9, arena);
            LayerWeights whole = w.layers().getFirst();
            float[][] fusedQkv = stack(whole.wq(), whole.wk(), whole.wv());
            float[][] fusedGateUp = stack(whole.wGate(), whole.wUp());
            for (int n : new int[]{2, 4}) {
                for (int r = 0; r < n; r++) {
                    TensorParallelShard s = new TensorParallelShard(r, n);
                    LayerWeights part = s.slice(C, w, arena).layers().getFirst();
                    assertThat(cut(fusedQkv, ShardTiles.qkv(C, s))).isEqualTo(flat(stack(part.wq(), part.wk(), part.wv())));
                    assertThat(cut(matrix(whole.wo()), ShardTiles.wo(C, s))).isEqualTo(flat(matrix(part.wo())));
                    assertThat(cut(fusedGateUp, ShardTiles.gateUp(C, s))).isEqualTo(flat(stack(part.wGate(), part.wUp())));
                    assertThat(cut(matrix(whole.wDown()), ShardTiles.down(C, s))).isEqualTo(flat(matrix(part.wDown())));
                    assertThat(cut(matrix(w.output()), ShardTiles.output(C, s))).isEqualTo(flat(matrix(s.slice(C, w, arena).output())));
                }
            }
        }
    }

    private static void mark(int[][] m, List<ShardTiles.Tile> tiles) {
        for (ShardTiles.Tile t : tiles) {
            assertThat(t.ld()).isEqualTo(m[0].length);
            for (int i = 0; i < t.rows(); i++) for (int j = 0; j < t.cols(); j++) m[(int) t.row0() + i][(int) t.col0() + j]++;
        }
    }

    private static float[] cut(float[][] m, List<ShardTiles.Tile> tiles) {
        float[] out = new float[(int) ShardTiles.elements(tiles)];
        int o = 0;
        for (ShardTiles.Tile t : tiles) {
            for (int i = 0; i < t.rows(); i++) for (int j = 0; j < t.cols(); j++) out[o++] = m[(int) t.row0() + i][(int) t.col0() + j];
        }
        return out;
    }

    private static float[][] matrix(Tensor t) {
        int rows = t.rows(), cols = t.columns();
        float[][] m = new float[rows][cols];
        for (int i = 0; i < rows; i++) for (int j = 0; j < cols; j++) m[i][j] = t.get((long) i * cols + j);
        return m;
    }

    private static float[][] stack(Tensor... parts) {
        List<float[]> rows = new java.util.ArrayList<>();
        for (Tensor t : parts) rows.addAll(List.of(matrix(t)));
        return rows.toArray(float[][]::new);
    }

    private static float[] flat(float[][] m) {
        float[] out = new float[m.length * m[0].length];
        for (int i = 0; i < m.length; i++) System.arraycopy(m[i], 0, out, i * m[0].length, m[0].length);
        return out;
    }
}
