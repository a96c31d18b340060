/* Transformer kernels of the CUDA target: RMSNorm (with the embedding fused into the first one)
 * and SwiGLU for the cuBLAS path, and causal GQA attention with RoPE and the KV-cache append fused
 * in, for both paths. The arithmetic follows target_cpu.c term by term (same RoPE tables, expf,
 * 1/sqrtf) so that the backends differ only by summation order and, on the cuBLAS path, the
 * rounding of GEMM inputs. */
#include "cuda_kernels.h"

#include "cuda_target.h"

#define NORM_THREADS 256
#define ATT_THREADS (32 * ATT_QUERIES_PER_BLOCK) /* a warp per query */
#define ATT_TILE 32                                         /* positions per tile: one per lane */
#define HD_SLOTS (CUDA_HEAD_DIM_MAX / 32)                   /* head dims per lane */

__global__ void rmsnorm_kernel(float *x, void *out, DType odt, const float *w, int dim, float eps,
                               const int *tokens, const void *embed, DType edt) {
    __shared__ float tmp[32];
    int row = blockIdx.x;
    float *xr = x + (size_t)row * dim;
    if (tokens) {
        size_t base = (size_t)tokens[row] * dim;
        for (int j = threadIdx.x; j < dim; j += blockDim.x) xr[j] = load_elem(embed, base + j, edt);
    }
    float ss = 0.0f;
    for (int j = threadIdx.x; j < dim; j += blockDim.x) ss += xr[j] * xr[j];
    ss = block_sum(ss, tmp);
    float inv = 1.0f / sqrtf(ss / (float)dim + eps);
    for (int j = threadIdx.x; j < dim; j += blockDim.x)
        store_elem(out, (size_t)row * dim + j, odt, w[j] * (xr[j] * inv));
}

void launch_rmsnorm(float *x, void *out, DType odt, const float *w, int rows, int dim, float eps,
                    const int *tokens, const void *embed, DType edt, cudaStream_t s) {
    rmsnorm_kernel<<<rows, NORM_THREADS, 0, s>>>(x, out, odt, w, dim, eps, tokens, embed, edt);
    cudaCheckLaunch();
}

__global__ void swiglu_kernel(const float *gu, void *out, DType odt, int rows, int hidden) {
    size_t n = (size_t)rows * hidden;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        size_t r = i / hidden, j = i % hidden;
        float g = gu[r * 2 * hidden + j], u = gu[r * 2 * hidden + hidden + j];
        store_elem(out, i, odt, g / (1.0f + expf(-g)) * u);
    }
}

void launch_swiglu(const float *gu, void *out, DType odt, int rows, int hidden, cudaStream_t s) {
    size_t n = (size_t)rows * hidden;
    int blocks = (int)((n + 255) / 256);
    if (blocks > 4096) blocks = 4096;
    swiglu_kernel<<<blocks, 256, 0, s>>>(gu, out, odt, rows, hidden);
    cudaCheckLaunch();
}

/* Element d of a head vector after RoPE at position p, exactly as target_cpu.c's rope(): the pair
 * (a, b) becomes (x_a cos - x_b sin, x_b cos + x_a sin). */
__device__ __forceinline__ float rope_elem(const float *v, int d, int p, int hd, int interleaved,
                                           const float *cosb, const float *sinb) {
    int half = hd / 2, i, partner, first;
    if (interleaved) {
        i = d >> 1;
        first = !(d & 1);
        partner = first ? d + 1 : d - 1;
    } else {
        first = d < half;
        i = first ? d : d - half;
        partner = first ? d + half : d - half;
    }
    float c = cosb[(size_t)p * half + i], s = sinb[(size_t)p * half + i];
    return first ? v[d] * c - v[partner] * s : v[d] * c + v[partner] * s;
}

/* Loads one tile of keys and values (positions [t0, t0 + ATT_TILE) clipped to end) into
 * registers: the cache before pos, the new rows (RoPE applied to keys) from qkv at and after it,
 * writing those to the cache when `owner`. Warp w takes tile rows w, w + ATT_WARPS, ...; lane
 * takes dims lane, lane + 32, ... (element [i][c]: row w + i * ATT_WARPS, dim lane + 32 c). All
 * loads are issued before any is used. */
