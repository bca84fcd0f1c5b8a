package io.specdec.core.format;

/**
 * Produces a tensor's values one row (innermost dimension) at a time, so writers can stream tensors far larger
 * than the heap.
 */
@FunctionalInterface
public interface RowSource {
    /** Fills {@code out} (length = the row length) with row {@code row}. */
    void fill(long row, float[] out);
}
