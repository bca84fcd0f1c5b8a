package io.specdec.core.tokenizer;

import java.util.regex.Pattern;

/** How text becomes BPE symbols and tokens become bytes again: the two families of BPE vocabularies. */
sealed interface BpeStyle permits BpeStyle.ByteLevel, BpeStyle.SentencePiece {

    /**
     * GPT-2 / Llama 3 / Qwen: split with a regex, map each UTF-8 byte to a visible character, merge per split.
     *
     * @param ignoreMerges a split that is already a whole vocabulary piece is taken as is (Llama 3's tokenizer.json
     *                     {@code ignore_merges}); without it BPE may legitimately produce a different segmentation
     */
    record ByteLevel(Pattern split, boolean ignoreMerges) implements BpeStyle {}

    /**
     * Llama 2 / TinyLlama / Mistral: spaces become '▁', one '▁' is prepended to each text segment, the whole
     * segment merges at once, and characters the vocabulary lacks become {@code <0xNN>} byte tokens.
     */
    record SentencePiece(boolean addDummyPrefix, boolean byteFallback) implements BpeStyle {
        static final char SPACE_MARK = '\u2581';
    }
}
