package io.specdec.core.tensor;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * A weight tensor: a shape over a {@link MemorySegment} (usually a slice of a memory-mapped file, never copied).
 * Shapes are row-major, outermost first: a matrix applied as {@code y = W x} has shape {@code [out, in]}.
 * One record per storage type so that kernels pick their code with an exhaustive switch.
 */
public sealed interface Tensor permits F32Tensor, F16Tensor, BF16Tensor, Q8Tensor, Q4Tensor {

    String name();

    long[] shape();

    MemorySegment data();

    DType type();

    default long elementCount() {
        long n = 1;
        for (long d : shape()) n *= d;
        return n;
    }

    default int rows() { return shape().length == 1 ? 1 : Math.toIntExact(shape()[0]); }

    /** Length of the innermost dimension (the input size of a matrix). */
    default int columns() { return Math.toIntExact(shape()[shape().length - 1]); }

    static Tensor of(String name, DType type, long[] shape, MemorySegment data) {
        long need = type.byteSize(product(shape));
        if (data.byteSize() < need) {
            throw new IllegalArgumentException("tensor " + name + " " + type + Arrays.toString(shape)
                    + " needs " + need + " bytes, has " + data.byteSize());
        }
        MemorySegment exact = data.asSlice(0, need);
        return switch (type) {
            case F32 -> new F32Tensor(name, shape, exact);
            case F16 -> new F16Tensor(name, shape, exact);
            case BF16 -> new BF16Tensor(name, shape, exact);
            case Q8_0 -> new Q8Tensor(name, shape, exact);
            case Q4_0 -> new Q4Tensor(name, shape, exact);
        };
    }

    static long product(long[] shape) {
        long n = 1;
        for (long d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    /** Element i as a float (slow path: reference code, tests, small vectors such as norms and biases). */
    float get(long i);
}
