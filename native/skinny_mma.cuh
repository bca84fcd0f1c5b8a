// Skinny GEMM on the tensor cores for verify-sized passes: y[T, N] (+)= x[T, K] · W[N, K]ᵀ with 1 <= T <= 8 (or, in the
// *16 kernels, 9 <= T <= 16: G = 2 groups of 8 tokens, each with MMAs and accumulators of its own on the same weight
// fragments, so token i of a group adds up exactly as it would at position i of a one-group pass), bf16 inputs, fp32
// accumulation. Included by specdec_kernels.cu.
//
// Why: the CUDA-core GEMV (gemv_rows<T>) issues T multiply-adds and conversions per weight element, so at T = 4..8 a
// verify pass becomes issue-bound and costs ~1.25x a decode step; an m16n8k16 MMA does 16 rows x 8 tokens x 16 k in
// one instruction, so a verify pass stays a pure weight stream.
//
// Layout: a block is S warps over one tile of 16 output rows; warp w takes the 32-wide k chunks w, w+S, ... Inside a
// chunk, lane (g = lane/4, t = lane%4) loads 16 contiguous bytes: W[row0+g][8t..8t+7], W[row0+g+8][8t..8t+7] and
// x[token g][8t..8t+7]. The k order inside a chunk is thereby permuted, identically for W and x (a dot product does
// not care): logical k pairs (2t, 2t+1) and (2t+8, 2t+9) of the first MMA are physical 8t+{0,1} and 8t+{2,3}; the
// second MMA takes 8t+{4,5} and 8t+{6,7}. Partial 16x8G tiles of the S warps meet in shared memory.
// Requires N % 16 == 0 and K % 32 == 0 (the caller falls back to gemv_bf16 otherwise). grid: N/16, block: 32*S,
// dynamic shared memory: S * 128 * G floats.

__device__ __forceinline__ void mma_bf16_16x8x16(float* c, unsigned a0, unsigned a1, unsigned a2, unsigned a3,
                                                 unsigned b0, unsigned b1) {
#if __CUDA_ARCH__ >= 800
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                 : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                 : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
#endif
}

#define SKINNY_MMA_UNROLL 4

// A register cap for the skinny kernels, for builds of their own (bench/gpu/fatbin-rounds.sh; -DSKINNY_MAXNREG=64):
// whether the next kernel's blocks fit on an SM beside this one's decides whether a programmatic launch starts them
// early. Measured in session 15 (64, with the hd64 RoPE attention at 128): slower, so the default build sets none.
#ifdef SKINNY_MAXNREG
#define SKINNY_REGS __maxnreg__(SKINNY_MAXNREG)
#else
#define SKINNY_REGS
#endif

// One batch of the main loop, in two halves so that the first batch's weights can be requested before pdl_wait:
// the weights of chunks ch, ch+S, ... (SKINNY_MMA_UNROLL of them), then x of the same chunks and the MMAs.
__device__ __forceinline__ void skinny_load_w(uint4* lo, uint4* hi, const uint4* wLo, const uint4* wHi, int ch, int S) {
#pragma unroll
    for (int u = 0; u < SKINNY_MMA_UNROLL; u++) {
        int i = 4 * (ch + u * S);
        lo[u] = __ldcs(wLo + i);
        hi[u] = __ldcs(wHi + i);
    }
}

