package io.specdec.core.tensor;

import java.lang.foreign.MemorySegment;

/** F32 values, little endian, row-major. */
public record F32Tensor(String name, long[] shape, MemorySegment data) implements Tensor {
    @Override public DType type() { return DType.F32; }

    @Override public float get(long i) {
        return data.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT_UNALIGNED, i);
    }
}
