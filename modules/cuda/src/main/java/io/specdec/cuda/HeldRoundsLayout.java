package io.specdec.cuda;

import io.specdec.core.backend.HeldRound;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.model.ModelConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * The host half of a batch's held draft rounds ({@link CudaTransformer#draftHeldChains}): forward f runs draft
 * position {@code columns[f]} of the rounds {@code members(f)} (in order), exact or fuzzy ({@code fuzzy[f]}: EasySpec's
 * layer-parallel step). Normally forward i is position i of every round still drafting there; when some rounds' first
 * step must be exact and others' may be fuzzy (an EasySpec batch where only some rounds calibrate), position 0 runs as
 * two forwards, the exact rounds first, as the step path runs them. Every forward is appended and described before
 * anything runs (the ids after a round's first step are placeholders) and its metadata laid back to back in
 * {@link #metadata()} for one upload. {@link #nextSlot} says where a round's id goes: its token slot in the next
 * position's metadata, which {@code chain_take_ids} fills on the device ({@link #staged}: the one upload).
 */
record HeldRoundsLayout(List<int[]> members, List<CudaTransformer.Step> steps, int[] columns, boolean[] fuzzy, int[] offsets,
                        int[] metadata) {

    /** Every step exact (a draft that is not layer-parallel): one forward per position. */
    static HeldRoundsLayout of(ModelConfig config, List<HeldRound> rounds) {
        return of(config, rounds, null);
    }

    /**
     * Appends every step of every round to its sequence and describes the forwards. {@code exactFirst} null: every step
     * exact; otherwise round r's first step is exact when {@code exactFirst[r]}, fuzzy if not, and every later step fuzzy.
     */
    static HeldRoundsLayout of(ModelConfig config, List<HeldRound> rounds, boolean[] exactFirst) {
        if (exactFirst != null && exactFirst.length != rounds.size()) throw new IllegalArgumentException("one exactness per round");
        int longest = rounds.stream().mapToInt(HeldRound::gamma).max().orElse(0);
        List<int[]> members = new ArrayList<>(longest + 1);
        List<Boolean> fuzzy = new ArrayList<>(longest + 1);
        List<Integer> columns = new ArrayList<>(longest + 1);
        for (int i = 0; i < longest; i++) {
            int at = i;
            int[] here = IntStream.range(0, rounds.size()).filter(r -> rounds.get(r).gamma() > at).toArray();
            if (exactFirst == null || i > 0) {
                members.add(here);
                fuzzy.add(exactFirst != null);
                columns.add(i);
                continue;
            }
            int[] exact = IntStream.of(here).filter(r -> exactFirst[r]).toArray(), notExact = IntStream.of(here).filter(r -> !exactFirst[r]).toArray();
            if (exact.length > 0) {
                members.add(exact);
                fuzzy.add(false);
                columns.add(0);
            }
            if (notExact.length > 0) {
                members.add(notExact);
                fuzzy.add(true);
                columns.add(0);
            }
        }
        int n = members.size();
        List<CudaTransformer.Step> steps = new ArrayList<>(n);
        int[] offsets = new int[n + 1];
        boolean[] fuzzyFlags = new boolean[n];
        for (int f = 0; f < n; f++) {
            int column = columns.get(f);
            List<SequenceInput> batch = new ArrayList<>(members.get(f).length);
            for (int r : members.get(f)) batch.add(rounds.get(r).steps().get(column));
            CudaTransformer.Step step = CudaTransformer.describe(config, batch, CudaTransformer.append(config, batch));
            steps.add(step);
            offsets[f + 1] = offsets[f] + step.meta().length;
            fuzzyFlags[f] = fuzzy.get(f);
        }
        int[] metadata = new int[offsets[n]];
        for (int f = 0; f < n; f++) System.arraycopy(steps.get(f).meta(), 0, metadata, offsets[f], steps.get(f).meta().length);
        return new HeldRoundsLayout(members, steps, columns.stream().mapToInt(Integer::intValue).toArray(), fuzzyFlags, offsets, metadata);
    }

    /** Forwards to run (the draft positions, plus one when position 0 is split). */
    int forwards() { return steps.size(); }

    /** The draft position forward {@code f} runs. */
    int column(int f) { return columns[f]; }

    /**
     * Index into {@link #metadata()} of round {@code round}'s token slot in the forward of the position after forward
     * {@code f}'s, or -1 when the round ends at {@code f}. Only position 0 can be split, so a later position has one forward.
     */
    int nextSlot(int f, int round) {
        int next = f + 1;
        while (next < columns.length && columns[next] == columns[f]) next++;
        if (next >= columns.length) return -1;
        int j = java.util.Arrays.binarySearch(members.get(next), round);
        return j < 0 ? -1 : offsets[next] + j;
    }

    /**
     * The batch's one upload: every forward's metadata ({@link #metadata()}, at {@code offsets}), then per forward
     * the table of {@code chain_take_ids} (member k: its round, {@link #nextSlot}, 1 when its id is the row's argmax),
     * then per forward the members' draw uniforms at its position as f64 (8-byte aligned; 0 for greedy rounds).
     */
    Staged staged(List<HeldRound> rounds) {
        int n = forwards();
        int[] tableAt = new int[n], uniformAt = new int[n];
        int size = metadata.length;
        for (int i = 0; i < n; i++) {
            tableAt[i] = size;
            size += 3 * members.get(i).length;
        }
        size += size & 1;
        for (int i = 0; i < n; i++) {
            uniformAt[i] = size;
            size += 2 * members.get(i).length;
        }
        int[] all = java.util.Arrays.copyOf(metadata, size);
        for (int i = 0; i < n; i++) {
            int[] here = members.get(i);
            for (int k = 0; k < here.length; k++) {
                HeldRound round = rounds.get(here[k]);
                all[tableAt[i] + 3 * k] = here[k];
                all[tableAt[i] + 3 * k + 1] = nextSlot(i, here[k]);
                all[tableAt[i] + 3 * k + 2] = round.params().isGreedy() ? 1 : 0;
                long bits = Double.doubleToRawLongBits(round.params().isGreedy() ? 0 : round.uniforms()[columns[i]]);
                all[uniformAt[i] + 2 * k] = (int) bits;            // little-endian, as the device reads a double
                all[uniformAt[i] + 2 * k + 1] = (int) (bits >>> 32);
            }
        }
        return new Staged(all, tableAt, uniformAt);
    }

    /** {@link #staged}'s ints and where each forward's table and uniforms start in them. */
    record Staged(int[] ints, int[] tableAt, int[] uniformAt) { }

    int maxTokens() { return steps.stream().mapToInt(s -> s.plan().tokens()).max().orElse(0); }

    int maxRows() { return steps.stream().mapToInt(s -> s.plan().rows()).max().orElse(0); }

    int maxMetaInts() { return steps.stream().mapToInt(s -> s.meta().length).max().orElse(0); }
}
