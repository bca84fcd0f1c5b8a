// Persistent decode (issue #4, -Dspecdec.cuda.persistentDecode): every layer of a one-token decode step in one kernel
// whose blocks stay resident and meet at grid-wide barriers where the graph path ends one kernel and starts the next.
// Included by specdec_kernels.cu after skinny_mma.cuh.
//
// Why: a one-token step of the Llama-3.2-1B shape is ~8 dependent kernels a layer, most of them a few µs of work, and
// each boundary costs the next kernel its wait for the whole previous grid plus its launch; the GEMMs alone, chained
// that way, reached only 0.74 of the HBM floor. Here a boundary is one atomic and a poll of one L2 word, and every
// block requests its next tile's first weights before it waits, so the weight stream keeps going across it.
//
// Same bits as the graph path (CudaTransformer's one-token forward with the same warps per tile): each phase runs the
// graph path's own block bodies (rmsnorm_vec_row, qkv_rope_append_block, attention_gqa, the skinny MMA tiles and
// their epilogues) on the same (virtual) block indices; only which SM runs a block changes. So verify passes, which
// keep the graph path, still equal decode steps bit for bit. The attention runs with BATCH 16 (the _many kernels'
// load grouping; same sums, same order).
//
// Layout: blocks of 8 warps, gridDim.x of them all resident (the host sizes the grid by occupancy; the kernel is
// launched normally, never as a programmatic dependent, and does not trigger its dependents, so no other kernel's
// blocks wait on an SM for it). A GEMM of S warps per 16-row tile (S = 4 or 8) runs 8/S tiles at once per block.
// Attention runs two of the grouped kernel's 4-warp blocks per block, each half with a named barrier of its own.

#define PD_WARPS 8
#define PD_THREADS (PD_WARPS * 32)

// flags (PersistentDecode.FLAGS_PROPERTY, diagnostics and benchmark ablations only; 0 in use): attention in one
// 4-warp half per block instead of two; the phases left out (outputs wrong: timing only); every thread fences after
// each grid barrier; blocks back off between polls of a barrier; no weights requested before a barrier; the next
// layer's q/k/v weights join the L2 prefetch (see prefetchUp).
#define PD_ONE_HALF 1
#define PD_SKIP_ATTENTION 2
#define PD_SKIP_GEMM 4
#define PD_SKIP_NORM_ROPE 8
#define PD_FENCE_ALL 16
#define PD_POLL_SLEEP 32
#define PD_NO_EARLY 64
#define PD_PREFETCH_QKV 128

// A layer's device pointers, in the order PersistentDecode.java writes them (8 bytes each).
struct PdLayer {
    const float* attnNorm;
    const bf16* wqkv;
    const bf16* wo;
    const float* ffnNorm;
    const bf16* wGateUp;
    const bf16* wDown;
    bf16* keys;
    bf16* values;
    const float* bqkv;
    const float* qNorm;
    const float* kNorm;
};

// Grid-wide barrier. words[0] counts arrivals over the whole kernel (the target grows by gridDim.x a barrier); the
// block whose arrival completes the count publishes the target in words[32] (its own cache line: the blocks poll it
// without queueing behind the arrivals' atomics on words[0]); the acquire load and the fences make every write before
// the barrier visible to every load after it. words[1] counts blocks out at the end (see decode_persistent).
#define PD_RELEASE_WORD 32
__device__ __forceinline__ void pd_grid_sync(unsigned* words, unsigned& target, int flags,
                                             unsigned long long* trace) {
    target += gridDim.x;
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence();
        if (atomicAdd(words, 1u) + 1 == target) {
            asm volatile("st.release.gpu.global.u32 [%0], %1;" :: "l"(words + PD_RELEASE_WORD), "r"(target) : "memory");
        } else {
            unsigned seen;
            while (true) {
                asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(seen) : "l"(words + PD_RELEASE_WORD) : "memory");
                if (seen >= target) break;
                if (flags & PD_POLL_SLEEP) __nanosleep(64);
            }
        }
        __threadfence();
    }
    __syncthreads();
    if (flags & PD_FENCE_ALL) __threadfence();
    if (trace && blockIdx.x == 0 && threadIdx.x == 0) {   // diagnostics: when block 0 leaves barrier k
        unsigned long long now;
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
        trace[target / gridDim.x] = now;
    }
}

