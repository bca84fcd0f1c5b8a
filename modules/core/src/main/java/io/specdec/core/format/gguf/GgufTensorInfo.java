package io.specdec.core.format.gguf;

import io.specdec.core.tensor.DType;

/**
 * A tensor entry of a GGUF file. {@code shape} is outermost first (GGUF stores dimensions innermost first; this
 * record has already reversed them). {@code offset} is relative to the start of the tensor data section.
 */
public record GgufTensorInfo(String name, DType type, long[] shape, long offset) {
}
