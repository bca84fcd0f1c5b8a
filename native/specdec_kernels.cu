// specdec CUDA kernels: the Llama-family forward (embedding, RMSNorm, q/k/v post-processing with RoPE and paged KV
// append, attention over the paged cache with causal or explicit tree masks, SwiGLU, bf16 skinny GEMM), greedy
// argmax, the fused speculative acceptance kernel (docs/ALGORITHMS.md §6) and device-side random weights.
// Semantics follow modules/cpu CpuTransformer; every kernel is extern "C" so the Java side finds it by name.
// Activations between matmuls are f32 (residual stream, matmul outputs); weights are bf16, and so are matmul inputs,
// each optionally with a second bf16 part (split activations, store_act below).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <stdint.h>

typedef __nv_bfloat16 bf16;

#define FULL_MASK 0xffffffffu

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(FULL_MASK, v, o));
    return v;
}

// Programmatic dependent launch (sm_90+; no-ops elsewhere and when a kernel was launched normally). The kernels that
// CudaDevice launches as programmatic dependents (CudaDevice.PROGRAMMATIC_KERNELS) may start while the kernel before
// them still runs, so each calls pdl_wait() before it touches memory that an earlier kernel writes (pdl_wait returns
// once every earlier kernel has finished and its writes are visible); pdl_trigger() lets this kernel's own dependent
// be scheduled now instead of at its exit. Why: a decode step is ~9 kernels a layer, most of them latency-bound, and
// the next GEMM can launch and start pulling its weights into L2 while they run (gemm_skinny_mma).
__device__ __forceinline__ void pdl_wait() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}

__device__ __forceinline__ void pdl_trigger() {
#if __CUDA_ARCH__ >= 900
    asm volatile("griddepcontrol.launch_dependents;" :::);
#endif
}

// Sum over the block; every thread gets the result. scratch holds >= 32 floats.
__device__ float block_sum(float v, float* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    v = warp_sum(v);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    float t = lane < warps ? scratch[lane] : 0.f;
    return warp_sum(t);
}

// Split activations (issue #4, on by default: CudaTransformer, -Dspecdec.cuda.splitActivations): a matmul input v is
// stored as hi = bf16(v) and, when lo != 0, also as bf16(v - hi) lo elements after hi, so the matmul computes
// W·hi + W·lo, an input with ~16 mantissa bits instead of 8. Why: rounding every matmul input to bf16 put a random
// Llama-3-8B-shaped model at a 4.4e-2 logits error against fp32 transformers; a decode matmul is a weight stream, so
// reading and multiplying a second, L2-resident input part costs next to nothing.
__device__ __forceinline__ void store_act(bf16* out, size_t i, float v, long lo) {
    bf16 h = __float2bfloat16(v);
    out[i] = h;
    if (lo) out[i + lo] = __float2bfloat16(v - __bfloat162float(h));
}

// The KV cache's elements: with kvHalf (-Dspecdec.cuda.kvCache=fp16, the default) IEEE fp16, else bf16 (kvCache=bf16;
// with split KV, a second bf16 part kvLo elements on). Why fp16: 3 more mantissa bits, so a cached key or value is
// rounded 8x less for no extra memory or bandwidth (split KV doubles both); its range ends at 65504, where a value
// saturates (a Llama-family K/V row sits orders of magnitude below; NaN stays NaN) and is counted in *saturated (when
// given), which the host reads now and then to warn (CudaTransformer.checkKvSaturation).
__device__ __forceinline__ void store_kv(bf16* cache, size_t i, float v, long kvLo, int kvHalf, int* saturated) {
    if (kvHalf) {
        if (fabsf(v) > 65504.f) {
            v = copysignf(65504.f, v);
            if (saturated) atomicAdd(saturated, 1);
        }
        reinterpret_cast<__half*>(cache)[i] = __float2half_rn(v);
    } else {
        store_act(cache, i, v, kvLo);
    }
}

__device__ __forceinline__ float kv_float(const bf16* p, bool half) {
    return half ? __half2float(*reinterpret_cast<const __half*>(p)) : __bfloat162float(*p);
}

// two adjacent cache elements held in one 32-bit word
template <bool HALF>
__device__ __forceinline__ float2 kv_float2(const unsigned& w) {
    if (HALF) return __half22float2(*reinterpret_cast<const __half2*>(&w));
    return __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&w));
}

// ---------------------------------------------------------------------------------------------------------------
// Embedding, norms, activation
// ---------------------------------------------------------------------------------------------------------------

// x[t, :] = embedding[tokens[t], :]   grid: tokens
extern "C" __global__ void embed_gather(const int* __restrict__ tokens, const bf16* __restrict__ emb,
                                        float* __restrict__ x, int dim) {
    const bf16* row = emb + (size_t) tokens[blockIdx.x] * dim;
    float* out = x + (size_t) blockIdx.x * dim;
    for (int i = threadIdx.x; i < dim; i += blockDim.x) out[i] = __bfloat162float(row[i]);
}

#define RMS_HELD 32   // values a thread keeps in registers: dim <= 32 * 256 = 8192 takes the one-request path

// out[r, :] = bf16(w * x[src, :] / rms(x[src, :]))  with src = rows ? rows[r] : r.   grid: output rows
// (The residual add is fused into the preceding matmul's epilogue, which accumulates into x.)
extern "C" __global__ void rmsnorm_bf16(const float* __restrict__ x, const int* __restrict__ rows,
                                        const float* __restrict__ w, bf16* __restrict__ out, int dim, float eps,
                                        long lo) {
    pdl_trigger();
    pdl_wait();
    __shared__ float scratch[32];
    int src = rows ? rows[blockIdx.x] : blockIdx.x;
    const float* xr = x + (size_t) src * dim;
    bf16* o = out + (size_t) blockIdx.x * dim;
    float ss = 0.f;
    if (dim <= RMS_HELD * (int) blockDim.x) {
        // a decode step normalises one row on one SM: request the thread's values all at once and keep them in
        // registers, instead of one load after another and a second read of x (same sums in the same order)
        float v[RMS_HELD];
#pragma unroll
        for (int j = 0; j < RMS_HELD; j++) {
            int i = threadIdx.x + j * blockDim.x;
            v[j] = i < dim ? xr[i] : 0.f;
        }
#pragma unroll
        for (int j = 0; j < RMS_HELD; j++) if (threadIdx.x + j * blockDim.x < dim) ss += v[j] * v[j];
        ss = block_sum(ss, scratch);
        float scale = 1.0f / sqrtf(ss / dim + eps);
#pragma unroll
        for (int j = 0; j < RMS_HELD; j++) {
            int i = threadIdx.x + j * blockDim.x;
            if (i < dim) store_act(o, i, w[i] * (scale * v[j]), lo);
        }
        return;
    }
    for (int i = threadIdx.x; i < dim; i += blockDim.x) ss += xr[i] * xr[i];
    ss = block_sum(ss, scratch);
    float scale = 1.0f / sqrtf(ss / dim + eps);
    for (int i = threadIdx.x; i < dim; i += blockDim.x) store_act(o, i, w[i] * (scale * xr[i]), lo);
}

// rmsnorm_bf16 for rows of dim = 1024 * V (V <= 8), the decode path's norm: 16-byte loads of x and w, all issued before
// the reduction, and a few dozen instructions per thread. rmsnorm_bf16's fully unrolled register path is ~1,300
// straight-line instructions that run once per launch, and a decode step spent ~8 µs a norm mostly fetching them.
// rmsnorm_vec's second half: out[row] = bf16(w * v / rms(v)) for this thread's V float4s of the row, v (registers)
template <int V>
__device__ __forceinline__ void rmsnorm_vec_store(const float4* v, const float* __restrict__ w, bf16* __restrict__ out,
                                                  int row, int dim, float eps, long lo, float* scratch) {
    const float4* wr = reinterpret_cast<const float4*>(w);
    float4 wv[V];
#pragma unroll
    for (int j = 0; j < V; j++) wv[j] = wr[threadIdx.x + 256 * j];
    float ss = 0.f;
#pragma unroll
    for (int j = 0; j < V; j++) ss += v[j].x * v[j].x + v[j].y * v[j].y + v[j].z * v[j].z + v[j].w * v[j].w;
    ss = block_sum(ss, scratch);
    float scale = 1.0f / sqrtf(ss / dim + eps);
    uint2* o = reinterpret_cast<uint2*>(out + (size_t) row * dim);
#pragma unroll
    for (int j = 0; j < V; j++) {
        float4 f = make_float4(wv[j].x * (scale * v[j].x), wv[j].y * (scale * v[j].y), wv[j].z * (scale * v[j].z),
                               wv[j].w * (scale * v[j].w));
        __nv_bfloat162 a = __floats2bfloat162_rn(f.x, f.y);
        __nv_bfloat162 b = __floats2bfloat162_rn(f.z, f.w);
        uint2 packed;
        packed.x = *reinterpret_cast<unsigned*>(&a);
        packed.y = *reinterpret_cast<unsigned*>(&b);
        o[threadIdx.x + 256 * j] = packed;
        if (lo) {   // the split activation's second part (store_act), lo / 4 uint2 further on
            float2 ha = __bfloat1622float2(a), hb = __bfloat1622float2(b);
            __nv_bfloat162 la = __floats2bfloat162_rn(f.x - ha.x, f.y - ha.y);
            __nv_bfloat162 lb = __floats2bfloat162_rn(f.z - hb.x, f.w - hb.y);
            packed.x = *reinterpret_cast<unsigned*>(&la);
            packed.y = *reinterpret_cast<unsigned*>(&lb);
            o[threadIdx.x + 256 * j + lo / 4] = packed;
        }
    }
}


template <int V>
__device__ __forceinline__ void rmsnorm_vec(const float* __restrict__ x, const int* __restrict__ rows,
                                            const float* __restrict__ w, bf16* __restrict__ out, int dim, float eps,
                                            long lo, float* scratch) {
    int src = rows ? rows[blockIdx.x] : blockIdx.x;
    const float4* xr = reinterpret_cast<const float4*>(x + (size_t) src * dim);
    float4 v[V];
#pragma unroll
    for (int j = 0; j < V; j++) v[j] = xr[threadIdx.x + 256 * j];
    rmsnorm_vec_store<V>(v, w, out, blockIdx.x, dim, eps, lo, scratch);
}

// The residual add and the norm after it in one kernel (rmsnorm_vec_add_bf16): x[row] += add[row], then rmsnorm_vec
// of the sum. The sum is add_f32's f32 add, so x and out are the bits of add_f32 + rmsnorm_vec_bf16.
template <int V>
__device__ __forceinline__ void rmsnorm_vec_add(float* __restrict__ x, const float* __restrict__ add,
                                                const float* __restrict__ w, bf16* __restrict__ out, int dim, float eps,
                                                long lo, float* scratch) {
    float4* xr = reinterpret_cast<float4*>(x + (size_t) blockIdx.x * dim);
    const float4* ar = reinterpret_cast<const float4*>(add + (size_t) blockIdx.x * dim);
    float4 v[V], a[V];
#pragma unroll
    for (int j = 0; j < V; j++) v[j] = xr[threadIdx.x + 256 * j];
#pragma unroll
    for (int j = 0; j < V; j++) a[j] = ar[threadIdx.x + 256 * j];
#pragma unroll
    for (int j = 0; j < V; j++) {
        v[j] = make_float4(v[j].x + a[j].x, v[j].y + a[j].y, v[j].z + a[j].z, v[j].w + a[j].w);
        xr[threadIdx.x + 256 * j] = v[j];
    }
    rmsnorm_vec_store<V>(v, w, out, blockIdx.x, dim, eps, lo, scratch);
}

// The vector norms' width dispatch: F<V>(...) for rows of dim = 1024 * V, V = 1..8.
#define RMS_VEC_WIDTHS(F, ...) \
    switch (dim >> 10) { \
        case 1: F<1>(__VA_ARGS__); break; \
        case 2: F<2>(__VA_ARGS__); break; \
        case 3: F<3>(__VA_ARGS__); break; \
        case 4: F<4>(__VA_ARGS__); break; \
        case 5: F<5>(__VA_ARGS__); break; \
        case 6: F<6>(__VA_ARGS__); break; \
        case 7: F<7>(__VA_ARGS__); break; \
        case 8: F<8>(__VA_ARGS__); break; \
    }

// grid: output rows, block: 256 (required)
extern "C" __global__ void __launch_bounds__(256)
rmsnorm_vec_bf16(const float* __restrict__ x, const int* __restrict__ rows, const float* __restrict__ w,
                 bf16* __restrict__ out, int dim, float eps, long lo) {
    pdl_trigger();
    pdl_wait();
    __shared__ float scratch[32];
    RMS_VEC_WIDTHS(rmsnorm_vec, x, rows, w, out, dim, eps, lo, scratch);
}

// x[r] += add[r]; out[r] = bf16(RMSNorm(x[r]) * w) (+ second part at lo). grid: rows, block: 256 (required). Why: an
// EasySpec layer group adds each layer's attention output to the residual right before that layer's MLP norm
// (CudaTransformer.fuzzyLayers); one dependent launch instead of two, the same bits.
extern "C" __global__ void __launch_bounds__(256)
rmsnorm_vec_add_bf16(float* __restrict__ x, const float* __restrict__ add, const float* __restrict__ w,
                     bf16* __restrict__ out, int dim, float eps, long lo) {
    pdl_trigger();
    pdl_wait();
    __shared__ float scratch[32];
    RMS_VEC_WIDTHS(rmsnorm_vec_add, x, add, w, out, dim, eps, lo, scratch);
}

