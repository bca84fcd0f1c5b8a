package io.specdec.core.tensor;

import java.lang.foreign.MemorySegment;

/** F16 values, little endian, row-major. */
public record F16Tensor(String name, long[] shape, MemorySegment data) implements Tensor {
    @Override public DType type() { return DType.F16; }

    @Override public float get(long i) {
        return Float.float16ToFloat(data.getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i));
    }
}
