package io.specdec.core.tokenizer;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Objects;
import java.util.Optional;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.IntStream;

/**
 * The one BPE tokenizer behind every loader: a {@link Vocabulary}, a {@link MergeOrder} and a {@link BpeStyle}
 * (byte-level or SentencePiece), plus the special-token ids the model files name.
 */
public final class BpeTokenizer implements Tokenizer {

    /** The ids and defaults a loader reads next to the vocabulary; -1 means "none". */
    public record SpecialTokens(int bosId, int eosId, Set<Integer> eosIds, boolean addBosByDefault) {
        public SpecialTokens {
            eosIds = Set.copyOf(eosIds);
        }
    }

    private static final byte[] NOTHING = new byte[0];

    private final Vocabulary vocabulary;
    private final BytePairMerger merger;
    private final BpeStyle style;
    private final SpecialTokens special;
    private final Optional<String> chatTemplate;
    private final int unknownId;
    /** SentencePiece byte fallback: the id of {@code <0xNN>} per byte value, -1 where absent. */
    private final int[] byteTokenIds = new int[256];
    /** The bytes each token decodes to, with control tokens rendered empty. */
    private final byte[][] renderedBytes;
    /** Alternation of special pieces, longest first; null when the vocabulary has none. */
    private final Pattern specialPieces;

    BpeTokenizer(Vocabulary vocabulary, MergeOrder mergeOrder, BpeStyle style, SpecialTokens special,
                 Optional<String> chatTemplate) {
        this.vocabulary = vocabulary;
        this.merger = new BytePairMerger(vocabulary, mergeOrder);
        this.style = style;
        this.special = special;
        this.chatTemplate = chatTemplate;
        this.unknownId = IntStream.range(0, vocabulary.size())
                .filter(id -> vocabulary.type(id) == TokenType.UNKNOWN).findFirst().orElse(-1);
        Arrays.fill(byteTokenIds, -1);
        for (int b = 0; b < 256; b++) {
            byteTokenIds[b] = vocabulary.idOrMinusOne(byteFallbackPiece(b));
        }
        this.renderedBytes = new byte[vocabulary.size()][];
        for (int id = 0; id < vocabulary.size(); id++) {
            renderedBytes[id] = render(id, false);
        }
        this.specialPieces = specialPiecePattern(vocabulary);
    }

    static String byteFallbackPiece(int unsignedByte) {
        return String.format("<0x%02X>", unsignedByte);
    }

    private static Pattern specialPiecePattern(Vocabulary vocabulary) {
        String alternation = IntStream.range(0, vocabulary.size())
                .filter(id -> vocabulary.type(id).isSpecial() && !vocabulary.piece(id).isEmpty())
                .mapToObj(vocabulary::piece)
                .distinct()
                .sorted(Comparator.comparingInt(String::length).reversed())
                .map(Pattern::quote)
                .collect(Collectors.joining("|"));
        return alternation.isEmpty() ? null : Pattern.compile(alternation);
    }

    // ---- encoding ----

    @Override
    public int[] encode(String text, boolean addBos, boolean parseSpecial) {
        Objects.requireNonNull(text, "text");
        IntList out = new IntList(text.length() / 3 + 4);
        if (addBos && special.bosId() >= 0) {
            out.add(special.bosId());
        }
        if (parseSpecial && specialPieces != null) {
            Matcher matcher = specialPieces.matcher(text);
            int position = 0;
            while (matcher.find()) {
                encodeSegment(text.substring(position, matcher.start()), out);
                out.add(vocabulary.idOrMinusOne(matcher.group()));
                position = matcher.end();
            }
            encodeSegment(text.substring(position), out);
        } else {
            encodeSegment(text, out);
        }
        return out.toArray();
    }

    /** Plain text between special tokens. */
    private void encodeSegment(String text, IntList out) {
        if (text.isEmpty()) {
            return; // no dummy prefix for nothing: encode("") is []
        }
        switch (style) {
            case BpeStyle.SentencePiece spm -> encodeSentencePiece(text, spm, out);
            case BpeStyle.ByteLevel byteLevel -> encodeByteLevel(text, byteLevel, out);
        }
    }

