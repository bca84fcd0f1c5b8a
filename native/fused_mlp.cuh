// The MLP of a decode or verify pass in one kernel (issue #4; CudaTransformer's fusedMlp): gate/up with SwiGLU, then
// the down projection, with no grid-wide wait between them. Included by specdec_kernels.cu after skinny_mma.cuh.
//
// Why: the 1B shape's decode layer runs its MLP as two dependent GEMMs, and the down GEMM cannot start streaming its
// 33.5 MB before every gate/up block has finished, which costs several µs a layer at the boundary (session 9's
// ablation: the step's GEMMs alone reach 0.74 of the HBM floor). Here block b owns hidden units [16·tile0,
// 16·(tile0 + tiles)) and needs nothing from any other block: it computes those units' h = silu(gate)·up, then
// multiplies them by W_down's columns of the same units, a partial down product over its own units.
//
// Phase 1: the block's warps, in groups of S (the warps gemm_skinny_mma_swiglu takes for this matrix), compute gate and
// up tiles with the skinny GEMM's own code and its epilogue's arithmetic, so h is that kernel's bits; h (and its split
// second part) stays in shared memory. Phase 2: each warp takes 16-row tiles of the output (rows of W_down), k = 16
// hidden units a step (m16n8k16 with 8-byte loads: lane (g, t) holds units 4t..4t+3 of a step for rows g and g+8, the
// same permuted k order for W and h), and adds its partial sums into acc as fixed point (MLP_ACC_SCALE). Integer
// additions commute, so the sum does not depend on the order the blocks arrive in: the forward stays deterministic, and
// a verify row equals its decode step bit for bit (every block's partial for a token is independent of the pass's
// other tokens). The next RMSNorm (rmsnorm_vec_acc_bf16) adds acc to the residual and zeroes it.
//
// Fixed point: 2^-28 resolution (finer than an f32 ulp for values above 2^-4), a block's partial below 2^27 in
// magnitude, at most 256 blocks, so the int64 sum cannot overflow; a partial that is not finite or too large marks the
// token's row (acc[token][dim]) and the norm turns that row into NaN rather than into a wrong number.

#define MLP_ACC_SCALE 268435456.0f   // 2^28
#define MLP_ACC_LIMIT 134217728.0f   // 2^27
#define MLP_MAX_TILES 4              // 16-unit tiles a block (phase 2 holds two row tiles' weights for all of them in registers)

__device__ __forceinline__ void mlp_acc_add(unsigned long long* acc, int accStride, int dim, int token, int row, float v,
                                            int T) {
    if (token >= T) return;
    unsigned long long* r = acc + (size_t) token * accStride;
    if (fabsf(v) < MLP_ACC_LIMIT) atomicAdd(r + row, (unsigned long long) __float2ll_rn(v * MLP_ACC_SCALE));
    else atomicOr(r + dim, 1ull);   // NaN fails the test above too
}

// Row stride of the h copy in shared memory, in elements: a multiple of 8 whose 4-byte banks start 8 or 24 apart from
// row to row, so the 8-byte B loads of a half-warp (4 token rows x 32 bytes) hit 32 different banks.
__device__ __forceinline__ int mlp_h_stride(int units) {
    int s = units;
    while (((s >> 1) & 15) != 8) s += 8;
    return s;
}

// One 16-row output tile of phase 2 for this warp: c (4G floats) = W_down[rows 16rt.., this block's units] · h.
template <int G>
__device__ __forceinline__ void mlp_down_tile(float* c, const uint2* a, const uint2* b, const bf16* hHi, const bf16* hLo,
                                              int hStride, int tiles, int hSplit, int g, int t) {
#pragma unroll
    for (int s = 0; s < MLP_MAX_TILES; s++) {
        if (s >= tiles) break;
#pragma unroll
        for (int j = 0; j < G; j++) {
            int at = (8 * j + g) * hStride + 16 * s + 4 * t;
            uint2 xv = *reinterpret_cast<const uint2*>(hHi + at);
            mma_bf16_16x8x16(c + 4 * j, a[s].x, b[s].x, a[s].y, b[s].y, xv.x, xv.y);
            if (hSplit) {
                uint2 xl = *reinterpret_cast<const uint2*>(hLo + at);
                mma_bf16_16x8x16(c + 4 * j, a[s].x, b[s].x, a[s].y, b[s].y, xl.x, xl.y);
            }
        }
    }
}

__device__ __forceinline__ void mlp_down_load(uint2* a, uint2* b, const bf16* __restrict__ Wd, int H, int row, int unit0,
                                              int tiles, int t) {
    const bf16* w0 = Wd + (size_t) row * H + unit0 + 4 * t;
    const bf16* w1 = w0 + (size_t) 8 * H;
#pragma unroll
    for (int s = 0; s < MLP_MAX_TILES; s++) {
        if (s >= tiles) break;
        a[s] = __ldcs(reinterpret_cast<const uint2*>(w0 + 16 * s));
        b[s] = __ldcs(reinterpret_cast<const uint2*>(w1 + 16 * s));
    }
}

