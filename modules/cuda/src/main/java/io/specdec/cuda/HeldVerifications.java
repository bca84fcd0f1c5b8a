package io.specdec.cuda;

import io.specdec.core.backend.RowUse;
import io.specdec.core.backend.SequenceInput;
import io.specdec.core.speculative.ChainUniforms;
import io.specdec.core.speculative.SpeculativeSampler;

import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * The held rounds one batched forward verifies on the GPU that decides them ({@link CudaTransformer#verifyHeldPart}: a
 * single GPU, a tensor-parallel target's rank 0, or each rank of a group over actors), grouped by the arena
 * their drafts are in (one per draft model, {@link HeldRoundsArena}). Per group ONE upload of tables
 * ({@link #ints()}: where each round's ids go in the verify's token slots, which rows the greedy ones compare, a
 * sampled round's acceptance uniforms, drawn here as the host path draws them), one {@code chain_fill_tokens} before
 * the forward, one {@code chain_greedy_accept_rows} after it (the fused kernel per sampled round) and ONE read-back of
 * every decision.
 */
final class HeldVerifications {
    /** One verified round: its input, chain, γ, first verify token slot, first logits row, and uniforms when sampled. */
    private record Entry(int input, CudaHeldChain chain, RowUse.HeldChainVerify use, int gamma, int tokenSlot, int firstRow,
                         ChainUniforms uniforms) { }

    /** The rounds of one arena and where their tables start in {@link #ints()}. */
    private record Group(HeldRoundsArena arena, List<Entry> entries, List<Entry> greedy, int fillAt, int greedyAt) { }

    private final CudaDevice device;
    private final List<Group> groups;
    private final int[] ints;
    /** Per sampled entry (by input index): where its γ + (γ+1) acceptance uniforms start in {@link #ints()}. */
    private final Map<Integer, Integer> uniformsAt;
    private final int inputs;

    private HeldVerifications(CudaDevice device, List<Group> groups, int[] ints, Map<Integer, Integer> uniformsAt, int inputs) {
        this.device = device;
        this.groups = groups;
        this.ints = ints;
        this.uniformsAt = uniformsAt;
        this.inputs = inputs;
    }

    /** The batch's held rounds (uniforms drawn for the sampled ones), or null when it has none. */
    static HeldVerifications of(List<SequenceInput> batch, List<RowUse> uses, CudaDevice device) {
        Map<HeldRoundsArena, List<Entry>> byArena = new IdentityHashMap<>();
        List<HeldRoundsArena> order = new ArrayList<>();
        int slot = 0, row = 0;
        for (int i = 0; i < batch.size(); i++) {
            int n = batch.get(i).tokens().length;
            if (uses.get(i) instanceof RowUse.HeldChainVerify h) {
                CudaHeldChain chain = CudaHeldChain.here(h.chain(), device);
                int gamma = chain.checkVerify(batch.get(i), h.params());
                ChainUniforms u = chain.greedy() ? null : ChainUniforms.draw(h.sampler(), gamma);
                HeldRoundsArena arena = chain.arena();
                if (!byArena.containsKey(arena)) order.add(arena);
                byArena.computeIfAbsent(arena, a -> new ArrayList<>()).add(new Entry(i, chain, h, gamma, slot + n - gamma, row, u));
            }
            slot += n;
            row += batch.get(i).logitRows().length;
        }
        if (order.isEmpty()) return null;
        List<int[]> parts = new ArrayList<>();
        int size = 0;
        List<Group> groups = new ArrayList<>();
        for (HeldRoundsArena arena : order) {
            List<Entry> entries = byArena.get(arena);
            List<Entry> greedy = entries.stream().filter(e -> e.chain().greedy()).toList();
            int[] fill = new int[3 * entries.size()];
            for (int k = 0; k < entries.size(); k++) {
                Entry e = entries.get(k);
                fill[3 * k] = e.tokenSlot();
                fill[3 * k + 1] = e.chain().index();
                fill[3 * k + 2] = e.gamma();
            }
            int[] accept = new int[3 * greedy.size()];
            for (int k = 0; k < greedy.size(); k++) {
                Entry e = greedy.get(k);
                accept[3 * k] = e.chain().index();
                accept[3 * k + 1] = e.firstRow();
                accept[3 * k + 2] = e.gamma();
            }
            groups.add(new Group(arena, entries, greedy, size, size + fill.length));
            parts.add(fill);
            parts.add(accept);
            size += fill.length + accept.length;
        }
        Map<Integer, Integer> uniformsAt = new java.util.HashMap<>();
        for (Group g : groups) {
            for (Entry e : g.entries()) {
                if (e.uniforms() == null) continue;
                uniformsAt.put(e.input(), size);
                int[] u = new int[2 * e.gamma() + 1];
                float[] a = e.uniforms().accept(), s = e.uniforms().sample();
                for (int j = 0; j < e.gamma(); j++) u[j] = Float.floatToRawIntBits(a[j]);
                for (int j = 0; j <= e.gamma(); j++) u[e.gamma() + j] = Float.floatToRawIntBits(s[j]);
                parts.add(u);
                size += u.length;
            }
        }
        int[] ints = new int[size];
        int at = 0;
        for (int[] p : parts) {
            System.arraycopy(p, 0, ints, at, p.length);
            at += p.length;
        }
        return new HeldVerifications(device, groups, ints, uniformsAt, batch.size());
    }

    /** The tables and uniforms, uploaded once before the forward. */
    int[] ints() { return ints; }

    boolean anyGreedy() { return groups.stream().anyMatch(g -> !g.greedy().isEmpty()); }

    /** The longest sampled round (0 when none): the fused kernel's size. */
    int longestSampled() {
        return groups.stream().flatMap(g -> g.entries().stream()).filter(e -> e.uniforms() != null).mapToInt(Entry::gamma).max().orElse(0);
    }

    /** Puts every round's ids into its verify tokens' slots of {@code meta} ({@code tables}: {@link #ints()} on the device). */
    void fillTokens(DeviceBuffer tables, DeviceBuffer meta) {
        for (Group g : groups) {
            int n = g.entries().size(), threads = n * g.arena().gammaCapacity();
            device.launch("chain_fill_tokens", (threads + 127) / 128, 1, 128, meta, tables.slice(4L * g.fillAt(), 12L * n), n,
                    g.arena().ids(), g.arena().gammaCapacity());
        }
    }

    /**
     * Enqueues every round's acceptance after the forward: the greedy ones of a group in one launch against the rows'
     * argmax ({@code argmax}, already computed), each sampled one by the fused kernel on its γ+1 rows of
     * {@code logits}; all decisions land in the arenas.
     */
    void accept(DeviceBuffer tables, DeviceBuffer argmax, DeviceBuffer logits, int vocab, FusedAcceptance fused) {
        for (Group g : groups) {
            if (!g.greedy().isEmpty()) {
                int n = g.greedy().size();
                device.launch("chain_greedy_accept_rows", (n + 127) / 128, 1, 128, g.arena().ids(), g.arena().gammaCapacity(), argmax,
                        tables.slice(4L * g.greedyAt(), 12L * n), n, g.arena().decisions(), g.arena().stride());
            }
            for (Entry e : g.entries()) {
                if (e.uniforms() == null) continue;
                int gamma = e.gamma(), u = uniformsAt.get(e.input());
                fused.launchKernels(logits.slice(4L * vocab * e.firstRow(), 4L * vocab * (gamma + 1)), e.chain().logits().rows(gamma),
                        e.chain().ids(gamma), tables.slice(4L * u, 4L * gamma), tables.slice(4L * (u + gamma), 4L * (gamma + 1)), gamma,
                        vocab, e.chain().temperature(e.use().params()));
                device.copy(e.chain().result(gamma), fused.result(), 4L * (gamma + 2));
            }
        }
    }

    /** Reads every group's decisions (one copy each) and returns each verified input's outcome (null elsewhere). */
    SpeculativeSampler.Outcome[] decide(int vocab) {
        SpeculativeSampler.Outcome[] out = new SpeculativeSampler.Outcome[inputs];
        for (Group g : groups) {
            int rows = g.entries().stream().mapToInt(e -> e.chain().index()).max().orElse(0) + 1;
            int[] all = g.arena().readDecisions(rows);
            int d = g.arena().stride();
            for (Entry e : g.entries()) {
                int[] mine = java.util.Arrays.copyOfRange(all, e.chain().index() * d, e.chain().index() * d + ChainDecision.ints(e.gamma()));
                SpeculativeSampler.Outcome o = ChainDecision.decode(mine, e.gamma(), vocab).outcome();
                if (e.uniforms() != null) e.uniforms().settle(e.use().sampler(), o.accepted());
                out[e.input()] = o;
            }
        }
        return out;
    }
}
