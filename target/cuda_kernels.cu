/* Transformer kernels of the CUDA target: RMSNorm (with the embedding fused into the first one),
 * SwiGLU, and causal GQA attention with RoPE and the KV-cache append fused in. The arithmetic
 * follows target_cpu.c term by term (same RoPE tables, expf, 1/sqrtf) so that the two backends
 * differ only by summation order and the rounding of GEMM inputs. */
#include "cuda_kernels.h"

#include "cuda_target.h"

#define NORM_THREADS 256
#define ATT_THREADS 128
#define ATT_WARPS (ATT_THREADS / 32)
#define ATT_QUERY_SLOTS (ATT_QUERIES_PER_BLOCK / ATT_WARPS) /* queries per warp */
#define ATT_TILE 32                                         /* positions per tile: one per lane */
#define ATT_MIN_CHUNK 64                                    /* fewest positions worth a split */
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

/* grid (n_kv_heads, splits, query blocks), ATT_THREADS threads. A block takes the queries
 * [q0, q0 + 16) of its kv head's group (query qi is row qi / group, head kvh * group + qi % group)
 * and the positions [start, end) of its split; warp w owns queries w, w + 4, ... and keeps their
 * online-softmax state (max m, sum l, output acc) in registers, lane d holding dims d, d + 32, ...
 * Keys/values of positions before pos come from the cache; those of the new rows from qkv, and
 * the query-block-0 block of the owning split writes them to the cache. Nothing reads a new
 * position from the cache in this launch, so there is no race. */
