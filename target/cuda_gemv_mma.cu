/* Fused skinny projections on the tensor cores, for bf16 weights: y = W a for n <= 16 rows, with
 * the same epilogues as the CUDA-core kernel (cuda_gemv.cu). Decode and verification read every
 * weight once, so their cost is the weight bytes; the tensor cores make the n input rows nearly
 * free, which the CUDA-core kernel's per-row FMAs do not (Llama-3.2-1B shape, H200: T(9)/T(1)
 * 1.43 here, 4.88 there).
 *
 * Work: a block owns one (or, for matrices of many tiles, two) tiles of 16 weight rows (for SwiGLU,
 * 8 gate rows over their 8 up rows) and splits the input dimension among its warps in chunks of 64
 * (contiguous ranges, or for paired tiles interleaved: see launch_order). Lane (g, t) (g = lane / 4,
 * t = lane % 4) takes elements [16t, 16t + 16) of each chunk of rows g and g + 8 (128 contiguous
 * bytes per row across the group), PF chunks ahead, and the same elements of input rows g (and
 * g + 8 when n > 8), PF chunks at a time. (A deeper ring of weights in shared memory through
 * cp.async measured slower on the H200: Llama-1B gate/up 35 us against 24; a ring filled by bulk
 * copies, one block per multiprocessor, made a Llama-1B decode 1.81 ms against 1.15 on an H100.)
 * An mma.m16n8k16 sums over 16 k-slots, of which thread t owns 4 in A and the same 4 in B; any
 * assignment of physical k to those slots gives the same dot product, so each of the four steps of
 * a chunk feeds thread t two of its own element pairs, and no shuffle or shared memory is needed to
 * build fragments.
 *
 * Precision: the fp32 inputs are split into bf16 hi + lo (hi = bf16(x), lo = bf16(x - hi)), two
 * mma per step into one fp32 accumulator, so an input keeps about 16 significant bits instead of
 * bf16's 8: on random data the result is within relative L2 4.8e-6 of the fp32 CUDA-core kernel's
 * (tools/kernel_bench check). RMSNorm is folded in as y = inv_rms * W (norm .* a): each warp sums
 * the squares of the inputs it loads anyway, and the block adds its warps' sums.
 *
 * Order: warps add their partial tiles in warp order, and the warp count depends only on the
 * matrix, so a row's result depends neither on n nor on which rows share the launch (greedy
 * speculative output equals autoregressive output). */
#include "cuda_gemv.h"

#define MMA_CHUNK 64       /* input elements per warp step */
#define MMA_PREFETCH 2     /* chunks of weights per lane in flight */
#define MMA_MIN_CHUNKS 1   /* per warp, by default */
#define MMA_WARPS_MAX 16
#define MMA_PAIR_TILES 1024 /* matrices of at least this many tiles: two per block */

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

template <int NT>
__device__ __forceinline__ void load_inputs(float4 (*x)[4], const GemvArgs &g, int gi, int ti, int cc, int c1) {
#pragma unroll
    for (int j = 0; j < NT; j++) {
        const int r = 8 * j + gi;
        const float4 *src = (const float4 *)(g.a + (size_t)r * g.in + cc * MMA_CHUNK + 16 * ti);
#pragma unroll
        for (int q = 0; q < 4; q++) x[j][q] = cc < c1 && r < g.n ? __ldg(src + q) : make_float4(0, 0, 0, 0);
    }
}

/* NT n-tiles of 8 input rows (1: n <= 8, 2: n <= 16); TPW weight tiles of 16 rows per block, each
 * warp multiplying every tile by the same input fragments (for n > 8 the inputs are as many bytes
 * as the weights, so sharing them across two tiles halves that traffic); PF chunks of weights in
 * flight per tile. grid: one block per group of TPW tiles, or with LOOP fewer blocks, each taking
 * every gridDim.x-th group. IL: warp w takes chunks w, w + warps, ... instead of a contiguous range,
 * so that at every step the block's warps read neighbouring chunks of each row. */
