package io.specdec.core.backend;

import io.specdec.core.sampling.SamplingParams;

import java.util.List;

/**
 * One request's held chain round, described but not yet run ({@link LanguageModel#draftHeldChains} runs those of a
 * batch together): its γ draft steps (the first catches the draft's cache up, the others carry placeholder ids), its
 * sampling parameters, the uniforms of its draws (null when greedy) and the chain that keeps the ids.
 */
public record HeldRound(List<SequenceInput> steps, SamplingParams params, double[] uniforms, HeldChain chain) {
    public HeldRound {
        steps = List.copyOf(steps);
        if (steps.isEmpty()) throw new IllegalArgumentException("a held round has at least one draft step");
        if (!params.isGreedy() && (uniforms == null || uniforms.length < steps.size())) {
            throw new IllegalArgumentException("a sampled held round of " + steps.size() + " steps needs " + steps.size() + " uniforms");
        }
        java.util.Objects.requireNonNull(chain, "chain");
    }

    /** γ, the round's draft steps. */
    public int gamma() { return steps.size(); }
}