#define ATT_WARPS (ATT_THREADS / 32)
#define ATT_ROWS_PER_WARP (ATT_TILE / ATT_WARPS)
__device__ __forceinline__ void load_tile(const AttentionArgs &a, int kvh, int t0, int end, int pos, int owner,
                                          float (*kr)[HD_SLOTS], float (*vr)[HD_SLOTS]) {
    const int hd = a.head_dim, kvd = a.n_kv_heads * hd, qd = a.n_heads * hd;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
    for (int i = 0; i < ATT_ROWS_PER_WARP; i++) {
        const int tp = t0 + warp + i * ATT_WARPS;
#pragma unroll
        for (int c = 0; c < HD_SLOTS; c++) {
            const int d = lane + 32 * c;
            kr[i][c] = vr[i][c] = 0.0f;
            if (d >= hd || tp >= end) continue;
            size_t at = (size_t)tp * kvd + kvh * hd + d;
            if (tp < pos) {
                kr[i][c] = a.kc[at];
                vr[i][c] = a.vc[at];
            } else {
                const float *row = a.qkv + (size_t)(tp - pos) * a.qkv_dim + qd;
                kr[i][c] = rope_elem(row + kvh * hd, d, tp, hd, a.rope_interleaved, a.rope_cos, a.rope_sin);
                vr[i][c] = row[kvd + kvh * hd + d];
                if (owner) {
                    a.kc[at] = kr[i][c];
                    a.vc[at] = vr[i][c];
                }
            }
        }
    }
}

/* grid (n_kv_heads, splits, query blocks), ATT_THREADS threads. A block takes the queries
 * [q0, q0 + ATT_QUERIES_PER_BLOCK) of its kv head's group (query qi is row qi / group, head
 * kvh * group + qi % group) and the positions [start, end) of its split; warp w owns query w and
 * keeps its online-softmax state (max m, sum l, output acc) in registers, lane d holding dims
 * d, d + 32, ... Tiles are double-buffered in registers: the next tile's loads are in flight while
 * this one is scored. Keys/values of positions before pos come from the cache; those of the new
 * rows from qkv, and the query-block-0 block of the owning split writes them to the cache. Nothing
 * reads a new position from the cache in this launch, so there is no race. */