// SPLIT: x has a second part xLo4 uint4 further on (store_act in specdec_kernels.cu), multiplied by the same weights.
// G token groups: group j's x rows start at xr[j], its accumulators at c + 4j.
template <bool SPLIT, int G>
__device__ __forceinline__ void skinny_mma_x(float* c, const uint4* lo, const uint4* hi, const uint4* const* xr,
                                             long xLo4, const bool* hasToken, int ch, int S) {
    const uint4 zero = make_uint4(0, 0, 0, 0);
    uint4 xv[G][SKINNY_MMA_UNROLL], xl[G][SKINNY_MMA_UNROLL];
#pragma unroll
    for (int j = 0; j < G; j++) {
#pragma unroll
        for (int u = 0; u < SKINNY_MMA_UNROLL; u++) xv[j][u] = hasToken[j] ? __ldg(xr[j] + 4 * (ch + u * S)) : zero;
        if (SPLIT) {
#pragma unroll
            for (int u = 0; u < SKINNY_MMA_UNROLL; u++) xl[j][u] = hasToken[j] ? __ldg(xr[j] + xLo4 + 4 * (ch + u * S)) : zero;
        }
    }
#pragma unroll
    for (int u = 0; u < SKINNY_MMA_UNROLL; u++) {
#pragma unroll
        for (int j = 0; j < G; j++) {
            float* cj = c + 4 * j;
            mma_bf16_16x8x16(cj, lo[u].x, hi[u].x, lo[u].y, hi[u].y, xv[j][u].x, xv[j][u].y);
            mma_bf16_16x8x16(cj, lo[u].z, hi[u].z, lo[u].w, hi[u].w, xv[j][u].z, xv[j][u].w);
            if (SPLIT) {
                mma_bf16_16x8x16(cj, lo[u].x, hi[u].x, lo[u].y, hi[u].y, xl[j][u].x, xl[j][u].y);
                mma_bf16_16x8x16(cj, lo[u].z, hi[u].z, lo[u].w, hi[u].w, xl[j][u].z, xl[j][u].w);
            }
        }
    }
}

// The main loop after pdl_wait: the batch of weights requested early (if any), whole batches, then the remainder.
template <bool SPLIT, int G>
__device__ __forceinline__ void skinny_mma_loop(float* c, uint4* lo, uint4* hi, const uint4* wLo, const uint4* wHi,
                                                const uint4* const* xr, long xLo4, const bool* hasToken, bool early,
                                                int ch, int S, int chunks) {
    const uint4 zero = make_uint4(0, 0, 0, 0);
    if (early) {
        skinny_mma_x<SPLIT, G>(c, lo, hi, xr, xLo4, hasToken, ch, S);
        ch += SKINNY_MMA_UNROLL * S;
    }
    for (; ch + (SKINNY_MMA_UNROLL - 1) * S < chunks; ch += SKINNY_MMA_UNROLL * S) {
        skinny_load_w(lo, hi, wLo, wHi, ch, S);
        skinny_mma_x<SPLIT, G>(c, lo, hi, xr, xLo4, hasToken, ch, S);
    }
    for (; ch < chunks; ch += S) {
        int i = 4 * ch;
        uint4 wl = __ldcs(wLo + i), wh = __ldcs(wHi + i);
#pragma unroll
        for (int j = 0; j < G; j++) {
            float* cj = c + 4 * j;
            uint4 xv = hasToken[j] ? __ldg(xr[j] + i) : zero;
            mma_bf16_16x8x16(cj, wl.x, wh.x, wl.y, wh.y, xv.x, xv.y);
            mma_bf16_16x8x16(cj, wl.z, wh.z, wl.w, wh.w, xv.z, xv.w);
            if (SPLIT) {
                uint4 xl = hasToken[j] ? __ldg(xr[j] + xLo4 + i) : zero;
                mma_bf16_16x8x16(cj, wl.x, wh.x, wl.y, wh.y, xl.x, xl.y);
                mma_bf16_16x8x16(cj, wl.z, wh.z, wl.w, wh.w, xl.z, xl.w);
            }
        }
    }
}

// A warp's share of one 16-row tile: its rows' and each token group's x addresses, its first k chunk (warp, then
// every S-th), and the first batch of weights when they were requested before pdl_wait (earlyWeights; the weights are
// the same for every step, so nothing an earlier kernel writes is read before the wait).
template <int G>
struct SkinnyTile {
    const uint4* wLo;
    const uint4* wHi;
    const uint4* xr[G];
    bool hasToken[G];
    bool early;
    int ch, chunks;
    uint4 lo[SKINNY_MMA_UNROLL], hi[SKINNY_MMA_UNROLL];
};