// out[t, i] = bf16(silu(gate) * up) from gu[t] = [gate(hidden) | up(hidden)].   grid-stride
extern "C" __global__ void swiglu_bf16(const float* __restrict__ gu, bf16* __restrict__ out, int hidden, long total,
                                       long lo) {
    pdl_trigger();
    pdl_wait();
    for (long idx = blockIdx.x * (long) blockDim.x + threadIdx.x; idx < total; idx += (long) gridDim.x * blockDim.x) {
        long t = idx / hidden;
        int i = (int) (idx - t * hidden);
        float g = gu[t * 2 * hidden + i];
        float u = gu[t * 2 * hidden + hidden + i];
        store_act(out, idx, g / (1.0f + expf(-g)) * u, lo);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// q/k/v post-processing: bias, per-head q/k RMSNorm, RoPE (precomputed inverse frequencies, so every scaling of the
// config works), q out in f32, k and v appended to the paged cache at their physical slots.
// qkv row = [q (heads*hd) | k (kvHeads*hd) | v (kvHeads*hd)].   grid: (tokens, blocks over the heads); one warp per
// head (a decode step used to run every head of the layer in one block on one SM).
// ---------------------------------------------------------------------------------------------------------------
#define ROPE_MAX_PAIRS 4   // head sizes up to 256: rotation pairs per lane

// This lane's rotations (pairs j = lane, lane + 32, ... of a head) at position pos: from the step's metadata and
// constants only, so the kernels compute them before pdl_wait.
__device__ __forceinline__ void rope_rotations(double pos, const double* __restrict__ invFreq, int hd, int lane,
                                               float* cosJ, float* sinJ) {
    int half = hd / 2;
#pragma unroll
    for (int k = 0; k < ROPE_MAX_PAIRS; k++) {
        int j = lane + 32 * k;
        cosJ[k] = sinJ[k] = 0.f;
        if (j < half) {
            double sd, cd;
            sincos(pos * invFreq[j], &sd, &cd);
            cosJ[k] = (float) cd;
            sinJ[k] = (float) sd;
        }
    }
}

// Head h of a q/k/v row (q heads, then k heads, then v heads), by one warp: bias, then for q and k the per-head
// RMSNorm (when given) and RoPE; out(i, value) takes element i of the head. qkv_rope_append and the decode attention
// kernels that rope their own heads (attention_gqa_*_rope) both use it, so they produce the same bits.
template <typename Out>
__device__ __forceinline__ void rope_head(const float* row, const float* __restrict__ bias,
                                          const float* __restrict__ qNorm, const float* __restrict__ kNorm, int h,
                                          int heads, int kvHeads, int hd, int interleaved, float eps,
                                          const float* cosJ, const float* sinJ, int lane, Out out) {
    int qDim = heads * hd, kvDim = kvHeads * hd, half = hd / 2;
    int base = h < heads ? h * hd : (h < heads + kvHeads ? qDim + (h - heads) * hd : qDim + kvDim + (h - heads - kvHeads) * hd);
    if (h >= heads + kvHeads) {  // value head: bias only
        for (int i = lane; i < hd; i += 32) out(i, row[base + i] + (bias ? bias[base + i] : 0.f));
        return;
    }
    const float* norm = h < heads ? qNorm : kNorm;
    float scale = 1.f;
    if (norm) {
        float ss = 0.f;
        for (int i = lane; i < hd; i += 32) {
            float v = row[base + i] + (bias ? bias[base + i] : 0.f);
            ss += v * v;
        }
        ss = warp_sum(ss);
        scale = 1.0f / sqrtf(ss / hd + eps);
    }
#pragma unroll
    for (int k = 0; k < ROPE_MAX_PAIRS; k++) {
        int j = lane + 32 * k;
        if (j >= half) break;
        int a = interleaved ? 2 * j : j;
        int b = interleaved ? 2 * j + 1 : j + half;
        float x0 = row[base + a] + (bias ? bias[base + a] : 0.f);
        float x1 = row[base + b] + (bias ? bias[base + b] : 0.f);
        if (norm) { x0 = norm[a] * (scale * x0); x1 = norm[b] * (scale * x1); }
        float cf = cosJ[k], sf = sinJ[k];
        out(a, x0 * cf - x1 * sf);
        out(b, x0 * sf + x1 * cf);
    }
}

// Writes element i of head h (as rope_head numbers them) of token t: q to qOut, k and v to the cache at slot.
__device__ __forceinline__ void rope_store(int h, int i, float v, int t, size_t slot, float* __restrict__ qOut,
                                           bf16* __restrict__ kCache, bf16* __restrict__ vCache, int heads,
                                           int kvHeads, int hd, long kvLo, int kvHalf, int* __restrict__ kvSaturated) {
    int kvDim = kvHeads * hd;
    if (h < heads) qOut[(size_t) t * heads * hd + h * hd + i] = v;
    else if (h < heads + kvHeads) store_kv(kCache, slot * kvDim + (h - heads) * hd + i, v, kvLo, kvHalf, kvSaturated);
    else store_kv(vCache, slot * kvDim + (h - heads - kvHeads) * hd + i, v, kvLo, kvHalf, kvSaturated);
}

extern "C" __global__ void qkv_rope_append(const float* __restrict__ qkv, const float* __restrict__ bias,
                                           const float* __restrict__ qNorm, const float* __restrict__ kNorm,
                                           const double* __restrict__ invFreq, const int* __restrict__ positions,
                                           const int* __restrict__ slots, float* __restrict__ qOut,
                                           bf16* __restrict__ kCache, bf16* __restrict__ vCache,
                                           int heads, int kvHeads, int hd, int interleaved, float eps, long kvLo,
                                           int kvHalf, int* __restrict__ kvSaturated, int metaFirst) {
    pdl_trigger();
    if (!metaFirst) pdl_wait();
    int t = blockIdx.x;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    const float* row = qkv + (size_t) t * (heads + 2 * kvHeads) * hd;
    // position, slot and rotations come from the step's metadata and constants, not from an earlier kernel: with
    // metaFirst they are computed before the wait, while the q/k/v GEMM ends
    size_t slot = (size_t) slots[t];
    float cosJ[ROPE_MAX_PAIRS], sinJ[ROPE_MAX_PAIRS];
    rope_rotations((double) positions[t], invFreq, hd, lane, cosJ, sinJ);
    pdl_wait();
    for (int h = blockIdx.y * warps + warp; h < heads + 2 * kvHeads; h += warps * gridDim.y) {
        rope_head(row, bias, qNorm, kNorm, h, heads, kvHeads, hd, interleaved, eps, cosJ, sinJ, lane,
                  [&](int i, float v) {
                      rope_store(h, i, v, t, slot, qOut, kCache, vCache, heads, kvHeads, hd, kvLo, kvHalf, kvSaturated);
                  });
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Attention over the paged cache, flash-style: tiles of 32 keys, online softmax, scores never leave registers.
// One block per (token, head); warp w takes key tiles w, w+W, ...: lane j computes the score of key (tile + j)
// (a whole-row dot product, so the 32 K rows load in parallel), the warp updates its running max/sum once per tile
// and accumulates the 32 V rows (lane d owns dims d, d+32, ...). The warps' states are merged at the end.
// tokMeta[t] = {seq, chunkIndex, position}; seqMeta[s] = {prefix, chunkLen, tableOffset, posOffset, maskOffset,
// maskWords} with offsets into the ints at `meta`; maskOffset < 0 means causal, else bit k of
// meta[maskOffset + c*maskWords + k/32] allows chunk key k. Slot positions are read only when window > 0.
// ---------------------------------------------------------------------------------------------------------------
// Whether chunk row c (at position qpos) sees key j of its sequence: j < hi, the explicit mask's bit for chunk keys
// (maskOff >= 0), and the sliding window (window > 0). The attention kernels share it.
__device__ __forceinline__ bool key_visible(int j, int hi, int prefix, int c, int qpos, const unsigned* __restrict__ masks,
                                            int maskOff, int maskWords, const int* __restrict__ slotPositions,
                                            int posOff, int window) {
    bool visible = j < hi;
    if (visible && j >= prefix && maskOff >= 0) {
        int k = j - prefix;
        visible = (masks[maskOff + c * maskWords + (k >> 5)] >> (k & 31)) & 1u;
    }
    if (visible && window > 0 && qpos - slotPositions[posOff + j] >= window) visible = false;
    return visible;
}

#define ATT_WARPS 4
#define ATT_MAX_HD 256

// q·k for a key row of hd <= 128 (hd % 8 == 0): the row's 16-byte chunks are all requested before the first is used,
// so a lane waits for one memory round trip per key instead of one per chunk (the loop below it issued a load, then
// waited for it before the next). Same products added in the same order as that loop.
template <bool HALF>
__device__ __forceinline__ float key_dot_128(const float* qs, const bf16* __restrict__ kr, int hd) {
    uint4 kv[16];
#pragma unroll
    for (int c = 0; c < 16; c++) if (8 * c < hd) kv[c] = *reinterpret_cast<const uint4*>(kr + 8 * c);
    float dot = 0.f;
#pragma unroll
    for (int c = 0; c < 16; c++) {
        if (8 * c >= hd) break;
        const unsigned* k2 = reinterpret_cast<const unsigned*>(&kv[c]);
#pragma unroll
        for (int e = 0; e < 4; e++) {
            float2 kf = kv_float2<HALF>(k2[e]);
            dot += qs[8 * c + 2 * e] * kf.x + qs[8 * c + 2 * e + 1] * kf.y;
        }
    }
    return dot;
}

// q·k for one key row (one lane): the vectorized loads where hd allows them. half: an fp16 cache (store_kv).
__device__ __forceinline__ float key_dot(const float* qs, const bf16* __restrict__ kr, int hd, bool vec, bool half) {
    float dot = 0.f;
    if (vec && hd <= 128) {
        dot = half ? key_dot_128<true>(qs, kr, hd) : key_dot_128<false>(qs, kr, hd);
    } else if (vec) {
        for (int i = 0; i < hd; i += 8) {
            uint4 kv = *reinterpret_cast<const uint4*>(kr + i);
            const unsigned* k2 = reinterpret_cast<const unsigned*>(&kv);
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float2 kf = half ? kv_float2<true>(k2[e]) : kv_float2<false>(k2[e]);
                dot += qs[i + 2 * e] * kf.x + qs[i + 2 * e + 1] * kf.y;
            }
        }
    } else {
        for (int i = 0; i < hd; i++) dot += qs[i] * kv_float(kr + i, half);
    }
    return dot;
}

// kvLo: the K/V rows' second parts, kvLo elements after them (split KV, store_act), or 0; kvHalf: an fp16 cache
// (store_kv).
extern "C" __global__ void __launch_bounds__(ATT_WARPS * 32)
attention_paged(const float* __restrict__ q, const bf16* __restrict__ kCache, const bf16* __restrict__ vCache,
                bf16* __restrict__ out, const int* __restrict__ tokMeta, const int* __restrict__ seqMeta,
                const int* __restrict__ blockTables, const int* __restrict__ slotPositions,
                const unsigned* __restrict__ masks, int heads, int kvHeads, int hd, int blockSize, int window,
                float scale, long lo, long kvLo, int kvHalf) {
    pdl_trigger();
    pdl_wait();
    __shared__ __align__(16) float qs[ATT_MAX_HD];
    __shared__ float accS[ATT_WARPS][ATT_MAX_HD];
    __shared__ float mS[ATT_WARPS], lS[ATT_WARPS];
    int t = blockIdx.x, h = blockIdx.y;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int kvh = h / (heads / kvHeads);
    int qDim = heads * hd, kvDim = kvHeads * hd;
    int c = tokMeta[3 * t + 1], qpos = tokMeta[3 * t + 2];
    const int* sm = seqMeta + 6 * tokMeta[3 * t];
    int prefix = sm[0], tableOff = sm[2], posOff = sm[3], maskOff = sm[4], maskWords = sm[5];
    for (int i = threadIdx.x; i < hd; i += blockDim.x) qs[i] = q[(size_t) t * qDim + h * hd + i] * scale;
    __syncthreads();

    float acc[ATT_MAX_HD / 32];
#pragma unroll
    for (int r = 0; r < ATT_MAX_HD / 32; r++) acc[r] = 0.f;
    float m = -INFINITY, l = 0.f;
    int keys = maskOff < 0 ? prefix + c + 1 : prefix + sm[1];
    bool vec = (hd & 7) == 0;
    for (int tile = warp * 32; tile < keys; tile += ATT_WARPS * 32) {
        int j = tile + lane;
        bool visible = key_visible(j, keys, prefix, c, qpos, masks, maskOff, maskWords, slotPositions, posOff, window);
        size_t slot = 0;
        float s = -INFINITY;
        if (visible) {
            slot = (size_t) blockTables[tableOff + j / blockSize] * blockSize + j % blockSize;
            const bf16* kr = kCache + slot * kvDim + kvh * hd;
            float dot = key_dot(qs, kr, hd, vec, kvHalf);
            if (kvLo) dot += key_dot(qs, kr + kvLo, hd, vec, false);   // the key's second part (split KV)
            s = dot;
        }
        float tileMax = warp_max(s);
        if (tileMax == -INFINITY) continue;   // nothing visible in this tile (warp-uniform)
        float mNew = fmaxf(m, tileMax);
        float corr = __expf(m - mNew);
        float p = visible ? __expf(s - mNew) : 0.f;
        l = l * corr + warp_sum(p);
#pragma unroll
        for (int r = 0; r < ATT_MAX_HD / 32; r++) acc[r] *= corr;
        unsigned live = __ballot_sync(FULL_MASK, visible);
        while (live) {
            int k = __ffs(live) - 1;
            live &= live - 1;
            float pk = __shfl_sync(FULL_MASK, p, k);
            size_t sk = __shfl_sync(FULL_MASK, (unsigned long long) slot, k);
            const bf16* vr = vCache + sk * kvDim + kvh * hd;
#pragma unroll
            for (int r = 0; r < ATT_MAX_HD / 32; r++) {
                int i = lane + 32 * r;
                if (i < hd) acc[r] += pk * (kvLo ? __bfloat162float(vr[i]) + __bfloat162float(vr[i + kvLo]) : kv_float(vr + i, kvHalf));
            }
        }
        m = mNew;
    }
    if (lane == 0) { mS[warp] = m; lS[warp] = l; }
#pragma unroll
    for (int r = 0; r < ATT_MAX_HD / 32; r++) {
        int i = lane + 32 * r;
        if (i < hd) accS[warp][i] = acc[r];
    }
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < ATT_WARPS; w++) M = fmaxf(M, mS[w]);
    float L = 0.f;
    for (int w = 0; w < ATT_WARPS; w++) if (lS[w] > 0.f) L += lS[w] * __expf(mS[w] - M);
    for (int i = threadIdx.x; i < hd; i += blockDim.x) {
        float o = 0.f;
        for (int w = 0; w < ATT_WARPS; w++) if (lS[w] > 0.f) o += accS[w][i] * __expf(mS[w] - M);
        store_act(out, (size_t) t * qDim + h * hd + i, L > 0.f ? o / L : 0.f, lo);
    }
}

#include "flash_prefill.cuh"

// ---------------------------------------------------------------------------------------------------------------
// Skinny GEMM for decode / verify: y[t, n] (+)= sum_k W[n, k] * x[t, k], T <= 8 tokens, W bf16 [N, K] row-major,
// x bf16 [T, K]. One warp per output row; 16-byte loads of W (8 bf16), each W element read once for all T.
// Needs K % 8 == 0 (checked on the host, which falls back to cuBLAS otherwise).
// ---------------------------------------------------------------------------------------------------------------
template <int T, bool SPLIT>
__device__ __forceinline__ void gemv_rows(const bf16* __restrict__ W, const bf16* __restrict__ x,
                                          float* __restrict__ y, int N, int K, int accumulate, long xLo) {
    int lane = threadIdx.x & 31;
    int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    if (n >= N) return;
    const uint4* wr = reinterpret_cast<const uint4*>(W + (size_t) n * K);
    float sum[T];
#pragma unroll
    for (int t = 0; t < T; t++) sum[t] = 0.f;
    int chunks = K / 8;
#pragma unroll 4
    for (int i = lane; i < chunks; i += 32) {
        uint4 wv = __ldg(wr + i);
        const __nv_bfloat162* w2 = reinterpret_cast<const __nv_bfloat162*>(&wv);
        float2 wf[4];
#pragma unroll
        for (int e = 0; e < 4; e++) wf[e] = __bfloat1622float2(w2[e]);
#pragma unroll
        for (int t = 0; t < T; t++) {
            uint4 xv = __ldg(reinterpret_cast<const uint4*>(x + (size_t) t * K) + i);
            const __nv_bfloat162* x2 = reinterpret_cast<const __nv_bfloat162*>(&xv);
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float2 xf = __bfloat1622float2(x2[e]);
                sum[t] += wf[e].x * xf.x + wf[e].y * xf.y;
            }
            if (SPLIT) {   // the input's second part (store_act)
                uint4 lv = __ldg(reinterpret_cast<const uint4*>(x + xLo + (size_t) t * K) + i);
                const __nv_bfloat162* l2 = reinterpret_cast<const __nv_bfloat162*>(&lv);
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float2 xf = __bfloat1622float2(l2[e]);
                    sum[t] += wf[e].x * xf.x + wf[e].y * xf.y;
                }
            }
        }
    }
#pragma unroll
    for (int t = 0; t < T; t++) {
        float s = warp_sum(sum[t]);
        if (lane == 0) {
            float* dst = y + (size_t) t * N + n;
            *dst = accumulate ? *dst + s : s;
        }
    }
}

