package io.specdec.core.tokenizer;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Pattern;

/**
 * Loads llama2.c's {@code tokenizer.bin}: int32 max_token_length, then per token f32 score, int32 length and the
 * piece's bytes, little endian. It is a SentencePiece BPE vocabulary with scores; ids 0/1/2 are unk/BOS/EOS.
 */
public final class Llama2cTokenizerFile {

    private static final Pattern BYTE_PIECE = Pattern.compile("<0x[0-9A-Fa-f]{2}>");
    private static final int UNKNOWN_ID = 0;
    private static final int BOS_ID = 1;
    private static final int EOS_ID = 2;

    private Llama2cTokenizerFile() {}

    public static BpeTokenizer load(Path file) {
        ByteBuffer buffer;
        try {
            buffer = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new TokenizerFormatException(file + ": cannot read llama2.c tokenizer: " + e.getMessage(), e);
        }
        if (buffer.remaining() < 4) {
            throw new TokenizerFormatException(file + ": too short for a llama2.c tokenizer header");
        }
        int maxTokenLength = buffer.getInt();
        List<String> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        while (buffer.hasRemaining()) {
            if (buffer.remaining() < 8) {
                throw new TokenizerFormatException(file + ": truncated entry for token " + pieces.size());
            }
            float score = buffer.getFloat();
            int length = buffer.getInt();
            if (length < 0 || length > maxTokenLength || length > buffer.remaining()) {
                throw new TokenizerFormatException(file + ": token " + pieces.size() + " has length " + length
                        + " (max_token_length " + maxTokenLength + ", " + buffer.remaining() + " bytes left)");
            }
            byte[] bytes = new byte[length];
            buffer.get(bytes);
            pieces.add(new String(bytes, StandardCharsets.UTF_8));
            scores.add(score);
        }
        if (pieces.size() <= EOS_ID) {
            throw new TokenizerFormatException(file + ": only " + pieces.size() + " tokens; expected unk, BOS, EOS");
        }
        int size = pieces.size();
        String[] piecesArray = new String[size];
        float[] scoresArray = new float[size];
        TokenType[] types = new TokenType[size];
        for (int id = 0; id < size; id++) {
            String piece = pieces.get(id);
            types[id] = switch (id) {
                case UNKNOWN_ID -> TokenType.UNKNOWN;
                case BOS_ID, EOS_ID -> TokenType.CONTROL;
                default -> BYTE_PIECE.matcher(piece).matches() ? TokenType.BYTE : TokenType.NORMAL;
            };
            // The export wrote BOS/EOS as "\n<s>\n" / "\n</s>\n" and SentencePiece's '▁' as a plain space.
            piecesArray[id] = types[id] == TokenType.CONTROL
                    ? piece.strip()
                    : piece.replace(' ', BpeStyle.SentencePiece.SPACE_MARK);
            scoresArray[id] = scores.get(id);
        }
        return new BpeTokenizer(Vocabulary.of(piecesArray, scoresArray, types), new MergeOrder.ByScore(),
                new BpeStyle.SentencePiece(true, true),
                new BpeTokenizer.SpecialTokens(BOS_ID, EOS_ID, Set.of(EOS_ID), true), Optional.empty());
    }
}
