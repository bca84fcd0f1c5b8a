// Prefill attention on the tensor cores (flash-style): forwards larger than split-K's (> 128 tokens) whose rows are
// causal (no explicit mask, no sliding window, no split KV) and whose heads are 32, 64 or 128 wide. Included by
// specdec_kernels.cu.
//
// Why: attention_paged gives every (token, head) a block of its own that walks all of its keys on the CUDA cores, so
// a 2,048-token prompt of the Llama-3-8B shape spent ~1 s in attention on an H100 (the GEMMs take ~50 ms). Here a block
// takes 64 query rows of one head (4 warps x 16 rows), stages 64 keys at a time (K and V rows, gathered through the
// block table) in shared memory, and computes S = Q·Kᵀ and O += P·V with m16n8k16 MMAs, softmax online in registers.
//
// Accuracy: the cache's own element type (fp16 or bf16) is the MMA type, so K and V enter exactly; q (f32) and P (f32)
// each enter as two parts, hi = round(x) and lo = round(x - hi), and both products are accumulated in f32. The
// products therefore carry ~22 (fp16) / ~16 (bf16) mantissa bits of q and P instead of 11 / 8, close to
// attention_paged's f32 arithmetic (GpuCheck flash compares the two).
//
// grid: (sequences * tiles, heads) with tiles = ceil(longest chunk / 64), block: 128. A sequence's rows are its chunk's
// tokens, which lie consecutively in the forward (after the chunks of the sequences before it); blocks past a short
// chunk's end exit.

#define FA_ROWS 64
#define FA_KEYS 64

template <bool HALF>
__device__ __forceinline__ unsigned fa_pack2(float a, float b) {
    if (HALF) {
        __half2 h = __floats2half2_rn(a, b);
        return *reinterpret_cast<unsigned*>(&h);
    }
    __nv_bfloat162 h = __floats2bfloat162_rn(a, b);
    return *reinterpret_cast<unsigned*>(&h);
}

// hi = round(a, b), lo = round((a, b) - hi)
template <bool HALF>
__device__ __forceinline__ void fa_split2(float a, float b, unsigned& hi, unsigned& lo) {
    hi = fa_pack2<HALF>(a, b);
    float2 h = kv_float2<HALF>(hi);
    lo = fa_pack2<HALF>(a - h.x, b - h.y);
}

template <bool HALF>
__device__ __forceinline__ void fa_mma(float* c, unsigned a0, unsigned a1, unsigned a2, unsigned a3, unsigned b0, unsigned b1) {
#if __CUDA_ARCH__ >= 800
    if (HALF) {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    } else {
        asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};\n"
                     : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
                     : "r"(a0), "r"(a1), "r"(a2), "r"(a3), "r"(b0), "r"(b1));
    }
#endif
}

// The B fragment (16 keys x 8 dims) of V rows held key-major in shared memory: ldmatrix's transpose gives lane
// (g, t) the dims' elements of keys 2t, 2t+1 (b0) and 2t+8, 2t+9 (b1); lanes 0-15 name the 16 key rows.
__device__ __forceinline__ void fa_load_v(unsigned& b0, unsigned& b1, const unsigned short* row) {
#if __CUDA_ARCH__ >= 800
    unsigned addr = (unsigned) __cvta_generic_to_shared(row);
    asm volatile("ldmatrix.sync.aligned.m8n8.x2.trans.shared.b16 {%0,%1}, [%2];\n" : "=r"(b0), "=r"(b1) : "r"(addr));
#endif
}

