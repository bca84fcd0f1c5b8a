package io.specdec.core.format.llama2c;

import io.specdec.core.model.ModelFormatException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * The raw contents of a llama2.c tokenizer file ({@code int32 max_token_length}, then per token
 * {@code f32 score, int32 length, bytes}; the token count is implied by the file's end). Only what format
 * conversion needs; encoding text is the tokenizer package's job.
 */
public record Llama2cVocabFile(int maxTokenLength, List<byte[]> pieces, float[] scores) {

    public static Llama2cVocabFile read(Path path) {
        ByteBuffer in;
        try {
            in = ByteBuffer.wrap(Files.readAllBytes(path)).order(ByteOrder.LITTLE_ENDIAN);
        } catch (IOException e) {
            throw new ModelFormatException(path, "cannot read llama2.c tokenizer: " + e.getMessage(), e);
        }
        if (in.remaining() < 4) throw new ModelFormatException(path, "llama2.c tokenizer shorter than its 4-byte header");
        int maxTokenLength = in.getInt();
        List<byte[]> pieces = new ArrayList<>();
        List<Float> scores = new ArrayList<>();
        while (in.hasRemaining()) {
            if (in.remaining() < 8) {
                throw new ModelFormatException(path, "token " + pieces.size() + " at offset " + in.position() + " is truncated");
            }
            float score = in.getFloat();
            int length = in.getInt();
            if (length < 0 || length > in.remaining()) {
                throw new ModelFormatException(path, "token " + pieces.size() + " has length " + length
                        + ", past the end of the file");
            }
            byte[] piece = new byte[length];
            in.get(piece);
            pieces.add(piece);
            scores.add(score);
        }
        float[] s = new float[scores.size()];
        for (int i = 0; i < s.length; i++) s[i] = scores.get(i);
        return new Llama2cVocabFile(maxTokenLength, List.copyOf(pieces), s);
    }

    /** The number of tokens, or -1 when the file is not a well-formed llama2.c tokenizer. */
    public static int countTokens(Path path) {
        try {
            return read(path).size();
        } catch (ModelFormatException e) {
            return -1;
        }
    }

    public int size() { return pieces.size(); }

    public String piece(int id) { return new String(pieces.get(id), StandardCharsets.UTF_8); }
}