template <int G>
__device__ __forceinline__ void mlp_acc_tile(unsigned long long* acc, int accStride, int dim, const float* c, int row,
                                             int T, int t) {
#pragma unroll
    for (int j = 0; j < G; j++) {
        int token = 8 * j + 2 * t;
        mlp_acc_add(acc, accStride, dim, token, row, c[4 * j], T);
        mlp_acc_add(acc, accStride, dim, token + 1, row, c[4 * j + 1], T);
        mlp_acc_add(acc, accStride, dim, token, row + 8, c[4 * j + 2], T);
        mlp_acc_add(acc, accStride, dim, token + 1, row + 8, c[4 * j + 3], T);
    }
}

// acc[T][accStride] (int64, zero on entry, dim + 1 used: the row's sums, then its bad-value mark) += MLP(x) as fixed
// point, for x[T, K = dim] (bf16, second part xLo elements on, or 0), Wgu = [gate (H rows); up (H rows)] [2H, dim],
// Wd [dim, H]. S: warps per gate/up tile (as gemm_skinny_mma_swiglu's launch takes them); hSplit: h keeps its split
// second part (split activations). mode bit 0: L2-prefetch each warp's first two down tiles before pdl_wait; bit 1
// (diagnostics, wrong output): no sums added.
// grid: ceil(H / 16 / tilesPerBlock) (<= 256), block: 32 * warps (warps a multiple of S), dynamic shared memory:
// (warps / S) * 2 * S * 128 * G floats + 2 * 8G * (16·tilesPerBlock + 32) bf16.
#define MLP_FUSED_KERNEL(NAME, G) \
extern "C" __global__ void __launch_bounds__(512) NAME(const bf16* __restrict__ Wgu, const bf16* __restrict__ x, \
        const bf16* __restrict__ Wd, unsigned long long* __restrict__ acc, int accStride, int H, int dim, int T, \
        int tilesPerBlock, int S, int earlyWeights, long xLo, int hSplit, int mode) { \
    extern __shared__ float mlpShared[]; \
    const int warps = blockDim.x >> 5, warp = threadIdx.x >> 5, lane = threadIdx.x & 31; \
    const int g = lane >> 2, t = lane & 3; \
    const int groups = warps / S, grp = warp / S, gw = warp - grp * S; \
    const int tile0 = blockIdx.x * tilesPerBlock, tiles = min(tilesPerBlock, (H >> 4) - tile0); \
    const int hStride = mlp_h_stride(16 * tilesPerBlock); \
    float* slots = mlpShared;   /* [groups][2][S][16 rows][8G tokens]: gate, then up */ \
    bf16* hHi = reinterpret_cast<bf16*>(mlpShared + groups * 2 * S * 128 * G);   /* [8G tokens][hStride] */ \
    bf16* hLo = hHi + 8 * G * hStride; \
    pdl_trigger(); \
    SkinnyTile<G> tile; \
    if (grp < groups && grp < tiles) skinny_tile_begin<G>(tile, Wgu, x, 16 * (tile0 + grp), dim, T, earlyWeights, S, gw, lane); \
    if (mode & 1) { \
        for (int rt = warp; rt < (dim >> 4) && rt < 2 * warps; rt += warps) { \
            if (t == 0) { \
                const bf16* w0 = Wd + (size_t) (16 * rt + g) * H + 16 * tile0; \
                asm volatile("prefetch.global.L2 [%0];" :: "l"(w0)); \
                asm volatile("prefetch.global.L2 [%0];" :: "l"(w0 + (size_t) 8 * H)); \
            } \
        } \
    } \
    pdl_wait(); \
    const int rowTiles = dim >> 4, unit0 = 16 * tile0; \
    uint2 a[MLP_MAX_TILES], b[MLP_MAX_TILES], a2[MLP_MAX_TILES], b2[MLP_MAX_TILES]; \
    for (int first = 0; first < tiles; first += groups) { \
        const int lt = first + grp; \
        float* mine = slots + grp * 2 * S * 128 * G; \
        if (grp < groups && lt < tiles) { \
            if (first > 0) skinny_tile_begin<G>(tile, Wgu, x, 16 * (tile0 + lt), dim, T, 0, S, gw, lane); \
            skinny_tile_partials_of<G>(mine, tile, xLo, S, gw); \
            skinny_tile_begin<G>(tile, Wgu, x, H + 16 * (tile0 + lt), dim, T, 0, S, gw, lane); \
            skinny_tile_partials_of<G>(mine + S * 128 * G, tile, xLo, S, gw); \
        } \
        if (first + groups >= tiles && warp < rowTiles) {   /* the last round: this warp's first down rows arrive during the epilogue */ \
            mlp_down_load(a, b, Wd, H, 16 * warp + g, unit0, tiles, t); \
            if (warp + warps < rowTiles) mlp_down_load(a2, b2, Wd, H, 16 * (warp + warps) + g, unit0, tiles, t); \
        } \
        __syncthreads(); \
        for (int o = threadIdx.x; o < groups * 128 * G; o += blockDim.x) {   /* gemm_skinny_mma_swiglu's epilogue */ \
            const int q = o / (128 * G), e = o - q * 128 * G, u = first + q; \
            if (u >= tiles) continue; \
            const int row = e / (8 * G), token = e % (8 * G); \
            const float* qs = slots + q * 2 * S * 128 * G; \
            float gs = 0.f, us = 0.f; \
            for (int w = 0; w < S; w++) gs += qs[w * 128 * G + e]; \
            for (int w = 0; w < S; w++) us += qs[(S + w) * 128 * G + e]; \
            float v = gs / (1.0f + expf(-gs)) * us; \
            bf16 hv = __float2bfloat16(v); \
            hHi[token * hStride + 16 * u + row] = hv; \
            hLo[token * hStride + 16 * u + row] = __float2bfloat16(v - __bfloat162float(hv)); \
        } \
        __syncthreads(); \
    } \
    const bool sums = !(mode & 2) || __ldg(x) == bf16(12345.f);   /* diagnostics: mode 2 leaves out the atomics */ \
    for (int rt = warp; rt < rowTiles; rt += 2 * warps) {   /* two row tiles' weights in flight */ \
        const int rt2 = rt + warps; \
        if (rt != warp) { \
            mlp_down_load(a, b, Wd, H, 16 * rt + g, unit0, tiles, t); \
            if (rt2 < rowTiles) mlp_down_load(a2, b2, Wd, H, 16 * rt2 + g, unit0, tiles, t); \
        } \
        float c[4 * G]; \
        for (int i = 0; i < 4 * G; i++) c[i] = 0.f; \
        mlp_down_tile<G>(c, a, b, hHi, hLo, hStride, tiles, hSplit, g, t); \
        if (sums) mlp_acc_tile<G>(acc, accStride, dim, c, 16 * rt + g, T, t); \
        if (rt2 < rowTiles) { \
            for (int i = 0; i < 4 * G; i++) c[i] = 0.f; \
            mlp_down_tile<G>(c, a2, b2, hHi, hLo, hStride, tiles, hSplit, g, t); \
            if (sums) mlp_acc_tile<G>(acc, accStride, dim, c, 16 * rt2 + g, T, t); \
        } \
    } \
}

