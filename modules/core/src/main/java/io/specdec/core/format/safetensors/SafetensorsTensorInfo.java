package io.specdec.core.format.safetensors;

import io.specdec.core.tensor.DType;

/**
 * A tensor entry of a safetensors header. {@code begin} and {@code end} are byte offsets into the data section
 * (which starts right after the header).
 */
public record SafetensorsTensorInfo(String name, DType type, long[] shape, long begin, long end) {
}
