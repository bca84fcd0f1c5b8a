package io.specdec.core.format;

import io.specdec.core.tensor.DType;

import java.io.IOException;
import java.io.OutputStream;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Encodes float values into a storage type's bytes: plain conversion for F32/F16/BF16, GGML's reference
 * quantization for Q8_0 and Q4_0 (so files we write dequantize the same way in llama.cpp and here).
 */
public final class TensorEncoder {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfShort I16 = ValueLayout.JAVA_SHORT_UNALIGNED;

    private TensorEncoder() {
    }

    /**
     * Writes {@code count} values from {@code src[from..]} as {@code type} at {@code dst[offset..]}; returns the number
     * of bytes written. For block types {@code count} must be a multiple of the block size.
     */
    public static long encode(DType type, float[] src, int from, int count, MemorySegment dst, long offset) {
        long bytes = type.byteSize(count);
        switch (type) {
            case F32 -> MemorySegment.copy(src, from, dst, F32, offset, count);
            case F16 -> {
                for (int i = 0; i < count; i++) dst.set(I16, offset + 2L * i, Float.floatToFloat16(src[from + i]));
            }
            case BF16 -> {
                for (int i = 0; i < count; i++) dst.set(I16, offset + 2L * i, toBFloat16(src[from + i]));
            }
            case Q8_0 -> {
                for (int b = 0; b < count / 32; b++) quantizeQ8Block(src, from + 32 * b, dst, offset + 34L * b);
            }
            case Q4_0 -> {
                for (int b = 0; b < count / 32; b++) quantizeQ4Block(src, from + 32 * b, dst, offset + 18L * b);
            }
        }
        return bytes;
    }

    /** The encoded bytes of {@code values} as {@code type}. */
    public static byte[] encode(DType type, float[] values) {
        byte[] out = new byte[Math.toIntExact(type.byteSize(values.length))];
        encode(type, values, 0, values.length, MemorySegment.ofArray(out), 0);
        return out;
    }

    /**
     * Streams a tensor of {@code shape} as {@code type} to {@code out}, one row at a time (rows are requested in
     * order, each once), so the tensor never has to fit in memory. Returns the number of bytes written.
     */
    public static long writeRows(OutputStream out, DType type, long[] shape, RowSource rows) throws IOException {
        long elements = io.specdec.core.tensor.Tensor.product(shape);
        int rowLength = shape.length == 0 ? 1 : Math.toIntExact(shape[shape.length - 1]);
        if (rowLength == 0) return 0;
        long rowCount = elements / rowLength;
        float[] row = new float[rowLength];
        byte[] encoded = new byte[Math.toIntExact(type.byteSize(rowLength))];
        MemorySegment target = MemorySegment.ofArray(encoded);
        for (long r = 0; r < rowCount; r++) {
            rows.fill(r, row);
            encode(type, row, 0, rowLength, target, 0);
            out.write(encoded);
        }
        return rowCount * encoded.length;
    }

    /** Round to nearest even, keeping NaN a (quiet) NaN. */
    public static short toBFloat16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);
        int rounded = bits + 0x7fff + ((bits >>> 16) & 1);
        return (short) (rounded >>> 16);
    }

    /** GGML quantize_row_q8_0 reference: d = max|x| / 127, q = round(x / d) (half away from zero). */
    private static void quantizeQ8Block(float[] x, int from, MemorySegment dst, long at) {
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[from + j]));
        float d = amax / 127f;
        float id = d != 0 ? 1f / d : 0f;
        dst.set(I16, at, Float.floatToFloat16(d));
        for (int j = 0; j < 32; j++) {
            float v = x[from + j] * id;
            int q = v < 0 ? -Math.round(-v) : Math.round(v);
            dst.set(ValueLayout.JAVA_BYTE, at + 2 + j, (byte) q);
        }
    }

    /**
     * GGML quantize_row_q4_0 reference: d = (the value of largest magnitude) / -8, q = clamp(round(x / d) + 8, 0, 15);
     * value j &lt; 16 in the low nibble of byte j, value j &gt;= 16 in the high nibble of byte j-16.
     */
    private static void quantizeQ4Block(float[] x, int from, MemorySegment dst, long at) {
        float amax = 0;
        float max = 0;
        for (int j = 0; j < 32; j++) {
            float v = x[from + j];
            if (Math.abs(v) > amax) {
                amax = Math.abs(v);
                max = v;
            }
        }
        float d = max / -8f;
        float id = d != 0 ? 1f / d : 0f;
        dst.set(I16, at, Float.floatToFloat16(d));
        for (int j = 0; j < 16; j++) {
            // x*id + 8.5 is positive (|x*id| <= 8), so the C cast's truncation is floor, i.e. round half up
            int lo = Math.min(15, (int) (x[from + j] * id + 8.5f));
            int hi = Math.min(15, (int) (x[from + 16 + j] * id + 8.5f));
            dst.set(ValueLayout.JAVA_BYTE, at + 2 + j, (byte) (lo | (hi << 4)));
        }
    }
}
