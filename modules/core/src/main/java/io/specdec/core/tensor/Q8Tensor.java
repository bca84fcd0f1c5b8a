package io.specdec.core.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** GGML Q8_0 blocks: f16 scale d, then 32 signed bytes q; value = d * q. */
public record Q8Tensor(String name, long[] shape, MemorySegment data) implements Tensor {
    @Override public DType type() { return DType.Q8_0; }

    @Override public float get(long i) {
        long block = i / 32;
        long base = block * 34;
        float d = Float.float16ToFloat(data.get(ValueLayout.JAVA_SHORT_UNALIGNED, base));
        return d * data.get(ValueLayout.JAVA_BYTE, base + 2 + (i % 32));
    }
}
