// ---------------------------------------------------------------------------------------------------------------
// A chain round held on the device (issue #6 point 2; CudaHeldChain): each draft step's id feeds the next step's
// metadata token slot without a host round trip, and greedy verification compares ids where they are.
// ---------------------------------------------------------------------------------------------------------------

// Takes draft step i's id (*src: argmax_rows' or sample_rows' output) into ids[i] and, when next_token is given, into
// the next step's metadata token slot. An id outside [0, V) (a NaN row) would make the next embedding gather read out
// of bounds: it is replaced by 0 and *status set to 1, which the host reads with the round's result and refuses.
// src may be id itself (a sampled step draws into its slot), hence no __restrict__.
extern "C" __global__ void chain_take_id(const int* src, int* id, int* next_token, int V, int* status) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    int t = *src;
    bool ok = t >= 0 && t < V;
    *id = ok ? t : 0;
    if (next_token) *next_token = ok ? t : 0;
    if (!ok) *status = 1;
}

// Greedy chain verification from the target's argmax ids (SpeculativeSampler.Outcome.greedy, docs/ALGORITHMS.md §1):
// result[0] = accepted count a; result[1..a+1] = the accepted drafts, then the target's token at row a (replacement,
// or the bonus after a full chain) — the layout of spec_accept_finish.
extern "C" __global__ void chain_greedy_accept(const int* __restrict__ draft, const int* __restrict__ best, int gamma,
                                               int* __restrict__ result) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    int a = 0;
    while (a < gamma && draft[a] == best[a]) { result[1 + a] = draft[a]; a++; }
    result[0] = a;
    result[1 + a] = best[a];
}
