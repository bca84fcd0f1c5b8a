package io.specdec.cuda;

/**
 * The device memory of one batch of held rounds on the draft's GPU ({@link CudaTransformer#draftHeldChains}): every
 * round's draft ids ({@code [round][G]}) and decision ints ({@code [round][G + 3]}, {@link ChainDecision}'s layout, the
 * status first), a scratch row of sampled ids per position, and the staged upload (all positions' metadata, the
 * position tables of {@code chain_take_ids}, the draws' uniforms). One upload starts a batch, one read-back ends it
 * ({@link #readDecisions}), whatever the number of rounds. A batch's rounds are bound to it ({@link CudaHeldChain#bind})
 * under an epoch: a round verified after another batch took the arena is refused, not silently wrong.
 */
final class HeldRoundsArena implements AutoCloseable {
    private final CudaDevice device;
    private int rounds, gammas;
    private DeviceBuffer ids, decisions, scratch, staged;
    private long stagedBytes;
    private long epoch;

    HeldRoundsArena(CudaDevice device) {
        this.device = device;
    }

    /** Starts a batch of {@code count} rounds of at most {@code gamma} drafts (grows the buffers); returns its epoch. */
    long begin(int count, int gamma) {
        if (count > rounds || gamma > gammas) {
            free();
            rounds = Math.max(count, Math.max(8, 2 * rounds));
            gammas = Math.max(gamma, Math.max(8, gammas));
            ids = device.allocate(4L * rounds * gammas);
            decisions = device.allocate(4L * rounds * stride());
            scratch = device.allocate(4L * rounds);
        }
        return ++epoch;
    }

    long epoch() { return epoch; }

    CudaDevice device() { return device; }

    /** G: the drafts a round's row of ids holds. */
    int gammaCapacity() { return gammas; }

    /** D: the ints a round's decision row holds. */
    int stride() { return ChainDecision.ints(gammas); }

    DeviceBuffer ids() { return ids; }

    DeviceBuffer decisions() { return decisions; }

    DeviceBuffer scratch() { return scratch; }

    DeviceBuffer ids(int round, int gamma) { return ids.slice(4L * round * gammas, 4L * gamma); }

    DeviceBuffer decision(int round, int gamma) { return decisions.slice(4L * round * stride(), 4L * ChainDecision.ints(gamma)); }

    /** Uploads a batch's staged ints (one host copy) and returns them on the device. */
    DeviceBuffer stage(int[] data) {
        if (4L * data.length > stagedBytes) {
            if (staged != null) device.free(staged);
            stagedBytes = Math.max(8L * data.length, 4096);
            staged = device.allocate(stagedBytes);
        }
        device.copyToDevice(staged, data);
        return staged;
    }

    /** The decision rows of rounds 0..count-1, in one copy to the host. */
    int[] readDecisions(int count) {
        int[] out = new int[count * stride()];
        device.copyToHost(out, decisions, out.length);
        return out;
    }

    private void free() {
        for (DeviceBuffer b : new DeviceBuffer[] {ids, decisions, scratch}) if (b != null) device.free(b);
    }

    @Override public void close() {
        free();
        if (staged != null) device.free(staged);
        ids = decisions = scratch = staged = null;
    }
}