    private void encodeSentencePiece(String text, BpeStyle.SentencePiece spm, IntList out) {
        String normalized = (spm.addDummyPrefix() ? String.valueOf(BpeStyle.SentencePiece.SPACE_MARK) : "")
                + text.replace(' ', BpeStyle.SentencePiece.SPACE_MARK);
        int[] codePoints = normalized.codePoints().toArray();
        int[] symbols = new int[codePoints.length];
        for (int i = 0; i < codePoints.length; i++) {
            int id = vocabulary.idOrMinusOne(Character.toString(codePoints[i]));
            symbols[i] = id >= 0 && mergeable(vocabulary.type(id)) ? id : -1;
        }
        // Unknown symbols never merge, so the k-th -1 in the result is the k-th unknown code point.
        int nextUnknown = 0;
        for (int id : merger.merge(symbols)) {
            if (id >= 0) {
                out.add(id);
                continue;
            }
            while (symbols[nextUnknown] >= 0) {
                nextUnknown++;
            }
            appendFallback(codePoints[nextUnknown++], spm.byteFallback(), out);
        }
    }

    private static boolean mergeable(TokenType type) {
        return type == TokenType.NORMAL || type == TokenType.USER_DEFINED || type == TokenType.UNUSED;
    }

    private void appendFallback(int codePoint, boolean byteFallback, IntList out) {
        if (byteFallback) {
            byte[] bytes = Character.toString(codePoint).getBytes(StandardCharsets.UTF_8);
            boolean complete = true;
            for (byte b : bytes) {
                complete &= byteTokenIds[b & 0xFF] >= 0;
            }
            if (complete) {
                for (byte b : bytes) {
                    out.add(byteTokenIds[b & 0xFF]);
                }
                return;
            }
        }
        if (unknownId < 0) {
            throw new IllegalArgumentException("cannot encode U+" + Integer.toHexString(codePoint).toUpperCase()
                    + ": not in the vocabulary and the vocabulary has neither byte tokens nor an unknown token");
        }
        out.add(unknownId);
    }

    private void encodeByteLevel(String text, BpeStyle.ByteLevel byteLevel, IntList out) {
        Matcher matcher = byteLevel.split().matcher(text);
        int position = 0;
        while (matcher.find()) {
            if (matcher.start() > position) {
                encodeWord(text.substring(position, matcher.start()), byteLevel, out); // unmatched gap is a word too
            }
            if (matcher.end() > matcher.start()) {
                encodeWord(matcher.group(), byteLevel, out);
            }
            position = matcher.end();
        }
        if (position < text.length()) {
            encodeWord(text.substring(position), byteLevel, out);
        }
    }

    private void encodeWord(String word, BpeStyle.ByteLevel byteLevel, IntList out) {
        byte[] bytes = word.getBytes(StandardCharsets.UTF_8);
        char[] mapped = new char[bytes.length];
        for (int i = 0; i < bytes.length; i++) {
            mapped[i] = ByteLevelAlphabet.charOf(bytes[i] & 0xFF);
        }
        if (byteLevel.ignoreMerges()) {
            int whole = vocabulary.idOrMinusOne(new String(mapped));
            if (whole >= 0) {
                out.add(whole);
                return;
            }
        }
        int[] symbols = new int[mapped.length];
        for (int i = 0; i < mapped.length; i++) {
            symbols[i] = vocabulary.idOrMinusOne(String.valueOf(mapped[i]));
        }
        for (int id : merger.merge(symbols)) {
            if (id < 0 && unknownId < 0) {
                throw new IllegalArgumentException("byte-level vocabulary lacks a byte of '" + word
                        + "' and has no unknown token");
            }
            out.add(id < 0 ? unknownId : id);
        }
    }

    // ---- decoding ----