// xLo: the split input's second part, xLo elements after x (store_act), or 0
extern "C" __global__ void gemv_bf16(const bf16* __restrict__ W, const bf16* __restrict__ x, float* __restrict__ y,
                                     int N, int K, int T, int accumulate, long xLo) {
    pdl_trigger();
    pdl_wait();
    if (xLo) {
        switch (T) {
            case 1: gemv_rows<1, true>(W, x, y, N, K, accumulate, xLo); break;
            case 2: gemv_rows<2, true>(W, x, y, N, K, accumulate, xLo); break;
            case 3: gemv_rows<3, true>(W, x, y, N, K, accumulate, xLo); break;
            case 4: gemv_rows<4, true>(W, x, y, N, K, accumulate, xLo); break;
            case 5: gemv_rows<5, true>(W, x, y, N, K, accumulate, xLo); break;
            case 6: gemv_rows<6, true>(W, x, y, N, K, accumulate, xLo); break;
            case 7: gemv_rows<7, true>(W, x, y, N, K, accumulate, xLo); break;
            case 8: gemv_rows<8, true>(W, x, y, N, K, accumulate, xLo); break;
        }
        return;
    }
    switch (T) {
        case 1: gemv_rows<1, false>(W, x, y, N, K, accumulate, 0); break;
        case 2: gemv_rows<2, false>(W, x, y, N, K, accumulate, 0); break;
        case 3: gemv_rows<3, false>(W, x, y, N, K, accumulate, 0); break;
        case 4: gemv_rows<4, false>(W, x, y, N, K, accumulate, 0); break;
        case 5: gemv_rows<5, false>(W, x, y, N, K, accumulate, 0); break;
        case 6: gemv_rows<6, false>(W, x, y, N, K, accumulate, 0); break;
        case 7: gemv_rows<7, false>(W, x, y, N, K, accumulate, 0); break;
        case 8: gemv_rows<8, false>(W, x, y, N, K, accumulate, 0); break;
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Greedy: out[r] = argmax logits[r, :] (lowest index on ties, as the CPU's argmax).   grid: rows
// ---------------------------------------------------------------------------------------------------------------
__device__ __forceinline__ void argmax_merge(float& v, int& i, float ov, int oi) {
    if (ov > v || (ov == v && oi < i)) { v = ov; i = oi; }
}

// The (best, idx) of a block's values, by argmax_merge: warps, then warp 0 over the warps' results (every thread
// returns the block's; sv/si: 32 floats and ints of shared memory).
__device__ __forceinline__ void argmax_block(float& best, int& idx, float* sv, int* si) {
    for (int o = 16; o > 0; o >>= 1) argmax_merge(best, idx, __shfl_xor_sync(FULL_MASK, best, o), __shfl_xor_sync(FULL_MASK, idx, o));
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) { sv[warp] = best; si[warp] = idx; }
    __syncthreads();
    int warps = blockDim.x >> 5;
    best = lane < warps ? sv[lane] : -INFINITY;
    idx = lane < warps ? si[lane] : 0x7fffffff;
    for (int o = 16; o > 0; o >>= 1) argmax_merge(best, idx, __shfl_xor_sync(FULL_MASK, best, o), __shfl_xor_sync(FULL_MASK, idx, o));
}

extern "C" __global__ void argmax_rows(const float* __restrict__ logits, int V, int* __restrict__ out) {
    pdl_trigger();
    pdl_wait();
    __shared__ float sv[32];
    __shared__ int si[32];
    const float* row = logits + (size_t) blockIdx.x * V;
    float best = -INFINITY;
    int idx = 0x7fffffff;
    for (int v = threadIdx.x; v < V; v += blockDim.x) argmax_merge(best, idx, row[v], v);
    argmax_block(best, idx, sv, si);
    if (threadIdx.x == 0) out[blockIdx.x] = idx;
}

// argmax_rows with a row spread over gridDim.x blocks (a decode step's one row is 128K logits: one block reading them
// alone took ~29 µs on an H100). Block b takes the b-th slice, writes its (best, idx) to part, and the last block of a
// row to finish merges the slices. argmax_merge is a total order (larger value, then lower index; NaN never wins), so
// the result is the same whatever order the slices are merged in: the same ids as argmax_rows.
// grid: (slices <= 32, rows); part: [rows][slices] floats then [rows][slices] ints; counters: [rows] ints, zero at
// start and reset by the merging block (so a captured graph replays).
extern "C" __global__ void argmax_rows_split(const float* __restrict__ logits, int V, int* __restrict__ out,
                                             float* __restrict__ partV, int* __restrict__ partI,
                                             int* __restrict__ counters) {
    pdl_trigger();
    pdl_wait();
    __shared__ float sv[32];
    __shared__ int si[32];
    __shared__ int mergeHere;
    const int r = blockIdx.y, slices = gridDim.x;
    const int per = (((V + slices - 1) / slices) + 3) & ~3;
    const int lo = blockIdx.x * per, hi = min(V, lo + per);
    const float* row = logits + (size_t) r * V;
    float best = -INFINITY;
    int idx = 0x7fffffff;
    for (int v = lo + threadIdx.x; v < hi; v += blockDim.x) argmax_merge(best, idx, row[v], v);
    argmax_block(best, idx, sv, si);
    if (threadIdx.x == 0) {
        partV[r * slices + blockIdx.x] = best;
        partI[r * slices + blockIdx.x] = idx;
        __threadfence();
        int done = atomicAdd(counters + r, 1);
        mergeHere = done == slices - 1;
        if (mergeHere) counters[r] = 0;
    }
    __syncthreads();
    if (!mergeHere || threadIdx.x >= 32) return;
    __threadfence();
    int lane = threadIdx.x;
    best = lane < slices ? __ldcg(partV + r * slices + lane) : -INFINITY;
    idx = lane < slices ? __ldcg(partI + r * slices + lane) : 0x7fffffff;
    for (int o = 16; o > 0; o >>= 1) argmax_merge(best, idx, __shfl_xor_sync(FULL_MASK, best, o), __shfl_xor_sync(FULL_MASK, idx, o));
    if (lane == 0) out[r] = idx;
}

// ---------------------------------------------------------------------------------------------------------------
// Fused speculative acceptance (docs/ALGORITHMS.md §1 and §6). One block per row i in 0..gamma (row gamma is the
// bonus row). Pass 1 streams the row once: online softmax statistics of p and q together (and argmax p); the ratio
// is taken only at the drafted token. If the row rejects (or is the bonus row), pass 2 (the row is L2-resident by
// then) sums the residual max(0, p - q) per warp segment and samples it by inverse CDF with the given uniform.
// rowOut[2i] = accepted (0/1), rowOut[2i+1] = replacement (or bonus) token. Temperature is applied as invTemp;
// greedy compares with argmax p. Acceptance is u < p(x)/q(x), the CPU SpeculativeSampler's rule.
// ---------------------------------------------------------------------------------------------------------------
#define ACC_THREADS 1024

__device__ __forceinline__ void online_merge(float& m, float& s, float om, float os) {
    if (om == -INFINITY) return;
    if (m == -INFINITY) { m = om; s = os; return; }
    float mn = fmaxf(m, om);
    s = s * __expf(m - mn) + os * __expf(om - mn);
    m = mn;
}

extern "C" __global__ void __launch_bounds__(ACC_THREADS)
spec_accept_rows(const float* __restrict__ pLogits, const float* __restrict__ qLogits, const int* __restrict__ draft,
                 const float* __restrict__ uAccept, const float* __restrict__ uSample, int gamma, int V,
                 float invTemp, int greedy, int* __restrict__ rowOut) {
    __shared__ float sm_m[32], sm_s[32], sq_m[32], sq_s[32], sbest[32];
    __shared__ int sidx[32];
    __shared__ float segSum[32];
    __shared__ int decided[2];
    int i = blockIdx.x;
    bool bonus = i == gamma;
    const float* p = pLogits + (size_t) i * V;
    const float* q = bonus ? nullptr : qLogits + (size_t) i * V;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;

    // pass 1: online softmax of p and q, argmax p
    float mp = -INFINITY, sp = 0.f, mq = -INFINITY, sq = 0.f, best = -INFINITY;
    int bi = 0x7fffffff;
    for (int v = threadIdx.x; v < V; v += blockDim.x) {
        float a = p[v];
        argmax_merge(best, bi, a, v);
        a *= invTemp;
        if (a > mp) { sp = sp * __expf(mp - a) + 1.f; mp = a; } else sp += __expf(a - mp);
        if (q) {
            float b = q[v] * invTemp;
            if (b > mq) { sq = sq * __expf(mq - b) + 1.f; mq = b; } else sq += __expf(b - mq);
        }
    }
    for (int o = 16; o > 0; o >>= 1) {
        online_merge(mp, sp, __shfl_xor_sync(FULL_MASK, mp, o), __shfl_xor_sync(FULL_MASK, sp, o));
        online_merge(mq, sq, __shfl_xor_sync(FULL_MASK, mq, o), __shfl_xor_sync(FULL_MASK, sq, o));
        argmax_merge(best, bi, __shfl_xor_sync(FULL_MASK, best, o), __shfl_xor_sync(FULL_MASK, bi, o));
    }
    if (lane == 0) { sm_m[warp] = mp; sm_s[warp] = sp; sq_m[warp] = mq; sq_s[warp] = sq; sbest[warp] = best; sidx[warp] = bi; }
    __syncthreads();
    mp = -INFINITY; sp = 0.f; mq = -INFINITY; sq = 0.f; best = -INFINITY; bi = 0x7fffffff;
    for (int w = 0; w < warps; w++) {
        online_merge(mp, sp, sm_m[w], sm_s[w]);
        online_merge(mq, sq, sq_m[w], sq_s[w]);
        argmax_merge(best, bi, sbest[w], sidx[w]);
    }

    if (greedy) {
        if (threadIdx.x == 0) {
            rowOut[2 * i] = bonus ? 0 : (draft[i] == bi);
            rowOut[2 * i + 1] = bi;
        }
        return;
    }
    if (threadIdx.x == 0) {
        int acc = 0;
        if (!bonus) {
            int x = draft[i];
            float px = __expf(p[x] * invTemp - mp) / sp;
            float qx = __expf(q[x] * invTemp - mq) / sq;
            acc = qx <= 0.f ? 1 : (uAccept[i] < px / qx);
        }
        decided[0] = acc;
        rowOut[2 * i] = acc;
        rowOut[2 * i + 1] = -1;
    }
    __syncthreads();
    if (decided[0]) return;

    // pass 2: residual r(v) = max(0, p(v) - q(v)) (bonus row: r = p), sampled by inverse CDF. Warp w owns the
    // contiguous segment [w*seg, (w+1)*seg), read coalesced 32 at a time.
    float invSp = 1.f / sp, invSq = q ? 1.f / sq : 0.f;
    int seg = (V + warps - 1) / warps;
    int lo = min(V, warp * seg), hi = min(V, lo + seg);
    float local = 0.f;
    for (int v = lo + lane; v < hi; v += 32) {
        float r = __expf(p[v] * invTemp - mp) * invSp - (q ? __expf(q[v] * invTemp - mq) * invSq : 0.f);
        local += fmaxf(r, 0.f);
    }
    local = warp_sum(local);
    if (lane == 0) segSum[warp] = local;
    __syncthreads();
    float mass = 0.f;
    for (int w = 0; w < warps; w++) mass += segSum[w];
    bool useP = !(mass > 0.f);   // p == q everywhere: the CPU falls back to p
    if (useP) {
        // recompute segment sums of p itself
        __syncthreads();
        float lp = 0.f;
        for (int v = lo + lane; v < hi; v += 32) lp += __expf(p[v] * invTemp - mp) * invSp;
        lp = warp_sum(lp);
        if (lane == 0) segSum[warp] = lp;
        __syncthreads();
        mass = 0.f;
        for (int w = 0; w < warps; w++) mass += segSum[w];
    }
    float target = uSample[i] * mass;
    // the segment holding the target: first w with cumulative > target (last non-empty one on rounding)
    float before = 0.f;
    int owner = -1, lastNonEmpty = 0;
    for (int w = 0; w < warps; w++) {
        if (segSum[w] > 0.f) lastNonEmpty = w;
        if (owner < 0 && before + segSum[w] > target) { owner = w; break; }
        before += segSum[w];
    }
    if (owner < 0) { owner = lastNonEmpty; before = 0.f; for (int w = 0; w < owner; w++) before += segSum[w]; }
    if (warp != owner) return;
    float run = before;
    int chosen = -1, lastPos = -1;
    for (int base = lo; base < hi && chosen < 0; base += 32) {
        int v = base + lane;
        float r = 0.f;
        if (v < hi) {
            r = __expf(p[v] * invTemp - mp) * invSp;
            if (!useP) r = fmaxf(r - (q ? __expf(q[v] * invTemp - mq) * invSq : 0.f), 0.f);
        }
        float inc = r;  // inclusive scan across the warp
        for (int o = 1; o < 32; o <<= 1) {
            float n = __shfl_up_sync(FULL_MASK, inc, o);
            if (lane >= o) inc += n;
        }
        unsigned hit = __ballot_sync(FULL_MASK, r > 0.f && run + inc > target);
        unsigned pos = __ballot_sync(FULL_MASK, r > 0.f);
        if (pos) lastPos = base + 31 - __clz(pos);
        if (hit) chosen = base + __ffs(hit) - 1;
        run += __shfl_sync(FULL_MASK, inc, 31);
    }
    if (lane == 0) rowOut[2 * i + 1] = chosen >= 0 ? chosen : lastPos;
}

// result[0] = accepted count a; result[1..a+1] = emitted tokens (accepted drafts, then replacement or bonus).
extern "C" __global__ void spec_accept_finish(const int* __restrict__ rowOut, const int* __restrict__ draft, int gamma,
                                              int* __restrict__ result) {
    if (threadIdx.x != 0 || blockIdx.x != 0) return;
    int a = 0;
    while (a < gamma && rowOut[2 * a]) { result[1 + a] = draft[a]; a++; }
    result[0] = a;
    result[1 + a] = rowOut[2 * a + 1];
}

// ---------------------------------------------------------------------------------------------------------------
// Device-side random weights for benchmarks: N(0, std) from a counter-based hash (splitmix64 + Box-Muller).
// ---------------------------------------------------------------------------------------------------------------
__device__ __forceinline__ uint64_t splitmix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

extern "C" __global__ void fill_normal_bf16(bf16* __restrict__ out, long n, unsigned long long seed, float std) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        uint64_t r = splitmix64(seed ^ splitmix64((uint64_t) i));
        float u1 = ((r >> 40) + 1) * (1.0f / 16777217.0f);
        float u2 = ((r & 0xffffff)) * (1.0f / 16777216.0f);
        float g = sqrtf(-2.f * logf(u1)) * cospif(2.f * u2);
        out[i] = __float2bfloat16(g * std);
    }
}

