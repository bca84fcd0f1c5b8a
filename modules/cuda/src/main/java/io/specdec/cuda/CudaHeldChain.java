package io.specdec.cuda;

import io.specdec.core.backend.HeldChain;
import io.specdec.core.backend.LanguageModel;
import io.specdec.core.sampling.SamplingParams;

import java.util.List;
import java.util.Optional;

/**
 * A chain round kept on the GPU(s) of a target whose draft runs beside it: on the target's own GPU, or on rank 0's GPU
 * of a tensor-parallel target (issue #6 point 2, docs/DESIGN.md "the request's path"). On that GPU: the γ draft ids
 * (each step's argmax or device draw, fed to the next step's metadata token slot by {@code chain_take_id}), their
 * uniforms when sampling, the draft's logits rows ({@link CudaHeldLogits}, the fused kernel's q), the acceptance
 * uniforms and the decision ({@link ChainDecision}). The verify forward's token slots are filled there from the ids;
 * with several ranks they are NCCL-broadcast to every rank and the decision is broadcast into each rank's own small
 * buffer, so a rank in another process could roll its KV back from its copy. The host reads the decision once.
 */
final class CudaHeldChain implements HeldChain {
    /** {@code -Dspecdec.cuda.hostDraftTokens=true}: draft ids come to the host after each draft step, as before. */
    static final String HOST_DRAFT_TOKENS = "specdec.cuda.hostDraftTokens";

    private final List<CudaRank> ranks;
    private final CudaDevice device;
    private final boolean greedy;
    private final int vocab;
    private final CudaHeldLogits logits;
    private int capacity;
    /** Rank 0: ids [capacity] | decision [capacity + 3] | uniforms f64 [capacity]. */
    private DeviceBuffer ids, decision, uniforms;
    /** The decision's copy on ranks 1..N-1 (index 0 unused), each allocated and freed on its rank's thread. */
    private final DeviceBuffer[] received;
    private final int[] receivedCapacity;
    /** Draft steps of the last round ({@link #drafted}); a verify must be of that many. */
    private int drafted;
    /** Always 0: copied into the status int at the start of every round (a D2D copy, not a host upload). */
    private final DeviceBuffer zero;

    /** Rank 0, sampled rounds: the fused kernel's γ acceptance and γ+1 sample uniforms (f32), uploaded before the verify. */
    private DeviceBuffer acceptUniforms;

    /** {@code ranks}: the tensor-parallel ranks, rank 0 on {@code device}; empty for a target on one GPU. */
    private CudaHeldChain(CudaDevice device, List<CudaRank> ranks, boolean greedy, int vocab) {
        this.ranks = List.copyOf(ranks);
        this.device = device;
        this.greedy = greedy;
        this.vocab = vocab;
        this.received = new DeviceBuffer[Math.max(1, ranks.size())];
        this.receivedCapacity = new int[Math.max(1, ranks.size())];
        device.preload("chain_take_id", "chain_greedy_accept", "sample_rows", "spec_accept_rows", "spec_accept_finish");
        this.logits = greedy ? null : new CudaHeldLogits(device, vocab, 8);
        this.zero = device.allocate(4);
        device.copyToDevice(zero, new int[1]);
        grow(8);
    }

    /**
     * A held chain for {@code draft} (a single-GPU CudaTransformer on rank 0's GPU with the target's vocabulary) and a
     * greedy request without penalties or a temperature-only one the fused kernel decides; empty otherwise, or with
     * {@value #HOST_DRAFT_TOKENS} (the host path), or where the device-fused acceptance is switched off.
     */
    static Optional<HeldChain> open(List<CudaRank> ranks, LanguageModel draft, SamplingParams params, int vocab) {
        return open(ranks.getFirst().device(), ranks, draft, params, vocab);
    }

    /** As above for a target on one GPU, {@code device}. */
    static Optional<HeldChain> open(CudaDevice device, LanguageModel draft, SamplingParams params, int vocab) {
        return open(device, List.of(), draft, params, vocab);
    }