template <int G>
__device__ __forceinline__ void skinny_tile_begin(SkinnyTile<G>& tile, const bf16* __restrict__ W,
                                                  const bf16* __restrict__ x, int row0, int K, int T, int earlyWeights,
                                                  int S, int warp, int lane) {
    const int g = lane >> 2, t = lane & 3;
    tile.chunks = K >> 5;
    // chunk ch covers uint4 index 4*ch + t of a row (32 bf16 = 4 uint4 per chunk)
    tile.wLo = reinterpret_cast<const uint4*>(W + (size_t) (row0 + g) * K) + t;
    tile.wHi = reinterpret_cast<const uint4*>(W + (size_t) (row0 + g + 8) * K) + t;
#pragma unroll
    for (int j = 0; j < G; j++) {   // group j: tokens 8j..8j+7, this lane's token 8j+g
        tile.hasToken[j] = 8 * j + g < T;
        tile.xr[j] = reinterpret_cast<const uint4*>(x + (size_t) (tile.hasToken[j] ? 8 * j + g : 0) * K) + t;
    }
    tile.ch = warp;
    tile.early = earlyWeights && tile.ch + (SKINNY_MMA_UNROLL - 1) * S < tile.chunks;
    if (tile.early) skinny_load_w(tile.lo, tile.hi, tile.wLo, tile.wHi, tile.ch, S);
}

// Accumulates the warp's partial 16x8 tile of each group into c + 4j; call after pdl_wait. xLo as in gemm_skinny_mma.
template <int G>
__device__ __forceinline__ void skinny_tile_run(float* c, SkinnyTile<G>& tile, long xLo, int S) {
    if (xLo) skinny_mma_loop<true, G>(c, tile.lo, tile.hi, tile.wLo, tile.wHi, tile.xr, xLo / 8, tile.hasToken,
                                      tile.early, tile.ch, S, tile.chunks);
    else skinny_mma_loop<false, G>(c, tile.lo, tile.hi, tile.wLo, tile.wHi, tile.xr, 0, tile.hasToken, tile.early,
                                   tile.ch, S, tile.chunks);
}

// Stores a warp's accumulator fragments in its [16 rows][8G tokens] slot: group j's c0, c1 = (row g, tokens 8j+2t,
// 8j+2t+1); c2, c3 = (row g+8, the same tokens).
template <int G>
__device__ __forceinline__ void skinny_mma_spill(float* mine, const float* c, int lane) {
    const int g = lane >> 2, t = lane & 3;
#pragma unroll
    for (int j = 0; j < G; j++) {
        const float* cj = c + 4 * j;
        mine[g * 8 * G + 8 * j + 2 * t] = cj[0];
        mine[g * 8 * G + 8 * j + 2 * t + 1] = cj[1];
        mine[(g + 8) * 8 * G + 8 * j + 2 * t] = cj[2];
        mine[(g + 8) * 8 * G + 8 * j + 2 * t + 1] = cj[3];
    }
}

// The block's partial tiles of rows row0.. (begun with skinny_tile_begin; call after pdl_wait): warp w's 16x8G partial
// into slots[w] (the [S][16 rows][8G tokens] layout the epilogues add up in warp order).
template <int G>
__device__ __forceinline__ void skinny_tile_partials(float* slots, SkinnyTile<G>& tile, long xLo) {
    const int S = blockDim.x >> 5, warp = threadIdx.x >> 5;
    float c[4 * G];
#pragma unroll
    for (int i = 0; i < 4 * G; i++) c[i] = 0.f;
    skinny_tile_run<G>(c, tile, xLo, S);
    skinny_mma_spill<G>(slots + warp * 128 * G, c, threadIdx.x & 31);
}

