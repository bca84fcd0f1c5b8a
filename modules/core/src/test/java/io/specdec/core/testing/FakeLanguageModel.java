package io.specdec.core.testing;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvBlockStore;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.kv.PagedKvCache;
import io.specdec.core.model.ModelConfig;
import io.specdec.core.model.RopeScaling;
import io.specdec.core.model.RopeStyle;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * A language model for tests whose next-token logits are a pure function of the tokens a row can see: the
 * sequence's cached tokens (read back from its {@link KvSequence}) followed by the chunk tokens its mask allows. So
 * a wrong KV cache, mask or position shows up as different logits. Every row's position id is checked against the
 * length of what it sees.
 */
public final class FakeLanguageModel implements LanguageModel {

    /** Next-token logits given everything visible, the last entry being the token at this row. */
    @FunctionalInterface
    public interface LogitsFunction {
        float[] logits(int[] visible);
    }

    private final ModelConfig config;
    private final LogitsFunction function;
    private final PagedKvCache cache;
    private final List<KvSequence> sequences = new ArrayList<>();
    private long forwards;
    private long tokensProcessed;

    public FakeLanguageModel(String name, int vocabSize, int maxSequenceLength, Set<Integer> eos, LogitsFunction function) {
        this.config = new ModelConfig(name, 8, 16, 1, 1, 1, 8, vocabSize, maxSequenceLength, 1e-5f, 10000,
                new RopeScaling.None(), RopeStyle.HALF, true, false, false, 0, 0, eos);
        this.function = function;
        this.cache = new PagedKvCache(4096, 4, KvBlockStore.NONE);
    }

    @Override public ModelConfig config() { return config; }

    @Override
    public KvSequence newSequence() {
        KvSequence s = cache.newSequence();
        sequences.add(s);
        return s;
    }

    @Override
    public List<float[][]> forward(List<SequenceInput> batch) {
        forwards++;
        List<float[][]> out = new ArrayList<>(batch.size());
        for (SequenceInput in : batch) {
            KvSequence seq = in.sequence();
            int[] cached = seq.tokens();
            for (int s = 0; s < cached.length; s++) {
                if (seq.positionAt(s) != s) throw new AssertionError("cached slot " + s + " has position " + seq.positionAt(s));
            }
            int[] tokens = in.tokens();
            for (int t : tokens) {
                if (t < 0 || t >= config.vocabSize()) throw new AssertionError("token " + t + " outside the vocabulary");
            }
            int[][] visible = new int[tokens.length][];
            for (int r = 0; r < tokens.length; r++) {
                int[] v = Arrays.copyOf(cached, cached.length + tokens.length);
                int n = cached.length;
                for (int k = 0; k < tokens.length; k++) if (in.mask().allows(r, k)) v[n++] = tokens[k];
                if (!in.mask().allows(r, r)) throw new AssertionError("row " + r + " cannot see itself");
                if (in.positions()[r] != n - 1) {
                    throw new AssertionError("row " + r + " has position " + in.positions()[r] + " but sees " + n + " tokens");
                }
                if (n > config.maxSequenceLength()) throw new AssertionError("beyond the maximum sequence length");
                visible[r] = Arrays.copyOf(v, n);
            }
            float[][] rows = new float[in.logitRows().length][];
            for (int i = 0; i < rows.length; i++) rows[i] = logits(visible[in.logitRows()[i]]);
            seq.append(tokens, in.positions());
            tokensProcessed += tokens.length;
            out.add(rows);
        }
        return out;
    }

    /** The logits this model gives after {@code visible} (for computing reference distributions). */
    public float[] logits(int[] visible) {
        float[] l = function.logits(visible);
        if (l.length != config.vocabSize()) throw new AssertionError("logits function returned " + l.length + " values");
        return l;
    }

    public long forwards() { return forwards; }

    public long tokensProcessed() { return tokensProcessed; }

    /** Blocks still held: 0 once every sequence has been released. */
    public int blocksInUse() { return cache.totalBlocks() - cache.freeBlocks(); }

    public List<KvSequence> sequences() { return sequences; }

    @Override public void close() { }

    // ---- logits functions -------------------------------------------------------------------------------------

    /** A hash of the whole visible history. */
    public static long historyHash(int[] visible, long salt) {
        long h = 0x9E3779B97F4A7C15L ^ salt;
        for (int t : visible) h = (h ^ t) * 0xBF58476D1CE4E5B9L + 0x94D049BB133111EBL;
        return h ^ (h >>> 31);
    }

    /** Gaussian logits of the given scale seeded from the whole history. */
    public static LogitsFunction random(int vocab, double scale, long salt) {
        return visible -> {
            SplittableRandom r = new SplittableRandom(historyHash(visible, salt));
            float[] l = new float[vocab];
            for (int i = 0; i < vocab; i++) l[i] = (float) (scale * r.nextGaussian());
            return l;
        };
    }

    /** {@code base} plus independent Gaussian noise: a draft that agrees more the smaller the noise. */
    public static LogitsFunction noisy(LogitsFunction base, double noise, long salt) {
        return visible -> {
            float[] l = base.logits(visible).clone();
            SplittableRandom r = new SplittableRandom(historyHash(visible, salt));
            for (int i = 0; i < l.length; i++) l[i] += (float) (noise * r.nextGaussian());
            return l;
        };
    }

    /** The negated logits of {@code base}: the draft prefers what the target likes least. */
    public static LogitsFunction adversarial(LogitsFunction base) {
        return visible -> {
            float[] l = base.logits(visible).clone();
            for (int i = 0; i < l.length; i++) l[i] = -l[i];
            return l;
        };
    }

    /** Nearly uniform logits. */
    public static LogitsFunction nearlyUniform(int vocab, long salt) {
        return random(vocab, 0.05, salt);
    }

    /**
     * Logits strongly favouring a fixed successor of the last token, with history-dependent noise, so output repeats
     * (good for prompt lookup) but not perfectly.
     */
    public static LogitsFunction repetitive(int vocab, double noise, long salt) {
        LogitsFunction r = random(vocab, noise, salt);
        return visible -> {
            float[] l = r.logits(visible).clone();
            int last = visible[visible.length - 1];
            l[(last * 7 + 3) % vocab] += 4;
            return l;
        };
    }
}