extern "C" __global__ void fill_f32(float* __restrict__ out, long n, float value) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) out[i] = value;
}

extern "C" __global__ void f32_to_bf16(const float* __restrict__ in, bf16* __restrict__ out, long n) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) out[i] = __float2bfloat16(in[i]);
}

// A bf16 KV cache rewritten as an fp16 one (store_kv's kvHalf), in place: every bf16 value inside fp16's range is exact
// in fp16, so attention over either must give the same bits (SplitKCheck).
extern "C" __global__ void bf16_to_f16_inplace(bf16* __restrict__ data, long n) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x)
        store_kv(data, i, __bfloat162float(data[i]), 0, 1, nullptr);
}

// ---------------------------------------------------------------------------------------------------------------
// Multi-GPU helpers (tensor parallelism, EasySpec layer-parallel drafting)
// ---------------------------------------------------------------------------------------------------------------

// A [rows, cols] tile at (row0, col0) of a virtual [*, ld] matrix filled by fill_normal_bf16 with the same seed:
// element (r, c) gets the value fill_normal_bf16 gives index (row0 + r) * ld + col0 + c, so a tensor-parallel shard
// generated on its own GPU holds exactly the values of the whole model's random weights.
extern "C" __global__ void fill_normal_bf16_tile(bf16* __restrict__ out, int rows, int cols, long ld, long row0, long col0,
                                                 unsigned long long seed, float std) {
    long n = (long) rows * cols;
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        long r = i / cols, c = i - r * cols;
        uint64_t idx = (uint64_t) ((row0 + r) * ld + col0 + c);
        uint64_t z = splitmix64(seed ^ splitmix64(idx));
        float u1 = ((z >> 40) + 1) * (1.0f / 16777217.0f);
        float u2 = ((z & 0xffffff)) * (1.0f / 16777216.0f);
        float g = sqrtf(-2.f * logf(u1)) * cospif(2.f * u2);
        out[i] = __float2bfloat16(g * std);
    }
}

// y[i] += x[i] (EasySpec: a group's gathered attention outputs added to the residual in a fixed order)
extern "C" __global__ void add_f32(float* __restrict__ y, const float* __restrict__ x, long n) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) y[i] += x[i];
}

// y[i] = (accumulate ? y[i] : 0) + parts[i] + parts[n + i]: a split-activation prefill's W·hi and W·lo products
// (one strided-batched GEMM, parts [2][n]) added to y in the order the two accumulating GEMMs used (y + hi, then + lo)
extern "C" __global__ void add_pair_f32(float* __restrict__ y, const float* __restrict__ parts, long n, int accumulate) {
    const float* lo = parts + n;
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) {
        float v = accumulate ? y[i] + parts[i] : parts[i];
        y[i] = v + lo[i];
    }
}

// All-gathered vocabulary parts [parts][rows][partV] -> logits [rows][parts * partV]   grid: rows x parts
extern "C" __global__ void gather_vocab_parts(const float* __restrict__ in, float* __restrict__ out, int rows, int partV) {
    int r = blockIdx.x, p = blockIdx.y, parts = gridDim.y;
    const float* src = in + ((size_t) p * rows + r) * partV;
    float* dst = out + (size_t) r * parts * partV + (size_t) p * partV;
    for (int j = threadIdx.x; j < partV; j += blockDim.x) dst[j] = src[j];
}

// ---------------------------------------------------------------------------------------------------------------
// The unfused baseline of §6, only for comparison with spec_accept_rows (GpuCheck accept): separate kernels with
// materialised intermediates, as a framework would run them: softmax p, softmax q, gather + ratio + decision,
// residual max(0, p - q), its sum, normalise, inverse-CDF sample. Rows: gamma (+1 bonus row for p's softmax).
// ---------------------------------------------------------------------------------------------------------------
extern "C" __global__ void base_softmax_rows(const float* __restrict__ logits, float* __restrict__ probs, int V, float invTemp) {
    __shared__ float scratch[32];
    const float* x = logits + (size_t) blockIdx.x * V;
    float* y = probs + (size_t) blockIdx.x * V;
    float m = -INFINITY;
    for (int v = threadIdx.x; v < V; v += blockDim.x) m = fmaxf(m, x[v] * invTemp);
    m = warp_max(m);
    __syncthreads();
    if ((threadIdx.x & 31) == 0) scratch[threadIdx.x >> 5] = m;
    __syncthreads();
    m = -INFINITY;
    for (int w = 0; w < (blockDim.x >> 5); w++) m = fmaxf(m, scratch[w]);
    float s = 0.f;
    for (int v = threadIdx.x; v < V; v += blockDim.x) s += __expf(x[v] * invTemp - m);
    s = block_sum(s, scratch);
    for (int v = threadIdx.x; v < V; v += blockDim.x) y[v] = __expf(x[v] * invTemp - m) / s;
}

extern "C" __global__ void base_ratio_decide(const float* __restrict__ p, const float* __restrict__ q, const int* __restrict__ draft,
                                             const float* __restrict__ uAccept, int gamma, int V, int* __restrict__ accepted) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= gamma) return;
    int x = draft[i];
    accepted[i] = uAccept[i] < p[(size_t) i * V + x] / q[(size_t) i * V + x];
}

extern "C" __global__ void base_residual(const float* __restrict__ p, const float* __restrict__ q, float* __restrict__ r, long n) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) r[i] = fmaxf(p[i] - q[i], 0.f);
}

extern "C" __global__ void base_row_sum(const float* __restrict__ r, float* __restrict__ sums, int V) {
    __shared__ float scratch[32];
    float s = 0.f;
    for (int v = threadIdx.x; v < V; v += blockDim.x) s += r[(size_t) blockIdx.x * V + v];
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) sums[blockIdx.x] = s;
}

extern "C" __global__ void base_normalize(float* __restrict__ r, const float* __restrict__ sums, int V, long n) {
    for (long i = blockIdx.x * (long) blockDim.x + threadIdx.x; i < n; i += (long) gridDim.x * blockDim.x) r[i] /= sums[i / V];
}

// inverse CDF over a normalised row: one block per row, tiles of blockDim scanned in order
extern "C" __global__ void base_sample(const float* __restrict__ r, const float* __restrict__ u, int V, int* __restrict__ out) {
    __shared__ float tile[1024];
    __shared__ float base;
    __shared__ int found;
    const float* row = r + (size_t) blockIdx.x * V;
    if (threadIdx.x == 0) { base = 0.f; found = -1; }
    __syncthreads();
    float target = u[blockIdx.x];
    for (int t0 = 0; t0 < V; t0 += blockDim.x) {
        int v = t0 + threadIdx.x;
        tile[threadIdx.x] = v < V ? row[v] : 0.f;
        __syncthreads();
        if (threadIdx.x == 0) {   // serial scan of the tile: the simple framework-style cumsum
            float run = base;
            for (int k = 0; k < blockDim.x && t0 + k < V; k++) {
                run += tile[k];
                if (found < 0 && tile[k] > 0.f && run > target) found = t0 + k;
            }
            base = run;
        }
        __syncthreads();
        if (found >= 0) break;
    }
    if (threadIdx.x == 0) out[blockIdx.x] = found;
}

// ---------------------------------------------------------------------------------------------------------------
// Sampling on the device, with the semantics of core's LogitsProcessor (temperature, top-k, top-p within the top-k,
// min-p; penalties stay on the host) followed by Sampler's inverse-CDF draw with a uniform the host supplies per
// row, so a seeded request draws the same tokens as on the CPU. One block per row; the row is streamed a few times
// (from L2 after the first pass) and never sorted: top-k and top-p are cuts in the order (logit desc, index asc),
// each found by a 4-pass radix select on the logit's order-preserving bits (8 bits a pass, 256-bin histograms of
// counts and masses), with ties at the cut resolved by index in one ordered scan. Masses are fixed point (the weight
// exp((x - max) / T) <= 1 times 2^45, summed in 64-bit integers), so every sum is exact whatever the reduction or
// atomic order: the same uniform gives the same token on every run. Weights below 2^-45 (a logit more than ~31 T
// under the maximum) count as zero mass; the CPU gives them probability < 2^-45 each.
// out[r] = token, or -1 when the row cannot be sampled (a NaN logit; when sampling, every logit -inf or one +inf:
// the CPU path throws on these).
// ---------------------------------------------------------------------------------------------------------------
#define SAMPLE_THREADS 1024
#define SAMPLE_FIXED_ONE 35184372088832.0   /* 2^45: a row of 2^19 weights of at most 1 still fits in 64 bits */

struct SampleShared {
    unsigned long long histW[256];
    unsigned histC[256];
    unsigned long long stage[32][32];
    unsigned long long sumU[32];
    float bestV[32];
    int bestI[32];
    int nan[32];
    unsigned tieCount[32];
    unsigned long long selAbove;
    int selDigit;
    int found;
};

// order_key(a) < order_key(b) iff a < b, and equal iff a == b, for every non-NaN float (x + 0 turns -0 into +0)
__device__ __forceinline__ unsigned order_key(float x) {
    unsigned u = __float_as_uint(x + 0.f);
    return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

// inside the cut (key, idx): at or before it in the order (logit desc, index asc)
__device__ __forceinline__ bool within_cut(unsigned k, int i, unsigned cutKey, int cutIdx) {
    return k > cutKey || (k == cutKey && i <= cutIdx);
}

__device__ __forceinline__ float sample_weight(float x, float m, float t) {
    return expf((x - m) / t);
}

__device__ __forceinline__ unsigned long long fixed_weight(float w) {
    return (unsigned long long) ((double) w * SAMPLE_FIXED_ONE);
}

__device__ unsigned long long block_sum_u64(unsigned long long v, unsigned long long* scratch) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = (blockDim.x + 31) >> 5;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(FULL_MASK, v, o);
    __syncthreads();
    if (lane == 0) scratch[warp] = v;
    __syncthreads();
    unsigned long long t = lane < warps ? scratch[lane] : 0ull;
    for (int o = 16; o > 0; o >>= 1) t += __shfl_xor_sync(FULL_MASK, t, o);
    return t;
}

// Index of the n-th (1-based) element, by ascending index, with order key `key` inside the cut (inKey, inIdx).
__device__ int nth_tie(const float* __restrict__ row, int V, unsigned key, unsigned inKey, int inIdx, unsigned n,
                       SampleShared& sh) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    __syncthreads();
    if (threadIdx.x == 0) sh.found = 0x7fffffff;
    unsigned seen = 0;
    for (int base = 0; base < V; base += blockDim.x) {
        int i = base + threadIdx.x;
        bool tie = false;
        if (i < V) {
            unsigned k = order_key(row[i]);
            tie = k == key && within_cut(k, i, inKey, inIdx);
        }
        unsigned ballot = __ballot_sync(FULL_MASK, tie);
        if (lane == 0) sh.tieCount[warp] = __popc(ballot);
        __syncthreads();
        unsigned before = seen, total = 0;
        for (int w = 0; w < warps; w++) {
            if (w < warp) before += sh.tieCount[w];
            total += sh.tieCount[w];
        }
        if (tie && before + __popc(ballot & ((1u << lane) - 1u)) + 1u == n) sh.found = i;
        seen += total;
        __syncthreads();
        if (seen >= n) break;
    }
    return sh.found;
}