// Launched as a programmatic dependent, the GEMM starts while the latency-bound kernel before it (attention, a norm,
// SwiGLU) runs. With earlyWeights set (CudaTransformer's auto: models up to 2048 wide; faster for the 1B shape, slower
// for 8B, whose early loads queue ahead of the latency-bound kernels they overlap), each warp requests its first batch of weights (SKINNY_MMA_UNROLL chunks of
// both row halves, 4 KB a warp) before pdl_wait, so they arrive while it waits for x instead of one memory latency
// after; the weights are the same for every step, so nothing an earlier kernel writes is read before the wait.
// xLo: the split input's second part, xLo elements after x (a multiple of 8), or 0. G: token groups (the kernel named
// *16 takes 9..16 tokens).
#define SKINNY_MMA_KERNEL(NAME, G) \
extern "C" __global__ void SKINNY_REGS NAME(const bf16* __restrict__ W, const bf16* __restrict__ x, float* __restrict__ y, int N, \
                                int K, int T, int accumulate, int earlyWeights, long xLo) { \
    extern __shared__ float mmaPartial[];   /* [S][16 rows][8G tokens] */ \
    pdl_trigger(); \
    const int S = blockDim.x >> 5; \
    const int row0 = blockIdx.x * 16; \
    SkinnyTile<G> tile; \
    skinny_tile_begin<G>(tile, W, x, row0, K, T, earlyWeights, S, threadIdx.x >> 5, threadIdx.x & 31); \
    pdl_wait(); \
    skinny_tile_partials<G>(mmaPartial, tile, xLo); \
    __syncthreads(); \
    for (int o = threadIdx.x; o < 128 * G; o += blockDim.x) { \
        int row = o / (8 * G), token = o % (8 * G); \
        if (token >= T) continue; \
        float s = 0.f; \
        for (int w = 0; w < S; w++) s += mmaPartial[w * 128 * G + o]; \
        float* dst = y + (size_t) token * N + row0 + row; \
        *dst = accumulate ? *dst + s : s; \
    } \
}

SKINNY_MMA_KERNEL(gemm_skinny_mma, 1)
SKINNY_MMA_KERNEL(gemm_skinny_mma16, 2)

// The gate/up GEMM with SwiGLU in its epilogue: W = [gate (H rows); up (H rows)], block b computes gate rows and up
// rows 16b..16b+15 (one tile after the other, each exactly as gemm_skinny_mma computes it with the same S) and writes
// out[t, i] = silu(gate) * up as swiglu_bf16 does (store_act, second part lo elements further on when lo != 0). Why:
// one kernel and one dependent launch fewer in every decode layer, and the f32 gate/up rows never leave the SM; the
// output is bit-identical to gemm_skinny_mma + swiglu_bf16 when launched with the same warps per block.
// grid: H/16, block: 32*S, dynamic shared memory: 2 * S * 128 * G floats.
#define SKINNY_MMA_SWIGLU_KERNEL(NAME, G) \
extern "C" __global__ void SKINNY_REGS NAME(const bf16* __restrict__ W, const bf16* __restrict__ x, bf16* __restrict__ out, int H, \
                                int K, int T, int earlyWeights, long xLo, long lo) { \
    extern __shared__ float mmaPartial[];   /* [2][S][16 rows][8G tokens]: gate, then up */ \
    pdl_trigger(); \
    const int S = blockDim.x >> 5; \
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31; \
    const int row0 = blockIdx.x * 16; \
    SkinnyTile<G> tile; \
    skinny_tile_begin<G>(tile, W, x, row0, K, T, earlyWeights, S, warp, lane); \
    pdl_wait(); \
    skinny_tile_partials<G>(mmaPartial, tile, xLo); \
    skinny_tile_begin<G>(tile, W, x, H + row0, K, T, 0, S, warp, lane); \
    skinny_tile_partials<G>(mmaPartial + S * 128 * G, tile, xLo); \
    __syncthreads(); \
    for (int o = threadIdx.x; o < 128 * G; o += blockDim.x) { \
        int row = o / (8 * G), token = o % (8 * G); \
        if (token >= T) continue; \
        float g = 0.f, u = 0.f; \
        for (int w = 0; w < S; w++) g += mmaPartial[w * 128 * G + o]; \
        for (int w = 0; w < S; w++) u += mmaPartial[(S + w) * 128 * G + o]; \
        store_act(out, (size_t) token * H + row0 + row, g / (1.0f + expf(-g)) * u, lo); \
    } \
}

SKINNY_MMA_SWIGLU_KERNEL(gemm_skinny_mma_swiglu, 1)
SKINNY_MMA_SWIGLU_KERNEL(gemm_skinny_mma_swiglu16, 2)
