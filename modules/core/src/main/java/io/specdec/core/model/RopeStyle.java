package io.specdec.core.model;

/**
 * Which dimensions RoPE rotates together. llama2.c checkpoints and llama.cpp's "llama" GGUF tensors rotate adjacent
 * pairs (2i, 2i+1); HuggingFace checkpoints (and GGUF qwen2) rotate dimension i with i + headDim/2.
 */
public enum RopeStyle { INTERLEAVED, HALF }