// The cut (cutKey, cutIdx) that ends the shortest prefix, in the order (logit desc, index asc), of the elements inside
// the cut (inKey, inIdx) whose weights (1 each, or the fixed-point mass) add up to at least target (0 < target <= total).
__device__ void radix_cut(const float* __restrict__ row, int V, float m, float t, bool mass, unsigned long long target,
                          unsigned inKey, int inIdx, SampleShared& sh, unsigned& cutKey, int& cutIdx) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    unsigned prefix = 0;
    unsigned long long above = 0, tieW = 0;
    unsigned tieC = 0;
    for (int shift = 24; shift >= 0; shift -= 8) {
        for (int b = threadIdx.x; b < 256; b += blockDim.x) { sh.histW[b] = 0; sh.histC[b] = 0; }
        __syncthreads();
        unsigned high = shift == 24 ? 0u : 0xffffffffu << (shift + 8);
        // Logits crowd into a few bins, so lanes with the same digit are added up first and one lane per digit
        // adds to shared memory (a 32-way conflicting atomic costs 32 of them).
        for (int base = 0; base < V; base += blockDim.x) {
            int i = base + threadIdx.x;
            float x = i < V ? row[i] : 0.f;
            unsigned k = order_key(x);
            bool part = i < V && (k & high) == prefix && within_cut(k, i, inKey, inIdx);
            unsigned act = __ballot_sync(FULL_MASK, part);
            if (!part) continue;
            int d = (k >> shift) & 255;
            unsigned grp = __match_any_sync(act, d);
            if (mass) sh.stage[warp][lane] = fixed_weight(sample_weight(x, m, t));
            __syncwarp(act);
            if (lane == __ffs(grp) - 1) {
                unsigned long long s = __popc(grp);
                if (mass) {
                    s = 0;
                    for (unsigned g = grp; g; g &= g - 1) s += sh.stage[warp][__ffs(g) - 1];
                }
                atomicAdd(&sh.histW[d], s);
                atomicAdd(&sh.histC[d], (unsigned) __popc(grp));
            }
            __syncwarp(act);   // the stage is read before the next tile overwrites it
        }
        __syncthreads();
        if (warp == 0) {   // bins from the top: lane l owns bins 255-8l down to 248-8l
            unsigned long long own = 0;
            for (int j = 0; j < 8; j++) own += sh.histW[255 - 8 * lane - j];
            unsigned long long incl = own;
            for (int o = 1; o < 32; o <<= 1) {
                unsigned long long n = __shfl_up_sync(FULL_MASK, incl, o);
                if (lane >= o) incl += n;
            }
            unsigned long long excl = incl - own;
            unsigned hit = __ballot_sync(FULL_MASK, above + excl < target && above + incl >= target);
            int owner = hit ? __ffs(hit) - 1 : 31;   // no owner only if target > total, which callers exclude
            if (lane == owner) {
                unsigned long long run = above + excl;
                int d = 255 - 8 * lane - 7;
                for (int j = 0; j < 8; j++) {
                    int b = 255 - 8 * lane - j;
                    if (run + sh.histW[b] >= target) { d = b; break; }
                    run += sh.histW[b];
                }
                sh.selDigit = d;
                sh.selAbove = run;
            }
        }
        __syncthreads();
        int d = sh.selDigit;
        prefix |= (unsigned) d << shift;
        above = sh.selAbove;
        tieW = sh.histW[d];
        tieC = sh.histC[d];
        __syncthreads();   // everyone has read the histograms before the next pass clears them
    }
    // Elements with key == prefix tie; every one has the same weight, so the count needed is exact.
    unsigned long long needW = target - above;
    unsigned long long each = tieW / tieC;
    unsigned need = (unsigned) (mass ? (needW + each - 1) / each : needW);
    cutKey = prefix;
    cutIdx = need >= tieC ? 0x7fffffff : nth_tie(row, V, prefix, inKey, inIdx, need, sh);
}

__device__ __forceinline__ unsigned long long kept_weight(float x, int i, float m, float t, unsigned kKey, int kIdx,
                                                          unsigned pKey, int pIdx, double minP) {
    unsigned k = order_key(x);
    if (!within_cut(k, i, kKey, kIdx) || !within_cut(k, i, pKey, pIdx)) return 0ull;
    float w = sample_weight(x, m, t);
    if ((double) w < minP) return 0ull;   // min-p: p < minP * pmax  <=>  w < minP, as pmax has weight 1
    return fixed_weight(w);
}

// temperature <= 0: greedy (argmax, lowest index on ties). topK: 0 or >= V = off; topP >= 1 = off; minP <= 0 = off.
extern "C" __global__ void __launch_bounds__(SAMPLE_THREADS)
sample_rows(const float* __restrict__ logits, int V, const double* __restrict__ uniforms, float temperature,
            int topK, double topP, double minP, int* __restrict__ out) {
    __shared__ SampleShared sh;
    const float* row = logits + (size_t) blockIdx.x * V;
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;

    // pass 1: the maximum (lowest index on ties) and whether any logit is NaN
    float best = -INFINITY;
    int bi = 0x7fffffff, nan = 0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) {
        float x = row[i];
        if (x != x) nan = 1; else argmax_merge(best, bi, x, i);
    }
    for (int o = 16; o > 0; o >>= 1) argmax_merge(best, bi, __shfl_xor_sync(FULL_MASK, best, o), __shfl_xor_sync(FULL_MASK, bi, o));
    nan = __any_sync(FULL_MASK, nan);
    if (lane == 0) { sh.bestV[warp] = best; sh.bestI[warp] = bi; sh.nan[warp] = nan; }
    __syncthreads();
    best = -INFINITY; bi = 0x7fffffff; nan = 0;
    for (int w = 0; w < warps; w++) { argmax_merge(best, bi, sh.bestV[w], sh.bestI[w]); nan |= sh.nan[w]; }
    if (nan || (temperature > 0.f && isinf(best))) {
        if (threadIdx.x == 0) out[blockIdx.x] = -1;
        return;
    }
    if (temperature <= 0.f) {
        if (threadIdx.x == 0) out[blockIdx.x] = bi;
        return;
    }
    float m = best, t = temperature;

    // top-k: the cut after the k-th element
    unsigned kKey = 0, pKey = 0;
    int kIdx = 0x7fffffff, pIdx = 0x7fffffff;   // (0, max): everything
    if (topK > 0 && topK < V) radix_cut(row, V, m, t, false, (unsigned long long) topK, 0u, 0x7fffffff, sh, kKey, kIdx);

    // top-p within the top-k: the shortest prefix whose mass reaches topP times the top-k's mass
    if (topP < 1.0) {
        unsigned long long kept = 0;
        for (int i = threadIdx.x; i < V; i += blockDim.x) {
            float x = row[i];
            if (within_cut(order_key(x), i, kKey, kIdx)) kept += fixed_weight(sample_weight(x, m, t));
        }
        kept = block_sum_u64(kept, sh.sumU);
        unsigned long long target = (unsigned long long) ceil(topP * (double) kept);
        if (target < 1) target = 1;
        if (target > kept) target = kept;
        radix_cut(row, V, m, t, true, target, kKey, kIdx, sh, pKey, pIdx);
    }

    // inverse CDF over the kept weights in index order: warp w owns the contiguous segment [w*seg, (w+1)*seg)
    int seg = (V + warps - 1) / warps;
    int lo = min(V, warp * seg), hi = min(V, lo + seg);
    unsigned long long local = 0;
    for (int i = lo + lane; i < hi; i += 32) local += kept_weight(row[i], i, m, t, kKey, kIdx, pKey, pIdx, minP);
    for (int o = 16; o > 0; o >>= 1) local += __shfl_xor_sync(FULL_MASK, local, o);
    __syncthreads();   // sumU may still be read by block_sum_u64's callers
    if (lane == 0) sh.sumU[warp] = local;
    __syncthreads();
    unsigned long long total = 0;
    for (int w = 0; w < warps; w++) total += sh.sumU[w];
    // Sampler: first token whose cumulative mass exceeds u * total (the top token always has mass, so total > 0)
    unsigned long long target = (unsigned long long) (uniforms[blockIdx.x] * (double) total);
    if (target >= total) target = total - 1;
    unsigned long long before = 0;
    int owner = warps - 1;
    for (int w = 0; w < warps; w++) {
        if (before + sh.sumU[w] > target) { owner = w; break; }
        before += sh.sumU[w];
    }
    if (warp != owner) return;
    unsigned long long run = before;
    int chosen = -1;
    for (int base = lo; base < hi; base += 32) {
        int i = base + lane;
        unsigned long long w = i < hi ? kept_weight(row[i], i, m, t, kKey, kIdx, pKey, pIdx, minP) : 0ull;
        unsigned long long incl = w;
        for (int o = 1; o < 32; o <<= 1) {
            unsigned long long n = __shfl_up_sync(FULL_MASK, incl, o);
            if (lane >= o) incl += n;
        }
        unsigned hit = __ballot_sync(FULL_MASK, run + incl > target);
        if (hit) { chosen = base + __ffs(hit) - 1; break; }
        run += __shfl_sync(FULL_MASK, incl, 31);
    }
    if (lane == 0) out[blockIdx.x] = chosen;
}

// ---------------------------------------------------------------------------------------------------------------
// Split-K ("flash-decoding") attention for forwards of few tokens over long contexts: attention_paged gives each
// (token, head) one block, so a decode step fills heads blocks, far fewer than the SMs, and each walks the whole
// context. Here the key range of each (token, head) is cut into splits; a block per split runs attention_paged's
// loop (same masks: causal, explicit tree masks, sliding window) over its range and leaves its partial state
// (max, sum, unnormalised output); attention_split_combine merges the splits. The grid is fixed (maxSplits splits
// per head) and the layout is read from the metadata on the device: splits of split_chunk keys, so a forward can be
// captured in a CUDA graph and replayed at any context length; splits past the context exit at once. The layout
// depends only on the row's key count, so a verify row and the decode step at the same position add up in the same
// order. part[((t*heads + h)*maxSplits + s)*hd + i], ml[2*((t*heads + h)*maxSplits + s) + {0,1}] = {max, sum}.
// ---------------------------------------------------------------------------------------------------------------
#define SPLIT_MIN_KEYS 256

__device__ __forceinline__ int split_chunk(int keys, int maxSplits) {
    int per = (keys + maxSplits - 1) / maxSplits;
    per = (per + 31) & ~31;
    return max(per, SPLIT_MIN_KEYS);
}

// the keys a token's row looks at (attention_paged's `keys`)
__device__ __forceinline__ int row_keys(const int* __restrict__ tokMeta, const int* __restrict__ seqMeta, int t) {
    const int* sm = seqMeta + 6 * tokMeta[3 * t];
    return sm[4] < 0 ? sm[0] + tokMeta[3 * t + 1] + 1 : sm[0] + sm[1];
}

extern "C" __global__ void __launch_bounds__(ATT_WARPS * 32)
attention_split(const float* __restrict__ q, const bf16* __restrict__ kCache, const bf16* __restrict__ vCache,
                float* __restrict__ part, float* __restrict__ ml, const int* __restrict__ tokMeta,
                const int* __restrict__ seqMeta, const int* __restrict__ blockTables,
                const int* __restrict__ slotPositions, const unsigned* __restrict__ masks, int heads, int kvHeads,
                int hd, int blockSize, int window, float scale, int maxSplits, long kvLo, int kvHalf) {
    __shared__ __align__(16) float qs[ATT_MAX_HD];
    __shared__ float accS[ATT_WARPS][ATT_MAX_HD];
    __shared__ float mS[ATT_WARPS], lS[ATT_WARPS];
    int t = blockIdx.x, h = blockIdx.y % heads, split = blockIdx.y / heads;
    int keys = row_keys(tokMeta, seqMeta, t);
    int chunk = split_chunk(keys, maxSplits);
    int lo = split * chunk;
    if (lo >= keys) return;   // past the context (block-uniform)
    int hi = min(keys, lo + chunk);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int kvh = h / (heads / kvHeads);
    int qDim = heads * hd, kvDim = kvHeads * hd;
    int c = tokMeta[3 * t + 1], qpos = tokMeta[3 * t + 2];
    const int* sm = seqMeta + 6 * tokMeta[3 * t];
    int prefix = sm[0], tableOff = sm[2], posOff = sm[3], maskOff = sm[4], maskWords = sm[5];
    for (int i = threadIdx.x; i < hd; i += blockDim.x) qs[i] = q[(size_t) t * qDim + h * hd + i] * scale;
    __syncthreads();

    float acc[ATT_MAX_HD / 32];
#pragma unroll
    for (int r = 0; r < ATT_MAX_HD / 32; r++) acc[r] = 0.f;
    float m = -INFINITY, l = 0.f;
    bool vec = (hd & 7) == 0;
    for (int tile = lo + warp * 32; tile < hi; tile += ATT_WARPS * 32) {
        int j = tile + lane;
        bool visible = key_visible(j, hi, prefix, c, qpos, masks, maskOff, maskWords, slotPositions, posOff, window);
        size_t slot = 0;
        float s = -INFINITY;
        if (visible) {
            slot = (size_t) blockTables[tableOff + j / blockSize] * blockSize + j % blockSize;
            const bf16* kr = kCache + slot * kvDim + kvh * hd;
            float dot = key_dot(qs, kr, hd, vec, kvHalf);
            if (kvLo) dot += key_dot(qs, kr + kvLo, hd, vec, false);   // the key's second part (split KV)
            s = dot;
        }
        float tileMax = warp_max(s);
        if (tileMax == -INFINITY) continue;
        float mNew = fmaxf(m, tileMax);
        float corr = __expf(m - mNew);
        float p = visible ? __expf(s - mNew) : 0.f;
        l = l * corr + warp_sum(p);
#pragma unroll
        for (int r = 0; r < ATT_MAX_HD / 32; r++) acc[r] *= corr;
        unsigned live = __ballot_sync(FULL_MASK, visible);
        while (live) {
            int k = __ffs(live) - 1;
            live &= live - 1;
            float pk = __shfl_sync(FULL_MASK, p, k);
            size_t sk = __shfl_sync(FULL_MASK, (unsigned long long) slot, k);
            const bf16* vr = vCache + sk * kvDim + kvh * hd;
#pragma unroll
            for (int r = 0; r < ATT_MAX_HD / 32; r++) {
                int i = lane + 32 * r;
                if (i < hd) acc[r] += pk * (kvLo ? __bfloat162float(vr[i]) + __bfloat162float(vr[i + kvLo]) : kv_float(vr + i, kvHalf));
            }
        }
        m = mNew;
    }
    if (lane == 0) { mS[warp] = m; lS[warp] = l; }
#pragma unroll
    for (int r = 0; r < ATT_MAX_HD / 32; r++) {
        int i = lane + 32 * r;
        if (i < hd) accS[warp][i] = acc[r];
    }
    __syncthreads();
    float M = -INFINITY;
    for (int w = 0; w < ATT_WARPS; w++) if (lS[w] > 0.f) M = fmaxf(M, mS[w]);
    float L = 0.f;
    for (int w = 0; w < ATT_WARPS; w++) if (lS[w] > 0.f) L += lS[w] * __expf(mS[w] - M);
    size_t at = ((size_t) t * heads + h) * maxSplits + split;
    for (int i = threadIdx.x; i < hd; i += blockDim.x) {
        float o = 0.f;
        for (int w = 0; w < ATT_WARPS; w++) if (lS[w] > 0.f) o += accS[w][i] * __expf(mS[w] - M);
        part[at * hd + i] = o;
    }
    if (threadIdx.x == 0) { ml[2 * at] = M; ml[2 * at + 1] = L; }   // L == 0: nothing visible in this split
}

