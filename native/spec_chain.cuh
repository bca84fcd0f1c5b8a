// ---------------------------------------------------------------------------------------------------------------
// A chain round held on the device (issue #6 point 2; CudaHeldChain): each draft step's id feeds the next step's
// metadata token slot without a host round trip, and greedy verification compares ids where they are.
// ---------------------------------------------------------------------------------------------------------------

// Takes draft position i's ids of a batch of held rounds (HeldRoundsArena): member k of the position (its row k) is
// round table[3k] of the batch; its id comes from argmax[k] (greedy) or sampled[k] (sample_rows' output), per
// table[3k+2]; it goes to ids[round * G + i] and, when table[3k+1] >= 0, into that slot of the next position's staged
// metadata (its token slot). An id outside [0, V) (a NaN row) would make the next embedding gather read out of
// bounds: it is replaced by 0 and the round's status int (decisions[round * D]) set to 1, which the host reads with the
// round's decision and refuses. Position 0 resets every member's status first (every round drafts at position 0).
extern "C" __global__ void chain_take_ids(const int* __restrict__ argmax, const int* __restrict__ sampled,
                                          const int* __restrict__ table, int n, int i, int* __restrict__ ids, int G,
                                          int* __restrict__ staged, int V, int* __restrict__ decisions, int D) {
    int k = blockIdx.x * blockDim.x + threadIdx.x;
    if (k >= n) return;
    int r = table[3 * k], slot = table[3 * k + 1];
    int t = table[3 * k + 2] ? argmax[k] : sampled[k];
    bool ok = t >= 0 && t < V;
    ids[r * G + i] = ok ? t : 0;
    if (slot >= 0) staged[slot] = ok ? t : 0;
    if (i == 0) decisions[r * D] = ok ? 0 : 1;
    else if (!ok) decisions[r * D] = 1;
}

// Puts the ids of held rounds into a verify forward's token slots: entry e = (token offset in meta, round, gamma)
// copies ids[round * G .. + gamma) to meta[offset ..). One thread per (entry, draft) pair: grid over n * G.
extern "C" __global__ void chain_fill_tokens(int* __restrict__ meta, const int* __restrict__ table, int n,
                                             const int* __restrict__ ids, int G) {
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int e = x / G, j = x % G;
    if (e >= n) return;
    int offset = table[3 * e], r = table[3 * e + 1], gamma = table[3 * e + 2];
    if (j < gamma) meta[offset + j] = ids[r * G + j];
}

// Greedy verification of several held rounds in one launch (one thread each; SpeculativeSampler.Outcome.greedy,
// docs/ALGORITHMS.md §1): entry e = (round, first row, gamma); the round's drafts ids[round * G ..] against the target's
// argmax of rows first.. first+gamma. The decision goes to decisions[round * D + 1 ..] in spec_accept_finish's layout
// (the status int before it is the draft's): the accepted count a, the accepted drafts, then the target's token at row
// a (replacement, or the bonus after a full chain).
extern "C" __global__ void chain_greedy_accept_rows(const int* __restrict__ ids, int G, const int* __restrict__ best,
                                                    const int* __restrict__ table, int n, int* __restrict__ decisions, int D) {
    int e = blockIdx.x * blockDim.x + threadIdx.x;
    if (e >= n) return;
    int r = table[3 * e], first = table[3 * e + 1], gamma = table[3 * e + 2];
    const int* draft = ids + r * G;
    int* result = decisions + r * D + 1;
    int a = 0;
    while (a < gamma && draft[a] == best[first + a]) { result[1 + a] = draft[a]; a++; }
    result[0] = a;
    result[1 + a] = best[first + a];
}
