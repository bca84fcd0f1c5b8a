package io.specdec.cpu;

import io.specdec.core.model.LayerWeights;
import io.specdec.core.model.TransformerWeights;
import io.specdec.core.tensor.Tensor;
import jdk.incubator.vector.LongVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

import java.lang.foreign.MemorySegment;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The physical floor of batch-1 decode: every weight byte must be read once per token, so tokens/s can be at most
 * (bytes this executor can stream per second) / (weight bytes). Measured by reading the model's own mapped weights
 * with the same threads, so the ratio decode/floor is an efficiency, not a comparison across machines.
 */
public final class MemoryFloor {
    private static final VectorSpecies<Long> S = LongVector.SPECIES_PREFERRED;

    /** @param bytesPerSecond best streaming rate seen; @param weightBytes bytes read per decoded token */
    public record Result(double bytesPerSecond, long weightBytes) {
        public double tokensPerSecond() { return bytesPerSecond / weightBytes; }
    }

    private MemoryFloor() {
    }

    public static Result measure(TransformerWeights weights, ParallelExecutor executor, int passes) {
        List<Tensor> tensors = new ArrayList<>();
        Map<Tensor, Boolean> seen = new IdentityHashMap<>();
        java.util.function.Consumer<Tensor> add = t -> {
            if (t != null && seen.put(t, true) == null && t.rows() > 1) tensors.add(t);
        };
        for (LayerWeights l : weights.layers()) {
            add.accept(l.wq()); add.accept(l.wk()); add.accept(l.wv()); add.accept(l.wo());
            add.accept(l.wGate()); add.accept(l.wUp()); add.accept(l.wDown());
        }
        add.accept(weights.output()); // the embedding table is only gathered, one row per token
        long bytes = tensors.stream().mapToLong(t -> t.data().byteSize()).sum();
        long[] sink = new long[1];
        double best = 0;
        for (int p = 0; p < passes; p++) {
            long t0 = System.nanoTime();
            for (Tensor t : tensors) {
                MemorySegment data = t.data();
                int rows = t.rows();
                long rowBytes = data.byteSize() / rows;
                executor.parallelFor(rows, 64, (start, end) -> {
                    long acc = 0;
                    for (int r = start; r < end; r++) acc ^= sum(data.asSlice(r * rowBytes, rowBytes));
                    synchronized (sink) {
                        sink[0] ^= acc;
                    }
                });
            }
            double rate = bytes / ((System.nanoTime() - t0) / 1e9);
            best = Math.max(best, rate);
        }
        if (sink[0] == 42) System.out.print(""); // keeps the reads observable
        return new Result(best, bytes);
    }

    private static long sum(MemorySegment row) {
        long n = row.byteSize();
        long step = S.vectorByteSize();
        LongVector a = LongVector.zero(S), b = LongVector.zero(S);
        long i = 0;
        for (; i + 2 * step <= n; i += 2 * step) {
            a = a.add(LongVector.fromMemorySegment(S, row, i, ByteOrder.LITTLE_ENDIAN));
            b = b.add(LongVector.fromMemorySegment(S, row, i + step, ByteOrder.LITTLE_ENDIAN));
        }
        return a.add(b).reduceLanes(VectorOperators.ADD) + i;
    }
}