// out[t, h*hd + i] = bf16(sum_s e^(M_s - M) o_s[i] / sum_s e^(M_s - M) L_s) over the splits that saw a key.
// grid: (tokens, heads)
extern "C" __global__ void attention_split_combine(const float* __restrict__ part, const float* __restrict__ ml,
                                                   bf16* __restrict__ out, const int* __restrict__ tokMeta,
                                                   const int* __restrict__ seqMeta, int heads, int hd, int maxSplits,
                                                   long lo) {
    int t = blockIdx.x, h = blockIdx.y;
    int keys = row_keys(tokMeta, seqMeta, t);
    int splits = (keys + split_chunk(keys, maxSplits) - 1) / split_chunk(keys, maxSplits);
    size_t at = ((size_t) t * heads + h) * maxSplits;
    float M = -INFINITY;
    for (int s = 0; s < splits; s++) if (ml[2 * (at + s) + 1] > 0.f) M = fmaxf(M, ml[2 * (at + s)]);
    float L = 0.f;
    for (int s = 0; s < splits; s++) if (ml[2 * (at + s) + 1] > 0.f) L += ml[2 * (at + s) + 1] * __expf(ml[2 * (at + s)] - M);
    for (int i = threadIdx.x; i < hd; i += blockDim.x) {
        float o = 0.f;
        for (int s = 0; s < splits; s++) if (ml[2 * (at + s) + 1] > 0.f) o += part[(at + s) * hd + i] * __expf(ml[2 * (at + s)] - M);
        store_act(out, (size_t) t * heads * hd + h * hd + i, L > 0.f ? o / L : 0.f, lo);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Attention for forwards of few tokens (decode, verify), grouped by KV head: one block per (token, KV head, split)
// serves all `heads/kvHeads` query heads that share the KV head, and the splits of a row are merged by the last of its
// blocks to finish (no second launch).
// Why this shape: these launches are latency-bound, and on an H100 the latency went to instruction fetch: kernels whose
// code runs once per launch (fully unrolled loops over keys, dims and heads: ~300 KB for the first version of this
// kernel) took 30-46 µs at 128-400 keys. So the code is small and looped: warp w takes query head(s) w, w+4, ... (for
// groups of fewer than 4 heads, WPH = 4/g warps share a head and split its tiles); a warp walks 32-key tiles, reading
// the tile's K rows coalesced (all 32 requested at once up to head size 128, 16 at 256) and leaving key j's score on
// lane j, then accumulates the tile's V rows in the same batches (lane d owns dims [d*DPL, d*DPL+DPL)). What is left
// is a chain of dependent memory round trips (metadata, block table, K, V, partials), so each is one round: the merge
// reads all splits' states at once too (it read them one after another). Both together took the kernel from ~18 to
// ~10 µs a layer inside the 8B shape's decode graph on an H100 (bench/results/cuda-h100-2026-11-23-pdl/attention); the
// queries and the first block-table entries are requested before the metadata is back (hoist/: 17.7 -> 15.9 µs alone).
// A split is ceil(units / maxSplits) units of
// 32 * WPH keys (one tile per warp: with 128-400 keys a block does one round of loads, and more blocks run at once),
// so the layout depends only on the row's key count: a verify row adds up in the same order as the decode step at the same position. Same
// masks, window and metadata as attention_paged.
// smem: qs[g][HD] | wacc[g*WPH][HD] | wm[g*WPH] | wl[g*WPH] | pS[4][32] | slots[4][32]
// part[((t*heads + h)*maxSplits + s)*HD + i], ml[2*((t*heads + h)*maxSplits + s) + {0,1}] = {max, sum};
// counters[t*kvHeads + kvh]: splits finished (reset to 0 by the merging block, so a captured graph replays).
// ---------------------------------------------------------------------------------------------------------------
#define GQA_WARPS 4
#define GQA_MAX_GROUP 8

// keys per split: whole units of one 32-key tile per warp of a head (unit = 32 * warps per head), as few units per
// split as maxSplits allows
__device__ __forceinline__ int gqa_chunk(int keys, int maxSplits, int unit) {
    int units = (keys + unit - 1) / unit;
    return ((units + maxSplits - 1) / maxSplits) * unit;
}

template <int DPL> struct VRow;
template <> struct VRow<2> { typedef unsigned type; };
template <> struct VRow<4> { typedef uint2 type; };
template <> struct VRow<8> { typedef uint4 type; };

// One step of the transposing warp reduction: lanes with bit OFF set keep (and receive the partner's share of) the
// upper half of sp[0 .. 2*OFF), the others the lower half; after OFF = 16, 8, 4, 2, 1, sp[0] on lane j holds the
// warp-wide sum of every lane's sp[j].
template <int OFF>
__device__ __forceinline__ void butterfly_step(float* sp, int lane) {
    bool upper = lane & OFF;
#pragma unroll
    for (int i = 0; i < OFF; i++) {
        float send = upper ? sp[i] : sp[i + OFF];
        float keep = upper ? sp[i + OFF] : sp[i];
        sp[i] = keep + __shfl_xor_sync(FULL_MASK, send, OFF);
    }
}

#define GQA_SMEM_FLOATS(HD) (GQA_MAX_GROUP * (HD) * 2 + 2 * GQA_MAX_GROUP + 2 * GQA_WARPS * 32)

// This lane's DPL dims of a K row dotted with its query dims, added to dot (in dim order).
template <int DPL, bool HALF, typename VT>
__device__ __forceinline__ float lane_dot(float dot, const float* qr, const VT& row) {
    const unsigned* k2 = reinterpret_cast<const unsigned*>(&row);
#pragma unroll
    for (int e = 0; e < DPL / 2; e++) {
        float2 f = kv_float2<HALF>(k2[e]);
        dot += qr[2 * e] * f.x + qr[2 * e + 1] * f.y;
    }
    return dot;
}

// acc += pk * this lane's DPL dims of a V row.
template <int DPL, bool HALF, typename VT>
__device__ __forceinline__ void lane_accumulate(float* acc, float pk, const VT& row) {
    const unsigned* v2 = reinterpret_cast<const unsigned*>(&row);
#pragma unroll
    for (int e = 0; e < DPL / 2; e++) {
        float2 f = kv_float2<HALF>(v2[e]);
        acc[2 * e] += pk * f.x;
        acc[2 * e + 1] += pk * f.y;
    }
}

// What a block of the grouped kernel needs before it reads anything this step's kernels write: its row's keys, split
// and this warp's first block-table slot. All of it comes from the step's metadata (copied from the host before the
// forward's first kernel), so the chain metadata -> sequence -> block table runs before pdl_wait, while the kernels
// before it (q/k/v GEMM, RoPE/append) finish; so do L2 prefetches of the first tile's K and V rows (keys written by
// earlier steps; the current step's own keys may be fetched before RoPE/append writes them, harmless for L2, which
// every SM sees).
struct GqaRow {
    int t, kvh, g, h0, wph, keys, lo, hi, nSplits, split, c, qpos, prefix, tableOff, posOff, maskOff, maskWords;
    int firstTile, firstSlot;
};

// false: the block's split lies past the row's context (nothing to do, block-uniform)
__device__ __forceinline__ bool gqa_row(GqaRow& r, const bf16* __restrict__ kCache, const bf16* __restrict__ vCache,
                                        const int* __restrict__ tokMeta, const int* __restrict__ seqMeta,
                                        const int* __restrict__ blockTables, int heads, int kvHeads, int blockSize,
                                        int maxSplits, int hd) {
    r.t = blockIdx.x;
    r.kvh = blockIdx.y % kvHeads;
    r.split = blockIdx.y / kvHeads;
    r.g = heads / kvHeads;
    r.h0 = r.kvh * r.g;
    r.wph = r.g >= GQA_WARPS ? 1 : GQA_WARPS / r.g;    // warps per head (g is 1, 2, 4 or up to 8 here)
    r.keys = row_keys(tokMeta, seqMeta, r.t);
    int chunk = gqa_chunk(r.keys, maxSplits, 32 * r.wph);
    r.lo = r.split * chunk;
    if (r.lo >= r.keys) return false;
    r.hi = min(r.keys, r.lo + chunk);
    r.nSplits = (r.keys + chunk - 1) / chunk;
    r.c = tokMeta[3 * r.t + 1];
    r.qpos = tokMeta[3 * r.t + 2];
    const int* sm = seqMeta + 6 * tokMeta[3 * r.t];
    r.prefix = sm[0];
    r.tableOff = sm[2];
    r.posOff = sm[3];
    r.maskOff = sm[4];
    r.maskWords = sm[5];
    int lane = threadIdx.x & 31, sub = (threadIdx.x >> 5) % r.wph;
    r.firstTile = r.lo + sub * 32;
    int j0 = r.firstTile + lane;
    r.firstSlot = j0 < r.hi ? blockTables[r.tableOff + j0 / blockSize] * blockSize + j0 % blockSize : 0;
    if (j0 < r.hi) {
        size_t row = (size_t) r.firstSlot * kvHeads * hd + (size_t) r.kvh * hd;
        for (int b = 0; b < hd * 2; b += 128) {
            asm volatile("prefetch.global.L2 [%0];" :: "l"(reinterpret_cast<const char*>(kCache + row) + b));
            asm volatile("prefetch.global.L2 [%0];" :: "l"(reinterpret_cast<const char*>(vCache + row) + b));
        }
    }
    return true;
}

// KVLO: the K/V rows have second parts kvLo elements after them (split KV, store_act); its own instantiations, so the
// kernels without it are unchanged. HALF: an fp16 cache (store_kv), likewise. r: gqa_row's, computed before pdl_wait.
// QS_READY: the caller has put the (scaled) query heads in shared memory (attention_gqa_*_rope); q is not read.
template <int DPL, int BATCH, bool KVLO, bool HALF, bool QS_READY = false>
__device__ __forceinline__ void attention_gqa(float* smem, const GqaRow& r, const float* __restrict__ q,
        const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, bf16* __restrict__ out,
        float* __restrict__ part, float* __restrict__ ml, int* __restrict__ counters,
        const int* __restrict__ blockTables, const int* __restrict__ slotPositions, const unsigned* __restrict__ masks,
        int heads, int kvHeads, int blockSize, int window, float scale, int maxSplits, long outLo, long kvLo) {
    constexpr int HD = DPL * 32;
    typedef typename VRow<DPL>::type VT;
    __shared__ int mergeHere;
    const int t = r.t, kvh = r.kvh, split = r.split, g = r.g, h0 = r.h0, wph = r.wph;
    const int lo = r.lo, hi = r.hi, nSplits = r.nSplits, c = r.c, qpos = r.qpos, prefix = r.prefix;
    const int tableOff = r.tableOff, posOff = r.posOff, maskOff = r.maskOff, maskWords = r.maskWords;
    const int firstTile = r.firstTile, firstSlot = r.firstSlot;
    int qDim = heads * HD;
    constexpr int Q_PER_THREAD = GQA_MAX_GROUP * HD / (GQA_WARPS * 32);
    float qv[Q_PER_THREAD];
#pragma unroll
    for (int u = 0; u < Q_PER_THREAD; u++) {
        int i = threadIdx.x + u * GQA_WARPS * 32;
        qv[u] = !QS_READY && i < g * HD ? q[(size_t) t * qDim + h0 * HD + i] : 0.f;
    }
    float* qs = smem;                                // [g][HD]
    float* wacc = qs + GQA_MAX_GROUP * HD;           // [states][HD]
    float* wm = wacc + GQA_MAX_GROUP * HD;           // [states]
    float* wl = wm + GQA_MAX_GROUP;                  // [states]
    float* pS = wl + GQA_MAX_GROUP;                  // [4][32]
    int* slotS = reinterpret_cast<int*>(pS + GQA_WARPS * 32);   // [4][32]
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    int kvDim = kvHeads * HD;
    int sub = warp % wph;
#pragma unroll
    for (int u = 0; u < Q_PER_THREAD; u++) {
        int i = threadIdx.x + u * GQA_WARPS * 32;
        if (!QS_READY && i < g * HD) qs[i] = qv[u] * scale;
    }
    __syncthreads();

    float* myP = pS + warp * 32;
    int* mySlots = slotS + warp * 32;
    const bf16* kLane = kCache + kvh * HD + lane * DPL;
    const bf16* vBase = vCache + kvh * HD + lane * DPL;
#pragma unroll 1
    for (int h = warp / wph; h < g; h += GQA_WARPS / wph) {
        float qr[DPL];   // this lane's dims of the head's (scaled) query
#pragma unroll
        for (int d = 0; d < DPL; d++) qr[d] = qs[h * HD + lane * DPL + d];
        float acc[DPL];
#pragma unroll
        for (int d = 0; d < DPL; d++) acc[d] = 0.f;
        float m = -INFINITY, l = 0.f;
#pragma unroll 1
        for (int tile = lo + sub * 32; tile < hi; tile += wph * 32) {
            int j = tile + lane;
            bool visible = key_visible(j, hi, prefix, c, qpos, masks, maskOff, maskWords, slotPositions, posOff, window);
            unsigned live = __ballot_sync(FULL_MASK, visible);
            if (live == 0) continue;   // nothing visible in this tile (warp-uniform)
            // scores: the warp reads each K row with one coalesced load (lane d: dims [d*DPL, d*DPL+DPL)), then a
            // transposing butterfly (31 shuffles) leaves key j's full dot product on lane j. (Lane j reading all of row
            // j made every load instruction touch 32 cache lines.)
            int slot = tile == firstTile ? firstSlot : visible ? blockTables[tableOff + j / blockSize] * blockSize + j % blockSize : 0;
            mySlots[lane] = slot;
            __syncwarp();
            float sp[32];
#pragma unroll
            for (int k0 = 0; k0 < 32; k0 += BATCH) {
                VT kk[BATCH];
#pragma unroll
                for (int u = 0; u < BATCH; u++) kk[u] = *reinterpret_cast<const VT*>(kLane + (size_t) mySlots[k0 + u] * kvDim);
#pragma unroll
                for (int u = 0; u < BATCH; u++) {
                    float dot = lane_dot<DPL, HALF>(0.f, qr, kk[u]);
                    if (KVLO) dot = lane_dot<DPL, false>(dot, qr, *reinterpret_cast<const VT*>(kLane + kvLo + (size_t) mySlots[k0 + u] * kvDim));
                    sp[k0 + u] = dot;
                }
            }
            butterfly_step<16>(sp, lane);
            butterfly_step<8>(sp, lane);
            butterfly_step<4>(sp, lane);
            butterfly_step<2>(sp, lane);
            butterfly_step<1>(sp, lane);
            float s = sp[0];
            float mNew = fmaxf(m, warp_max(visible ? s : -INFINITY));
            float corr = __expf(m - mNew);
            float p = visible ? __expf(s - mNew) : 0.f;
            l = l * corr + warp_sum(p);
#pragma unroll
            for (int d = 0; d < DPL; d++) acc[d] *= corr;
            m = mNew;
            myP[lane] = p;
            __syncwarp();
#pragma unroll 1
            for (int k0 = 0; k0 < 32; k0 += BATCH) {
                if (((live >> k0) & (BATCH == 32 ? FULL_MASK : (1u << BATCH) - 1)) == 0) continue;
                VT vv[BATCH];
#pragma unroll
                for (int u = 0; u < BATCH; u++) {
                    if ((live >> (k0 + u)) & 1u) vv[u] = *reinterpret_cast<const VT*>(vBase + (size_t) mySlots[k0 + u] * kvDim);
                }
#pragma unroll
                for (int u = 0; u < BATCH; u++) {
                    if (!((live >> (k0 + u)) & 1u)) continue;
                    float pk = myP[k0 + u];
                    lane_accumulate<DPL, HALF>(acc, pk, vv[u]);
                    if (KVLO) lane_accumulate<DPL, false>(acc, pk, *reinterpret_cast<const VT*>(vBase + kvLo + (size_t) mySlots[k0 + u] * kvDim));
                }
            }
            __syncwarp();   // the next tile overwrites mySlots / myP
        }
        int st = h * wph + sub;
        if (lane == 0) { wm[st] = m; wl[st] = l; }
#pragma unroll
        for (int d = 0; d < DPL; d++) wacc[st * HD + lane * DPL + d] = acc[d];
    }
    __syncthreads();
    // merge the warps of each head (in sub order); one split: straight to the output
    for (int i = threadIdx.x; i < g * HD; i += blockDim.x) {
        int h = i / HD, dim = i - h * HD;
        float M = -INFINITY, L = 0.f, o = 0.f;
        for (int w = 0; w < wph; w++) if (wl[h * wph + w] > 0.f) M = fmaxf(M, wm[h * wph + w]);
        for (int w = 0; w < wph; w++) {
            int st = h * wph + w;
            if (wl[st] > 0.f) {
                float e = __expf(wm[st] - M);
                L += wl[st] * e;
                o += wacc[st * HD + dim] * e;
            }
        }
        if (nSplits == 1) {
            store_act(out, (size_t) t * qDim + (h0 + h) * HD + dim, L > 0.f ? o / L : 0.f, outLo);
        } else {
            size_t at = ((size_t) t * heads + h0 + h) * maxSplits + split;
            part[at * HD + dim] = o;
            if (dim == 0) { ml[2 * at] = M; ml[2 * at + 1] = L; }   // L == 0: nothing visible in this split
        }
    }
    if (nSplits == 1) return;
    // the last split of (t, kvh) to finish merges them all, in split order
    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        int* counter = counters + t * kvHeads + kvh;
        int done = atomicAdd(counter, 1);
        mergeHere = done == nSplits - 1;
        if (mergeHere) *counter = 0;
    }
    __syncthreads();
    if (!mergeHere) return;
    __threadfence();
    // One warp per head weighs the splits, lane s taking split s (nSplits <= 32): e^(M_s - M) into shared memory and
    // the weighted sum of the split sums, so the (max, sum) pairs are read in one round instead of one after another.
    // Then each output element takes its splits' partial sums 16 loads at a time (a split with nothing visible has
    // weight 0 and a partial of 0).
    float* eS = wacc;                            // [g][32]
    float* lS = wacc + GQA_MAX_GROUP * 32;       // [g]: sum of the weighted split sums
    for (int h = warp; h < g; h += GQA_WARPS) {
        size_t at = ((size_t) t * heads + h0 + h) * maxSplits + lane;
        float ms = -INFINITY, ls = 0.f;
        if (lane < nSplits) {
            ms = __ldcg(ml + 2 * at);
            ls = __ldcg(ml + 2 * at + 1);
        }
        float M = warp_max(ls > 0.f ? ms : -INFINITY);
        float e = ls > 0.f ? __expf(ms - M) : 0.f;
        float L = warp_sum(ls * e);
        eS[h * 32 + lane] = e;
        if (lane == 0) lS[h] = L;
    }
    __syncthreads();
    for (int i = threadIdx.x; i < g * HD; i += blockDim.x) {
        int h = i / HD, dim = i - h * HD;
        const float* ph = part + ((size_t) t * heads + h0 + h) * maxSplits * HD + dim;
        const float* eh = eS + h * 32;
        float o = 0.f, L = lS[h];
        for (int s0 = 0; s0 < nSplits; s0 += 16) {
            float v[16];
#pragma unroll
            for (int u = 0; u < 16; u++) v[u] = s0 + u < nSplits ? __ldcg(ph + (size_t) (s0 + u) * HD) : 0.f;
#pragma unroll
            for (int u = 0; u < 16; u++) o += v[u] * eh[s0 + u];
        }
        store_act(out, (size_t) t * qDim + (h0 + h) * HD + dim, L > 0.f ? o / L : 0.f, outLo);
    }
}

// Benchmark ablation only: the grouped kernel's launch shape and static shared memory, no work (flag is 0).
extern "C" __global__ void __launch_bounds__(GQA_WARPS * 32) attention_noop(int flag) {
    __shared__ float smem[GQA_SMEM_FLOATS(128)];
    if (flag) { smem[threadIdx.x] = flag; __syncthreads(); if (smem[flag & 127] == 0.f) smem[0] = 1.f; }
}

// grid: (tokens, kvHeads * maxSplits), block: 128; groups of 1, 2, 4 or up to 8 query heads a KV head
// BATCH: K/V rows a warp requests at once. The few-token kernels (decode, verify: up to 8 tokens) take a whole 32-key
// tile up to head size 128, one memory round trip each for K and V, at ~200 registers; the _many kernels (served batch
// steps) take 16 at a time in ~120 registers, so more blocks fit an SM when the grid is large. Loads only are grouped
// differently: both add up in the same order, so their outputs are equal bit for bit.
#define ATTENTION_GQA_KERNEL(NAME, DPL, BATCH, MIN_BLOCKS, KVLO, HALF) \
extern "C" __global__ void __launch_bounds__(GQA_WARPS * 32, MIN_BLOCKS) \
NAME(const float* __restrict__ q, const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, \
     bf16* __restrict__ out, float* __restrict__ part, float* __restrict__ ml, int* __restrict__ counters, \
     const int* __restrict__ tokMeta, const int* __restrict__ seqMeta, const int* __restrict__ blockTables, \
     const int* __restrict__ slotPositions, const unsigned* __restrict__ masks, int heads, int kvHeads, \
     int blockSize, int window, float scale, int maxSplits, long outLo, long kvLo, int metaFirst) { \
    __shared__ __align__(16) float smem[GQA_SMEM_FLOATS(DPL * 32)]; \
    pdl_trigger(); \
    if (!metaFirst) pdl_wait(); \
    GqaRow row; \
    if (!gqa_row(row, kCache, vCache, tokMeta, seqMeta, blockTables, heads, kvHeads, blockSize, maxSplits, DPL * 32)) return; \
    pdl_wait(); \
    attention_gqa<DPL, BATCH, KVLO, HALF>(smem, row, q, kCache, vCache, out, part, ml, counters, blockTables, slotPositions, \
            masks, heads, kvHeads, blockSize, window, scale, maxSplits, outLo, kvLo); \
}

ATTENTION_GQA_KERNEL(attention_gqa_hd64, 2, 32, 2, false, false)
ATTENTION_GQA_KERNEL(attention_gqa_hd128, 4, 32, 2, false, false)
ATTENTION_GQA_KERNEL(attention_gqa_hd256, 8, 16, 2, false, false)
ATTENTION_GQA_KERNEL(attention_gqa_hd64_many, 2, 16, 4, false, false)
ATTENTION_GQA_KERNEL(attention_gqa_hd128_many, 4, 16, 4, false, false)
ATTENTION_GQA_KERNEL(attention_gqa_hd256_many, 8, 16, 3, false, false)
// split KV (-Dspecdec.cuda.splitKv, opt-in): the few-token shapes take 16 rows at a time (two loads per row)
ATTENTION_GQA_KERNEL(attention_gqa_hd64_kvlo, 2, 16, 2, true, false)
ATTENTION_GQA_KERNEL(attention_gqa_hd128_kvlo, 4, 16, 2, true, false)
ATTENTION_GQA_KERNEL(attention_gqa_hd256_kvlo, 8, 8, 2, true, false)
ATTENTION_GQA_KERNEL(attention_gqa_hd64_many_kvlo, 2, 16, 4, true, false)
ATTENTION_GQA_KERNEL(attention_gqa_hd128_many_kvlo, 4, 16, 4, true, false)
ATTENTION_GQA_KERNEL(attention_gqa_hd256_many_kvlo, 8, 8, 3, true, false)
// fp16 cache (-Dspecdec.cuda.kvCache=fp16, the default): the bf16 kernels' shapes, converting with __half22float2
ATTENTION_GQA_KERNEL(attention_gqa_hd64_f16, 2, 32, 2, false, true)
ATTENTION_GQA_KERNEL(attention_gqa_hd128_f16, 4, 32, 2, false, true)
ATTENTION_GQA_KERNEL(attention_gqa_hd256_f16, 8, 16, 2, false, true)
ATTENTION_GQA_KERNEL(attention_gqa_hd64_many_f16, 2, 16, 4, false, true)
ATTENTION_GQA_KERNEL(attention_gqa_hd128_many_f16, 4, 16, 4, false, true)
ATTENTION_GQA_KERNEL(attention_gqa_hd256_many_f16, 8, 16, 3, false, true)

// The one-token decode step's grouped attention with RoPE/append folded in (CudaTransformer's forwards of one token of
// one sequence; -Dspecdec.cuda.ropeInAttention=false keeps qkv_rope_append): each block ropes its KV head's query
// heads from the q/k/v row straight into shared memory, and the block of the last split, the only one that reads the
// step's own key, first appends the step's K/V row (it reads it after the block barrier; the other splits never do).
// rope_head is qkv_rope_append's own code, so the queries, the K/V rows and the outputs are those of qkv_rope_append
// + the grouped kernel bit for bit, and verify passes, which keep that pair, still equal decode steps. Why: one
// dependent launch fewer a layer. bf16 and fp16 caches (not split KV).
#define ATTENTION_GQA_ROPE_KERNEL(NAME, DPL, BATCH, MIN_BLOCKS, HALF) \
extern "C" __global__ void __launch_bounds__(GQA_WARPS * 32, MIN_BLOCKS) \
NAME(const float* __restrict__ qkv, const float* __restrict__ bias, const float* __restrict__ qNorm, \
     const float* __restrict__ kNorm, const double* __restrict__ invFreq, const int* __restrict__ positions, \
     const int* __restrict__ slots, int interleaved, float eps, int* __restrict__ kvSaturated, \
     bf16* __restrict__ kCache, bf16* __restrict__ vCache, bf16* __restrict__ out, float* __restrict__ part, \
     float* __restrict__ ml, int* __restrict__ counters, const int* __restrict__ tokMeta, \
     const int* __restrict__ seqMeta, const int* __restrict__ blockTables, const int* __restrict__ slotPositions, \
     const unsigned* __restrict__ masks, int heads, int kvHeads, int blockSize, int window, float scale, \
     int maxSplits, long outLo, int metaFirst) { \
    __shared__ __align__(16) float smem[GQA_SMEM_FLOATS(DPL * 32)]; \
    pdl_trigger(); \
    if (!metaFirst) pdl_wait(); \
    GqaRow row; \
    if (!gqa_row(row, kCache, vCache, tokMeta, seqMeta, blockTables, heads, kvHeads, blockSize, maxSplits, DPL * 32)) return; \
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5; \
    const size_t slot = (size_t) slots[0]; \
    float cosJ[ROPE_MAX_PAIRS], sinJ[ROPE_MAX_PAIRS]; \
    rope_rotations((double) positions[0], invFreq, DPL * 32, lane, cosJ, sinJ); \
    pdl_wait(); \
    const int ropes = row.g + (row.hi == row.keys ? 2 : 0);   /* the query heads; the last split: its K and V head too */ \
    for (int j = warp; j < ropes; j += GQA_WARPS) { \
        const int h = j < row.g ? row.h0 + j : heads + (j - row.g) * kvHeads + row.kvh; \
        rope_head(qkv, bias, qNorm, kNorm, h, heads, kvHeads, DPL * 32, interleaved, eps, cosJ, sinJ, lane, \
                  [&](int i, float v) { \
                      if (h < heads) smem[(h - row.h0) * DPL * 32 + i] = v * scale; \
                      else rope_store(h, i, v, 0, slot, nullptr, kCache, vCache, heads, kvHeads, DPL * 32, 0, \
                                      HALF ? 1 : 0, kvSaturated); \
                  }); \
    } \
    attention_gqa<DPL, BATCH, false, HALF, true>(smem, row, nullptr, kCache, vCache, out, part, ml, counters, \
            blockTables, slotPositions, masks, heads, kvHeads, blockSize, window, scale, maxSplits, outLo, 0); \
}

// blocks an SM the hd64 twins' register budget is sized for (experiments: -DGQA_ROPE_HD64_MIN_BLOCKS=4 caps them at 128)
#ifndef GQA_ROPE_HD64_MIN_BLOCKS
#define GQA_ROPE_HD64_MIN_BLOCKS 2
#endif
ATTENTION_GQA_ROPE_KERNEL(attention_gqa_hd64_rope, 2, 32, GQA_ROPE_HD64_MIN_BLOCKS, false)
ATTENTION_GQA_ROPE_KERNEL(attention_gqa_hd128_rope, 4, 32, 2, false)
ATTENTION_GQA_ROPE_KERNEL(attention_gqa_hd256_rope, 8, 16, 2, false)
ATTENTION_GQA_ROPE_KERNEL(attention_gqa_hd64_rope_f16, 2, 32, GQA_ROPE_HD64_MIN_BLOCKS, true)
ATTENTION_GQA_ROPE_KERNEL(attention_gqa_hd128_rope_f16, 4, 32, 2, true)
ATTENTION_GQA_ROPE_KERNEL(attention_gqa_hd256_rope_f16, 8, 16, 2, true)

// ---- GEMV variants for decode (issue #4: decode at the HBM floor) --------------------------------------------
// y[t, n] (+)= W[n, :] . x[t, :] with S warps sharing one row (each a strided part of K) and R rows per block, weights
// read with streaming loads (read once: do not keep them in L1/L2), U loads in flight per lane before any math.
// The per-row summation order depends only on S (not on T), so a verify row equals the decode row of the same S.
template <int T, int U>
__device__ __forceinline__ void gemv_split_rows(const bf16* __restrict__ W, const bf16* __restrict__ x,
                                                float* __restrict__ y, int N, int K, int accumulate, int S) {
    extern __shared__ float partial[];   // [rowsPerBlock * S * T]
    int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
    int rowInBlock = warp / S, part = warp % S;
    int rowsPerBlock = (blockDim.x >> 5) / S;
    int n = blockIdx.x * rowsPerBlock + rowInBlock;
    float sum[T];
#pragma unroll
    for (int t = 0; t < T; t++) sum[t] = 0.f;
    if (n < N) {
        const uint4* wr = reinterpret_cast<const uint4*>(W + (size_t) n * K);
        int chunks = K / 8, stride = 32 * S;
        int i = part * 32 + lane;
        for (; i + (U - 1) * stride < chunks; i += U * stride) {
            uint4 wv[U];
#pragma unroll
            for (int u = 0; u < U; u++) wv[u] = __ldcs(wr + i + u * stride);
#pragma unroll
            for (int u = 0; u < U; u++) {
                const __nv_bfloat162* w2 = reinterpret_cast<const __nv_bfloat162*>(&wv[u]);
#pragma unroll
                for (int t = 0; t < T; t++) {
                    uint4 xv = __ldg(reinterpret_cast<const uint4*>(x + (size_t) t * K) + i + u * stride);
                    const __nv_bfloat162* x2 = reinterpret_cast<const __nv_bfloat162*>(&xv);
#pragma unroll
                    for (int e = 0; e < 4; e++) {
                        float2 wf = __bfloat1622float2(w2[e]);
                        float2 xf = __bfloat1622float2(x2[e]);
                        sum[t] += wf.x * xf.x + wf.y * xf.y;
                    }
                }
            }
        }
        for (; i < chunks; i += stride) {
            uint4 wv = __ldcs(wr + i);
            const __nv_bfloat162* w2 = reinterpret_cast<const __nv_bfloat162*>(&wv);
#pragma unroll
            for (int t = 0; t < T; t++) {
                uint4 xv = __ldg(reinterpret_cast<const uint4*>(x + (size_t) t * K) + i);
                const __nv_bfloat162* x2 = reinterpret_cast<const __nv_bfloat162*>(&xv);
#pragma unroll
                for (int e = 0; e < 4; e++) {
                    float2 wf = __bfloat1622float2(w2[e]);
                    float2 xf = __bfloat1622float2(x2[e]);
                    sum[t] += wf.x * xf.x + wf.y * xf.y;
                }
            }
        }
    }
#pragma unroll
    for (int t = 0; t < T; t++) {
        float s = warp_sum(sum[t]);
        if (lane == 0) partial[(rowInBlock * S + part) * T + t] = s;
    }
    __syncthreads();
    if (part == 0 && lane < T && n < N) {
        float s = 0.f;
        for (int p = 0; p < S; p++) s += partial[(rowInBlock * S + p) * T + lane];
        float* dst = y + (size_t) lane * N + n;
        *dst = accumulate ? *dst + s : s;
    }
}

#define GEMV_SPLIT_CASES(U) \
    switch (T) { \
        case 1: gemv_split_rows<1, U>(W, x, y, N, K, accumulate, S); break; \
        case 2: gemv_split_rows<2, U>(W, x, y, N, K, accumulate, S); break; \
        case 3: gemv_split_rows<3, U>(W, x, y, N, K, accumulate, S); break; \
        case 4: gemv_split_rows<4, U>(W, x, y, N, K, accumulate, S); break; \
        case 5: gemv_split_rows<5, U>(W, x, y, N, K, accumulate, S); break; \
        case 6: gemv_split_rows<6, U>(W, x, y, N, K, accumulate, S); break; \
        case 7: gemv_split_rows<7, U>(W, x, y, N, K, accumulate, S); break; \
        case 8: gemv_split_rows<8, U>(W, x, y, N, K, accumulate, S); break; \
    }

// grid: ceil(N / (blockDim/32/S)); dynamic shared memory: (blockDim/32) * T floats
extern "C" __global__ void gemv_bf16_split4(const bf16* __restrict__ W, const bf16* __restrict__ x, float* __restrict__ y,
                                            int N, int K, int T, int accumulate, int S) {
    GEMV_SPLIT_CASES(4)
}

extern "C" __global__ void gemv_bf16_split8(const bf16* __restrict__ W, const bf16* __restrict__ x, float* __restrict__ y,
                                            int N, int K, int T, int accumulate, int S) {
    GEMV_SPLIT_CASES(8)
}

// ---- Fused decode GEMVs (issue #4, -Dspecdec.cuda.fusedDecode=true) -------------------------------------------
// The RMSNorm before the q/k/v and gate/up matmuls moves into the GEMV's prologue, and the SwiGLU after gate/up into
// its epilogue, so a decode layer runs 7 kernels instead of 9 and never writes the f32 [gate | up] rows.
// Why a prologue and not "add + norm in the previous GEMV's epilogue": the norm needs the whole updated residual, which
// only exists after a grid-wide barrier (atomics or a last-block pass, with a data-dependent or different summation
// order); here every block re-reads x (dim floats, L2-resident) and repeats rmsnorm_bf16's arithmetic exactly (same
// 256-thread block, same per-thread stride, same block_sum), so its bf16 inputs are bit-identical to the unfused
// path's. The row loop is gemv_rows' (one warp per output row, same lane order, same expression), so the fused path
// gives the unfused path's results bit for bit, and a verify row still equals the decode row at its position.
// Gate/up keep their [gate (N rows); up (N rows)] stacking: a warp streams row n and row N + n (8 KB rows, so two
// streams cost what one does), which keeps checkpoints, tensor-parallel shards, cuBLAS prefill and swiglu_bf16 as
// they are.
// Launch: grid ceil(N / 8), block exactly 256 (the rmsnorm_bf16 block: the reduction order depends on it),
// dynamic shared memory T * K * 2 bytes (the normalized rows, bf16), K % 8 == 0, T in 1..8.
// ---------------------------------------------------------------------------------------------------------------
#define FUSED_PREFETCH 2

template <int T, bool GLU>
__device__ __forceinline__ void gemv_norm_rows(const bf16* __restrict__ W, const float* __restrict__ x,
                                               const float* __restrict__ normW, float eps, float* __restrict__ y,
                                               bf16* __restrict__ h, int N, int K, float* scratch) {
    extern __shared__ __align__(16) bf16 normed[];   // [T, K]
    int lane = threadIdx.x & 31;
    int n = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
    bool live = n < N;
    int chunks = K / 8;
    const uint4* wa = reinterpret_cast<const uint4*>(W + (size_t) (live ? n : 0) * K);
    const uint4* wb = reinterpret_cast<const uint4*>(W + (size_t) (live ? n + N : 0) * K);
    // the first weight chunks are requested before the prologue, so their DRAM latency overlaps the norm
    uint4 pa[FUSED_PREFETCH], pb[FUSED_PREFETCH];
#pragma unroll
    for (int p = 0; p < FUSED_PREFETCH; p++) {
        int i = lane + 32 * p;
        pa[p] = make_uint4(0u, 0u, 0u, 0u);
        pb[p] = make_uint4(0u, 0u, 0u, 0u);
        if (live && i < chunks) {
            pa[p] = __ldg(wa + i);
            if (GLU) pb[p] = __ldg(wb + i);
        }
    }
    // prologue: rmsnorm_bf16 of the T rows into shared memory (every thread takes part in the reductions)
    for (int t = 0; t < T; t++) {
        const float* xr = x + (size_t) t * K;
        float ss = 0.f;
        for (int i = threadIdx.x; i < K; i += blockDim.x) ss += xr[i] * xr[i];
        ss = block_sum(ss, scratch);
        float scale = 1.0f / sqrtf(ss / K + eps);
        for (int i = threadIdx.x; i < K; i += blockDim.x) normed[t * K + i] = __float2bfloat16(normW[i] * (scale * xr[i]));
    }
    __syncthreads();
    if (!live) return;   // whole warps: n is per warp

    const uint4* xs = reinterpret_cast<const uint4*>(normed);
    float sa[T], sb[T];
#pragma unroll
    for (int t = 0; t < T; t++) { sa[t] = 0.f; sb[t] = 0.f; }
    // chunk i of the row(s) into the sums, in gemv_rows' order and with its expression
    auto step = [&](uint4 va, uint4 vb, int i) {
        const __nv_bfloat162* a2 = reinterpret_cast<const __nv_bfloat162*>(&va);
        const __nv_bfloat162* b2 = reinterpret_cast<const __nv_bfloat162*>(&vb);
        float2 af[4], bf[4];
#pragma unroll
        for (int e = 0; e < 4; e++) {
            af[e] = __bfloat1622float2(a2[e]);
            if (GLU) bf[e] = __bfloat1622float2(b2[e]);
        }
#pragma unroll
        for (int t = 0; t < T; t++) {
            uint4 xv = xs[t * chunks + i];
            const __nv_bfloat162* x2 = reinterpret_cast<const __nv_bfloat162*>(&xv);
#pragma unroll
            for (int e = 0; e < 4; e++) {
                float2 xf = __bfloat1622float2(x2[e]);
                sa[t] += af[e].x * xf.x + af[e].y * xf.y;
                if (GLU) sb[t] += bf[e].x * xf.x + bf[e].y * xf.y;
            }
        }
    };
#pragma unroll
    for (int p = 0; p < FUSED_PREFETCH; p++) {
        int i = lane + 32 * p;
        if (i < chunks) step(pa[p], pb[p], i);
    }
#pragma unroll 4
    for (int i = lane + 32 * FUSED_PREFETCH; i < chunks; i += 32) {
        uint4 va = __ldg(wa + i);
        uint4 vb = GLU ? __ldg(wb + i) : va;
        step(va, vb, i);
    }
#pragma unroll
    for (int t = 0; t < T; t++) {
        float g = warp_sum(sa[t]);
        if (GLU) {
            float u = warp_sum(sb[t]);
            if (lane == 0) h[(size_t) t * N + n] = __float2bfloat16(g / (1.0f + expf(-g)) * u);   // swiglu_bf16's
        } else if (lane == 0) {
            y[(size_t) t * N + n] = g;
        }
    }
}

#define GEMV_NORM_CASES(GLU) \
    switch (T) { \
        case 1: gemv_norm_rows<1, GLU>(W, x, normW, eps, y, h, N, K, scratch); break; \
        case 2: gemv_norm_rows<2, GLU>(W, x, normW, eps, y, h, N, K, scratch); break; \
        case 3: gemv_norm_rows<3, GLU>(W, x, normW, eps, y, h, N, K, scratch); break; \
        case 4: gemv_norm_rows<4, GLU>(W, x, normW, eps, y, h, N, K, scratch); break; \
        case 5: gemv_norm_rows<5, GLU>(W, x, normW, eps, y, h, N, K, scratch); break; \
        case 6: gemv_norm_rows<6, GLU>(W, x, normW, eps, y, h, N, K, scratch); break; \
        case 7: gemv_norm_rows<7, GLU>(W, x, normW, eps, y, h, N, K, scratch); break; \
        case 8: gemv_norm_rows<8, GLU>(W, x, normW, eps, y, h, N, K, scratch); break; \
    }

// y[t, n] = W[n, :] . rmsnorm(x[t, :]) * normW   (f32 out; q/k/v).   W [N, K]
extern "C" __global__ void __launch_bounds__(256)
gemv_norm_bf16(const bf16* __restrict__ W, const float* __restrict__ x, const float* __restrict__ normW,
               float* __restrict__ y, int N, int K, int T, float eps) {
    __shared__ float scratch[32];
    bf16* h = nullptr;
    GEMV_NORM_CASES(false)
}

// h[t, n] = bf16(silu(g) * u) with g = W[n, :] . xn, u = W[N + n, :] . xn, xn = rmsnorm(x[t, :]) * normW.
// W [2N, K] = [gate; up]
extern "C" __global__ void __launch_bounds__(256)
gemv_norm_swiglu_bf16(const bf16* __restrict__ W, const float* __restrict__ x, const float* __restrict__ normW,
                      bf16* __restrict__ h, int N, int K, int T, float eps) {
    __shared__ float scratch[32];
    float* y = nullptr;
    GEMV_NORM_CASES(true)
}

// T = 1 only (decode): the entries above take the registers of their T = 8 case (80 for SwiGLU: 3 blocks an SM),
// these those of T = 1 (60: 4 blocks), with the same arithmetic (the same instantiation). Same parameters; T must be 1.
extern "C" __global__ void __launch_bounds__(256)
gemv_norm_bf16_t1(const bf16* __restrict__ W, const float* __restrict__ x, const float* __restrict__ normW,
                  float* __restrict__ y, int N, int K, int T, float eps) {
    __shared__ float scratch[32];
    gemv_norm_rows<1, false>(W, x, normW, eps, y, nullptr, N, K, scratch);
}

extern "C" __global__ void __launch_bounds__(256)
gemv_norm_swiglu_bf16_t1(const bf16* __restrict__ W, const float* __restrict__ x, const float* __restrict__ normW,
                         bf16* __restrict__ h, int N, int K, int T, float eps) {
    __shared__ float scratch[32];
    gemv_norm_rows<1, true>(W, x, normW, eps, nullptr, h, N, K, scratch);
}

// Busy-waits ns nanoseconds on the device (GpuCheck decode-profile: holds the stream while the host enqueues a whole
// step, so that the stage events time the GPU's work, not the host's launch rate).   grid 1, block 1
extern "C" __global__ void spin_ns(long ns) {
    unsigned long long t0, t;
    asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t0));
    do {
        asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
    } while (t - t0 < (unsigned long long) ns);
}

#include "skinny_mma.cuh"
#include "spec_chain.cuh"
