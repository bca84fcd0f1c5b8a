package io.specdec.core.tensor;

/** Storage types of weight tensors. Block types store {@code blockSize} values in {@code blockBytes} bytes. */
public enum DType {
    F32(1, 4),
    F16(1, 2),
    BF16(1, 2),
    /** GGML Q8_0: per 32 values one f16 scale then 32 int8. */
    Q8_0(32, 34),
    /** GGML Q4_0: per 32 values one f16 scale then 16 bytes of packed 4-bit values (offset 8). */
    Q4_0(32, 18);

    private final int blockSize;
    private final int blockBytes;

    DType(int blockSize, int blockBytes) {
        this.blockSize = blockSize;
        this.blockBytes = blockBytes;
    }

    public int blockSize() { return blockSize; }

    public int blockBytes() { return blockBytes; }

    /** Bytes needed for {@code elements} values; elements must be a multiple of the block size. */
    public long byteSize(long elements) {
        if (elements % blockSize != 0) {
            throw new IllegalArgumentException(this + " needs a multiple of " + blockSize + " elements, got " + elements);
        }
        return elements / blockSize * blockBytes;
    }
}
