/* Transformer kernels of the CUDA target: RMSNorm (with the embedding fused into the first one)
 * and SwiGLU for the cuBLAS path, and causal GQA attention with RoPE and the KV-cache append fused
 * in, for both paths. The arithmetic follows target_cpu.c term by term (same RoPE tables, expf,
 * 1/sqrtf) so that the backends differ only by summation order and, on the cuBLAS path, the
 * rounding of GEMM inputs. */
#include "cuda_kernels.h"

#include "cuda_target.h"

#include <cooperative_groups.h>
namespace cg = cooperative_groups;

#define NORM_THREADS 256
#define ATT_THREADS (32 * ATT_QUERIES_PER_BLOCK / 2) /* a warp holds one or two queries */
#define ATT_TILE 32                                         /* positions per tile: one per lane */
#define ATT_PREFETCH 3 /* tiles in flight per block for head_dim <= 64 (registers allow no more at 128) */

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

__global__ void set_input_kernel(int *pos_tokens, const int *src, int n, int pos) {
    for (int i = threadIdx.x; i < n; i += blockDim.x) pos_tokens[1 + i] = src[i];
    if (threadIdx.x == 0) pos_tokens[0] = pos;
}

void launch_set_input(int *pos_tokens, const int *src, int n, int pos, cudaStream_t s) {
    set_input_kernel<<<1, 128, 0, s>>>(pos_tokens, src, n, pos);
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

/* The RoPE factors (cos, sin) of element d of a head vector at position p. */
__device__ __forceinline__ float2 rope_factors(int d, int p, int hd, int interleaved, const float *cosb,
                                               const float *sinb) {
    const int half = hd / 2, i = interleaved ? d >> 1 : d < half ? d : d - half;
    return make_float2(cosb[(size_t)p * half + i], sinb[(size_t)p * half + i]);
}

/* Element d of a head vector after RoPE with factors f, exactly as target_cpu.c's rope(): the pair
 * (a, b) becomes (x_a cos - x_b sin, x_b cos + x_a sin). */
__device__ __forceinline__ float rope_apply(const float *v, int d, int hd, int interleaved, float2 f) {
    const int half = hd / 2;
    const int first = interleaved ? !(d & 1) : d < half;
    const int partner = interleaved ? (first ? d + 1 : d - 1) : (first ? d + half : d - half);
    return first ? v[d] * f.x - v[partner] * f.y : v[d] * f.x + v[partner] * f.y;
}

/* Both in one, as the kernels without early reads were measured (written through rope_factors and
 * rope_apply, their register counts changed: 83 -> 64 for head_dim 32, 98 -> 85 for 128, untimed). */
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
 * registers: with `cached`, the cache before pos (and zeros past end); with `fresh`, the new rows
 * (RoPE applied to keys) from qkv at and after pos, writing those to the cache when `owner`. Warp w
 * takes tile rows w, w + ATT_WARPS, ...; lane takes dims lane, lane + 32, ... (element [i][c]: row
 * w + i * ATT_WARPS, dim lane + 32 c). All loads are issued before any is used. */
#define ATT_WARPS (ATT_THREADS / 32)
#define ATT_ROWS_PER_WARP (ATT_TILE / ATT_WARPS)
template <int HS>
__device__ __forceinline__ void load_tile(const AttentionArgs &a, int kvh, int t0, int end, int pos, int owner,
                                          bool cached, bool fresh, float (*kr)[HS], float (*vr)[HS]) {
    const int hd = a.head_dim, kvd = a.n_kv_heads * hd, qd = a.n_heads * hd;
    const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
#pragma unroll
    for (int i = 0; i < ATT_ROWS_PER_WARP; i++) {
        const int tp = t0 + warp + i * ATT_WARPS;
#pragma unroll
        for (int c = 0; c < HS; c++) {
            const int d = lane + 32 * c;
            if (cached) kr[i][c] = vr[i][c] = 0.0f;
            if (d >= hd || tp >= end) continue;
            const size_t at = (size_t)tp * kvd + kvh * hd + d;
            if (tp < pos) {
                if (cached) {
                    kr[i][c] = a.kc[at];
                    vr[i][c] = a.vc[at];
                }
            } else if (fresh) {
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

/* Online-softmax update of one query's state with this tile's score sc (lane = position):
 * returns p = exp(sc - new max), 0 where nothing is visible. */
template <int HS>
__device__ __forceinline__ float softmax_step(float sc, float &m, float &l, float *acc) {
    const float mt = warp_max(sc);
    if (mt == -CUDART_INF_F) return 0.0f; /* nothing visible in this tile (uniform across the warp) */
    const float mnew = fmaxf(m, mt);
    const float corr = expf(m - mnew); /* 0 on the first visible tile (m = -inf) */
    const float p = sc == -CUDART_INF_F ? 0.0f : expf(sc - mnew);
    l = l * corr + warp_sum(p);
#pragma unroll
    for (int c = 0; c < HS; c++) acc[c] *= corr;
    m = mnew;
    return p;
}

/* Shared memory of the attention kernel, in floats: the tile's keys (padded by 4, so that a
 * quarter-warp's float4 rows hit distinct banks) and values, the block's queries after RoPE, each
 * warp's softmax weights for the tile, and (used in rank 0) every split's partials. */
#define ATT_SMEM_FLOATS(hd, splits)                                                                   \
    ((size_t)ATT_TILE * ((hd) + 4) + (size_t)ATT_TILE * (hd) + (size_t)ATT_QUERIES_PER_BLOCK * (hd) + \
     (size_t)ATT_WARPS * 2 * ATT_TILE + (size_t)(splits) * ATT_QUERIES_PER_BLOCK * ((hd) + 2))

/* grid (splits, n_kv_heads, query blocks) in clusters of the splits blocks of one (kv head, query
 * block), ATT_THREADS threads; HS = head dims per lane (hd <= 32 HS), PD = tiles in flight. A
 * block takes the queries [q0, q0 + ATT_QUERIES_PER_BLOCK) of its kv head's group (query qi is row
 * qi / group, head kvh * group + qi % group), and the tiles split, split + splits, ... of the
 * context, PD of them loading into registers while one is scored. A warp keeps the online-softmax
 * state (max m, sum l, output acc) of one or two queries, lane d holding dims d, d + 32, ...: two
 * queries share every key and value read from shared memory, which bounds the kernel once many
 * rows are verified at once; one is faster while they are few. Each split
 * writes its partials into rank 0's shared memory; after one cluster barrier rank 0 merges them,
 * a thread per (query, dim). A query's result depends neither on n nor on the context length
 * beyond its own position: tiles are fixed multiples of ATT_TILE, a tile it cannot see leaves its
 * state untouched, each query's arithmetic is the same whichever warp holds it, and the merge
 * takes the splits in order. Keys/values of positions before pos come from the cache; those of
 * the new rows from qkv, and the query-block-0 blocks write them to the cache. Nothing reads a new
 * position from the cache in this launch, so there is no race. */
template <int HS, int PD, bool EARLY>
__global__ void __launch_bounds__(ATT_THREADS) attention_kernel(AttentionArgs a) {
    extern __shared__ float4 att_smem[];
    const int hd = a.head_dim, ks_stride = hd + 4, splits = gridDim.x, stride = hd + 2;
    float *ks = (float *)att_smem;                      /* (ATT_TILE, ks_stride) */
    float *vs = ks + ATT_TILE * ks_stride;              /* (ATT_TILE, hd) */
    float *qs = vs + ATT_TILE * hd;                     /* (ATT_QUERIES_PER_BLOCK, hd) */
    float *ps = qs + ATT_QUERIES_PER_BLOCK * hd;        /* (ATT_WARPS, 2, ATT_TILE) */
    float *merge = ps + ATT_WARPS * 2 * ATT_TILE;       /* (splits, ATT_QUERIES_PER_BLOCK, hd + 2) */
    cg::cluster_group cluster = cg::this_cluster();
    /* every block of the cluster must have started before one writes to rank 0's shared memory:
     * arrive now, wait just before that write */
    asm volatile("barrier.cluster.arrive.relaxed.aligned;" ::: "memory");
    pdl_trigger();
    /* without EARLY, everything below, the position included, may come from earlier kernels; with
     * it, only the new rows in qkv do (see AttentionArgs.early) */
    if (!EARLY) pdl_wait();
    const int split = blockIdx.x, kvh = blockIdx.y, qb = blockIdx.z;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    const int group = a.n_heads / a.n_kv_heads, qd = a.n_heads * hd;
    const int pos = *a.pos, L = pos + a.n, n_tiles = (L + ATT_TILE - 1) / ATT_TILE;
    const int q0 = qb * ATT_QUERIES_PER_BLOCK;
    const int nq = min(ATT_QUERIES_PER_BLOCK, group * a.n - q0);
    const float scale = 1.0f / sqrtf((float)hd);

    float kr[PD][ATT_ROWS_PER_WARP][HS], vr[PD][ATT_ROWS_PER_WARP][HS];
#pragma unroll
    for (int u = 0; u < PD; u++) {
        const int t = split + u * splits;
        if (t < n_tiles)
            load_tile<HS>(a, kvh, t * ATT_TILE, min(L, t * ATT_TILE + ATT_TILE), pos, qb == 0, true, !EARLY, kr[u], vr[u]);
    }
    /* the block's queries after RoPE: element i is dim i % hd of query i / hd */
    if (EARLY) {
        /* this thread's elements threadIdx.x + k ATT_THREADS: their RoPE factors before the wait */
        constexpr int QPT = ATT_QUERIES_PER_BLOCK * 32 * HS / ATT_THREADS;
        float2 qf[QPT];
#pragma unroll
        for (int k = 0; k < QPT; k++) {
            const int i = threadIdx.x + k * ATT_THREADS, ql = i / hd, qi = q0 + ql;
            qf[k] = i < ATT_QUERIES_PER_BLOCK * hd && ql < nq
                        ? rope_factors(i % hd, pos + qi / group, hd, a.rope_interleaved, a.rope_cos, a.rope_sin)
                        : make_float2(0.0f, 0.0f);
        }
        pdl_wait(); /* the new rows are in qkv now */
#pragma unroll
        for (int u = 0; u < PD; u++) {
            const int t = split + u * splits;
            if (t < n_tiles)
                load_tile<HS>(a, kvh, t * ATT_TILE, min(L, t * ATT_TILE + ATT_TILE), pos, qb == 0, false, true, kr[u], vr[u]);
        }
#pragma unroll
        for (int k = 0; k < QPT; k++) {
            const int i = threadIdx.x + k * ATT_THREADS, ql = i / hd, d = i % hd, qi = q0 + ql, r = qi / group,
                      h = kvh * group + qi % group;
            if (i < ATT_QUERIES_PER_BLOCK * hd)
                qs[i] = ql < nq ? rope_apply(a.qkv + (size_t)r * a.qkv_dim + h * hd, d, hd, a.rope_interleaved, qf[k]) : 0.0f;
        }
    } else {
        for (int i = threadIdx.x; i < ATT_QUERIES_PER_BLOCK * hd; i += blockDim.x) {
            const int ql = i / hd, d = i % hd, qi = q0 + ql, r = qi / group, h = kvh * group + qi % group;
            qs[i] = ql < nq ? rope_elem(a.qkv + (size_t)r * a.qkv_dim + h * hd, d, pos + r, hd, a.rope_interleaved,
                                        a.rope_cos, a.rope_sin)
                            : 0.0f;
        }
    }

    /* this warp's queries: w and nothing while they are few (each warp's latency is the kernel's),
     * else 2w and 2w + 1; query q always takes slot q % 2 (a or z), so that its arithmetic is the
     * same either way */
    const int few = nq <= ATT_WARPS / 2;
    const int qa = few ? (warp % 2 ? ATT_QUERIES_PER_BLOCK : warp) : 2 * warp;
    const int qz = few ? (warp % 2 ? warp : ATT_QUERIES_PER_BLOCK) : 2 * warp + 1;
    const int last_a = qa < nq ? pos + (q0 + qa) / group : -1, last_z = qz < nq ? pos + (q0 + qz) / group : -1;
    float ma = -CUDART_INF_F, la = 0.0f, acca[HS], mz = -CUDART_INF_F, lz = 0.0f, accz[HS];
#pragma unroll
    for (int c = 0; c < HS; c++) acca[c] = accz[c] = 0.0f;
    float *pw = ps + warp * 2 * ATT_TILE;
    for (int tb = split; tb < n_tiles; tb += PD * splits) {
#pragma unroll
        for (int u = 0; u < PD; u++) {
            const int t = tb + u * splits, t0 = t * ATT_TILE, end = min(L, t0 + ATT_TILE);
            if (t >= n_tiles) break; /* uniform across the block */
#pragma unroll
            for (int i = 0; i < ATT_ROWS_PER_WARP; i++)
#pragma unroll
                for (int c = 0; c < HS; c++) {
                    const int d = lane + 32 * c, row = warp + i * ATT_WARPS;
                    if (d < hd) {
                        ks[row * ks_stride + d] = kr[u][i][c];
                        vs[row * hd + d] = vr[u][i][c];
                    }
                }
            __syncthreads();
            const int tn = t + PD * splits; /* into the slot just emptied */
            if (tn < n_tiles)
                load_tile<HS>(a, kvh, tn * ATT_TILE, min(L, tn * ATT_TILE + ATT_TILE), pos, qb == 0, true, true, kr[u], vr[u]);
            if (max(last_a, last_z) >= t0) { /* one of this warp's queries sees part of the tile */
                const int tp = t0 + lane;
                const int last_q = ATT_QUERIES_PER_BLOCK - 1; /* an absent query reads a real row, unused */
                const float4 *k4 = (const float4 *)(ks + lane * ks_stride), *qa4 = (const float4 *)(qs + min(qa, last_q) * hd),
                             *qz4 = (const float4 *)(qs + min(qz, last_q) * hd);
                float da = 0.0f, dz = 0.0f;
#pragma unroll 4
                for (int j = 0; j < hd / 4; j++) {
                    const float4 k = k4[j], x = qa4[j], y = qz4[j];
                    da += x.x * k.x + x.y * k.y + x.z * k.z + x.w * k.w;
                    dz += y.x * k.x + y.y * k.y + y.z * k.z + y.w * k.w;
                }
                const float sa = tp < end && tp <= last_a ? da * scale : -CUDART_INF_F;
                const float sz = tp < end && tp <= last_z ? dz * scale : -CUDART_INF_F;
                pw[lane] = softmax_step<HS>(sa, ma, la, acca);
                pw[ATT_TILE + lane] = softmax_step<HS>(sz, mz, lz, accz);
                __syncwarp();
#pragma unroll 8
                for (int j = 0; j < ATT_TILE; j++) {
                    const float pa = pw[j], pz = pw[ATT_TILE + j];
#pragma unroll
                    for (int c = 0; c < HS; c++) {
                        const int d = lane + 32 * c;
                        if (d < hd) {
                            const float v = vs[j * hd + d];
                            acca[c] += pa * v;
                            accz[c] += pz * v;
                        }
                    }
                }
            }
            __syncthreads(); /* before the next tile overwrites this one */
        }
    }

    /* this split's partials (m, l, acc[hd]) per query, into rank 0's shared memory */
    asm volatile("barrier.cluster.wait.aligned;" ::: "memory");
    float *dst = cluster.map_shared_rank(merge, 0) + (size_t)split * ATT_QUERIES_PER_BLOCK * stride;
    if (split < n_tiles) {
#pragma unroll
        for (int z = 0; z < 2; z++) {
            const int ql = z ? qz : qa;
            if (ql >= nq) continue;
            float *pp = dst + ql * stride;
            if (lane == 0) {
                pp[0] = z ? mz : ma;
                pp[1] = z ? lz : la;
            }
#pragma unroll
            for (int c = 0; c < HS; c++) {
                const int d = lane + 32 * c;
                if (d < hd) pp[2 + d] = z ? accz[c] : acca[c];
            }
        }
    }
    cluster.sync(); /* release the partials to rank 0, and acquire them there */
    if (split != 0) return;
    /* out = sum_s w_s acc_s / sum_s w_s l_s, w_s = exp(m_s - max m): a thread per (query, dim);
     * a split with nothing visible has m = -inf and weight 0 */
    const int n_parts = min(splits, n_tiles);
    for (int i = threadIdx.x; i < nq * hd; i += blockDim.x) {
        const int ql = i / hd, d = i % hd, qi = q0 + ql, r = qi / group, h = kvh * group + qi % group;
        const float *pq = merge + (size_t)ql * stride;
        float M = -CUDART_INF_F;
        for (int sp = 0; sp < n_parts; sp++) M = fmaxf(M, pq[(size_t)sp * ATT_QUERIES_PER_BLOCK * stride]);
        float sum = 0.0f, o = 0.0f;
        for (int sp = 0; sp < n_parts; sp++) {
            const float *pp = pq + (size_t)sp * ATT_QUERIES_PER_BLOCK * stride;
            const float w = pp[0] == -CUDART_INF_F ? 0.0f : expf(pp[0] - M);
            sum += w * pp[1];
            o += w * pp[2 + d];
        }
        store_elem(a.out, (size_t)r * qd + h * hd + d, a.odt, o / sum);
    }
}

/* Splits per (kv head, query block): 16 where the device runs a cluster of 16 blocks (with rank
 * 0's shared memory for all their partials) for every kv head at once, so that more blocks share
 * a long context; else 8, the portable cluster size. A function of the device and the model only,
 * so results never depend on the launch. */
static int att_clusters16[3]; /* by HS: head_dim <= 32, <= 64, <= 128; clusters of 16 resident at once */

/* The shared memory and cluster attributes of one instance; for the EARLY = false one, how many
 * clusters of 16 the device runs at once (the EARLY one takes the same splits, so that both give
 * the same results). */
template <int HS, int PD, bool EARLY>
static void attention_setup(int hs_index) {
    const int hd = 32 * HS;
    auto kernel = attention_kernel<HS, PD, EARLY>;
    size_t smem8 = ATT_SMEM_FLOATS(hd, 8) * sizeof(float), smem16 = ATT_SMEM_FLOATS(hd, 16) * sizeof(float);
    int dev, optin;
    cudaCheck(cudaGetDevice(&dev));
    cudaCheck(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    cudaCheck(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem8));
    if (!EARLY) att_clusters16[hs_index] = 0;
    if (smem16 > (size_t)optin) return;
    cudaCheck(cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1));
    cudaCheck(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem16));
    if (EARLY) return;
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = dim3(16, 1, 1);
    cfg.blockDim = dim3(ATT_THREADS);
    cfg.dynamicSmemBytes = smem16;
    cudaLaunchAttribute attr;
    attr.id = cudaLaunchAttributeClusterDimension;
    attr.val.clusterDim.x = 16;
    attr.val.clusterDim.y = attr.val.clusterDim.z = 1;
    cfg.attrs = &attr;
    cfg.numAttrs = 1;
    if (cudaOccupancyMaxActiveClusters(&att_clusters16[hs_index], kernel, &cfg) != cudaSuccess) {
        (void)cudaGetLastError(); /* not supported: 8 splits */
        att_clusters16[hs_index] = 0;
    }
}

int cuda_pdl = 1;

static int att_splits_forced; /* attention_force_splits(): 0, or the splits every launch uses */

void attention_init(void) {
    attention_setup<1, ATT_PREFETCH, false>(0);
    attention_setup<2, ATT_PREFETCH, false>(1);
    attention_setup<4, 1, false>(2);
    attention_setup<1, ATT_PREFETCH, true>(0);
    attention_setup<2, ATT_PREFETCH, true>(1);
    attention_setup<4, 1, true>(2);
    const int splits = env_int("SPECDEC_CUDA_ATT_SPLITS", 1, 16, 0);
    if (splits & (splits - 1)) fatal("SPECDEC_CUDA_ATT_SPLITS is %d: expected 1, 2, 4, 8 or 16", splits);
    if (splits) attention_force_splits(splits);
}

void attention_force_splits(int splits) { att_splits_forced = splits; }

static int hs_index_of(int head_dim) { return head_dim <= 32 ? 0 : head_dim <= 64 ? 1 : 2; }

int attention_splits(int head_dim, int n_kv_heads) {
    if (att_splits_forced) return att_splits_forced;
    return att_clusters16[hs_index_of(head_dim)] >= n_kv_heads ? 16 : 8;
}

template <bool EARLY>
static void launch_instance(const AttentionArgs *a, dim3 grid, dim3 block, size_t smem, cudaStream_t s, int splits) {
    switch (hs_index_of(a->head_dim)) {
    case 0: launch_pdl_cluster(attention_kernel<1, ATT_PREFETCH, EARLY>, grid, block, smem, s, splits, *a); break;
    case 1: launch_pdl_cluster(attention_kernel<2, ATT_PREFETCH, EARLY>, grid, block, smem, s, splits, *a); break;
    default: launch_pdl_cluster(attention_kernel<4, 1, EARLY>, grid, block, smem, s, splits, *a);
    }
}

void launch_attention(const AttentionArgs *a, cudaStream_t s) {
    const int group = a->n_heads / a->n_kv_heads, splits = attention_splits(a->head_dim, a->n_kv_heads);
    const int qblocks = (group * a->n + ATT_QUERIES_PER_BLOCK - 1) / ATT_QUERIES_PER_BLOCK;
    const dim3 grid(splits, a->n_kv_heads, qblocks), block(ATT_THREADS);
    const size_t smem = ATT_SMEM_FLOATS(a->head_dim, splits) * sizeof(float);
    if (splits == 16 && !att_clusters16[hs_index_of(a->head_dim)])
        fatal("attention in 16 splits: this device runs no cluster of 16 blocks of head_dim %d", a->head_dim);
    if (a->early) launch_instance<true>(a, grid, block, smem, s, splits);
    else launch_instance<false>(a, grid, block, smem, s, splits);
}
