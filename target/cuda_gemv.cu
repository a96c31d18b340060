/* Fused skinny projections: y = W a for n <= 16 rows, latency- and memory-bound. A warp owns two
 * output rows (for SwiGLU, a gate row and its up row) and streams them once with 16-byte loads,
 * multiplying each chunk into all n input rows; partial sums meet in a warp reduction.
 *
 * Every global load is issued before anything waits on one: each warp first requests its first
 * GEMV_PREFETCH weight chunks (launched with PDL, while the previous kernel is still finishing),
 * then the block copies the n input rows (and the norm weight) into shared memory, then the
 * RMSNorm scale of each row is computed there. The grid is capped at a few blocks per
 * multiprocessor; warps then take several pairs of rows each, requesting the next pair's weights
 * while they reduce the current one, so the inputs are staged once per block, not per pair. Inputs too large for the
 * shared-memory budget are read through L1 instead; both paths sum in the same order, so a row's
 * result depends neither on the path nor on n. */
#include <stdlib.h>
#include <string.h>

#include "cuda_gemv.h"

#define GEMV_WARPS 4 /* small blocks: wide grids spread evenly over the multiprocessors */
#define GEMV_PREFETCH 4                 /* weight chunks per lane requested ahead */
#define GEMV_STAGE_BYTES (200 * 1024)   /* dynamic shared memory for staged inputs */
#define GEMV_STAGE_UNROLL 8
#define GEMV_BLOCKS_PER_SM 8            /* grid cap: beyond it warps take several units */

static int gemv_max_blocks = 1 << 30;   /* set by gemv_init() */
static int gemv_use_mma = 1;            /* set by gemv_init() */

/* 16 bytes of weights as floats. */
__device__ __forceinline__ void load_weights(const __nv_bfloat16 *p, float *v) {
    uint4 u = __ldg((const uint4 *)p);
    const __nv_bfloat162 *h = (const __nv_bfloat162 *)&u;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 f = __bfloat1622float2(h[i]);
        v[2 * i] = f.x;
        v[2 * i + 1] = f.y;
    }
}

__device__ __forceinline__ void load_weights(const __half *p, float *v) {
    uint4 u = __ldg((const uint4 *)p);
    const __half2 *h = (const __half2 *)&u;
#pragma unroll
    for (int i = 0; i < 4; i++) {
        float2 f = __half22float2(h[i]);
        v[2 * i] = f.x;
        v[2 * i + 1] = f.y;
    }
}

__device__ __forceinline__ void load_weights(const float *p, float *v) {
    float4 f = __ldg((const float4 *)p);
    v[0] = f.x;
    v[1] = f.y;
    v[2] = f.z;
    v[3] = f.w;
}

/* E floats from global (read-only path) or shared memory. */
template <int E, bool GLOBAL>
__device__ __forceinline__ void load_floats(const float *p, float *v) {
#pragma unroll
    for (int i = 0; i < E; i += 4) {
        float4 f = GLOBAL ? __ldg((const float4 *)(p + i)) : *(const float4 *)(p + i);
        v[i] = f.x;
        v[i + 1] = f.y;
        v[i + 2] = f.z;
        v[i + 3] = f.w;
    }
}

/* P chunks of weight rows w0, w1 from k0 + kb on. */
template <typename WT, int P, int E>
__device__ __forceinline__ void load_group(const WT *w0, const WT *w1, int k0, int kb, int in, float (*wv0)[E],
                                           float (*wv1)[E]) {
#pragma unroll
    for (int u = 0; u < P; u++) {
        int k = k0 + kb + u * 32 * E;
        if (k < in) {
            load_weights(w0 + k, wv0[u]);
            load_weights(w1 + k, wv1[u]);
        }
    }
}

/* STAGE: the inputs (n rows, then the norm weight) live in shared memory; else in global.
 * Warps stride over units (pairs of output rows), so a block stages its inputs once for many. */
