package io.specdec.cuda;

import io.specdec.core.speculative.SpeculativeSampler;

import java.util.Arrays;

/**
 * The ints a held chain round leaves in its arena on rank 0's GPU ({@link CudaHeldChain}) and the host reads once:
 * {@code [status, a, x1..xa, y, unused..]}, γ+3 ints. Status 0 is a decided round; 1 means a draft step's logits row
 * could not be sampled (a NaN, or no finite maximum), which the host path refuses too. The rest is the layout of the
 * acceptance kernels (spec_accept_finish, chain_greedy_accept_rows): the accepted count, the accepted drafts and the
 * replacement or bonus token.
 */
record ChainDecision(int status, SpeculativeSampler.Outcome outcome) {

    /** Ints of a round of {@code gamma} drafts. */
    static int ints(int gamma) {
        return gamma + 3;
    }

    static ChainDecision decode(int[] ints, int gamma, int vocab) {
        if (ints.length < ints(gamma)) {
            throw new IllegalArgumentException("a round of " + gamma + " drafts leaves " + ints(gamma) + " ints, got " + ints.length);
        }
        int status = ints[0];
        if (status != 0) {
            throw new IllegalStateException("a held chain's draft step produced an id outside the vocabulary (status " + status
                    + "): its logits row holds a NaN or no finite maximum");
        }
        int accepted = ints[1];
        if (accepted < 0 || accepted > gamma) {
            throw new IllegalStateException("a held chain round of " + gamma + " drafts reports " + accepted + " accepted: " + Arrays.toString(ints));
        }
        int[] emitted = Arrays.copyOfRange(ints, 2, accepted + 3);
        for (int t : emitted) {
            if (t < 0 || t >= vocab) {
                throw new IllegalStateException("a held chain round emitted id " + t + " outside the vocabulary of " + vocab
                        + " (a target logits row with a NaN?): " + Arrays.toString(ints));
            }
        }
        return new ChainDecision(status, new SpeculativeSampler.Outcome(accepted, emitted));
    }
}
