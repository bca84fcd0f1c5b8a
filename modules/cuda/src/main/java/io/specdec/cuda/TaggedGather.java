package io.specdec.cuda;

/**
 * The host-staged transport's gathers carry one extra word per rank: what the rank called (all-gather, or broadcast
 * from which root; the element type). NCCL needs every rank to make the same call; with a broadcast staged as a gather,
 * a broadcast met by a gather, or two different roots, would otherwise pass unnoticed where NCCL hangs or mixes up the
 * data. Every rank sees the same gathered words, so every rank fails alike.
 */
record TaggedGather(boolean broadcast, int root, Nccl.Type type) {

    static TaggedGather allGather(Nccl.Type type) { return new TaggedGather(false, -1, type); }

    static TaggedGather broadcast(Nccl.Type type, int root) { return new TaggedGather(true, root, type); }

    /** The call as one word (kind, root, type): equal words, equal calls. */
    int word() {
        return (broadcast ? 1 << 24 : 0) | (root + 1) << 8 | type.ordinal();
    }

    private static String describe(int word) {
        int root = (word >>> 8 & 0xffff) - 1;
        String type = Nccl.Type.values()[word & 0xff].name();
        return ((word >>> 24) == 1 ? "broadcast from rank " + root : "all-gather") + " of " + type;
    }

    /** This rank's part with the call's word appended (to be gathered). */
    float[] tag(float[] part) {
        float[] out = java.util.Arrays.copyOf(part, part.length + 1);
        out[part.length] = Float.intBitsToFloat(word());
        return out;
    }

    /**
     * The gathered parts without their words ({@code ranks} parts of {@code words} words each); throws, naming each
     * rank's call, unless every rank made this call.
     */
    float[] untag(float[] gathered, int words, int ranks) {
        float[] out = new float[words * ranks];
        boolean agree = true;
        for (int r = 0; r < ranks; r++) {
            System.arraycopy(gathered, r * (words + 1), out, r * words, words);
            agree &= Float.floatToRawIntBits(gathered[r * (words + 1) + words]) == word();
        }
        if (agree) return out;
        StringBuilder b = new StringBuilder("the ranks called different collectives:");
        for (int r = 0; r < ranks; r++) {
            b.append(r == 0 ? " " : ", ").append("rank ").append(r).append(' ')
                    .append(describe(Float.floatToRawIntBits(gathered[r * (words + 1) + words])));
        }
        throw new IllegalStateException(b.toString());
    }
}