template <int NT, int TPW, int PF, bool LOOP, bool IL>
__global__ void __launch_bounds__(MMA_WARPS_MAX * 32) gemv_mma_kernel(GemvArgs g) {
    __shared__ float part[MMA_WARPS_MAX][TPW * NT * 4][32]; /* each warp's accumulators, by lane */
    __shared__ float ss_part[MMA_WARPS_MAX][16];
    __shared__ float inv_rms[16];
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, gi = lane >> 2, ti = lane & 3;
    const int warps = blockDim.x >> 5, in = g.in, n = g.n, swiglu = g.epilogue == GEMV_SWIGLU;
    /* the warp's chunks: c0, c0 + stride, ... below c1 */
    const int chunks = in / MMA_CHUNK, per_warp = (chunks + warps - 1) / warps;
    const int c0 = IL ? warp : warp * per_warp, c1 = IL ? chunks : min(chunks, c0 + per_warp);
    const int stride = IL ? warps : 1;
    /* tile t's rows: (t * 16 + gi, t * 16 + gi + 8), or gate row t * 8 + gi and its up row */
    const int half = g.out / 2, groups = (mma_tiles(&g) + TPW - 1) / TPW;
    const __nv_bfloat16 *W = (const __nv_bfloat16 *)g.W, *w0[TPW], *w1[TPW];
    uint4 wb[PF][TPW][4];
    /* points w0, w1 at group grp's rows and requests their first PF chunks */
    auto start_group = [&](int grp) {
#pragma unroll
        for (int t = 0; t < TPW; t++) {
            const int tile = grp * TPW + t;
            const int row0 = swiglu ? tile * 8 + gi : tile * 16 + gi, row1 = swiglu ? row0 + half : row0 + 8;
            w0[t] = W + (size_t)(row0 < g.out ? row0 : 0) * in + 16 * ti;
            w1[t] = W + (size_t)(row1 < g.out ? row1 : 0) * in + 16 * ti;
        }
#pragma unroll
        for (int u = 0; u < PF; u++)
#pragma unroll
            for (int t = 0; t < TPW; t++)
                if (c0 + u * stride < c1) load_chunk(w0[t], w1[t], (c0 + u * stride) * MMA_CHUNK, wb[u][t]);
    };

    if (!(g.flags & GEMV_LATE_TRIGGER)) pdl_trigger();
    start_group(blockIdx.x);
    pdl_wait(); /* the weights are on their way; the inputs come from the previous kernel */
    if (g.flags & GEMV_LATE_TRIGGER) pdl_trigger();

    /* A launch of fewer blocks than groups (the classifiers) keeps its blocks: each takes groups
     * blockIdx.x, + gridDim.x, ..., and requests the next group's weights before reducing this one,
     * so its loads never pause for a block's reduction, exit and relaunch. */
    for (int grp = blockIdx.x; grp < groups; grp += gridDim.x) {
        float acc[TPW][NT][4], ss[NT];
#pragma unroll
        for (int j = 0; j < NT; j++) {
            ss[j] = 0.0f;
#pragma unroll
            for (int t = 0; t < TPW; t++) acc[t][j][0] = acc[t][j][1] = acc[t][j][2] = acc[t][j][3] = 0.0f;
        }
        const float *norm = g.norm ? g.norm + 16 * ti : NULL;
        for (int c = c0; c < c1; c += PF * stride) {
            float4 x[PF][NT][4]; /* the group's inputs, all requested before the first is used */
#pragma unroll
            for (int u = 0; u < PF; u++) load_inputs<NT>(x[u], g, gi, ti, c + u * stride, c1);
#pragma unroll
            for (int u = 0; u < PF; u++) {
                const int cc = c + u * stride;
                if (cc >= c1) break;
                unsigned hi[NT][8], lo[NT][8];
#pragma unroll
                for (int j = 0; j < NT; j++) split_inputs(x[u][j], norm ? norm + cc * MMA_CHUNK : NULL, hi[j], lo[j], ss[j]);
#pragma unroll
                for (int t = 0; t < TPW; t++) {
                    const unsigned *w = (const unsigned *)wb[u][t]; /* [0..7]: row0 pairs 0-7, [8..15]: row1 */
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
                    if (cc + PF * stride < c1) load_chunk(w0[t], w1[t], (cc + PF * stride) * MMA_CHUNK, wb[u][t]);
                }
            }
        }

        if (LOOP && grp + (int)gridDim.x < groups) start_group(grp + gridDim.x);

#pragma unroll
        for (int t = 0; t < TPW; t++)
#pragma unroll
            for (int j = 0; j < NT; j++)
#pragma unroll
                for (int i = 0; i < 4; i++) part[warp][(t * NT + j) * 4 + i][lane] = acc[t][j][i];
        if (g.norm) {
#pragma unroll
            for (int j = 0; j < NT; j++) {
                float s = ss[j];
                s += __shfl_xor_sync(0xffffffffu, s, 1);
                s += __shfl_xor_sync(0xffffffffu, s, 2);
                if (ti == 0) ss_part[warp][8 * j + gi] = s;
            }
        }
        __syncthreads();
        if (g.norm && threadIdx.x < 8 * NT) {
            float s = 0.0f;
            for (int w = 0; w < warps; w++) s += ss_part[w][threadIdx.x];
            inv_rms[threadIdx.x] = 1.0f / sqrtf(s / (float)in + g.eps);
        }
        if (g.norm) __syncthreads();

        /* slot (t, j, i, l): accumulator i of lane l for weight tile t and n-tile j: weight row gi
         * (+8 for i >= 2) of lane l, input row 8j + 2 (l % 4) + i % 2 */
        for (int slot = threadIdx.x; slot < TPW * NT * 4 * 32; slot += blockDim.x) {
            const int tj = slot / 128, t = tj / NT, j = tj % NT, i = (slot / 32) % 4, l = slot % 32;
            const int r = 8 * j + 2 * (l & 3) + (i & 1), tile = grp * TPW + t;
            if (r >= n || (swiglu && i >= 2)) continue;
            const float scale = g.norm ? inv_rms[r] : 1.0f;
            float v = 0.0f;
            for (int w = 0; w < warps; w++) v += part[w][tj * 4 + i][l];
            v *= scale;
            if (swiglu) {
                float up = 0.0f;
                for (int w = 0; w < warps; w++) up += part[w][tj * 4 + i + 2][l];
                up *= scale;
                const int o = tile * 8 + (l >> 2);
                if (o < half) g.y[(size_t)r * half + o] = v / (1.0f + expf(-v)) * up;
                continue;
            }
            const int o = tile * 16 + (l >> 2) + (i >= 2 ? 8 : 0);
            if (o >= g.out) continue;
            if (g.epilogue == GEMV_RESIDUAL) g.y[(size_t)r * g.out + o] += v;
            else g.y[(size_t)r * g.out + o] = v;
        }
        if (!LOOP) break; /* one group per block: the compiler need keep nothing for a next one */
        __syncthreads();  /* part and inv_rms are rewritten for the next group */
    }
}

