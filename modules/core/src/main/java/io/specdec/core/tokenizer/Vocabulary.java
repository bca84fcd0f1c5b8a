package io.specdec.core.tokenizer;

import java.util.HashMap;
import java.util.Map;
import java.util.Objects;
import java.util.Optional;

/**
 * The pieces of a vocabulary, indexed by id, with their SentencePiece scores (0 where the format has none) and types.
 * Ids without a piece (gaps between a model vocabulary and its added tokens) hold {@code ""} and {@link TokenType#UNUSED}.
 */
public record Vocabulary(String[] pieces, float[] scores, TokenType[] types, Map<String, Integer> idsByPiece) {

    public Vocabulary {
        if (pieces.length != scores.length || pieces.length != types.length) {
            throw new IllegalArgumentException("vocabulary arrays differ in length: pieces " + pieces.length
                    + ", scores " + scores.length + ", types " + types.length);
        }
    }

    public static Vocabulary of(String[] pieces, float[] scores, TokenType[] types) {
        Map<String, Integer> ids = new HashMap<>(pieces.length * 2);
        for (int id = 0; id < pieces.length; id++) {
            Objects.requireNonNull(pieces[id], "piece " + id);
            // First id wins: some vocabularies list a piece twice (e.g. unused slots), the lower id is canonical.
            if (types[id] != TokenType.UNUSED || !pieces[id].isEmpty()) {
                ids.putIfAbsent(pieces[id], id);
            }
        }
        return new Vocabulary(pieces, scores, types, Map.copyOf(ids));
    }

    public int size() {
        return pieces.length;
    }

    public Optional<Integer> id(String piece) {
        return Optional.ofNullable(idsByPiece.get(piece));
    }

    /** -1 when absent, for hot loops. */
    int idOrMinusOne(String piece) {
        Integer id = idsByPiece.get(piece);
        return id == null ? -1 : id;
    }

    public String piece(int id) {
        return pieces[id];
    }

    public float score(int id) {
        return scores[id];
    }

    public TokenType type(int id) {
        return types[id];
    }
}
