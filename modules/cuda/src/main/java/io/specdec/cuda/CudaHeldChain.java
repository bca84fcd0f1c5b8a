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
 * ({@link CudaHeldLogits}, the fused kernel's q). The verify ({@link HeldVerifications}, a batch of one or many) fills
 * the forward's token slots from the ids on the device; with several ranks rank 0 NCCL-broadcasts them to every rank
 * and decides alone (the ranks of one process share the KV bookkeeping). The host reads the decision once.
 */
final class CudaHeldChain implements HeldChain {
    /** {@code -Dspecdec.cuda.hostDraftTokens=true}: draft ids come to the host after each draft step, as before. */
    static final String HOST_DRAFT_TOKENS = "specdec.cuda.hostDraftTokens";

    private final int ranks;
    private final CudaDevice device;
    private final boolean greedy;
    private final int vocab;
    private final CudaHeldLogits logits;
    /** The last round: where it is held, its index there, the arena's epoch then, and its draft steps. */
    private HeldRoundsArena arena;
    private int index;
    private long epoch;
    private int drafted;
    private boolean closed;
    /** Stand-ins on the other replicas of a layer-parallel draft in this process, by replica ({@link #standIn}). */
    private final java.util.Map<Integer, CudaHeldChain> standIns = new java.util.HashMap<>();

    /** {@code ranks}: the tensor-parallel ranks, rank 0 on {@code device}; empty for a target on one GPU. */
    private CudaHeldChain(CudaDevice device, List<CudaRank> ranks, boolean greedy, int vocab) {
        this.ranks = Math.max(1, ranks.size());
        this.device = device;
        this.greedy = greedy;
        this.vocab = vocab;
        device.preload("chain_take_ids", "chain_fill_tokens", "chain_greedy_accept_rows", "sample_rows",
                "spec_accept_rows", "spec_accept_finish");
        this.logits = greedy ? null : new CudaHeldLogits(device, vocab, 8);
    }

    /** A stand-in: where another replica keeps its own copy of the round's ids; no draft logits (only the verify reads them). */
    private CudaHeldChain(CudaDevice device, boolean greedy, int vocab) {
        this.ranks = 1;
        this.device = device;
        this.greedy = greedy;
        this.vocab = vocab;
        this.logits = null;
    }

    /**
     * This chain on replica {@code replica} (on {@code on}) of a layer-parallel draft in this process
     * ({@link CudaLayerParallelModel}): every replica runs every draft step (they meet in the fuzzy steps' all-gathers)
     * and needs each step's id for its next step, so each computes the logits and takes the same id (bitwise identical
     * replicas, the same uniforms) into a stand-in bound to its own arena. Replica 0 uses the chain itself.
     */
    CudaHeldChain standIn(int replica, CudaDevice on) {
        if (replica == 0) return this;
        if (closed) throw new IllegalStateException("the held chain was closed");
        return standIns.computeIfAbsent(replica, r -> new CudaHeldChain(on, greedy, vocab));
    }

    /**
     * A held chain for {@code draft} (a single-GPU CudaTransformer on rank 0's GPU with the target's vocabulary, or a
     * group rank's layer replica on the rank's GPU) and a greedy request without penalties or a temperature-only one
     * the fused kernel decides; empty otherwise, or with {@value #HOST_DRAFT_TOKENS} (the host path), or where the
     * device-fused acceptance is switched off.
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
        if (!holdable(draft.unwrapped(), device, vocab)) return Optional.empty();
        boolean greedy = params.isGreedy() && !params.hasPenalties();
        boolean sampled = params.isTemperatureOnly() && !Boolean.getBoolean("specdec.cuda.hostAcceptance")
                && !Boolean.getBoolean("specdec.cuda.hostSampling") && vocab <= DeviceSampler.MAX_VOCAB;
        if (!greedy && !sampled) return Optional.empty();
        return Optional.of(new CudaHeldChain(device, ranks, greedy, vocab));
    }

    /**
     * Whether {@code draft}'s held rounds can be kept on {@code device}: a model on that GPU alone; a layer replica whose
     * every rank computes the logits (EasySpec drafts of a group over actors, one replica per rank); or a layer-parallel
     * draft of this process whose replica 0 is there (EasySpec over a tensor-parallel target's GPUs).
     */
    private static boolean holdable(LanguageModel draft, CudaDevice device, int vocab) {
        if (draft.config().vocabSize() != vocab) return false;
        if (draft instanceof CudaLayerParallelModel lp) return lp.device() == device;
        return draft instanceof CudaTransformer d && d.device() == device
                && (d.role() == ParallelRole.SINGLE || d.role() instanceof ParallelRole.LayerReplica lr && lr.everyRankLogits());
    }

    static CudaHeldChain here(HeldChain held, CudaDevice device) {
        if (!(held instanceof CudaHeldChain c) || c.device != device) {
            throw new IllegalArgumentException("a held chain of another device (" + held + ") cannot be used on GPU " + device.ordinal());
        }
        if (c.closed) throw new IllegalStateException("the held chain was closed");
        return c;
    }

    @Override public String acceptance() { return greedy ? "device-greedy" : "device-fused"; }

    @Override public String draftTokens() { return ranks > 1 ? "device-nccl" : "device"; }

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

    /** Where the acceptance leaves the round's γ+2 ints after the status. */
    DeviceBuffer result(int gamma) { return arena().decision(index, gamma).slice(4, 4L * (gamma + 2)); }

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
        if (logits != null) logits.close();
    }

    @Override public String toString() {
        return "CudaHeldChain[GPU " + device.ordinal() + ", " + ranks + " ranks, " + acceptance() + "]";
    }
}