// rmsnorm_vec_row for the widths the kernel takes (dim = 1024, 2048, 3072, 4096; the wider cases' registers would count
// against every phase of the kernel), into out (the block's copy in shared memory: every block that takes a tile of
// the next GEMM normalizes the residual itself, the same bits as one block for all, and no grid barrier waits for it).
#define PD_MAX_DIM 4096
__device__ __forceinline__ void pd_norm(const float* x, const float* w, bf16* out, int dim, float eps, long lo,
                                        float* scratch) {
    switch (dim >> 10) {
        case 1: rmsnorm_vec<1>(x, nullptr, w, out, dim, eps, lo, scratch, 0); break;
        case 2: rmsnorm_vec<2>(x, nullptr, w, out, dim, eps, lo, scratch, 0); break;
        case 3: rmsnorm_vec<3>(x, nullptr, w, out, dim, eps, lo, scratch, 0); break;
        case 4: rmsnorm_vec<4>(x, nullptr, w, out, dim, eps, lo, scratch, 0); break;
    }
}

// The first unit (8/S tiles) of a GEMM phase this block takes; reversed phases count from the last block, so the
// o projection lands on blocks that run no attention and can request its weights while the attention runs.
__device__ __forceinline__ int pd_first_unit(bool reversed) {
    return reversed ? (int) gridDim.x - 1 - (int) blockIdx.x : (int) blockIdx.x;
}

// Asks L2 to fetch and keep (evict_last) `bytes` from `base`, lines part, part + parts, ... of them (this block's
// share): fire and forget, no registers held.
__device__ __forceinline__ void pd_prefetch_l2(const void* base, long bytes, int part, int parts) {
    const char* p = reinterpret_cast<const char*>(base);
    for (long line = (long) part * PD_THREADS + threadIdx.x; line < bytes / 128; line += (long) parts * PD_THREADS) {
        asm volatile("prefetch.global.L2::evict_last [%0];" :: "l"(p + line * 128));
    }
}

// Whether this block takes a tile of a GEMM phase over `rows` output rows.
__device__ __forceinline__ bool pd_has_tile(int rows, int S, bool reversed) {
    int per = PD_WARPS / S;
    return pd_first_unit(reversed) < (rows / 16 + per - 1) / per;
}

// Requests this block's first tile of W[rows, K] (rows: the output rows of the phase) with its first weights (early).
__device__ __forceinline__ void pd_begin(SkinnyTile<1>& tile, const bf16* W, const bf16* x, int rows, int K, int S,
                                         bool reversed, int flags) {
    if (flags & PD_NO_EARLY) return;
    int warp = threadIdx.x >> 5, per = PD_WARPS / S;
    int t = pd_first_unit(reversed) * per + warp / S;
    if (t < rows / 16) skinny_tile_begin<1>(tile, W, x, t * 16, K, 1, 1, S, warp % S, threadIdx.x & 31);
}

// One GEMM phase, T = 1: y (+)= W[rows, K] · x, or with SWIGLU (W = [gate; up], rows = H) out = silu(gate) · up. The
// block's first tile was begun by pd_begin; slots: 8/S tiles' partials ([2][S][128] each with SWIGLU, else [S][128]).
template <bool SWIGLU, int XL>
__device__ void pd_gemm(SkinnyTile<1>& tile, float* slots, const bf16* W, const bf16* x, long xLo, float* y,
                        bf16* out, long outLo, int rows, int K, int S, int accumulate, bool reversed, int flags) {
    if (flags & PD_SKIP_GEMM) return;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, per = PD_WARPS / S;
    const int tiles = rows / 16, units = (tiles + per - 1) / per, slot = (SWIGLU ? 2 : 1) * S * 128;
    const int first = pd_first_unit(reversed);
    for (int unit = first; unit < units; unit += gridDim.x) {
        int q = warp / S, t = unit * per + q;
        if (t < tiles) {
            if (unit != first || (flags & PD_NO_EARLY)) skinny_tile_begin<1>(tile, W, x, t * 16, K, 1, 0, S, warp % S, lane);
            skinny_tile_partials<1, XL>(slots + q * slot, tile, xLo, S, warp % S, lane);
            if (SWIGLU) {
                skinny_tile_begin<1>(tile, W, x, rows + t * 16, K, 1, 0, S, warp % S, lane);
                skinny_tile_partials<1, XL>(slots + q * slot + S * 128, tile, xLo, S, warp % S, lane);
            }
        }
        __syncthreads();
        const int share = PD_THREADS / per, qe = threadIdx.x / share, te = unit * per + qe;
        if (te < tiles) {
            if (SWIGLU) skinny_swiglu_store<1>(out, slots + qe * slot, te * 16, rows, 1, outLo, S, threadIdx.x % share, share);
            else skinny_tile_store<1>(y, slots + qe * slot, te * 16, rows, 1, accumulate, S, threadIdx.x % share, share);
        }
        __syncthreads();
    }
}