template <int HD, bool HALF>
__device__ __forceinline__ void attention_prefill_body(const float* __restrict__ q, const bf16* __restrict__ kCache,
        const bf16* __restrict__ vCache, bf16* __restrict__ out, const int* __restrict__ seqMeta,
        const int* __restrict__ blockTables, int tiles, int heads, int kvHeads, int blockSize, float scale, long lo) {
    constexpr int STRIDE = HD + 8;   // shared row stride in elements: rows stay 16-byte aligned, banks staggered
    constexpr int KS = HD / 16;      // k-steps of Q·Kᵀ
    constexpr int DN = HD / 8;       // 8-wide output column tiles
    constexpr int NT = FA_KEYS / 8;  // 8-key column tiles of S
    __shared__ __align__(16) unsigned short ks[FA_KEYS * STRIDE];
    __shared__ __align__(16) unsigned short vs[FA_KEYS * STRIDE];
    int b = blockIdx.x / tiles, h = blockIdx.y;
    const int* sm = seqMeta + 6 * b;
    int prefix = sm[0], n = sm[1], tableOff = sm[2];
    int c0 = (blockIdx.x % tiles) * FA_ROWS;
    if (c0 >= n) return;   // the whole block: no __syncthreads was reached
    int t0 = 0;
    for (int i = 0; i < b; i++) t0 += seqMeta[6 * i + 1];
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, g = lane >> 2, tq = lane & 3;
    int kvh = h / (heads / kvHeads);
    int qDim = heads * HD, kvDim = kvHeads * HD;
    int cw = c0 + 16 * warp;                 // the warp's first row (index in the chunk)
    int rowA = cw + g, rowB = cw + g + 8;    // this lane's two rows

    unsigned qh[KS][4], ql[KS][4];
    {
        const float* qa = q + (size_t) (t0 + rowA) * qDim + h * HD;
        const float* qb = q + (size_t) (t0 + rowB) * qDim + h * HD;
#pragma unroll
        for (int s = 0; s < KS; s++) {
            int col = 16 * s + 2 * tq;
            float2 a0 = rowA < n ? *reinterpret_cast<const float2*>(qa + col) : make_float2(0.f, 0.f);
            float2 a1 = rowB < n ? *reinterpret_cast<const float2*>(qb + col) : make_float2(0.f, 0.f);
            float2 a2 = rowA < n ? *reinterpret_cast<const float2*>(qa + col + 8) : make_float2(0.f, 0.f);
            float2 a3 = rowB < n ? *reinterpret_cast<const float2*>(qb + col + 8) : make_float2(0.f, 0.f);
            fa_split2<HALF>(a0.x * scale, a0.y * scale, qh[s][0], ql[s][0]);
            fa_split2<HALF>(a1.x * scale, a1.y * scale, qh[s][1], ql[s][1]);
            fa_split2<HALF>(a2.x * scale, a2.y * scale, qh[s][2], ql[s][2]);
            fa_split2<HALF>(a3.x * scale, a3.y * scale, qh[s][3], ql[s][3]);
        }
    }
    float o[DN][4];
#pragma unroll
    for (int d = 0; d < DN; d++) o[d][0] = o[d][1] = o[d][2] = o[d][3] = 0.f;
    float m[2] = {-INFINITY, -INFINITY}, l[2] = {0.f, 0.f};
    int limit[2] = {prefix + rowA + 1, prefix + rowB + 1};   // causal: a row sees keys [0, prefix + its index]
    int keysEnd = prefix + min(c0 + FA_ROWS, n);             // keys any row of the block sees
    int warpKeysEnd = prefix + min(cw + 16, n);

    for (int k0 = 0; k0 < keysEnd; k0 += FA_KEYS) {
        __syncthreads();   // the previous tile is no longer read
        constexpr int CH = HD / 8;   // 16-byte chunks a row
        for (int i = threadIdx.x; i < FA_KEYS * CH; i += blockDim.x) {
            int r = i / CH, ch = i % CH, j = k0 + r;
            uint4 kv = make_uint4(0, 0, 0, 0), vv = make_uint4(0, 0, 0, 0);
            if (j < keysEnd) {
                size_t slot = (size_t) blockTables[tableOff + j / blockSize] * blockSize + j % blockSize;
                kv = *reinterpret_cast<const uint4*>(kCache + slot * kvDim + kvh * HD + 8 * ch);
                vv = *reinterpret_cast<const uint4*>(vCache + slot * kvDim + kvh * HD + 8 * ch);
            }
            *reinterpret_cast<uint4*>(ks + r * STRIDE + 8 * ch) = kv;
            *reinterpret_cast<uint4*>(vs + r * STRIDE + 8 * ch) = vv;
        }
        __syncthreads();
        if (cw >= n || k0 >= warpKeysEnd) continue;   // warp-uniform: none of these keys is visible to the warp's rows

        float s[NT][4];
#pragma unroll
        for (int nt = 0; nt < NT; nt++) {
            s[nt][0] = s[nt][1] = s[nt][2] = s[nt][3] = 0.f;
            const unsigned short* kr = ks + (nt * 8 + g) * STRIDE + 2 * tq;
#pragma unroll
            for (int st = 0; st < KS; st++) {
                unsigned b0 = *reinterpret_cast<const unsigned*>(kr + 16 * st);
                unsigned b1 = *reinterpret_cast<const unsigned*>(kr + 16 * st + 8);
                fa_mma<HALF>(s[nt], qh[st][0], qh[st][1], qh[st][2], qh[st][3], b0, b1);
                fa_mma<HALF>(s[nt], ql[st][0], ql[st][1], ql[st][2], ql[st][3], b0, b1);
            }
        }
        // mask, online softmax (rows A: s[.][0..1], B: s[.][2..3]; a row's 64 keys lie across the lane quad)
#pragma unroll
        for (int r = 0; r < 2; r++) {
            float tileMax = -INFINITY;
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    int j = k0 + nt * 8 + 2 * tq + e;
                    if (j >= limit[r]) s[nt][2 * r + e] = -INFINITY;
                    tileMax = fmaxf(tileMax, s[nt][2 * r + e]);
                }
            }
            tileMax = fmaxf(tileMax, __shfl_xor_sync(FULL_MASK, tileMax, 1));
            tileMax = fmaxf(tileMax, __shfl_xor_sync(FULL_MASK, tileMax, 2));
            float mNew = fmaxf(m[r], tileMax);
            float corr = mNew == -INFINITY ? 1.f : __expf(m[r] - mNew);
            float sum = 0.f;
#pragma unroll
            for (int nt = 0; nt < NT; nt++) {
#pragma unroll
                for (int e = 0; e < 2; e++) {
                    float v = s[nt][2 * r + e];
                    float p = v == -INFINITY ? 0.f : __expf(v - mNew);
                    s[nt][2 * r + e] = p;
                    sum += p;
                }
            }
            l[r] = l[r] * corr + sum;
            m[r] = mNew;
#pragma unroll
            for (int d = 0; d < DN; d++) {
                o[d][2 * r] *= corr;
                o[d][2 * r + 1] *= corr;
            }
        }
        // O += P·V: the S accumulators of key tiles 2kk, 2kk+1 are the A fragment of k-step kk
