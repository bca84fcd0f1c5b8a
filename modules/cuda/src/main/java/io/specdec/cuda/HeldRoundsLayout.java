package io.specdec.cuda;

import io.specdec.core.backend.HeldRound;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.model.ModelConfig;

import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;

/**
 * The host half of a batch's held draft rounds ({@link CudaTransformer#draftHeldChains}): position i's forward is
 * the batch of rounds still drafting there ({@code members(i)}, in order), every position appended and described
 * before anything runs (the ids after a round's first step are placeholders) and its metadata laid back to back in
 * {@link #metadata()} for one upload. {@link #nextSlot} says where a round's id at position i goes: its token slot
 * in position i+1's metadata, which {@code chain_take_ids} fills on the device ({@link #staged}: the one upload).
 */
record HeldRoundsLayout(List<int[]> members, List<CudaTransformer.Step> steps, int[] offsets, int[] metadata) {

    /** Appends every step of every round to its sequence and describes the positions. */
    static HeldRoundsLayout of(ModelConfig config, List<HeldRound> rounds) {
        int longest = rounds.stream().mapToInt(HeldRound::gamma).max().orElse(0);
        List<int[]> members = new ArrayList<>(longest);
        List<CudaTransformer.Step> steps = new ArrayList<>(longest);
        int[] offsets = new int[longest + 1];
        for (int i = 0; i < longest; i++) {
            int at = i;
            int[] here = IntStream.range(0, rounds.size()).filter(r -> rounds.get(r).gamma() > at).toArray();
            List<SequenceInput> batch = new ArrayList<>(here.length);
            for (int r : here) batch.add(rounds.get(r).steps().get(i));
            CudaTransformer.Step step = CudaTransformer.describe(config, batch, CudaTransformer.append(config, batch));
            members.add(here);
            steps.add(step);
            offsets[i + 1] = offsets[i] + step.meta().length;
        }
        int[] metadata = new int[offsets[longest]];
        for (int i = 0; i < longest; i++) System.arraycopy(steps.get(i).meta(), 0, metadata, offsets[i], steps.get(i).meta().length);
        return new HeldRoundsLayout(members, steps, offsets, metadata);
    }

    int positions() { return steps.size(); }

    /** Index into {@link #metadata()} of round {@code round}'s token slot at position {@code i + 1}, or -1 when it ends at i. */
    int nextSlot(int i, int round) {
        if (i + 1 >= positions()) return -1;
        int j = java.util.Arrays.binarySearch(members.get(i + 1), round);
        return j < 0 ? -1 : offsets[i + 1] + j;
    }

    /**
     * The batch's one upload: every position's metadata ({@link #metadata()}, at {@code offsets}), then per position
     * the table of {@code chain_take_ids} (member k: its round, {@link #nextSlot}, 1 when its id is the row's argmax),
     * then per position the members' draw uniforms as f64 (8-byte aligned; 0 for greedy rounds).
     */
    Staged staged(List<HeldRound> rounds) {
        int n = positions();
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
                long bits = Double.doubleToRawLongBits(round.params().isGreedy() ? 0 : round.uniforms()[i]);
                all[uniformAt[i] + 2 * k] = (int) bits;            // little-endian, as the device reads a double
                all[uniformAt[i] + 2 * k + 1] = (int) (bits >>> 32);
            }
        }
        return new Staged(all, tableAt, uniformAt);
    }

    /** {@link #staged}'s ints and where each position's table and uniforms start in them. */
    record Staged(int[] ints, int[] tableAt, int[] uniformAt) { }

    int maxTokens() { return steps.stream().mapToInt(s -> s.plan().tokens()).max().orElse(0); }

    int maxRows() { return steps.stream().mapToInt(s -> s.plan().rows()).max().orElse(0); }

    int maxMetaInts() { return steps.stream().mapToInt(s -> s.meta().length).max().orElse(0); }
}