/* Warps per block: as many as the tile's chunks allow (at least MMA_MIN_CHUNKS each: fewer, and
 * the block's reduction outweighs the loads) while every block still fits in one wave; where no
 * count fits (the classifier), 8. kernel_bench compares this choice with fixed counts. */
static int mma_fixed_warps = 0, mma_min_chunks = MMA_MIN_CHUNKS, mma_persistent = 1, mma_pair_tiles = MMA_PAIR_TILES;
static int mma_interleave = 1;

void gemv_mma_tune(int warps, int min_chunks, int persistent) {
    CHECK(warps >= 0 && warps <= MMA_WARPS_MAX && min_chunks >= 1, "mma gemv tuning %d warps, %d chunks", warps, min_chunks);
    mma_fixed_warps = warps;
    mma_min_chunks = min_chunks;
    mma_persistent = persistent;
}

void gemv_mma_interleave(int on) { mma_interleave = on; }

void gemv_mma_pair_tiles(int tiles) {
    CHECK(tiles >= 0, "mma gemv pairing from %d tiles", tiles);
    mma_pair_tiles = tiles;
}

int gemv_mma_supported(const GemvArgs *g) {
    return g->wdt == DTYPE_BF16 && g->in % MMA_CHUNK == 0 && (g->epilogue != GEMV_SWIGLU || g->out % 2 == 0);
}

/* One choice for every n, from the occupancy of the n > 8 kernel (128 registers, the most; for
 * pairs, also the most shared memory): a row's sum order follows the warp count, and must not
 * change with n; and a count that fits one wave for the n <= 8 kernel but not for them made
 * Llama-8B's T(9)/T(1) 1.96 against 1.49. groups: blocks' worth of tiles (one or a pair each).
 * *resident: how many blocks of that many warps the device holds at once. */
