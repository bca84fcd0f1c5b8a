package io.specdec.core.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * GGML Q4_0 blocks: f16 scale d, then 16 bytes; value j &lt; 16 is the low nibble of byte j, value j &gt;= 16 the
 * high nibble of byte j-16; value = d * (nibble - 8).
 */
public record Q4Tensor(String name, long[] shape, MemorySegment data) implements Tensor {
    @Override public DType type() { return DType.Q4_0; }

    @Override public float get(long i) {
        long block = i / 32;
        long base = block * 18;
        int j = (int) (i % 32);
        float d = Float.float16ToFloat(data.get(ValueLayout.JAVA_SHORT_UNALIGNED, base));
        int b = data.get(ValueLayout.JAVA_BYTE, base + 2 + (j & 15)) & 0xff;
        int nibble = j < 16 ? (b & 0x0f) : (b >>> 4);
        return d * (nibble - 8);
    }
}
