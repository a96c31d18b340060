/* The tensor-core projection's device code (cuda_gemv_mma.cu says how it works), shared by its own
 * kernel and by the persistent forward (cuda_forward_persistent.cu): both run the same functions
 * with the same warps per output tile, so every output is summed in the same order by either.
 *
 * A team is the warps that share tiles: a whole block in the projection kernel, a slice of one in
 * the persistent forward. It prefetches the weights of its first group of tiles with mma_start()
 * (before it may read the inputs) and then runs its groups with mma_run(). */
#ifndef SPECDEC_CUDA_GEMV_MMA_CUH
#define SPECDEC_CUDA_GEMV_MMA_CUH

#include "cuda_gemv.h"

#define MMA_CHUNK 64       /* input elements per warp step */
#define MMA_PREFETCH 2     /* chunks of weights per lane in flight, one tile per group */
#define MMA_SLOTS 2        /* chunk slots per lane: MMA_PREFETCH single tiles or 1 chunk of a pair */
#define MMA_WARPS_MAX 16
#define MMA_PART_MAX 16    /* accumulator slots per warp: TPW x NT x 4, at most 2 x 2 x 4 */

/* d += a b: m16n8k16, bf16 inputs, fp32 accumulation. */
__device__ __forceinline__ void mma_bf16(float *d, const unsigned *a, unsigned b0, unsigned b1) {
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
                 "{%0,%1,%2,%3};"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

__device__ __forceinline__ unsigned pack_bf16(float lo_k, float hi_k) {
    __nv_bfloat162 v = __floats2bfloat162_rn(lo_k, hi_k); /* .x: the lower k, in the low half */
    return *(unsigned *)&v;
}

/* 16 inputs (pairs p = 0..7) of one row, times the norm weight, split into bf16 hi and lo pairs;
 * ss += the squares of the raw inputs (rows past n are zeros and add nothing). */
__device__ __forceinline__ void split_inputs(const float4 *x, const float *norm, unsigned *hi, unsigned *lo, float &ss) {
    float v[16];
#pragma unroll
    for (int q = 0; q < 4; q++) {
        v[4 * q] = x[q].x;
        v[4 * q + 1] = x[q].y;
        v[4 * q + 2] = x[q].z;
        v[4 * q + 3] = x[q].w;
    }
    if (norm) {
#pragma unroll
        for (int i = 0; i < 16; i += 4) {
            float4 f = __ldg((const float4 *)(norm + i));
            ss += v[i] * v[i] + v[i + 1] * v[i + 1] + v[i + 2] * v[i + 2] + v[i + 3] * v[i + 3];
            v[i] *= f.x;
            v[i + 1] *= f.y;
            v[i + 2] *= f.z;
            v[i + 3] *= f.w;
        }
    }
#pragma unroll
    for (int p = 0; p < 8; p++) {
        float a = v[2 * p], b = v[2 * p + 1];
        float ha = __bfloat162float(__float2bfloat16_rn(a)), hb = __bfloat162float(__float2bfloat16_rn(b));
        hi[p] = pack_bf16(ha, hb);
        lo[p] = pack_bf16(a - ha, b - hb);
    }
}

/* Tiles of 16 output rows (for SwiGLU, of 8 gate rows and their 8 up rows). */
__host__ __device__ __forceinline__ int mma_tiles(const GemvArgs *g) {
    return g->epilogue == GEMV_SWIGLU ? (g->out / 2 + 7) / 8 : (g->out + 15) / 16;
}

/* One chunk's weights for this lane: rows r0 and r1, elements [k, k + 16). */
__device__ __forceinline__ void load_chunk(const __nv_bfloat16 *r0, const __nv_bfloat16 *r1, int k, uint4 *w) {
    w[0] = __ldg((const uint4 *)(r0 + k));
    w[1] = __ldg((const uint4 *)(r0 + k + 8));
    w[2] = __ldg((const uint4 *)(r1 + k));
    w[3] = __ldg((const uint4 *)(r1 + k + 8));
}

/* Activations written earlier in the same kernel (COHERENT: the persistent forward) must not come
 * from the non-coherent read-only path, which may hold a line another multiprocessor has since
 * rewritten; L2 is coherent. Across kernels either is correct. */
template <bool COHERENT>
__device__ __forceinline__ float4 load_act4(const float4 *p) {
    return COHERENT ? __ldcg(p) : __ldg(p);
}

template <int NT, bool COHERENT>
__device__ __forceinline__ void load_inputs(float4 (*x)[4], const GemvArgs &g, int gi, int ti, int cc, int c1) {
#pragma unroll
    for (int j = 0; j < NT; j++) {
        const int r = 8 * j + gi;
        const float4 *src = (const float4 *)(g.a + (size_t)r * g.in + cc * MMA_CHUNK + 16 * ti);
#pragma unroll
        for (int q = 0; q < 4; q++) x[j][q] = cc < c1 && r < g.n ? load_act4<COHERENT>(src + q) : make_float4(0, 0, 0, 0);
    }
}

/* The warps that share a group of tiles. */
typedef struct {
    int warp, warps; /* this warp's index in the team; the team's size */
    int bar;         /* named barrier of the team (bar.sync bar, 32 warps); unused for one warp */
    float *part;     /* (warps, TPW * NT * 4, 32) shared: each warp's accumulators, by lane */
    float *ss_part;  /* (warps, 16) shared: each warp's sums of squares, by input row */
    float *inv_rms;  /* (16) shared: the RMSNorm scale of each input row */
} MmaTeam;

/* What a lane has requested ahead: slot u * TPW + t holds chunk u of tile t of its group. */
typedef struct {
    uint4 wb[MMA_SLOTS][4];
    const __nv_bfloat16 *w0[2], *w1[2]; /* rows g and g + 8 (or up) of each tile, at this lane's elements */
} MmaStream;

__device__ __forceinline__ void team_sync(const MmaTeam &tm) {
    if (tm.warps == 1) __syncwarp();
    else asm volatile("bar.sync %0, %1;" ::"r"(tm.bar), "r"(tm.warps * 32) : "memory");
}

/* This warp's chunks [c0, c1) of the input dimension. */
__device__ __forceinline__ void team_chunks(const GemvArgs &g, const MmaTeam &tm, int &c0, int &c1) {
    const int chunks = g.in / MMA_CHUNK, per_warp = (chunks + tm.warps - 1) / tm.warps;
    c0 = tm.warp * per_warp;
    c1 = min(chunks, c0 + per_warp);
}

/* Points the stream at group grp's rows and requests their first PF chunks (weights only: may run
 * before the inputs exist). TPW tiles per group, TPW * PF = MMA_SLOTS. */
template <int TPW, int PF>
__device__ __forceinline__ void mma_start(const GemvArgs &g, int grp, const MmaTeam &tm, MmaStream &st) {
    static_assert(TPW * PF == MMA_SLOTS, "a lane has MMA_SLOTS chunk slots");
    const int lane = threadIdx.x & 31, gi = lane >> 2, ti = lane & 3, in = g.in, swiglu = g.epilogue == GEMV_SWIGLU;
    const int half = g.out / 2;
    int c0, c1;
    team_chunks(g, tm, c0, c1);
    const __nv_bfloat16 *W = (const __nv_bfloat16 *)g.W;
    /* tile t's rows: (t * 16 + gi, t * 16 + gi + 8), or gate row t * 8 + gi and its up row */
#pragma unroll
    for (int t = 0; t < TPW; t++) {
        const int tile = grp * TPW + t;
        const int row0 = swiglu ? tile * 8 + gi : tile * 16 + gi, row1 = swiglu ? row0 + half : row0 + 8;
        st.w0[t] = W + (size_t)(row0 < g.out ? row0 : 0) * in + 16 * ti;
        st.w1[t] = W + (size_t)(row1 < g.out ? row1 : 0) * in + 16 * ti;
    }
#pragma unroll
    for (int u = 0; u < PF; u++)
#pragma unroll
        for (int t = 0; t < TPW; t++)
            if (c0 + u < c1) load_chunk(st.w0[t], st.w1[t], (c0 + u) * MMA_CHUNK, st.wb[u * TPW + t]);
}

/* A stream that holds nothing: whatever it held is dead from here (the persistent forward's warps
 * without a group in a stage define it so, and the compiler keeps no registers for it meanwhile). */
__device__ __forceinline__ void mma_stream_clear(MmaStream &st) {
#pragma unroll
    for (int u = 0; u < MMA_SLOTS; u++) st.wb[u][0] = st.wb[u][1] = st.wb[u][2] = st.wb[u][3] = make_uint4(0, 0, 0, 0);
    st.w0[0] = st.w0[1] = st.w1[0] = st.w1[1] = NULL;
}

/* Runs groups grp, grp + stride, ... < the matrix's groups; the first was started with mma_start().
 * With LOOP, requests the next group's weights before reducing the current one; without, runs one
 * group (the compiler need keep nothing for a next one). NT n-tiles of 8 input rows. */
template <int NT, int TPW, int PF, bool LOOP, bool COHERENT>
__device__ __forceinline__ void mma_run(const GemvArgs &g, int grp, int stride, const MmaTeam &tm, MmaStream &st) {
    constexpr int SLOTS = TPW * NT * 4;
    const int lane = threadIdx.x & 31, gi = lane >> 2, ti = lane & 3, tid = tm.warp * 32 + lane;
    const int in = g.in, n = g.n, swiglu = g.epilogue == GEMV_SWIGLU, half = g.out / 2;
    const int groups = (mma_tiles(&g) + TPW - 1) / TPW;
    int c0, c1;
    team_chunks(g, tm, c0, c1);
    for (; grp < groups; grp += stride) {
        float acc[TPW][NT][4], ss[NT];
#pragma unroll
        for (int j = 0; j < NT; j++) {
            ss[j] = 0.0f;
#pragma unroll
            for (int t = 0; t < TPW; t++) acc[t][j][0] = acc[t][j][1] = acc[t][j][2] = acc[t][j][3] = 0.0f;
        }
        const float *norm = g.norm ? g.norm + 16 * ti : NULL;
        for (int c = c0; c < c1; c += PF) {
            float4 x[PF][NT][4]; /* the group's inputs, all requested before the first is used */
#pragma unroll
            for (int u = 0; u < PF; u++) load_inputs<NT, COHERENT>(x[u], g, gi, ti, c + u, c1);
#pragma unroll
            for (int u = 0; u < PF; u++) {
                const int cc = c + u;
                if (cc >= c1) break;
                unsigned hi[NT][8], lo[NT][8];
#pragma unroll
                for (int j = 0; j < NT; j++) split_inputs(x[u][j], norm ? norm + cc * MMA_CHUNK : NULL, hi[j], lo[j], ss[j]);
#pragma unroll
                for (int t = 0; t < TPW; t++) {
                    const unsigned *w = (const unsigned *)st.wb[u * TPW + t]; /* [0..7]: row0 pairs 0-7, [8..15]: row1 */
#pragma unroll
                    for (int s = 0; s < 4; s++) {
                        const unsigned af[4] = {w[2 * s], w[8 + 2 * s], w[2 * s + 1], w[8 + 2 * s + 1]};
#pragma unroll
                        for (int j = 0; j < NT; j++) {
                            mma_bf16(acc[t][j], af, hi[j][2 * s], hi[j][2 * s + 1]);
                            mma_bf16(acc[t][j], af, lo[j][2 * s], lo[j][2 * s + 1]);
                        }
                    }
                    /* the slot is free: the chunk PF ahead goes into it */
                    if (cc + PF < c1) load_chunk(st.w0[t], st.w1[t], (cc + PF) * MMA_CHUNK, st.wb[u * TPW + t]);
                }
            }
        }

        if (LOOP && grp + stride < groups) mma_start<TPW, PF>(g, grp + stride, tm, st);

        float *part = tm.part + (size_t)tm.warp * SLOTS * 32;
#pragma unroll
        for (int t = 0; t < TPW; t++)
#pragma unroll
            for (int j = 0; j < NT; j++)
#pragma unroll
                for (int i = 0; i < 4; i++) part[((t * NT + j) * 4 + i) * 32 + lane] = acc[t][j][i];
        if (g.norm) {
#pragma unroll
            for (int j = 0; j < NT; j++) {
                float s = ss[j];
                s += __shfl_xor_sync(0xffffffffu, s, 1);
                s += __shfl_xor_sync(0xffffffffu, s, 2);
                if (ti == 0) tm.ss_part[tm.warp * 16 + 8 * j + gi] = s;
            }
        }
        team_sync(tm);
        if (g.norm && tid < 8 * NT) {
            float s = 0.0f;
            for (int w = 0; w < tm.warps; w++) s += tm.ss_part[w * 16 + tid];
            tm.inv_rms[tid] = 1.0f / sqrtf(s / (float)in + g.eps);
        }
        if (g.norm) team_sync(tm);

        /* slot (t, j, i, l): accumulator i of lane l for weight tile t and n-tile j: weight row gi
         * (+8 for i >= 2) of lane l, input row 8j + 2 (l % 4) + i % 2 */
        for (int slot = tid; slot < SLOTS * 32; slot += tm.warps * 32) {
            const int tj = slot / 128, t = tj / NT, j = tj % NT, i = (slot / 32) % 4, l = slot % 32;
            const int r = 8 * j + 2 * (l & 3) + (i & 1), tile = grp * TPW + t;
            if (r >= n || (swiglu && i >= 2)) continue;
            const float scale = g.norm ? tm.inv_rms[r] : 1.0f;
            float v = 0.0f;
            for (int w = 0; w < tm.warps; w++) v += tm.part[((size_t)w * SLOTS + tj * 4 + i) * 32 + l];
            v *= scale;
            if (swiglu) {
                float up = 0.0f;
                for (int w = 0; w < tm.warps; w++) up += tm.part[((size_t)w * SLOTS + tj * 4 + i + 2) * 32 + l];
                up *= scale;
                const int o = tile * 8 + (l >> 2);
                if (o < half) g.y[(size_t)r * half + o] = v / (1.0f + expf(-v)) * up;
                continue;
            }
            const int o = tile * 16 + (l >> 2) + (i >= 2 ? 8 : 0);
            if (o >= g.out) continue;
            float *y = g.y + (size_t)r * g.out + o;
            if (g.epilogue == GEMV_RESIDUAL) *y = (COHERENT ? __ldcg(y) : *y) + v;
            else *y = v;
        }
        if (!LOOP) break;
        team_sync(tm); /* part and inv_rms are rewritten for the next group */
    }
}

#endif
