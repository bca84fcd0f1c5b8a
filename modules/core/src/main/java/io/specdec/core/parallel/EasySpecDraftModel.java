package io.specdec.core.parallel;

import io.specdec.core.backend.LanguageModel;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.kv.KvSequence;
import io.specdec.core.model.ModelConfig;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * EasySpec drafting over a {@link LayerParallelModel} (docs/ALGORITHMS.md §3): draft steps run fuzzy
 * (layer-parallel); the first forward of a round calibrates per the {@link CalibrationPolicy} — it crops the draft's
 * KV to the last exactly computed position and feeds everything after it exactly. A prompt is always fed exactly.
 * The target verifies as usual, so output stays lossless; only the acceptance rate can drop.
 */
public final class EasySpecDraftModel implements LanguageModel {
    private final LayerParallelModel model;
    private final CalibrationPolicy policy;
    private final Map<KvSequence, Marks> marks = new WeakHashMap<>();
    private final AtomicLong exactTokens = new AtomicLong();
    private final AtomicLong fuzzyTokens = new AtomicLong();
    private final AtomicLong calibrations = new AtomicLong();
    private final AtomicLong recomputedTokens = new AtomicLong();

    /** Per sequence: how far its K/V is exact, and whether its next forward must be exact. */
    private static final class Marks {
        int exact;
        boolean nextExact = true;
    }

    /** What the drafting cost: tokens fed exactly and fuzzily, calibrations, tokens re-fed by calibrations. */
    public record Stats(long exactTokens, long fuzzyTokens, long calibrations, long recomputedTokens) {
    }

    public EasySpecDraftModel(LayerParallelModel model, CalibrationPolicy policy) {
        this.model = model;
        this.policy = policy;
    }

    public LayerParallelModel model() { return model; }

    public CalibrationPolicy policy() { return policy; }

    public Stats stats() {
        return new Stats(exactTokens.get(), fuzzyTokens.get(), calibrations.get(), recomputedTokens.get());
    }

    @Override public ModelConfig config() { return model.config(); }

    @Override public KvSequence newSequence() { return model.newSequence(); }

    private synchronized Marks marks(KvSequence seq) {
        return marks.computeIfAbsent(seq, s -> new Marks());
    }

    /**
     * Turns a round's first (catch-up) input into what this policy feeds: calibrating, it first crops the sequence to
     * its last exact position and prepends the tokens cropped (the input's logit row moves with them).
     *
     * @param allAccepted whether every token of the previous round's draft was accepted
     */
    public SequenceInput startRound(SequenceInput catchUp, boolean allAccepted) {
        KvSequence seq = catchUp.sequence();
        Marks m = marks(seq);
        int start = seq.length();
        m.exact = Math.min(m.exact, start); // rejected drafts were truncated away
        boolean calibrate = start == 0 || switch (policy) {
            case NEVER -> false;
            case EVERY_ROUND -> true;
            case EVERY_MISMATCH -> !allAccepted;
        };
        m.nextExact = calibrate;
        if (!calibrate || m.exact == start) return catchUp;
        calibrations.incrementAndGet();
        int[] kept = seq.tokens();
        int[] refed = Arrays.copyOfRange(kept, m.exact, start);
        recomputedTokens.addAndGet(refed.length);
        seq.truncate(m.exact);
        int[] tokens = new int[refed.length + catchUp.tokens().length];
        System.arraycopy(refed, 0, tokens, 0, refed.length);
        System.arraycopy(catchUp.tokens(), 0, tokens, refed.length, catchUp.tokens().length);
        int[] rows = catchUp.logitRows().clone();
        for (int i = 0; i < rows.length; i++) rows[i] += refed.length;
        return SequenceInput.chain(seq, tokens, rows);
    }

    @Override
    public List<float[][]> forward(List<SequenceInput> batch) {
        return run(batch, model::forward, model::forwardFuzzy, List.of());
    }

    @Override
    public int[] forwardArgmax(List<SequenceInput> batch) {
        // each input asks for one row or more: gather per input, then flatten in batch order
        List<int[]> perInput = run(batch, b -> split(model.forwardArgmax(b), b), b -> split(model.forwardFuzzyArgmax(b), b), List.of());
        return perInput.stream().flatMapToInt(java.util.Arrays::stream).toArray();
    }

