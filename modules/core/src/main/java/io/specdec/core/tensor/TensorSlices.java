package io.specdec.core.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * Parts of a matrix for tensor parallelism, in the matrix's own storage type (no conversion, so a shard computes
 * with exactly the values of the whole). Row ranges are views of the same memory; column ranges are copied.
 */
public final class TensorSlices {
    private TensorSlices() {
    }

    /** Rows {@code start .. start+count-1} of a [rows, columns] matrix, or elements of a vector: a view. */
    public static Tensor rows(Tensor t, int start, int count) {
        if (t.shape().length == 1) {
            check(start, count, Math.toIntExact(t.shape()[0]), t);
            long from = t.type().byteSize(start);
            return Tensor.of(t.name(), t.type(), new long[] {count}, t.data().asSlice(from, t.type().byteSize(count)));
        }
        check(start, count, t.rows(), t);
        long rowBytes = t.type().byteSize(t.columns());
        return Tensor.of(t.name(), t.type(), new long[] {count, t.columns()},
                t.data().asSlice(rowBytes * start, rowBytes * count));
    }

    /**
     * Columns {@code start .. start+count-1} of a [rows, columns] matrix, copied into memory of {@code arena}. Block
     * types (Q8_0, Q4_0) need block-aligned ranges.
     */
    public static Tensor columns(Tensor t, int start, int count, Arena arena) {
        if (t.shape().length != 2) throw new IllegalArgumentException("column slice of a non-matrix " + t.name());
        check(start, count, t.columns(), t);
        DType type = t.type();
        long rowBytes = type.byteSize(t.columns());
        long from = type.byteSize(start);
        long width = type.byteSize(count);
        int rows = t.rows();
        MemorySegment out = arena.allocate(width * rows, 64);
        for (int r = 0; r < rows; r++) MemorySegment.copy(t.data(), r * rowBytes + from, out, r * width, width);
        return Tensor.of(t.name(), type, new long[] {rows, count}, out);
    }

    private static void check(int start, int count, int size, Tensor t) {
        if (start < 0 || count <= 0 || start + count > size) {
            throw new IllegalArgumentException("slice [" + start + ", " + (start + count) + ") outside " + size + " of " + t.name());
        }
    }
}