MLP_FUSED_KERNEL(mlp_fused_mma, 1)
MLP_FUSED_KERNEL(mlp_fused_mma16, 2)

// The residual update the fused MLP leaves pending, then the next RMSNorm: x[row] += acc[row] · 2^-28 (in double, one
// rounding to f32; NaN where the row is marked), acc[row] = 0, out[row] = rmsnorm_vec's normalized row.
__device__ __forceinline__ float mlp_acc_fold(float x, long long a, bool bad) {
    return bad ? __int_as_float(0x7fc00000) : (float) ((double) x + (double) a * (1.0 / (double) MLP_ACC_SCALE));
}

template <int V>
__device__ __forceinline__ void rmsnorm_vec_acc(float* __restrict__ x, unsigned long long* __restrict__ acc,
                                                int accStride, const float* __restrict__ w, bf16* __restrict__ out,
                                                int dim, float eps, long lo, float* scratch) {
    float4* xr = reinterpret_cast<float4*>(x + (size_t) blockIdx.x * dim);
    longlong2* ar = reinterpret_cast<longlong2*>(acc + (size_t) blockIdx.x * accStride);
    const bool bad = reinterpret_cast<const long long*>(ar)[dim] != 0;
    float4 v[V];
#pragma unroll
    for (int j = 0; j < V; j++) v[j] = xr[threadIdx.x + 256 * j];
#pragma unroll
    for (int j = 0; j < V; j++) {
        const int i = threadIdx.x + 256 * j;
        longlong2 p = ar[2 * i], q = ar[2 * i + 1];
        v[j] = make_float4(mlp_acc_fold(v[j].x, p.x, bad), mlp_acc_fold(v[j].y, p.y, bad),
                           mlp_acc_fold(v[j].z, q.x, bad), mlp_acc_fold(v[j].w, q.y, bad));
        xr[i] = v[j];
        ar[2 * i] = make_longlong2(0, 0);
        ar[2 * i + 1] = make_longlong2(0, 0);
    }
    __syncthreads();   // every thread has read the row's mark
    if (threadIdx.x == 0) reinterpret_cast<long long*>(ar)[dim] = 0;
    rmsnorm_vec_store<V>(v, w, out, blockIdx.x, dim, eps, lo, scratch);
}

// grid: rows (tokens), block: 256 (required); accStride: dim + 2 (16-byte aligned rows).
extern "C" __global__ void __launch_bounds__(256)
rmsnorm_vec_acc_bf16(float* __restrict__ x, unsigned long long* __restrict__ acc, int accStride,
                     const float* __restrict__ w, bf16* __restrict__ out, int dim, float eps, long lo) {
    pdl_trigger();
    pdl_wait();
    __shared__ float scratch[32];
    RMS_VEC_WIDTHS(rmsnorm_vec_acc, x, acc, accStride, w, out, dim, eps, lo, scratch);
}