#pragma unroll
        for (int kk = 0; kk < FA_KEYS / 16; kk++) {
            unsigned ph[4], pl[4];
            fa_split2<HALF>(s[2 * kk][0], s[2 * kk][1], ph[0], pl[0]);
            fa_split2<HALF>(s[2 * kk][2], s[2 * kk][3], ph[1], pl[1]);
            fa_split2<HALF>(s[2 * kk + 1][0], s[2 * kk + 1][1], ph[2], pl[2]);
            fa_split2<HALF>(s[2 * kk + 1][2], s[2 * kk + 1][3], ph[3], pl[3]);
            const unsigned short* vr = vs + (16 * kk + (lane & 15)) * STRIDE;
#pragma unroll
            for (int d = 0; d < DN; d++) {
                unsigned b0, b1;
                fa_load_v(b0, b1, vr + 8 * d);
                fa_mma<HALF>(o[d], ph[0], ph[1], ph[2], ph[3], b0, b1);
                fa_mma<HALF>(o[d], pl[0], pl[1], pl[2], pl[3], b0, b1);
            }
        }
    }
    if (cw >= n) return;
#pragma unroll
    for (int r = 0; r < 2; r++) {
        l[r] += __shfl_xor_sync(FULL_MASK, l[r], 1);
        l[r] += __shfl_xor_sync(FULL_MASK, l[r], 2);
    }
#pragma unroll
    for (int r = 0; r < 2; r++) {
        int row = r == 0 ? rowA : rowB;
        if (row >= n) continue;
        float inv = l[r] > 0.f ? 1.f / l[r] : 0.f;
        size_t base = (size_t) (t0 + row) * qDim + h * HD + 2 * tq;
#pragma unroll
        for (int d = 0; d < DN; d++) {
            store_act(out, base + 8 * d, o[d][2 * r] * inv, lo);
            store_act(out, base + 8 * d + 1, o[d][2 * r + 1] * inv, lo);
        }
    }
}

#define FA_KERNEL(NAME, HD, HALF)                                                                                  \
    extern "C" __global__ void __launch_bounds__(128) NAME(const float* __restrict__ q,                          \
            const bf16* __restrict__ kCache, const bf16* __restrict__ vCache, bf16* __restrict__ out,              \
            const int* __restrict__ seqMeta, const int* __restrict__ blockTables, int tiles, int heads,            \
            int kvHeads, int blockSize, float scale, long lo) {                                                     \
        attention_prefill_body<HD, HALF>(q, kCache, vCache, out, seqMeta, blockTables, tiles, heads, kvHeads,     \
                                         blockSize, scale, lo);                                                   \
    }

FA_KERNEL(attention_prefill_hd32, 32, false)
FA_KERNEL(attention_prefill_hd64, 64, false)
FA_KERNEL(attention_prefill_hd128, 128, false)
FA_KERNEL(attention_prefill_hd32_f16, 32, true)
FA_KERNEL(attention_prefill_hd64_f16, 64, true)
FA_KERNEL(attention_prefill_hd128_f16, 128, true)