__global__ void __launch_bounds__(ATT_THREADS) attention_kernel(AttentionArgs a) {
    __shared__ float ks[ATT_TILE][CUDA_HEAD_DIM_MAX + 1]; /* +1: lanes read rows, no bank conflicts */
    __shared__ float vs[ATT_TILE][CUDA_HEAD_DIM_MAX];
    __shared__ float qs[ATT_QUERIES_PER_BLOCK][CUDA_HEAD_DIM_MAX];
    __shared__ int is_last;
    const int kvh = blockIdx.x, split = blockIdx.y, qb = blockIdx.z;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int hd = a.head_dim, group = a.n_heads / a.n_kv_heads;
    const int qd = a.n_heads * hd, kvd = a.n_kv_heads * hd;
    const int pos = *a.pos, L = pos + a.n;
    const int q0 = qb * ATT_QUERIES_PER_BLOCK;
    const int nq = min(ATT_QUERIES_PER_BLOCK, group * a.n - q0);
    const float scale = 1.0f / sqrtf((float)hd);

    /* the split's positions: chunks of whole tiles, at least ATT_MIN_CHUNK, fewer splits when short */
    int chunk = max(ATT_MIN_CHUNK, (L + a.splits - 1) / a.splits);
    chunk = (chunk + ATT_TILE - 1) / ATT_TILE * ATT_TILE;
    const int n_active = (L + chunk - 1) / chunk;
    const int start = split * chunk, end = min(L, start + chunk);

    for (int e = threadIdx.x; e < nq * hd; e += blockDim.x) {
        int ql = e / hd, d = e % hd, qi = q0 + ql, r = qi / group, h = kvh * group + qi % group;
        qs[ql][d] = rope_elem(a.qkv + (size_t)r * a.qkv_dim + h * hd, d, pos + r, hd, a.rope_interleaved,
                              a.rope_cos, a.rope_sin);
    }

    float m[ATT_QUERY_SLOTS], l[ATT_QUERY_SLOTS], acc[ATT_QUERY_SLOTS][HD_SLOTS];
#pragma unroll
    for (int s = 0; s < ATT_QUERY_SLOTS; s++) {
        m[s] = -CUDART_INF_F;
        l[s] = 0.0f;
#pragma unroll
        for (int c = 0; c < HD_SLOTS; c++) acc[s][c] = 0.0f;
    }

    for (int t0 = start; t0 < end; t0 += ATT_TILE) {
        __syncthreads(); /* the previous tile (and the queries, first time) are done with */
        for (int e = threadIdx.x; e < ATT_TILE * hd; e += blockDim.x) {
            int j = e / hd, d = e % hd, tp = t0 + j;
            float kv = 0.0f, vv = 0.0f;
            if (tp < end) {
                size_t at = (size_t)tp * kvd + kvh * hd + d;
                if (tp < pos) {
                    kv = a.kc[at];
                    vv = a.vc[at];
                } else {
                    const float *row = a.qkv + (size_t)(tp - pos) * a.qkv_dim + qd;
                    kv = rope_elem(row + kvh * hd, d, tp, hd, a.rope_interleaved, a.rope_cos, a.rope_sin);
                    vv = row[kvd + kvh * hd + d];
                    if (qb == 0) {
                        a.kc[at] = kv;
                        a.vc[at] = vv;
                    }
                }
            }
            ks[j][d] = kv;
            vs[j][d] = vv;
        }
        __syncthreads();
#pragma unroll
        for (int s = 0; s < ATT_QUERY_SLOTS; s++) {
            int ql = warp + ATT_WARPS * s;
            if (ql >= nq) continue;
            int last = pos + (q0 + ql) / group; /* causal: this query sees positions <= last */
            int tp = t0 + lane;
            float sc = -CUDART_INF_F;
            if (tp < end && tp <= last) {
                float dot = 0.0f;
                for (int d = 0; d < hd; d++) dot += qs[ql][d] * ks[lane][d];
                sc = dot * scale;
            }
            float mt = warp_max(sc);
            if (mt == -CUDART_INF_F) continue; /* nothing visible in this tile */
            float mnew = fmaxf(m[s], mt);
            float corr = expf(m[s] - mnew); /* 0 on the first visible tile (m = -inf) */
            float p = sc == -CUDART_INF_F ? 0.0f : expf(sc - mnew);
            l[s] = l[s] * corr + warp_sum(p);
#pragma unroll
            for (int c = 0; c < HD_SLOTS; c++) acc[s][c] *= corr;
            for (int j = 0; j < ATT_TILE; j++) {
                float pj = __shfl_sync(0xffffffffu, p, j);
#pragma unroll
                for (int c = 0; c < HD_SLOTS; c++) {
                    int d = lane + 32 * c;
                    if (d < hd) acc[s][c] += pj * vs[j][d];
                }
            }
            m[s] = mnew;
        }
    }

    /* this split's partials: (m, l, acc[hd]) per query */
    const size_t stride = (size_t)hd + 2;
    float *part = a.part + ((size_t)kvh * a.splits + split) * a.max_queries * stride;
    if (split < n_active) {
#pragma unroll
        for (int s = 0; s < ATT_QUERY_SLOTS; s++) {
            int ql = warp + ATT_WARPS * s;
            if (ql >= nq) continue;
            float *pp = part + (size_t)(q0 + ql) * stride;
            if (lane == 0) {
                pp[0] = m[s];
                pp[1] = l[s];
            }
#pragma unroll
            for (int c = 0; c < HD_SLOTS; c++) {
                int d = lane + 32 * c;
                if (d < hd) pp[2 + d] = acc[s][c];
            }
        }
    }
    /* The last block of this (kv head, query block) to finish merges every split's partials
     * (the CUDA threadFenceReduction pattern): fence, count, and the counter goes back to 0. */
    __threadfence();
    __syncthreads();
    unsigned *count = a.count + kvh * gridDim.z + qb;
    if (threadIdx.x == 0) is_last = atomicAdd(count, 1u) == (unsigned)(a.splits - 1);
    __syncthreads();
    if (!is_last) return;
    const float *part0 = a.part + (size_t)kvh * a.splits * a.max_queries * stride;
#pragma unroll
    for (int s = 0; s < ATT_QUERY_SLOTS; s++) {
        int ql = warp + ATT_WARPS * s;
        if (ql >= nq) continue;
        int qi = q0 + ql, r = qi / group, h = kvh * group + qi % group;
        float M = -CUDART_INF_F;
        for (int sp = 0; sp < n_active; sp++)
            M = fmaxf(M, __ldcg(part0 + ((size_t)sp * a.max_queries + qi) * stride));
        float sum = 0.0f, o[HD_SLOTS];
#pragma unroll
        for (int c = 0; c < HD_SLOTS; c++) o[c] = 0.0f;
        for (int sp = 0; sp < n_active; sp++) {
            const float *pp = part0 + ((size_t)sp * a.max_queries + qi) * stride;
            float ms = __ldcg(pp);
            if (ms == -CUDART_INF_F) continue; /* a split with no visible position */
            float w = expf(ms - M);
            sum += w * __ldcg(pp + 1);
#pragma unroll
            for (int c = 0; c < HD_SLOTS; c++) {
                int d = lane + 32 * c;
                if (d < hd) o[c] += w * __ldcg(pp + 2 + d);
            }
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
    attention_kernel<<<grid, ATT_THREADS, 0, s>>>(*a);
    cudaCheckLaunch();
}