static int choose_warps(int chunks, int groups, int paired, int *resident) {
    static int sms, fits[2][MMA_WARPS_MAX + 1]; /* [paired][w]: blocks of w warps per multiprocessor */
    if (!sms) {
        int dev;
        cudaCheck(cudaGetDevice(&dev));
        cudaCheck(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
        for (int w = 1; w <= MMA_WARPS_MAX; w++) {
            cudaCheck(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fits[0][w], gemv_mma_kernel<2, 1, MMA_PREFETCH, false, false>, w * 32, 0));
            cudaCheck(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fits[1][w], gemv_mma_kernel<2, 2, MMA_PREFETCH / 2, false, false>, w * 32, 0));
        }
    }
    const int *fit = fits[paired];
    int most = chunks / mma_min_chunks;
    most = most < 1 ? 1 : most > MMA_WARPS_MAX ? MMA_WARPS_MAX : most;
    int w = most < 8 ? most : 8;
    if (mma_fixed_warps) w = mma_fixed_warps < most ? mma_fixed_warps : most;
    else
        for (int c = most; c >= 1; c--)
            if (groups <= fit[c] * sms) {
                w = c;
                break;
            }
    *resident = fit[w] * sms;
    return w;
}

/* Paired tiles keep one chunk ahead each, so that a warp has as many weight bytes in flight as
 * with one tile (two chunks ahead of two tiles spilled, and measured 1.192 ms against 1.148 for a
 * Llama-1B decode on an H100). */
template <bool LOOP, bool IL>
static void launch_instance(const GemvArgs *g, int paired, dim3 grid, dim3 block, cudaStream_t s) {
    if (!paired) {
        if (g->n <= 8) launch_pdl(gemv_mma_kernel<1, 1, MMA_PREFETCH, LOOP, IL>, grid, block, 0, s, *g);
        else launch_pdl(gemv_mma_kernel<2, 1, MMA_PREFETCH, LOOP, IL>, grid, block, 0, s, *g);
    } else {
        if (g->n <= 8) launch_pdl(gemv_mma_kernel<1, 2, MMA_PREFETCH / 2, LOOP, IL>, grid, block, 0, s, *g);
        else launch_pdl(gemv_mma_kernel<2, 2, MMA_PREFETCH / 2, LOOP, IL>, grid, block, 0, s, *g);
    }
}

/* Paired matrices (few warps, each over few chunks) interleave their warps' chunks; the others
 * keep contiguous ranges. A function of the matrix only, like the pairing. Measured on an H100,
 * Llama-1B decode, same call: interleaving gate/up and the classifier 1.1034 ms against 1.1500
 * (T(9)/T(1) 1.29 against 1.23); interleaving qkv, o or down alone was 13-23 us slower. */
template <bool LOOP>
static void launch_order(const GemvArgs *g, int paired, dim3 grid, dim3 block, cudaStream_t s) {
    if (paired && mma_interleave) launch_instance<LOOP, true>(g, paired, grid, block, s);
    else launch_instance<LOOP, false>(g, paired, grid, block, s);
}

void launch_gemv_mma(const GemvArgs *g, cudaStream_t s) {
    CHECK(g->n >= 1 && g->n <= GEMV_ROWS_MAX && gemv_mma_supported(g), "mma gemv of %d rows, in %d", g->n, g->in);
    const int chunks = g->in / MMA_CHUNK, tiles = mma_tiles(g);
    /* Matrices of at least mma_pair_tiles tiles (Llama-1B: gate/up and the classifier) take two
     * tiles per block at every n, with the warps chosen for the pairs; the others one. This is a
     * function of the matrix only, so a row's sum order never changes with n. With 9 rows, the
     * inputs' loads then hold the L1/TEX pipeline half as long (gate/up: 68% busy against 37% with
     * one row, while L2 is 50% busy). Measured on an H100, Llama-1B, same call: T(9) 1.424 ms
     * against 1.523, T(9)/T(1) 1.23 against 1.35; but decode 1.158 ms against 1.129. */
    const int paired = mma_pair_tiles && tiles >= mma_pair_tiles, groups = paired ? (tiles + 1) / 2 : tiles;
    int resident;
    const int w = choose_warps(chunks, groups, paired, &resident);
    /* More groups than resident blocks (Llama-1B's classifier: 4,008 pairs): as many blocks as
     * resident, each looping over groups. Measured on an H100, Llama-1B decode (one tile per
     * group then): 1.154-1.155 ms against 1.173-1.174 with one block per group (two alternating
     * runs each). */
    const int blocks = mma_persistent && groups > resident ? resident : groups;
    const dim3 grid(blocks), block(w * 32);
    if (blocks < groups) launch_order<true>(g, paired, grid, block, s);
    else launch_order<false>(g, paired, grid, block, s);
}