    private static Optional<HeldChain> open(CudaDevice device, List<CudaRank> ranks, LanguageModel draft, SamplingParams params,
                                            int vocab) {
        if (Boolean.getBoolean(HOST_DRAFT_TOKENS)) return Optional.empty();
        if (!(draft instanceof CudaTransformer d) || d.device() != device || d.role() != ParallelRole.SINGLE
                || d.config().vocabSize() != vocab) {
            return Optional.empty();
        }
        boolean greedy = params.isGreedy() && !params.hasPenalties();
        boolean sampled = params.isTemperatureOnly() && !Boolean.getBoolean("specdec.cuda.hostAcceptance")
                && !Boolean.getBoolean("specdec.cuda.hostSampling") && vocab <= DeviceSampler.MAX_VOCAB;
        if (!greedy && !sampled) return Optional.empty();
        return Optional.of(new CudaHeldChain(device, ranks, greedy, vocab));
    }

    static CudaHeldChain here(HeldChain held, CudaDevice device) {
        if (!(held instanceof CudaHeldChain c) || c.device != device) {
            throw new IllegalArgumentException("a held chain of another device (" + held + ") cannot be used on GPU " + device.ordinal());
        }
        return c;
    }

    @Override public String acceptance() { return greedy ? "device-greedy" : "device-fused"; }

    @Override public String draftTokens() { return ranks.size() > 1 ? "device-nccl" : "device"; }

    boolean greedy() { return greedy; }

    int vocab() { return vocab; }

    CudaDevice device() { return device; }

    CudaHeldLogits logits() { return logits; }

    int drafted() { return drafted; }

    /**
     * Starts a round of {@code gamma} draft steps whose metadata the caller stages (a batch's rounds share one upload):
     * room for them, the draws' uniforms uploaded when sampling, the status reset on the device.
     */
    void beginRound(int gamma, double[] draws) {
        if (gamma < 1) throw new IllegalArgumentException("a round has at least one draft step, got " + gamma);
        if (gamma > capacity) grow(Math.max(gamma, 2 * capacity));
        if (!greedy) device.copyToDevice(uniforms, java.util.Arrays.copyOf(draws, gamma));
        device.copy(decision.slice(0, 4), zero, 4);
        drafted = gamma;
    }

    /** Uploads a sampled round's acceptance uniforms (γ, then γ+1) ahead of its verify forward. */
    void uploadAcceptUniforms(float[] uAccept, float[] uSample) {
        device.copyToDevice(acceptUniforms, uAccept);
        device.copyToDevice(acceptUniforms.slice(4L * capacity, 4L * (capacity + 1)), uSample);
    }

    /** The uploaded acceptance uniforms of a sampled round. */
    DeviceBuffer acceptUniforms() { return acceptUniforms.slice(0, 4L * capacity); }

    DeviceBuffer sampleUniforms() { return acceptUniforms.slice(4L * capacity, 4L * (capacity + 1)); }

    /**
     * The host side of a round's verification: checks {@code input} ([fed tokens, γ placeholders], γ+1 rows) against
     * the round drafted, draws the uniforms of a sampled round as the host path draws them, has {@code verify} run the
     * forward and the acceptance (returning rank 0's decision ints) and settles the uniforms with the outcome.
     */
    io.specdec.core.speculative.SpeculativeSampler.Outcome verify(io.specdec.core.backend.SequenceInput input, SamplingParams params,
            io.specdec.core.sampling.Sampler sampler, Verifier verify) {
        int gamma = checkVerify(input, params);
        io.specdec.core.speculative.ChainUniforms u = greedy ? null : io.specdec.core.speculative.ChainUniforms.draw(sampler, gamma);
        int[] ints = verify.run(temperature(params), u == null ? null : u.accept(), u == null ? null : u.sample());
        io.specdec.core.speculative.SpeculativeSampler.Outcome outcome = ChainDecision.decode(ints, gamma, vocab).outcome();
        if (u != null) u.settle(sampler, outcome.accepted());
        return outcome;
    }

