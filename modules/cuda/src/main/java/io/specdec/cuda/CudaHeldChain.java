package io.specdec.cuda;

import io.specdec.core.backend.HeldChain;
import io.specdec.core.backend.LanguageModel;
import io.specdec.core.sampling.SamplingParams;

import java.util.List;
import java.util.Optional;

/**
 * One request's chain rounds kept on the GPU(s) of a target whose draft runs beside it: on the target's own GPU, or on
 * rank 0's GPU of a tensor-parallel target (issue #6 point 2, docs/DESIGN.md "the request's path"). Each round is bound
 * to the draft's {@link HeldRoundsArena} with the other rounds of its batch ({@link #bind}): the γ draft ids (each
 * step's argmax or device draw, fed to the next step's metadata token slot by {@code chain_take_ids}) and the decision
 * ({@link ChainDecision}) live there. The chain itself holds a sampled request's draft logits rows
 * ({@link CudaHeldLogits}, the fused kernel's q) and, for a tensor-parallel verify, its acceptance uniforms. The verify
 * forward's token slots are filled from the ids on the device; with several ranks they are NCCL-broadcast to every rank
 * and the decision is broadcast into each rank's own small buffer, so a rank in another process could roll its KV back
 * from its copy. The host reads the decision once.
 */
final class CudaHeldChain implements HeldChain {
    /** {@code -Dspecdec.cuda.hostDraftTokens=true}: draft ids come to the host after each draft step, as before. */
    static final String HOST_DRAFT_TOKENS = "specdec.cuda.hostDraftTokens";

    private final List<CudaRank> ranks;
    private final CudaDevice device;
    private final boolean greedy;
    private final int vocab;
    private final CudaHeldLogits logits;
    /** The decision's copy on ranks 1..N-1 (index 0 unused), each allocated and freed on its rank's thread. */
    private final DeviceBuffer[] received;
    private final int[] receivedCapacity;
    /** Rank 0 of a tensor-parallel verify, sampled: γ acceptance then γ+1 sample uniforms (f32), grown on demand. */
    private DeviceBuffer acceptUniforms;
    private int acceptCapacity;
    /** The last round: where it is held, its index there, the arena's epoch then, and its draft steps. */
    private HeldRoundsArena arena;
    private int index;
    private long epoch;
    private int drafted;
    private boolean closed;

    /** {@code ranks}: the tensor-parallel ranks, rank 0 on {@code device}; empty for a target on one GPU. */
    private CudaHeldChain(CudaDevice device, List<CudaRank> ranks, boolean greedy, int vocab) {
        this.ranks = List.copyOf(ranks);
        this.device = device;
        this.greedy = greedy;
        this.vocab = vocab;
        this.received = new DeviceBuffer[Math.max(1, ranks.size())];
        this.receivedCapacity = new int[Math.max(1, ranks.size())];
        device.preload("chain_take_ids", "chain_fill_tokens", "chain_greedy_accept", "chain_greedy_accept_rows", "sample_rows",
                "spec_accept_rows", "spec_accept_finish");
        this.logits = greedy ? null : new CudaHeldLogits(device, vocab, 8);
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
        if (!(draft.unwrapped() instanceof CudaTransformer d) || d.device() != device || d.role() != ParallelRole.SINGLE
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
        if (c.closed) throw new IllegalStateException("the held chain was closed");
        return c;
    }

    @Override public String acceptance() { return greedy ? "device-greedy" : "device-fused"; }

    @Override public String draftTokens() { return ranks.size() > 1 ? "device-nccl" : "device"; }

    boolean greedy() { return greedy; }

    int vocab() { return vocab; }

    CudaDevice device() { return device; }

    CudaHeldLogits logits() { return logits; }

    /** The draft steps of the round last bound. */
    int drafted() { return drafted; }

    /** Binds this request's next round of {@code gamma} drafts to row {@code index} of the arena's batch now starting. */
    void bind(HeldRoundsArena arena, int index, int gamma) {
        if (arena.device() != device) throw new IllegalArgumentException("a held round of GPU " + device.ordinal() + " drafted elsewhere");
        this.arena = arena;
        this.index = index;
        this.epoch = arena.epoch();
        this.drafted = gamma;
    }

    /** Where the last round is held; refuses one whose arena another batch has taken since. */
    HeldRoundsArena arena() {
        if (arena == null) throw new IllegalStateException("no held round was drafted");
        if (arena.epoch() != epoch) {
            throw new IllegalStateException("this held round's draft was overwritten by another batch's before it was verified");
        }
        return arena;
    }

    /** The round's row in its arena. */
    int index() { return index; }

    /** The round's γ ids. */
    DeviceBuffer ids(int gamma) { return arena().ids(index, gamma); }

    /** Where rank 0's acceptance kernel leaves the γ+2 ints after the status. */
    DeviceBuffer result(int gamma) { return arena().decision(index, gamma).slice(4, 4L * (gamma + 2)); }

    /** Rank {@code rank}'s decision buffer ({@link ChainDecision#ints} of them); call on that rank's thread. */
    DeviceBuffer decision(int rank, int gamma) {
        int n = ChainDecision.ints(gamma);
        if (rank == 0) return arena().decision(index, gamma);
        if (receivedCapacity[rank] < n) {
            CudaDevice d = ranks.get(rank).device();
            if (received[rank] != null) d.free(received[rank]);
            received[rank] = d.allocate(4L * Math.max(n, 16));
            receivedCapacity[rank] = Math.max(n, 16);
        }
        return received[rank].slice(0, 4L * n);
    }

    /** Uploads a sampled round's acceptance uniforms (γ, then γ+1) for a tensor-parallel verify on rank 0. */
    void uploadAcceptUniforms(float[] uAccept, float[] uSample) {
        int gamma = uAccept.length;
        if (gamma > acceptCapacity) {
            if (acceptUniforms != null) device.free(acceptUniforms);
            acceptCapacity = Math.max(gamma, 8);
            acceptUniforms = device.allocate(4L * (2 * acceptCapacity + 1));
        }
        device.copyToDevice(acceptUniforms, uAccept);
        device.copyToDevice(acceptUniforms.slice(4L * acceptCapacity, 4L * (acceptCapacity + 1)), uSample);
    }

    /** The uploaded acceptance uniforms of a sampled round. */
    DeviceBuffer acceptUniforms() { return acceptUniforms.slice(0, 4L * acceptCapacity); }

    DeviceBuffer sampleUniforms() { return acceptUniforms.slice(4L * acceptCapacity, 4L * (acceptCapacity + 1)); }

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
        arena();
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

    @Override public void close() {
        if (closed) return;
        closed = true;
        if (acceptUniforms != null) device.free(acceptUniforms);
        if (logits != null) logits.close();
        for (int r = 1; r < ranks.size(); r++) {
            DeviceBuffer b = received[r];
            if (b != null) {
                CudaRank rank = ranks.get(r);
                rank.run(() -> rank.device().free(b));
            }
        }
    }

    @Override public String toString() {
        return "CudaHeldChain[GPU " + device.ordinal() + ", " + Math.max(1, ranks.size()) + " ranks, " + acceptance() + "]";
    }
}
