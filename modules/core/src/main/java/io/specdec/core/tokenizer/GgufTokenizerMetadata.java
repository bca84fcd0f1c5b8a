package io.specdec.core.tokenizer;

import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Builds a tokenizer from a GGUF file's {@code tokenizer.*} metadata. Values are as a GGUF reader returns them:
 * String, boxed numbers / Boolean, and arrays as {@code List<Object>}.
 */
public final class GgufTokenizerMetadata {

    private static final String PREFIX = "tokenizer.ggml.";
    private static final Pattern BYTE_PIECE = Pattern.compile("<0x[0-9A-Fa-f]{2}>");

    private GgufTokenizerMetadata() {}

    /** @param source names the file in error messages */
    public static BpeTokenizer toTokenizer(Map<String, Object> metadata, String source) {
        String model = string(metadata, PREFIX + "model", source)
                .orElseThrow(() -> missing(PREFIX + "model", source));
        List<Object> tokenList = list(metadata, PREFIX + "tokens", source)
                .orElseThrow(() -> missing(PREFIX + "tokens", source));
        int size = tokenList.size();
        String[] pieces = new String[size];
        float[] scores = new float[size];
        TokenType[] types = new TokenType[size];
        List<Object> scoreList = list(metadata, PREFIX + "scores", source).orElse(null);
        List<Object> typeList = list(metadata, PREFIX + "token_type", source).orElse(null);
        for (int id = 0; id < size; id++) {
            pieces[id] = (String) tokenList.get(id);
            scores[id] = scoreList == null ? 0f : ((Number) scoreList.get(id)).floatValue();
            types[id] = typeList != null
                    ? TokenType.fromGgufCode(((Number) typeList.get(id)).intValue())
                    : BYTE_PIECE.matcher(pieces[id]).matches() ? TokenType.BYTE : TokenType.NORMAL;
        }
        Vocabulary vocabulary = Vocabulary.of(pieces, scores, types);

        boolean sentencePiece;
        BpeStyle style;
        MergeOrder order;
        switch (model) {
            case "llama" -> {
                sentencePiece = true;
                boolean prefix = bool(metadata, PREFIX + "add_space_prefix").orElse(true);
                style = new BpeStyle.SentencePiece(prefix, true);
                order = new MergeOrder.ByScore();
            }
            case "gpt2" -> {
                sentencePiece = false;
                String pre = string(metadata, PREFIX + "pre", source).orElse("default");
                boolean ignoreMerges = pre.equals("llama-bpe") || pre.equals("llama3") || pre.equals("llama-v3");
                style = new BpeStyle.ByteLevel(PreTokenizerPattern.forGgufName(pre, source), ignoreMerges);
                List<Object> merges = list(metadata, PREFIX + "merges", source)
                        .orElseThrow(() -> missing(PREFIX + "merges", source));
                List<String[]> pairs = new ArrayList<>(merges.size());
                for (Object merge : merges) {
                    String text = (String) merge;
                    int space = text.indexOf(' ', 1);
                    if (space < 0) {
                        throw new TokenizerFormatException(source + ": " + PREFIX + "merges[" + pairs.size()
                                + "] '" + text + "' is not 'left right'");
                    }
                    pairs.add(new String[] {text.substring(0, space), text.substring(space + 1)});
                }
                order = MergeOrder.ByRank.fromPairs(pairs, vocabulary, source);
            }
            default -> throw new TokenizerFormatException(source + ": " + PREFIX + "model '" + model
                    + "' is not supported (known: llama, gpt2)");
        }

        int bosId = integer(metadata, PREFIX + "bos_token_id").orElse(-1);
        int eosId = integer(metadata, PREFIX + "eos_token_id").orElse(-1);
        Set<Integer> eosIds = new LinkedHashSet<>();
        for (String key : List.of("eos_token_id", "eot_token_id", "eom_token_id")) {
            integer(metadata, PREFIX + key).filter(id -> id >= 0 && id < size).ifPresent(eosIds::add);
        }
        boolean addBos = bool(metadata, PREFIX + "add_bos_token").orElse(sentencePiece);
        return new BpeTokenizer(vocabulary, order, style,
                new BpeTokenizer.SpecialTokens(bosId < size ? bosId : -1, eosId < size ? eosId : -1, eosIds, addBos),
                string(metadata, "tokenizer.chat_template", source));
    }

    private static TokenizerFormatException missing(String key, String source) {
        return new TokenizerFormatException(source + ": GGUF metadata lacks " + key);
    }

    private static Optional<String> string(Map<String, Object> metadata, String key, String source) {
        Object value = metadata.get(key);
        if (value != null && !(value instanceof String)) {
            throw new TokenizerFormatException(source + ": GGUF metadata " + key + " should be a string, is "
                    + value.getClass().getSimpleName());
        }
        return Optional.ofNullable((String) value);
    }

    @SuppressWarnings("unchecked")
    private static Optional<List<Object>> list(Map<String, Object> metadata, String key, String source) {
        Object value = metadata.get(key);
        if (value != null && !(value instanceof List<?>)) {
            throw new TokenizerFormatException(source + ": GGUF metadata " + key + " should be an array, is "
                    + value.getClass().getSimpleName());
        }
        return Optional.ofNullable((List<Object>) value);
    }

    private static Optional<Integer> integer(Map<String, Object> metadata, String key) {
        return metadata.get(key) instanceof Number n ? Optional.of(n.intValue()) : Optional.empty();
    }

    private static Optional<Boolean> bool(Map<String, Object> metadata, String key) {
        return metadata.get(key) instanceof Boolean b ? Optional.of(b) : Optional.empty();
    }
}
