package io.specdec.core.tokenizer;

import java.nio.charset.StandardCharsets;
import java.util.Optional;
import java.util.Set;

/**
 * The tokenizer of a model that has none (random-weight benchmarks): text is token ids written as decimal numbers
 * separated by spaces or commas, and every id decodes to itself preceded by a space, so a streamed continuation
 * reads {@code " 17 4051 9"}. Every id is ordinary text (none is rendered empty), and no BOS is added by default:
 * the prompt is exactly the ids given.
 */
public final class TokenIdTokenizer implements Tokenizer {
    private final int vocabSize;
    private final int bosId;
    private final int eosId;
    private final Set<Integer> eosIds;

    /** @param bosId -1 when none; {@code eosIds} may be empty, its first element is the primary EOS */
    public TokenIdTokenizer(int vocabSize, int bosId, Set<Integer> eosIds) {
        if (vocabSize < 1) throw new IllegalArgumentException("vocabulary size must be positive: " + vocabSize);
        this.vocabSize = vocabSize;
        this.bosId = bosId;
        this.eosId = eosIds.isEmpty() ? -1 : eosIds.iterator().next();
        this.eosIds = Set.copyOf(eosIds);
    }

    @Override public int[] encode(String text, boolean addBos, boolean parseSpecial) {
        String t = text.strip();
        String[] parts = t.isEmpty() ? new String[0] : t.split("[\\s,]+");
        boolean bos = addBos && bosId >= 0;
        int[] ids = new int[parts.length + (bos ? 1 : 0)];
        if (bos) ids[0] = bosId;
        for (int i = 0; i < parts.length; i++) {
            int id;
            try {
                id = Integer.parseInt(parts[i]);
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(explain("'" + parts[i] + "' is not a token id"));
            }
            if (id < 0 || id >= vocabSize) throw new IllegalArgumentException(explain("token id " + id + " is outside [0, " + vocabSize + ")"));
            ids[i + (bos ? 1 : 0)] = id;
        }
        return ids;
    }

    private String explain(String problem) {
        return "this model has no tokenizer, so text is token ids (0.." + (vocabSize - 1)
                + ") separated by spaces or commas, e.g. '1 450 22': " + problem;
    }

    @Override public String decode(int[] ids, boolean renderControl) {
        StringBuilder b = new StringBuilder();
        for (int id : ids) {
            if (!b.isEmpty()) b.append(' ');
            b.append(tokenText(id));
        }
        return b.toString();
    }

    @Override public String tokenText(int id) {
        if (id < 0 || id >= vocabSize) throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, " + vocabSize + ")");
        return Integer.toString(id);
    }

    @Override public Optional<Integer> tokenId(String piece) {
        try {
            int id = Integer.parseInt(piece);
            return id >= 0 && id < vocabSize ? Optional.of(id) : Optional.empty();
        } catch (NumberFormatException e) {
            return Optional.empty();
        }
    }

    @Override public TokenType tokenType(int id) { return TokenType.NORMAL; }

    @Override public int vocabSize() { return vocabSize; }

    @Override public int bosId() { return bosId; }

    @Override public int eosId() { return eosId; }

    @Override public Set<Integer> eosIds() { return eosIds; }

    @Override public boolean addBosByDefault() { return false; }

    @Override public Optional<String> chatTemplate() { return Optional.empty(); }

    @Override public StreamingDetokenizer newStreamingDetokenizer(boolean atSequenceStart) {
        return new StreamingDetokenizer(id -> (" " + tokenText(id)).getBytes(StandardCharsets.US_ASCII), atSequenceStart);
    }
}