__global__ void __launch_bounds__(ATT_THREADS) attention_kernel(AttentionArgs a) {
    __shared__ float ks[ATT_TILE][CUDA_HEAD_DIM_MAX + 1]; /* +1: lanes read rows, no bank conflicts */
    __shared__ float vs[ATT_TILE][CUDA_HEAD_DIM_MAX];
    __shared__ float qs[ATT_QUERIES_PER_BLOCK][CUDA_HEAD_DIM_MAX];
    __shared__ int is_last;
    pdl_trigger();
    pdl_wait(); /* everything below, the position included, may come from earlier kernels */
    const int kvh = blockIdx.x, split = blockIdx.y, qb = blockIdx.z;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int hd = a.head_dim, group = a.n_heads / a.n_kv_heads, qd = a.n_heads * hd;
    const int pos = *a.pos, L = pos + a.n;
    const int q0 = qb * ATT_QUERIES_PER_BLOCK;
    const int nq = min(ATT_QUERIES_PER_BLOCK, group * a.n - q0);
    const float scale = 1.0f / sqrtf((float)hd);

    /* the split's positions: chunks of whole tiles, one tile each up to splits * ATT_TILE positions
     * (measured: a block scoring tiles one after another costs more than merging splits); blocks
     * past the last chunk have nothing to do, and a context of one chunk needs no merge */
    int chunk = max(ATT_TILE, (L + a.splits - 1) / a.splits);
    chunk = (chunk + ATT_TILE - 1) / ATT_TILE * ATT_TILE;
    const int n_active = (L + chunk - 1) / chunk;
    if (split >= n_active) return;
    const int start = split * chunk, end = min(L, start + chunk);

    float kr[ATT_ROWS_PER_WARP][HD_SLOTS], vr[ATT_ROWS_PER_WARP][HD_SLOTS];
    load_tile(a, kvh, start, end, pos, qb == 0, kr, vr);
    const int ql = warp; /* this warp's query */
    if (ql < nq) {
        int qi = q0 + ql, r = qi / group, h = kvh * group + qi % group;
#pragma unroll
        for (int c = 0; c < HD_SLOTS; c++) {
            int d = lane + 32 * c;
            if (d < hd)
                qs[ql][d] = rope_elem(a.qkv + (size_t)r * a.qkv_dim + h * hd, d, pos + r, hd, a.rope_interleaved,
                                      a.rope_cos, a.rope_sin);
        }
    }

    float m = -CUDART_INF_F, l = 0.0f, acc[HD_SLOTS];
#pragma unroll
    for (int c = 0; c < HD_SLOTS; c++) acc[c] = 0.0f;
    const int last = pos + (q0 + ql) / group; /* causal: query ql sees positions <= last */
    for (int t0 = start; t0 < end; t0 += ATT_TILE) {
#pragma unroll
        for (int i = 0; i < ATT_ROWS_PER_WARP; i++)
#pragma unroll
            for (int c = 0; c < HD_SLOTS; c++) {
                int d = lane + 32 * c;
                if (d < hd) {
                    ks[warp + i * ATT_WARPS][d] = kr[i][c];
                    vs[warp + i * ATT_WARPS][d] = vr[i][c];
                }
            }
        __syncthreads();
        if (t0 + ATT_TILE < end) load_tile(a, kvh, t0 + ATT_TILE, end, pos, qb == 0, kr, vr);
        int tp = t0 + lane;
        float sc = -CUDART_INF_F;
        if (ql < nq && tp < end && tp <= last) {
            float dot = 0.0f;
#pragma unroll 16
            for (int d = 0; d < hd; d++) dot += qs[ql][d] * ks[lane][d];
            sc = dot * scale;
        }
        float mt = warp_max(sc);
        if (mt != -CUDART_INF_F) { /* something visible in this tile (uniform across the warp) */
            float mnew = fmaxf(m, mt);
            float corr = expf(m - mnew); /* 0 on the first visible tile (m = -inf) */
            float p = sc == -CUDART_INF_F ? 0.0f : expf(sc - mnew);
            l = l * corr + warp_sum(p);
#pragma unroll
            for (int c = 0; c < HD_SLOTS; c++) acc[c] *= corr;
            for (int j = 0; j < ATT_TILE; j++) {
                float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
                for (int c = 0; c < HD_SLOTS; c++) {
                    int d = lane + 32 * c;
                    if (d < hd) acc[c] += pj * vs[j][d];
                }
            }
            m = mnew;
        }
        __syncthreads(); /* before the next tile overwrites this one */
    }

    if (n_active == 1) { /* the whole context in this block: the output directly */
        if (ql < nq) {
            int qi = q0 + ql, r = qi / group, h = kvh * group + qi % group;
            float inv = 1.0f / l;
#pragma unroll
            for (int c = 0; c < HD_SLOTS; c++) {
                int d = lane + 32 * c;
                if (d < hd) store_elem(a.out, (size_t)r * qd + h * hd + d, a.odt, acc[c] * inv);
            }
        }
        return;
    }
    /* this split's partials: (m, l, acc[hd]) per query */
    const size_t stride = (size_t)hd + 2;
    if (ql < nq) {
        float *pp = a.part + (((size_t)kvh * a.splits + split) * a.max_queries + q0 + ql) * stride;
        if (lane == 0) {
            pp[0] = m;
            pp[1] = l;
        }
#pragma unroll
        for (int c = 0; c < HD_SLOTS; c++) {
            int d = lane + 32 * c;
            if (d < hd) pp[2 + d] = acc[c];
        }
    }
    /* The last block of this (kv head, query block) to finish merges every split's partials
     * (the CUDA threadFenceReduction pattern): fence, count, and the counter goes back to 0. */
    __threadfence();
    __syncthreads();
    unsigned *count = a.count + kvh * gridDim.z + qb;
    if (threadIdx.x == 0) is_last = atomicAdd(count, 1u) == (unsigned)(n_active - 1);
    __syncthreads();
    if (!is_last) return;
    if (ql < nq) {
        /* one pass, rescaling as the running maximum grows; splits with nothing visible have m = -inf */
        int qi = q0 + ql, r = qi / group, h = kvh * group + qi % group;
        const float *part0 = a.part + ((size_t)kvh * a.splits * a.max_queries + qi) * stride;
        float M = -CUDART_INF_F, sum = 0.0f, o[HD_SLOTS];
#pragma unroll
        for (int c = 0; c < HD_SLOTS; c++) o[c] = 0.0f;
#pragma unroll 4
        for (int sp = 0; sp < n_active; sp++) {
            const float *pp = part0 + (size_t)sp * a.max_queries * stride;
            float ms = __ldcg(pp), ls = __ldcg(pp + 1), v[HD_SLOTS];
#pragma unroll
            for (int c = 0; c < HD_SLOTS; c++) v[c] = lane + 32 * c < hd ? __ldcg(pp + 2 + lane + 32 * c) : 0.0f;
            float nm = fmaxf(M, ms);
            float fo = M == -CUDART_INF_F ? 0.0f : expf(M - nm), fn = ms == -CUDART_INF_F ? 0.0f : expf(ms - nm);
            sum = sum * fo + ls * fn;
#pragma unroll
            for (int c = 0; c < HD_SLOTS; c++) o[c] = o[c] * fo + v[c] * fn;
            M = nm;
        }
        float inv = 1.0f / sum;
#pragma unroll
        for (int c = 0; c < HD_SLOTS; c++) {
            int d = lane + 32 * c;
            if (d < hd) store_elem(a.out, (size_t)r * qd + h * hd + d, a.odt, o[c] * inv);
        }
    }
    if (threadIdx.x == 0) *count = 0;
}

void launch_attention(const AttentionArgs *a, cudaStream_t s) {
    int group = a->n_heads / a->n_kv_heads;
    int qblocks = (group * a->n + ATT_QUERIES_PER_BLOCK - 1) / ATT_QUERIES_PER_BLOCK;
    dim3 grid(a->n_kv_heads, a->splits, qblocks);
    launch_pdl(attention_kernel, grid, dim3(ATT_THREADS), 0, s, *a);
}