    /** Runs a verify with the round's uniforms (null when greedy); returns rank 0's decision ints. */
    interface Verifier {
        int[] run(float temperature, float[] uAccept, float[] uSample);
    }

    /** The γ of a verify of this round by {@code input}, after checking it fits (γ placeholders last, γ+1 rows). */
    int checkVerify(io.specdec.core.backend.SequenceInput input, SamplingParams params) {
        int gamma = drafted;
        if (gamma < 1 || input.tokens().length < gamma + 1) {
            throw new IllegalArgumentException("a verify of " + input.tokens().length + " tokens after a held round of " + drafted
                    + " draft steps");
        }
        if (input.logitRows().length != gamma + 1) {
            throw new IllegalArgumentException("a verify of " + gamma + " draft tokens asks for " + (gamma + 1) + " logits rows, got "
                    + input.logitRows().length);
        }
        if (greedy != params.isGreedy()) throw new IllegalArgumentException("the held chain was opened for other sampling than " + params);
        return gamma;
    }

    /** The fused kernel's temperature (0 when greedy); a temperature that underflows float still samples, as in DeviceSampler. */
    float temperature(SamplingParams params) {
        return greedy ? 0f : Math.max((float) params.temperature(), Float.MIN_NORMAL);
    }

    /** Draft step i's id. */
    DeviceBuffer id(int i) { return ids.slice(4L * i, 4); }

    /** The round's γ ids. */
    DeviceBuffer ids(int gamma) { return ids.slice(0, 4L * gamma); }

    /** Draft step i's uniform (sampling). */
    DeviceBuffer uniform(int i) { return uniforms.slice(8L * i, 8); }

    /** The status int (set by a draft step whose id is outside the vocabulary). */
    DeviceBuffer status() { return decision.slice(0, 4); }

    /** Where rank 0's acceptance kernel leaves the γ+2 ints after the status. */
    DeviceBuffer result(int gamma) { return decision.slice(4, 4L * (gamma + 2)); }

    /** Rank {@code rank}'s decision buffer ({@link ChainDecision#ints} of them); call on that rank's thread. */
    DeviceBuffer decision(int rank, int gamma) {
        int n = ChainDecision.ints(gamma);
        if (rank == 0) return decision.slice(0, 4L * n);
        if (receivedCapacity[rank] < n) {
            CudaDevice d = ranks.get(rank).device();
            if (received[rank] != null) d.free(received[rank]);
            received[rank] = d.allocate(4L * Math.max(n, 16));
            receivedCapacity[rank] = Math.max(n, 16);
        }
        return received[rank].slice(0, 4L * n);
    }

    private void grow(int n) {
        if (ids != null) for (DeviceBuffer b : new DeviceBuffer[] {ids, decision, uniforms, acceptUniforms}) device.free(b);
        ids = device.allocate(4L * n);
        decision = device.allocate(4L * ChainDecision.ints(n));
        uniforms = device.allocate(8L * n);
        acceptUniforms = device.allocate(4L * (2 * n + 1));
        capacity = n;
    }

    @Override public void close() {
        if (ids == null) return;
        for (DeviceBuffer b : new DeviceBuffer[] {ids, decision, uniforms, acceptUniforms, zero}) if (b != null) device.free(b);
        if (logits != null) logits.close();
        for (int r = 1; r < ranks.size(); r++) {
            DeviceBuffer b = received[r];
            if (b != null) {
                CudaRank rank = ranks.get(r);
                rank.run(() -> rank.device().free(b));
            }
        }
        ids = null;
    }

    @Override public String toString() {
        return "CudaHeldChain[GPU " + device.ordinal() + ", " + Math.max(1, ranks.size()) + " ranks, " + acceptance() + "]";
    }
}
