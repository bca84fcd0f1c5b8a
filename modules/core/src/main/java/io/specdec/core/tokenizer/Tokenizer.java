package io.specdec.core.tokenizer;

import java.util.Optional;
import java.util.Set;

/**
 * Text to token ids and back, for one model's vocabulary.
 *
 * <p>Implementations are immutable and thread-safe; the only stateful piece is the {@link StreamingDetokenizer}
 * each caller gets from {@link #newStreamingDetokenizer()}.
 */
public interface Tokenizer {

    /** Plain text to ids: no BOS, and special-token strings such as {@code "</s>"} are ordinary text. */
    default int[] encode(String text) {
        return encode(text, false, false);
    }

    /**
     * @param addBos       prepend {@link #bosId()} (ignored when the vocabulary has none)
     * @param parseSpecial recognise control / added token strings (e.g. {@code "<|im_start|>"}) in the text
     */
    int[] encode(String text, boolean addBos, boolean parseSpecial);

    /** Ids to text, skipping nothing; control tokens (BOS, EOS, ...) render as the empty string. */
    default String decode(int[] ids) {
        return decode(ids, false);
    }

    /** Like {@link #decode(int[])}, but with {@code renderControl} control tokens render as their text. */
    String decode(int[] ids, boolean renderControl);

    /** The vocabulary's piece for {@code id}, as stored (e.g. {@code "▁Hello"}, {@code "Ġworld"}, {@code "<0x0A>"}). */
    String tokenText(int id);

    /** The id of an exact piece, if the vocabulary has it. */
    Optional<Integer> tokenId(String piece);

    TokenType tokenType(int id);

    int vocabSize();

    /** -1 when the vocabulary has no BOS token. */
    int bosId();

    /** The primary end-of-sequence id; -1 when none. */
    int eosId();

    /** Every id that ends generation (EOS plus end-of-turn tokens the model files name). */
    Set<Integer> eosIds();

    /** Whether the model expects a BOS at the start of a prompt (tokenizer_config / GGUF add_bos_token). */
    boolean addBosByDefault();

    /** The Jinja chat template shipped with the tokenizer, if any. */
    Optional<String> chatTemplate();

    /** Decodes a sequence from its first token, exactly like {@link #decode(int[])}, one token at a time. */
    default StreamingDetokenizer newStreamingDetokenizer() {
        return newStreamingDetokenizer(true);
    }

    /**
     * @param atSequenceStart false when the tokens continue an already rendered text (e.g. only the generated
     *                        tokens after a prompt): then a SentencePiece word's leading space is kept
     */
    StreamingDetokenizer newStreamingDetokenizer(boolean atSequenceStart);
}
