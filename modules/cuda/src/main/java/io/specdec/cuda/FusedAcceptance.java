package io.specdec.cuda;

import io.specdec.core.speculative.SpeculativeSampler;

/**
 * Chain verification on the device with the fused acceptance kernel (docs/ALGORITHMS.md §1, §6): one block per
 * draft position streams its p and q logits once for both softmax normalisers, takes the ratio at the drafted token,
 * decides with the given uniform and samples the residual (or the bonus row's p) on the device; a one-thread kernel
 * then picks the first rejection. The host uploads γ tokens and 2γ+1 uniforms and reads back γ+2 ints.
 */
public final class FusedAcceptance implements AutoCloseable {
    private final CudaDevice device;
    private final int maxGamma;
    private final DeviceBuffer draft, uAccept, uSample, rowOut, result;

    public FusedAcceptance(CudaDevice device, int maxGamma) {
        this.device = device;
        this.maxGamma = maxGamma;
        draft = device.allocate(4L * maxGamma);
        uAccept = device.allocate(4L * maxGamma);
        uSample = device.allocate(4L * (maxGamma + 1));
        rowOut = device.allocate(8L * (maxGamma + 1));
        result = device.allocate(4L * (maxGamma + 2));
    }

    public int maxGamma() { return maxGamma; }

    /**
     * @param pLogits     target logits [γ+1, vocab] f32 on the device (row γ is the bonus row)
     * @param qLogits     draft logits [γ, vocab] f32 on the device, the distributions the drafts were drawn from
     * @param tokens      the γ drafted tokens
     * @param uAccepts    γ uniforms for the acceptance tests
     * @param uSamples    γ+1 uniforms for the replacement (row i) or bonus (row γ) draw
     * @param temperature 0 for greedy (accept iff the draft is argmax p; replacement/bonus argmax p)
     */
    public SpeculativeSampler.Outcome verify(DeviceBuffer pLogits, DeviceBuffer qLogits, int[] tokens, float[] uAccepts,
                                             float[] uSamples, int vocab, float temperature) {
        launch(pLogits, qLogits, tokens, uAccepts, uSamples, vocab, temperature);
        int gamma = tokens.length;
        int[] out = new int[gamma + 2];
        device.copyToHost(out, result, gamma + 2);
        int accepted = out[0];
        return new SpeculativeSampler.Outcome(accepted, java.util.Arrays.copyOfRange(out, 1, accepted + 2));
    }

    /** The kernels alone (inputs uploaded, nothing read back), for timing. */
    public void launch(DeviceBuffer pLogits, DeviceBuffer qLogits, int[] tokens, float[] uAccepts, float[] uSamples,
                       int vocab, float temperature) {
        int gamma = tokens.length;
        if (gamma > maxGamma) throw new IllegalArgumentException("γ " + gamma + " > " + maxGamma);
        if (uAccepts.length < gamma || uSamples.length < gamma + 1) {
            throw new IllegalArgumentException("need " + gamma + " acceptance and " + (gamma + 1) + " sampling uniforms");
        }
        device.copyToDevice(draft, tokens);
        device.copyToDevice(uAccept, uAccepts);
        device.copyToDevice(uSample, uSamples);
        launchKernels(pLogits, qLogits, gamma, vocab, temperature);
    }

    /** The two kernels only, on the inputs of the last {@link #launch} (for timing the sampling stage alone). */
    public void launchKernels(DeviceBuffer pLogits, DeviceBuffer qLogits, int gamma, int vocab, float temperature) {
        launchKernels(pLogits, qLogits, draft, gamma, vocab, temperature);
    }

    /**
     * The two kernels with the γ draft ids already on the device ({@code draftIds}, a held chain's); the decision is
     * left in {@link #result()}.
     */
    void launchKernels(DeviceBuffer pLogits, DeviceBuffer qLogits, DeviceBuffer draftIds, int gamma, int vocab, float temperature) {
        launchKernels(pLogits, qLogits, draftIds, uAccept, uSample, gamma, vocab, temperature);
    }

    /**
     * As above with the uniforms already on the device elsewhere ({@code uAccepts}: γ, {@code uSamples}: γ+1; a held
     * chain's, uploaded before its verify forward, so several rounds of one batch need no upload between kernels).
     */
    void launchKernels(DeviceBuffer pLogits, DeviceBuffer qLogits, DeviceBuffer draftIds, DeviceBuffer uAccepts, DeviceBuffer uSamples,
                       int gamma, int vocab, float temperature) {
        if (gamma > maxGamma) throw new IllegalArgumentException("γ " + gamma + " > " + maxGamma);
        boolean greedy = temperature <= 0;
        device.launch("spec_accept_rows", gamma + 1, 1, 1024, pLogits, qLogits, draftIds, uAccepts, uSamples, gamma, vocab,
                greedy ? 1f : 1f / temperature, greedy ? 1 : 0, rowOut);
        device.launch("spec_accept_finish", 1, 1, 32, rowOut, draftIds, gamma, result);
    }

    /** The last decision: γ+2 ints, {accepted count a, the a accepted drafts, the replacement or bonus}. */
    DeviceBuffer result() { return result; }

    /** Per-row decisions of the last launch: {accepted(0/1), replacement-or-bonus token} for rows 0..γ. */
    public int[] rowDecisions(int gamma) {
        int[] out = new int[2 * (gamma + 1)];
        device.copyToHost(out, rowOut, out.length);
        return out;
    }

    @Override public void close() {
        for (DeviceBuffer b : new DeviceBuffer[]{draft, uAccept, uSample, rowOut, result}) device.free(b);
    }
}