// The whole layer stack of a one-token decode step of one sequence. x: the embedded token (in), the residual (out);
// layers: PdLayer[nLayers]; words: the barrier's zeroed words (arrivals, exits, release), zero again when the kernel
// ends. Warps per tile sQkv, sO, sGateUp, sDown as CudaTransformer's SkinnyGemmPlan chooses them (4 or 8). xbLo != 0:
// split activations, as the graph path's (the normalized rows' second parts sit dim elements after them here).
// Six grid barriers a layer: after the q/k/v GEMM, RoPE/append, attention, o, gate/up and down.
template <int DPL, bool HALF>
__device__ __forceinline__ void decode_persistent(
        const PdLayer* __restrict__ layers, float* x, float* qkv, float* q, bf16* att, bf16* hidden,
        const double* __restrict__ invFreq, const int* __restrict__ positions, const int* __restrict__ slots,
        const int* __restrict__ tokMeta, const int* __restrict__ seqMeta, const int* __restrict__ meta,
        int* kvSaturated, float* part, float* ml, int* counters, unsigned* words, int nLayers, int dim, int hiddenDim,
        int heads, int kvHeads, int blockSize, int window, int maxSplits, int interleaved, int sQkv, int sO,
        int sGateUp, int sDown, float eps, float scale, long xbLo, long attLo, long hiddenLo, int flags,
        unsigned long long* trace, long prefetchUp) {
    constexpr int HD = DPL * 32;
    constexpr int ATT_FLOATS = GQA_SMEM_FLOATS(HD);
    constexpr int GEMM_FLOATS = 2 * PD_WARPS * 128;   // [2][S][128] for 8/S tiles
    __shared__ __align__(16) float smem[2 * ATT_FLOATS > GEMM_FLOATS ? 2 * ATT_FLOATS : GEMM_FLOATS];
    __shared__ __align__(16) bf16 xs[2 * PD_MAX_DIM];   // this block's normalized residual [hi | lo]
    __shared__ float scratch[32];
    __shared__ int merging[2];
    const int qDim = heads * HD, kvDim = kvHeads * HD, qkvRows = qDim + 2 * kvDim;
    const int ropeBlocks = (heads + 2 * kvHeads + PD_WARPS - 1) / PD_WARPS;
    const int halfTid = threadIdx.x & 127, attBlocks = kvHeads * maxSplits;
    const int halves = flags & PD_ONE_HALF ? 1 : 2, half = threadIdx.x >> 7;
    const long xsLo = xbLo ? dim : 0;
    const bool norms = !(flags & PD_SKIP_NORM_ROPE);
    // the blocks that run neither RoPE nor attention (all of them where attention takes every block)
    const int busy = max(ropeBlocks, (attBlocks + halves - 1) / halves);
    const int prefetchFrom = busy < (int) gridDim.x ? busy : 0;
    unsigned target = 0;
    if (trace && blockIdx.x == 0 && threadIdx.x == 0) {
        unsigned long long now;
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(now));
        trace[0] = now;
    }
    SkinnyTile<1> tile;
    pd_begin(tile, layers[0].wqkv, xs, qkvRows, dim, sQkv, false, flags);
    for (int l = 0; l < nLayers; l++) {
        const PdLayer L = layers[l];
        if (norms && pd_has_tile(qkvRows, sQkv, false)) pd_norm(x, L.attnNorm, xs, dim, eps, xsLo, scratch);
        __syncthreads();
        pd_gemm<false, SKINNY_X_GENERIC>(tile, smem, L.wqkv, xs, xsLo, qkv, nullptr, 0, qkvRows, dim, sQkv, 0, false, flags);
        pd_grid_sync(words, target, flags, trace);
        // RoPE and attention leave the memory system idle: the blocks with no part in them have L2 fetch the weights
        // of the o projection, the first prefetchUp bytes of the MLP's up rows (each block's second gate/up pass)
        // and, with PD_PREFETCH_QKV, the next layer's q/k/v, so those phases read them at L2 speed
        if (prefetchUp > 0 && (int) blockIdx.x >= prefetchFrom) {
            int part = blockIdx.x - prefetchFrom, parts = gridDim.x - prefetchFrom;
            pd_prefetch_l2(L.wo, 2L * dim * qDim, part, parts);
            pd_prefetch_l2(L.wGateUp + (size_t) hiddenDim * dim, min(prefetchUp, 2L * hiddenDim * dim), part, parts);
            if ((flags & PD_PREFETCH_QKV) && l + 1 < nLayers) pd_prefetch_l2(layers[l + 1].wqkv, 2L * qkvRows * dim, part, parts);
        }
        if ((int) blockIdx.x < ropeBlocks && norms) {
            qkv_rope_append_block(qkv, L.bqkv, L.qNorm, L.kNorm, invFreq, positions, slots, q, L.keys, L.values, heads,
                                  kvHeads, HD, interleaved, eps, 0, HALF ? 1 : 0, kvSaturated, 1, 0, blockIdx.x, ropeBlocks);
        }
        pd_grid_sync(words, target, flags, trace);
        for (int vb = halves * blockIdx.x + half; half < halves && vb < attBlocks && !(flags & PD_SKIP_ATTENTION);
             vb += halves * gridDim.x) {
            GqaRow row;
            if (gqa_row(row, L.keys, L.values, tokMeta, seqMeta, meta, heads, kvHeads, blockSize, maxSplits, HD, 0, vb,
                        halfTid)) {
                attention_gqa<DPL, 16, false, HALF>(smem + half * ATT_FLOATS, row, q, L.keys, L.values, att, part, ml,
                        counters, meta, meta, reinterpret_cast<const unsigned*>(meta), heads, kvHeads, blockSize, window,
                        scale, maxSplits, attLo, 0, halfTid, 1 + half, merging + half);
            }
            gqa_sync(1 + half);   // the half's next block reuses its shared memory
        }
        pd_begin(tile, L.wo, att, dim, qDim, sO, true, flags);
        pd_grid_sync(words, target, flags, trace);
        pd_gemm<false, SKINNY_X_L2>(tile, smem, L.wo, att, attLo, x, nullptr, 0, dim, qDim, sO, 1, true, flags);
        pd_begin(tile, L.wGateUp, xs, hiddenDim, dim, sGateUp, false, flags);
        pd_grid_sync(words, target, flags, trace);
        if (norms && pd_has_tile(hiddenDim, sGateUp, false)) pd_norm(x, L.ffnNorm, xs, dim, eps, xsLo, scratch);
        __syncthreads();
        pd_gemm<true, SKINNY_X_GENERIC>(tile, smem, L.wGateUp, xs, xsLo, nullptr, hidden, hiddenLo, hiddenDim, dim,
                                        sGateUp, 0, false, flags);
        pd_begin(tile, L.wDown, hidden, dim, hiddenDim, sDown, false, flags);
        pd_grid_sync(words, target, flags, trace);
        pd_gemm<false, SKINNY_X_L2>(tile, smem, L.wDown, hidden, hiddenLo, x, nullptr, 0, dim, hiddenDim, sDown, 1, false,
                                    flags);
        if (l + 1 < nLayers) pd_begin(tile, layers[l + 1].wqkv, xs, qkvRows, dim, sQkv, false, flags);
        pd_grid_sync(words, target, flags, trace);
    }
    // every block has passed the last barrier before it counts itself out, so the last one out can reset the words
    if (threadIdx.x == 0 && atomicAdd(words + 1, 1u) == gridDim.x - 1) {
        words[0] = 0;
        words[1] = 0;
        words[PD_RELEASE_WORD] = 0;
        __threadfence();
    }
}