template <typename WT, int R, bool STAGE>
__global__ void __launch_bounds__(GEMV_WARPS * 32) gemv_kernel(GemvArgs g) {
    constexpr int E = 16 / sizeof(WT), P = GEMV_PREFETCH;
    extern __shared__ float4 staged4[];
    __shared__ float inv_rms[GEMV_ROWS_MAX], ss_part[GEMV_ROWS_MAX][GEMV_WARPS];
    float *staged = (float *)staged4;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, n = g.n, in = g.in;
    const int swiglu = g.epilogue == GEMV_SWIGLU, units = swiglu ? g.out / 2 : (g.out + 1) / 2;
    const int k0 = lane * E, stride = gridDim.x * GEMV_WARPS;
    /* unit u is rows (u, u + out / 2) for SwiGLU, else (2u, 2u + 1) */
#define ROW0(u) (swiglu ? (u) : 2 * (u))
#define ROW1(u) (swiglu ? (u) + g.out / 2 : 2 * (u) + 1)
#define WROW(row) ((const WT *)g.W + (size_t)((row) < g.out ? (row) : 0) * in)

    if (!(g.flags & GEMV_LATE_TRIGGER)) pdl_trigger();
    int unit = blockIdx.x * GEMV_WARPS + warp;
    float wv0[P][E], wv1[P][E];
    if (unit < units) load_group<WT, P, E>(WROW(ROW0(unit)), WROW(ROW1(unit)), k0, 0, in, wv0, wv1);
    pdl_wait(); /* the weights are on their way; the inputs come from the previous kernel */
    if (g.flags & GEMV_LATE_TRIGGER) pdl_trigger();
    const float *a = g.a, *norm = g.norm;
    if (STAGE) {
        /* GEMV_STAGE_UNROLL loads per thread in flight before the first store */
        const int n4 = n * in / 4, total = n4 + (g.norm ? in / 4 : 0);
        for (int base = threadIdx.x; base < total; base += GEMV_STAGE_UNROLL * blockDim.x) {
            float4 v[GEMV_STAGE_UNROLL];
#pragma unroll
            for (int u = 0; u < GEMV_STAGE_UNROLL; u++) {
                int i = base + u * blockDim.x;
                if (i < total) v[u] = __ldg(i < n4 ? (const float4 *)g.a + i : (const float4 *)g.norm + (i - n4));
            }
#pragma unroll
            for (int u = 0; u < GEMV_STAGE_UNROLL; u++)
                if (base + u * blockDim.x < total) staged4[base + u * blockDim.x] = v[u];
        }
        a = staged;
        norm = g.norm ? staged + (size_t)n * in : NULL;
        __syncthreads();
    }
    if (norm) { /* each row's sum of squares over the whole block */
        for (int r = 0; r < n; r++) {
            float ss = 0.0f;
            for (int k = threadIdx.x; k < in; k += blockDim.x) ss += a[(size_t)r * in + k] * a[(size_t)r * in + k];
            ss = warp_sum(ss);
            if (lane == 0) ss_part[r][warp] = ss;
        }
        __syncthreads();
        if (threadIdx.x < n) {
            float ss = 0.0f;
            for (int w = 0; w < GEMV_WARPS; w++) ss += ss_part[threadIdx.x][w];
            inv_rms[threadIdx.x] = 1.0f / sqrtf(ss / (float)in + g.eps);
        }
        __syncthreads();
    }

    while (unit < units) {
        const int row0 = ROW0(unit), row1 = ROW1(unit), has1 = row1 < g.out;
        const WT *w0 = WROW(row0), *w1 = WROW(row1);
        float acc0[R], acc1[R];
#pragma unroll
        for (int r = 0; r < R; r++) acc0[r] = acc1[r] = 0.0f;
        for (int kb = 0; k0 + kb < in; kb += 32 * E * P) {
            if (kb > 0) load_group<WT, P, E>(w0, w1, k0, kb, in, wv0, wv1);
#pragma unroll
            for (int u = 0; u < P; u++) {
                int k = k0 + kb + u * 32 * E;
                if (k >= in) break;
                float nv[E];
                if (norm) load_floats<E, !STAGE>(norm + k, nv);
#pragma unroll
                for (int r = 0; r < R; r++) {
                    if (r >= n) break;
                    float av[E];
                    load_floats<E, !STAGE>(a + (size_t)r * in + k, av);
                    if (norm) {
#pragma unroll
                        for (int e = 0; e < E; e++) av[e] = nv[e] * (av[e] * inv_rms[r]);
                    }
#pragma unroll
                    for (int e = 0; e < E; e++) {
                        acc0[r] += wv0[u][e] * av[e];
                        acc1[r] += wv1[u][e] * av[e];
                    }
                }
            }
        }
        /* the next unit's first weights travel while this one is reduced and written */
        const int next = unit + stride;
        if (next < units) load_group<WT, P, E>(WROW(ROW0(next)), WROW(ROW1(next)), k0, 0, in, wv0, wv1);
#pragma unroll
        for (int r = 0; r < R; r++) {
            acc0[r] = warp_sum(acc0[r]);
            acc1[r] = warp_sum(acc1[r]);
        }
        /* lane r writes row r: every lane holds every sum after the xor reduction */
#pragma unroll
        for (int r = 0; r < R; r++) {
            if (lane != r || r >= n) continue;
            if (swiglu) {
                float gate = acc0[r];
                g.y[(size_t)r * (g.out / 2) + row0] = gate / (1.0f + expf(-gate)) * acc1[r];
            } else if (g.epilogue == GEMV_RESIDUAL) {
                g.y[(size_t)r * g.out + row0] += acc0[r];
                if (has1) g.y[(size_t)r * g.out + row1] += acc1[r];
            } else {
                g.y[(size_t)r * g.out + row0] = acc0[r];
                if (has1) g.y[(size_t)r * g.out + row1] = acc1[r];
            }
        }
        unit = next;
    }
#undef ROW0
#undef ROW1
#undef WROW
}

