/**
 * Tokenizers: text to token ids and back.
 *
 * <p>Start at {@link io.specdec.core.tokenizer.Tokenizers#load}. Every format (HuggingFace tokenizer.json, GGUF
 * metadata, llama2.c tokenizer.bin) becomes the same {@link io.specdec.core.tokenizer.BpeTokenizer}: a
 * {@code Vocabulary}, a {@code MergeOrder} (ranked merges or SentencePiece scores) and a {@code BpeStyle}
 * (byte-level with a pre-tokenizer regex, or SentencePiece with '▁' and byte fallback). Generation output goes
 * through a {@link io.specdec.core.tokenizer.StreamingDetokenizer}; prompts through
 * {@link io.specdec.core.tokenizer.ChatTemplate}.
 */
package io.specdec.core.tokenizer;