    private static List<int[]> split(int[] flat, List<SequenceInput> batch) {
        List<int[]> out = new ArrayList<>(batch.size());
        int at = 0;
        for (SequenceInput in : batch) {
            out.add(Arrays.copyOfRange(flat, at, at + in.logitRows().length));
            at += in.logitRows().length;
        }
        return out;
    }

    /** Runs the exact inputs and the fuzzy inputs of {@code batch} as two forwards; results in batch order. */
    private <T> List<T> run(List<SequenceInput> batch, java.util.function.Function<List<SequenceInput>, List<T>> exactForward,
                            java.util.function.Function<List<SequenceInput>, List<T>> fuzzyForward, List<T> none) {
        List<SequenceInput> exact = new ArrayList<>();
        List<SequenceInput> fuzzy = new ArrayList<>();
        boolean[] isExact = new boolean[batch.size()];
        for (int i = 0; i < batch.size(); i++) {
            SequenceInput in = batch.get(i);
            Marks m = marks(in.sequence());
            isExact[i] = m.nextExact || in.sequence().length() == 0;
            (isExact[i] ? exact : fuzzy).add(in);
        }
        List<T> exactOut = exact.isEmpty() ? none : exactForward.apply(exact);
        List<T> fuzzyOut = fuzzy.isEmpty() ? none : fuzzyForward.apply(fuzzy);
        List<T> out = new ArrayList<>(batch.size());
        int e = 0, f = 0;
        for (int i = 0; i < batch.size(); i++) {
            SequenceInput in = batch.get(i);
            Marks m = marks(in.sequence());
            if (isExact[i]) {
                out.add(exactOut.get(e++));
                exactTokens.addAndGet(in.tokens().length);
                m.exact = in.sequence().length();
                m.nextExact = false;
            } else {
                out.add(fuzzyOut.get(f++));
                fuzzyTokens.addAndGet(in.tokens().length);
            }
        }
        return out;
    }

    /**
     * The model that holds this draft's state: the replica's (a target may then hold this draft's rounds beside it,
     * {@link LanguageModel#holdDraftChain}; they are drafted here, {@link #draftHeldChains}, with fuzzy steps).
     */
    @Override public LanguageModel unwrapped() { return model.unwrapped(); }

    /**
     * Held rounds drafted as the step path drafts them ({@link io.specdec.core.speculative.ModelDrafter#startHeldRound}
     * has applied the policy to each round's first step): a round's first step exact when it calibrates or starts a
     * sequence, fuzzy otherwise, every later step fuzzy; the exact first steps run as one forward and the fuzzy ones as
     * another, as {@link #forward} runs a step's batch.
     */
    @Override
    public void draftHeldChains(List<io.specdec.core.backend.HeldRound> rounds) {
        int[] starts = new int[rounds.size()];
        boolean[] exactFirst = new boolean[rounds.size()];
        for (int i = 0; i < rounds.size(); i++) {
            KvSequence seq = rounds.get(i).steps().getFirst().sequence();
            starts[i] = seq.length();
            exactFirst[i] = marks(seq).nextExact || starts[i] == 0;
        }
        model.draftHeldChains(rounds, exactFirst);
        for (int i = 0; i < rounds.size(); i++) {
            io.specdec.core.backend.HeldRound r = rounds.get(i);
            SequenceInput first = r.steps().getFirst();
            Marks m = marks(first.sequence());
            if (exactFirst[i]) {
                exactTokens.addAndGet(first.tokens().length);
                m.exact = starts[i] + first.tokens().length;
            } else {
                fuzzyTokens.addAndGet(first.tokens().length);
            }
            m.nextExact = false;
            fuzzyTokens.addAndGet(r.gamma() - 1L);
        }
    }

    @Override public void close() { model.close(); }

    @Override public String toString() {
        return "EasySpec[plan " + model.plan() + " on " + model.replicas() + " devices, calibration " + policy + "]";
    }
}
