package io.specdec.core.tokenizer;

import java.util.List;

/**
 * Which adjacent pair BPE merges next. HuggingFace tokenizer.json and GGUF "gpt2" vocabularies list merges by rank;
 * SentencePiece models (GGUF "llama", llama2.c tokenizer.bin) only have scores, and the pair whose merged piece
 * scores highest wins. Both reduce to "lowest priority first, leftmost on ties".
 */
sealed interface MergeOrder permits MergeOrder.ByRank, MergeOrder.ByScore {

    /** A possible merge of two adjacent tokens; lower {@code priority} merges first. */
    record Merge(float priority, int resultId) {}

    /** The merge of {@code leftId} followed by {@code rightId}, or null when they never merge. */
    Merge find(int leftId, int rightId, Vocabulary vocabulary);

    /** Merges from an explicit ranked list. */
    record ByRank(PairMergeTable merges) implements MergeOrder {

        /** @param pairs merge rules in rank order, each {left piece, right piece} */
        static ByRank fromPairs(List<String[]> pairs, Vocabulary vocabulary, String source) {
            PairMergeTable merges = new PairMergeTable(pairs.size());
            for (int rank = 0; rank < pairs.size(); rank++) {
                String[] pair = pairs.get(rank);
                int left = vocabulary.idOrMinusOne(pair[0]);
                int right = vocabulary.idOrMinusOne(pair[1]);
                int result = vocabulary.idOrMinusOne(pair[0] + pair[1]);
                if (left < 0 || right < 0 || result < 0) {
                    throw new TokenizerFormatException(source + ": merge #" + rank + " '" + pair[0] + "' + '"
                            + pair[1] + "' uses a piece missing from the vocabulary");
                }
                merges.putIfAbsent(left, right, rank, result);
            }
            return new ByRank(merges);
        }

        @Override
        public Merge find(int leftId, int rightId, Vocabulary vocabulary) {
            int slot = merges.find(leftId, rightId);
            return slot < 0 ? null : new Merge(merges.rankAt(slot), merges.resultAt(slot));
        }
    }

    /** SentencePiece BPE: a pair merges when the concatenated piece is a normal vocabulary entry; its score ranks it. */
    record ByScore() implements MergeOrder {
        @Override
        public Merge find(int leftId, int rightId, Vocabulary vocabulary) {
            int result = vocabulary.idOrMinusOne(vocabulary.piece(leftId) + vocabulary.piece(rightId));
            // Control, byte and unused pieces are never the product of a merge in SentencePiece.
            if (result < 0 || vocabulary.type(result) != TokenType.NORMAL) {
                return null;
            }
            return new Merge(-vocabulary.score(result), result);
        }
    }
}