int gemv_supported(DType dt, int in) { return in > 0 && in % (int)(16 / dtype_size(dt)) == 0; }

template <typename WT, int R>
static void launch_rows(const GemvArgs *g, cudaStream_t s) {
    int units = g->epilogue == GEMV_SWIGLU ? g->out / 2 : (g->out + 1) / 2, blocks = (units + GEMV_WARPS - 1) / GEMV_WARPS;
    dim3 grid(blocks < gemv_max_blocks ? blocks : gemv_max_blocks), block(GEMV_WARPS * 32);
    size_t stage = (size_t)(g->n + (g->norm ? 1 : 0)) * g->in * sizeof(float);
    if (stage <= GEMV_STAGE_BYTES) launch_pdl(gemv_kernel<WT, R, true>, grid, block, stage, s, *g);
    else launch_pdl(gemv_kernel<WT, R, false>, grid, block, 0, s, *g);
}

template <typename WT>
static void launch_typed(const GemvArgs *g, cudaStream_t s) {
    if (g->n <= 1) launch_rows<WT, 1>(g, s);
    else if (g->n <= 2) launch_rows<WT, 2>(g, s);
    else if (g->n <= 4) launch_rows<WT, 4>(g, s);
    else if (g->n <= 8) launch_rows<WT, 8>(g, s);
    else launch_rows<WT, 16>(g, s);
}

void launch_gemv(const GemvArgs *g, cudaStream_t s) {
    if (gemv_use_mma && gemv_mma_supported(g)) launch_gemv_mma(g, s);
    else launch_gemv_simt(g, s);
}

void launch_gemv_simt(const GemvArgs *g, cudaStream_t s) {
    CHECK(g->n >= 1 && g->n <= GEMV_ROWS_MAX && gemv_supported(g->wdt, g->in), "gemv of %d rows, in %d", g->n, g->in);
    if (g->wdt == DTYPE_BF16) launch_typed<__nv_bfloat16>(g, s);
    else if (g->wdt == DTYPE_F16) launch_typed<__half>(g, s);
    else launch_typed<float>(g, s);
}

template <typename WT, int R>
static void allow_staging(void) {
    cudaCheck(cudaFuncSetAttribute(gemv_kernel<WT, R, true>, cudaFuncAttributeMaxDynamicSharedMemorySize, GEMV_STAGE_BYTES));
}

template <typename WT>
static void allow_staging_typed(void) {
    allow_staging<WT, 1>();
    allow_staging<WT, 2>();
    allow_staging<WT, 4>();
    allow_staging<WT, 8>();
    allow_staging<WT, 16>();
}

int gemv_mma_enabled(DType dt, const int *ins, int n_ins) {
    GemvArgs g = {};
    g.wdt = dt;
    for (int i = 0; i < n_ins; i++) {
        g.in = ins[i];
        if (!gemv_use_mma || !gemv_mma_supported(&g)) return 0;
    }
    return 1;
}

void gemv_init(void) {
    const char *kind = getenv("SPECDEC_CUDA_GEMV");
    if (kind && strcmp(kind, "mma") && strcmp(kind, "simt")) fatal("SPECDEC_CUDA_GEMV is '%s': expected mma or simt", kind);
    gemv_use_mma = !kind || !strcmp(kind, "mma");
    gemv_mma_tune(env_int("SPECDEC_CUDA_GEMV_WARPS", 0, 16, 0), 1, env_int("SPECDEC_CUDA_GEMV_PERSISTENT", 0, 1, 1));
    const int pair = env_int("SPECDEC_CUDA_GEMV_PAIR", 0, 1 << 24, -1); /* -1: unset */
    if (pair >= 0) gemv_mma_pair_tiles(pair);
    gemv_mma_interleave(env_int("SPECDEC_CUDA_GEMV_INTERLEAVE", 0, 1, 1));
    int dev, sms;
    cudaCheck(cudaGetDevice(&dev));
    cudaCheck(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev));
    gemv_max_blocks = GEMV_BLOCKS_PER_SM * sms;
    allow_staging_typed<__nv_bfloat16>();
    allow_staging_typed<__half>();
    allow_staging_typed<float>();
}

__global__ void embed_kernel(float *x, const int *tokens, const void *embed, DType edt, int dim) {
    pdl_trigger();
    pdl_wait();
    size_t base = (size_t)tokens[blockIdx.x] * dim;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) x[(size_t)blockIdx.x * dim + j] = load_elem(embed, base + j, edt);
}

void launch_embed(float *x, const int *tokens, const void *embed, DType edt, int n, int dim, cudaStream_t s) {
    launch_pdl(embed_kernel, dim3(n), dim3(128), 0, s, x, tokens, embed, edt, dim);
}