#define DECODE_PERSISTENT_KERNEL(NAME, DPL, HALF) \
extern "C" __global__ void __launch_bounds__(PD_THREADS, 2) NAME( \
        const PdLayer* __restrict__ layers, float* x, float* qkv, float* q, bf16* att, bf16* hidden, \
        const double* __restrict__ invFreq, const int* __restrict__ positions, const int* __restrict__ slots, \
        const int* __restrict__ tokMeta, const int* __restrict__ seqMeta, const int* __restrict__ meta, \
        int* kvSaturated, float* part, float* ml, int* counters, unsigned* words, int nLayers, int dim, int hiddenDim, \
        int heads, int kvHeads, int blockSize, int window, int maxSplits, int interleaved, int sQkv, int sO, \
        int sGateUp, int sDown, float eps, float scale, long xbLo, long attLo, long hiddenLo, int flags, \
        unsigned long long* trace, long prefetchUp) { \
    decode_persistent<DPL, HALF>(layers, x, qkv, q, att, hidden, invFreq, positions, slots, tokMeta, seqMeta, meta, \
            kvSaturated, part, ml, counters, words, nLayers, dim, hiddenDim, heads, kvHeads, blockSize, window, \
            maxSplits, interleaved, sQkv, sO, sGateUp, sDown, eps, scale, xbLo, attLo, hiddenLo, flags, trace, prefetchUp); \
}

DECODE_PERSISTENT_KERNEL(decode_persistent_hd64, 2, false)
DECODE_PERSISTENT_KERNEL(decode_persistent_hd128, 4, false)
DECODE_PERSISTENT_KERNEL(decode_persistent_hd64_f16, 2, true)
DECODE_PERSISTENT_KERNEL(decode_persistent_hd128_f16, 4, true)
