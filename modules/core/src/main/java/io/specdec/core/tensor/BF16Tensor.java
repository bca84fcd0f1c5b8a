package io.specdec.core.tensor;

import java.lang.foreign.MemorySegment;

/** BF16 values, little endian, row-major. */
public record BF16Tensor(String name, long[] shape, MemorySegment data) implements Tensor {
    @Override public DType type() { return DType.BF16; }

    @Override public float get(long i) {
        return Float.intBitsToFloat((data.getAtIndex(java.lang.foreign.ValueLayout.JAVA_SHORT_UNALIGNED, i) & 0xffff) << 16);
    }
}