    private byte[] render(int id, boolean renderControl) {
        String piece = vocabulary.piece(id);
        return switch (vocabulary.type(id)) {
            case CONTROL -> renderControl ? piece.getBytes(StandardCharsets.UTF_8) : NOTHING;
            case BYTE -> new byte[] {(byte) Integer.parseInt(piece.substring(3, 5), 16)};
            case UNKNOWN, USER_DEFINED -> piece.getBytes(StandardCharsets.UTF_8);
            case NORMAL, UNUSED -> switch (style) {
                case BpeStyle.SentencePiece _ ->
                        piece.replace(BpeStyle.SentencePiece.SPACE_MARK, ' ').getBytes(StandardCharsets.UTF_8);
                case BpeStyle.ByteLevel _ -> byteLevelBytes(piece);
            };
        };
    }

    private static byte[] byteLevelBytes(String piece) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(piece.length());
        for (int i = 0; i < piece.length(); i++) {
            int b = ByteLevelAlphabet.byteOf(piece.charAt(i));
            if (b >= 0) {
                bytes.write(b);
            } else {
                bytes.writeBytes(String.valueOf(piece.charAt(i)).getBytes(StandardCharsets.UTF_8));
            }
        }
        return bytes.toByteArray();
    }

    /** The bytes {@code id} decodes to, control tokens rendered empty. */
    byte[] tokenBytes(int id) {
        checkId(id);
        return renderedBytes[id];
    }

    private void checkId(int id) {
        if (id < 0 || id >= renderedBytes.length) {
            throw new IllegalArgumentException("token id " + id + " is outside the vocabulary [0, "
                    + renderedBytes.length + ")");
        }
    }

    /** SentencePiece strips the space its dummy prefix put in front of the first word. */
    private boolean stripsDummyPrefix() {
        return style instanceof BpeStyle.SentencePiece spm && spm.addDummyPrefix();
    }

    @Override
    public String decode(int[] ids, boolean renderControl) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream(ids.length * 4);
        for (int id : ids) {
            checkId(id);
            bytes.writeBytes(renderControl ? render(id, true) : renderedBytes[id]);
        }
        byte[] all = bytes.toByteArray();
        int from = stripsDummyPrefix() && all.length > 0 && all[0] == ' ' ? 1 : 0;
        return new String(all, from, all.length - from, StandardCharsets.UTF_8);
    }

    @Override
    public StreamingDetokenizer newStreamingDetokenizer(boolean atSequenceStart) {
        return new StreamingDetokenizer(this::tokenBytes, atSequenceStart && stripsDummyPrefix());
    }

    // ---- vocabulary facts ----

    @Override
    public String tokenText(int id) {
        checkId(id);
        return vocabulary.piece(id);
    }

    @Override
    public Optional<Integer> tokenId(String piece) {
        return vocabulary.id(piece);
    }

    @Override
    public TokenType tokenType(int id) {
        checkId(id);
        return vocabulary.type(id);
    }

    @Override
    public int vocabSize() {
        return vocabulary.size();
    }

    @Override
    public int bosId() {
        return special.bosId();
    }

    @Override
    public int eosId() {
        return special.eosId();
    }

    @Override
    public Set<Integer> eosIds() {
        return special.eosIds();
    }

    @Override
    public boolean addBosByDefault() {
        return special.addBosByDefault();
    }

    @Override
    public Optional<String> chatTemplate() {
        return chatTemplate;
    }

    public Vocabulary vocabulary() {
        return vocabulary;
    }

    /** A growable int array, so encoding does not box every id. */
    private static final class IntList {
        private int[] values;
        private int size;

        IntList(int capacity) {
            values = new int[Math.max(capacity, 4)];
        }

        void add(int value) {
            if (size == values.length) {
                values = Arrays.copyOf(values, size * 2);
            }
            values[size++] = value;
        }

        int[] toArray() {
            return Arrays.copyOf(values, size);
        }
    }

    @Override
    public String toString() {
        List<String> parts = new ArrayList<>();
        parts.add(style.getClass().getSimpleName());
        parts.add("vocab=" + vocabulary.size());
        parts.add("bos=" + special.bosId());
        parts.add("eos=" + special.eosIds());
        return "BpeTokenizer" + parts;
    }
}
