/* The persistent forward: a whole fused forward (decode or verification, n <= GEMV_ROWS_MAX rows)
 * in one launch of one block per multiprocessor, its stages separated by grid-wide barriers.
 *
 * Why: in the layered forward (5 launches a layer) a Llama-3.2-1B decode step spends 60 us a layer
 * against 40.5 us for its bytes at the copy rate (README, launch shares): at every boundary the
 * next kernel's blocks can only start once the previous kernel's have left the multiprocessors,
 * so the weight stream stops while one drains and the next fills. Here every warp requests the
 * first weights of its next stage before it waits at the barrier (weights never depend on the
 * barrier), so the stream keeps going while the slowest blocks finish.
 *
 * Same numbers: each projection runs the projection kernel's own device code (cuda_gemv_mma.cuh)
 * with the same warps per group of tiles (gemv_mma_plan), and a query's attention runs the same
 * per-query arithmetic (cuda_attention.cuh) over the same tiles and splits; so the logits are
 * bit-identical to the layered forward's, and either may verify what the other decoded.
 *
 * Stages per layer: norm + QKV | attention | O + residual | norm + gate/up + SwiGLU | down +
 * residual; then norm + classifier. A stage's work is spread over teams of the projection's warps
 * per group (several teams per block) or, for attention, one warp per (query, split); a split's
 * partials are merged by the warp that finishes last for its query (an atomic count per query).
 *
 * Co-residency: the barriers need every block resident at once, so the grid is one block per
 * multiprocessor and each takes a whole one (512 threads at 128 registers). A block waiting in a
 * barrier holds its multiprocessor; two such forwards started together on two streams could each
 * hold some and wait for the rest forever, so only one target in a process uses it at a time
 * (target_cuda.cu). Ordinary kernels on other streams finish on their own and cannot deadlock it. */
#include "cuda_attention.cuh"
#include "cuda_gemv_mma.cuh"
#include "cuda_kernels.h"
#include "cuda_target.h"

#define PF_WARPS 16
#define PF_THREADS (PF_WARPS * 32)
#define FULL_MASK 0xffffffffu

/* One barrier of the whole grid. epoch: the arrivals every block must have seen, which grows by
 * the grid size per barrier; the count is reset when the forward ends (forward_finish). */
__device__ __forceinline__ void grid_sync(unsigned *arrivals, unsigned &epoch) {
    epoch += gridDim.x;
    __syncthreads();
    if (threadIdx.x == 0) {
        __threadfence(); /* this block's writes, ordered by the __syncthreads above, before the arrival */
        atomicAdd(arrivals, 1u);
        unsigned seen;
        do asm volatile("ld.acquire.gpu.global.u32 %0, [%1];" : "=r"(seen) : "l"(arrivals) : "memory");
        while (seen < epoch);
    }
    __syncthreads();
}

/* The last block to end knows every block has left every barrier, and resets the counts for the
 * next launch. */
__device__ __forceinline__ void forward_finish(unsigned *counts) {
    __syncthreads();
    if (threadIdx.x == 0 && atomicAdd(counts + 1, 1u) == gridDim.x - 1) {
        counts[0] = 0;
        counts[1] = 0;
    }
}

__device__ __forceinline__ void cp_async16(float *dst, const float *src, int src_bytes) {
    const unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"(d), "l"(src), "r"(src_bytes) : "memory");
}

__device__ __forceinline__ void cp_async_wait_all(void) { asm volatile("cp.async.wait_all;" ::: "memory"); }

__device__ __forceinline__ GemvArgs stage_args(const PersistentArgs &p, int kind, int l) {
    const CudaLayer *L = p.layers + l;
    GemvArgs g;
    g.wdt = DTYPE_BF16;
    g.eps = p.eps;
    g.n = p.n;
    g.in = p.dim;
    switch (kind) {
    case STAGE_QKV:
        g.W = L->wqkv, g.a = p.x, g.norm = L->attn_norm, g.y = p.qkv, g.out = p.att_args.qkv_dim;
        g.epilogue = GEMV_STORE;
        break;
    case STAGE_O:
        g.W = L->wo, g.a = p.att, g.norm = NULL, g.y = p.x, g.in = p.qd, g.out = p.dim, g.epilogue = GEMV_RESIDUAL;
        break;
    case STAGE_GATE_UP:
        g.W = L->w_gate_up, g.a = p.x, g.norm = L->ffn_norm, g.y = p.hb, g.out = 2 * p.hidden, g.epilogue = GEMV_SWIGLU;
        break;
    case STAGE_DOWN:
        g.W = L->w_down, g.a = p.hb, g.norm = NULL, g.y = p.x, g.in = p.hidden, g.out = p.dim, g.epilogue = GEMV_RESIDUAL;
        break;
    default: /* STAGE_CLASSIFIER */
        g.W = p.lm_head, g.a = p.x + (size_t)(p.n - p.n_logits) * p.dim, g.norm = p.final_norm, g.y = p.logits;
        g.n = p.n_logits, g.out = p.vocab, g.epilogue = GEMV_STORE;
    }
    return g;
}

/* Shared memory of the projection stages: each warp's accumulators and sums of squares, and each
 * team's RMSNorm scales. */
typedef struct {
    float *part;    /* (PF_WARPS, MMA_PART_MAX, 32) */
    float *ss_part; /* (PF_WARPS, 16) */
    float *inv_rms; /* (PF_WARPS, 16): at most one team per warp */
} StageSmem;

/* This warp's team for a projection stage, and the team's first group and stride; false: the warp
 * has no work in it (a block of 16 warps holds 16 / warps teams; a remainder idles). */
__device__ __forceinline__ bool stage_team(const PersistentArgs &p, const GemvArgs &g, int kind, const StageSmem &sm,
                                           MmaTeam &tm, int &grp, int &stride) {
    const int w = p.warps[kind], warp = threadIdx.x >> 5, teams = PF_WARPS / w, team = warp / w;
    const int tiles = mma_tiles(&g), groups = p.paired[kind] ? (tiles + 1) / 2 : tiles;
    if (team >= teams || (p.skip & p.skip_bit[kind])) return false;
    tm.warp = warp % w;
    tm.warps = w;
    tm.bar = 1 + team;
    tm.part = sm.part + (size_t)team * w * MMA_PART_MAX * 32;
    tm.ss_part = sm.ss_part + team * w * 16;
    tm.inv_rms = sm.inv_rms + team * 16;
    /* team-major, so that a stage of fewer groups than teams spreads over all multiprocessors */
    grp = team * gridDim.x + blockIdx.x;
    stride = teams * gridDim.x;
    return grp < groups;
}

/* Requests this warp's first weights of stage kind (layer l): only weights, so it may run before
 * the barrier that makes the stage's inputs ready. */
__device__ __forceinline__ void stage_prefetch(const PersistentArgs &p, int kind, int l, const StageSmem &sm, MmaStream &st) {
    const GemvArgs g = stage_args(p, kind, l);
    MmaTeam tm;
    int grp, stride;
    mma_stream_clear(st);
    if (!stage_team(p, g, kind, sm, tm, grp, stride)) return;
    if (p.paired[kind]) mma_start<2, 1>(g, grp, tm, st);
    else mma_start<1, 2>(g, grp, tm, st);
}

template <int NT>
__device__ __forceinline__ void stage_run(const PersistentArgs &p, int kind, int l, const StageSmem &sm, MmaStream &st) {
    const GemvArgs g = stage_args(p, kind, l);
    MmaTeam tm;
    int grp, stride;
    if (!stage_team(p, g, kind, sm, tm, grp, stride)) return;
    if (p.paired[kind]) mma_run<NT, 2, 1, true, true>(g, grp, stride, tm, st);
    else mma_run<NT, 1, 2, true, true>(g, grp, stride, tm, st);
}

/* One (query, split) of layer l's attention, by one warp: the split's tiles the query sees, as the
 * attention kernel's warps take them (lane = position for the scores, lane = dim for the output),
 * then its partials; the split that finishes last merges the query's. The keys are read into
 * registers, the values copied into the warp's shared memory vs meanwhile. The last query (it sees
 * every new position) writes the new rows' keys and values to the cache; nothing reads a new
 * position from the cache in this forward. */
template <int HS>
__device__ __forceinline__ void attention_item(const PersistentArgs &p, int l, int item, int pos, int n_tiles, int n_parts,
                                               float *vs, float *qw) {
    constexpr int hd = 32 * HS, K4 = hd / 4;
    const AttentionArgs &a = p.att_args;
    const int lane = threadIdx.x & 31, kvd = a.n_kv_heads * hd, qd = a.n_heads * hd, group = a.n_heads / a.n_kv_heads;
    const int nq = group * a.n, L = pos + a.n;
    const int s = item % n_parts, qi = item / n_parts % nq, kvh = item / (n_parts * nq);
    const int r = qi / group, h = kvh * group + qi % group, last = pos + r, writer = qi == nq - 1;
    float *kc = a.kc + (size_t)l * p.cache_stride, *vc = a.vc + (size_t)l * p.cache_stride;
    const float *new_kv = a.qkv + qd; /* k | v of the new rows, a row every qkv_dim floats */
    const float scale = 1.0f / sqrtf((float)hd);

    __syncwarp(); /* the warp's previous item is done with qw */
#pragma unroll
    for (int c = 0; c < HS; c++)
        qw[lane + 32 * c] = rope_elem<true>(a.qkv + (size_t)r * a.qkv_dim + h * hd, lane + 32 * c, pos + r, hd,
                                            a.rope_interleaved, a.rope_cos, a.rope_sin);
    __syncwarp();
    float m = -CUDART_INF_F, lsum = 0.0f, acc[HS];
#pragma unroll
    for (int c = 0; c < HS; c++) acc[c] = 0.0f;
    for (int t = s; t < n_tiles && t * ATT_TILE <= last; t += p.splits) {
        const int t0 = t * ATT_TILE, tp = t0 + lane, end = min(L, t0 + ATT_TILE);
        /* the tile's values, 16 bytes a copy; zeros past the end */
#pragma unroll
        for (int e = lane; e < ATT_TILE * K4; e += 32) {
            const int row = e / K4, seg = e % K4, vp = t0 + row;
            const float *src = vp < pos ? vc + (size_t)vp * kvd + kvh * hd + 4 * seg
                             : vp < end ? new_kv + (size_t)(vp - pos) * a.qkv_dim + kvd + kvh * hd + 4 * seg
                                        : vc; /* not read */
            cp_async16(vs + row * hd + 4 * seg, src, vp < end ? 16 : 0);
        }
        asm volatile("cp.async.commit_group;" ::: "memory");
        float4 k4[K4];
        if (tp < pos) {
            const float4 *src = (const float4 *)(kc + (size_t)tp * kvd + kvh * hd);
#pragma unroll
            for (int j = 0; j < K4; j++) k4[j] = __ldcg(src + j);
        } else if (tp < end) {
            const float *row = new_kv + (size_t)(tp - pos) * a.qkv_dim + kvh * hd;
#pragma unroll
            for (int j = 0; j < K4; j++) {
                float e[4];
#pragma unroll
                for (int u = 0; u < 4; u++) e[u] = rope_elem<true>(row, 4 * j + u, tp, hd, a.rope_interleaved, a.rope_cos, a.rope_sin);
                k4[j] = make_float4(e[0], e[1], e[2], e[3]);
            }
            if (writer) {
#pragma unroll
                for (int j = 0; j < K4; j++) ((float4 *)(kc + (size_t)tp * kvd + kvh * hd))[j] = k4[j];
            }
        } else {
#pragma unroll
            for (int j = 0; j < K4; j++) k4[j] = make_float4(0, 0, 0, 0);
        }
        float da = 0.0f;
        const float4 *q4 = (const float4 *)qw;
#pragma unroll
        for (int j = 0; j < K4; j++) da = dot4_acc(da, q4[j], k4[j]);
        const float sc = tp < end && tp <= last ? da * scale : -CUDART_INF_F;
        const float pr = softmax_step<HS>(sc, m, lsum, acc);
        cp_async_wait_all();
        __syncwarp();
        if (writer && tp >= pos && tp < end) {
#pragma unroll
            for (int j = 0; j < K4; j++) ((float4 *)(vc + (size_t)tp * kvd + kvh * hd))[j] = ((const float4 *)(vs + lane * hd))[j];
        }
#pragma unroll 8
        for (int j = 0; j < ATT_TILE; j++) {
            const float pj = __shfl_sync(FULL_MASK, pr, j);
#pragma unroll
            for (int c = 0; c < HS; c++) acc[c] += pj * vs[j * hd + lane + 32 * c];
        }
        __syncwarp(); /* before the next tile's copies overwrite vs */
    }

    const int query = kvh * nq + qi;
    const size_t stride = hd + 2;
    float *pq = p.att_part + (size_t)query * p.splits * stride, *pp = pq + (size_t)s * stride;
    if (lane == 0) {
        pp[0] = m;
        pp[1] = lsum;
    }
#pragma unroll
    for (int c = 0; c < HS; c++) pp[2 + lane + 32 * c] = acc[c];
    __threadfence();
    __syncwarp();
    int merges = 0;
    if (lane == 0) merges = atomicAdd(p.att_count + query, 1) == n_parts - 1;
    if (!__shfl_sync(FULL_MASK, merges, 0)) return;
    __threadfence(); /* the other splits' partials, released by their fences before their counts */
#pragma unroll
    for (int c = 0; c < HS; c++) {
        const int d = lane + 32 * c;
        p.att[(size_t)r * qd + h * hd + d] = merge_splits<true>(pq, stride, n_parts, d);
    }
    if (lane == 0) p.att_count[query] = 0;
}

/* NT n-tiles of 8 rows (as the projection kernel), HS = head_dim / 32. Dynamic shared memory:
 * PF_SMEM_FLOATS(hd), each warp's tile of values (ATT_TILE, hd) and its query (hd). */
#define PF_SMEM_FLOATS(hd) ((size_t)PF_WARPS * (ATT_TILE + 1) * (hd))
template <int NT, int HS>
__global__ void __launch_bounds__(PF_THREADS, 1) forward_persistent_kernel(PersistentArgs p) {
    __shared__ float part[PF_WARPS * MMA_PART_MAX * 32];
    __shared__ float ss_part[PF_WARPS * 16];
    __shared__ float inv_rms[PF_WARPS * 16];
    extern __shared__ float4 pf_smem[];
    const StageSmem sm = {part, ss_part, inv_rms};
    const int warp = threadIdx.x >> 5, hd = 32 * HS;
    float *vs = (float *)pf_smem + (size_t)warp * (ATT_TILE + 1) * hd, *qw = vs + ATT_TILE * hd;
    unsigned epoch = 0;
    MmaStream st;

    stage_prefetch(p, STAGE_QKV, 0, sm, st);
    pdl_wait(); /* the tokens and the position come from earlier kernels */
    const int pos = *p.att_args.pos, L = pos + p.n, n_tiles = (L + ATT_TILE - 1) / ATT_TILE;
    const int n_parts = min(p.splits, n_tiles);
    const int items = p.att_args.n_heads * p.n * n_parts; /* (kv head, query, split) */
    const int gw = warp * gridDim.x + blockIdx.x, n_gw = PF_WARPS * gridDim.x;
    for (int i = blockIdx.x * PF_THREADS + threadIdx.x; i < p.n * p.dim; i += gridDim.x * PF_THREADS)
        p.x[i] = load_elem(p.embed, (size_t)p.tokens[i / p.dim] * p.dim + i % p.dim, p.edt);
    grid_sync(p.barrier, epoch);
    pdl_trigger(); /* every block has started, so a dependent launch cannot take a missing one's place */

    for (int l = 0; l < p.n_layers; l++) {
        stage_run<NT>(p, STAGE_QKV, l, sm, st);
        grid_sync(p.barrier, epoch);
        if (!(p.skip & SKIP_ATTENTION))
            for (int item = gw; item < items; item += n_gw) attention_item<HS>(p, l, item, pos, n_tiles, n_parts, vs, qw);
        stage_prefetch(p, STAGE_O, l, sm, st);
        grid_sync(p.barrier, epoch);
        stage_run<NT>(p, STAGE_O, l, sm, st);
        stage_prefetch(p, STAGE_GATE_UP, l, sm, st);
        grid_sync(p.barrier, epoch);
        stage_run<NT>(p, STAGE_GATE_UP, l, sm, st);
        stage_prefetch(p, STAGE_DOWN, l, sm, st);
        grid_sync(p.barrier, epoch);
        stage_run<NT>(p, STAGE_DOWN, l, sm, st);
        if (l + 1 < p.n_layers) stage_prefetch(p, STAGE_QKV, l + 1, sm, st);
        else if (p.n_logits) stage_prefetch(p, STAGE_CLASSIFIER, 0, sm, st);
        grid_sync(p.barrier, epoch);
    }
    if (p.n_logits) stage_run<NT>(p, STAGE_CLASSIFIER, 0, sm, st);
    forward_finish(p.barrier);
}

/* fatal() unless the kernel's instance for head_dim fits one block per multiprocessor. */
template <int HS>
static int persistent_setup(void) {
    int fits[2];
    const size_t smem = PF_SMEM_FLOATS(32 * HS) * sizeof(float);
    cudaCheck(cudaFuncSetAttribute(forward_persistent_kernel<1, HS>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    cudaCheck(cudaFuncSetAttribute(forward_persistent_kernel<2, HS>, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
    cudaCheck(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fits[0], forward_persistent_kernel<1, HS>, PF_THREADS, smem));
    cudaCheck(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&fits[1], forward_persistent_kernel<2, HS>, PF_THREADS, smem));
    return fits[0] >= 1 && fits[1] >= 1;
}

int persistent_forward_supported(const CudaTarget *ct, const char **why) {
    const ModelConfig *c = &ct->cfg;
    const int ins[3] = {c->dim, c->n_heads * c->head_dim, c->hidden_dim};
    if (!ct->fused_rows) *why = "the forward does not use the fused projections";
    else if (!gemv_mma_enabled(ct->wdt, ins, 3)) *why = "the projections are not bf16 with inputs a multiple of 64";
    else if (c->head_dim != 32 && c->head_dim != 64) *why = "head_dim is not 32 or 64";
    else if (!(c->head_dim == 32 ? persistent_setup<1>() : persistent_setup<2>())) *why = "one block does not fit a multiprocessor";
    else return 1;
    return 0;
}

void persistent_forward_plan(CudaTarget *ct) {
    const ModelConfig *c = &ct->cfg;
    PersistentArgs *p = &ct->persistent;
    const int shapes[STAGE_KINDS][3] = {/* in, out, epilogue */
                                        {c->dim, ct->qkv_dim, GEMV_STORE},
                                        {c->n_heads * c->head_dim, c->dim, GEMV_RESIDUAL},
                                        {c->dim, 2 * c->hidden_dim, GEMV_SWIGLU},
                                        {c->hidden_dim, c->dim, GEMV_RESIDUAL},
                                        {c->dim, c->vocab_size, GEMV_STORE}};
    const int skip_bits[STAGE_KINDS] = {SKIP_QKV, SKIP_O, SKIP_GATE_UP, SKIP_DOWN, SKIP_CLASSIFIER};
    for (int k = 0; k < STAGE_KINDS; k++) {
        GemvArgs g = {};
        g.wdt = ct->wdt;
        g.n = 1;
        g.in = shapes[k][0];
        g.out = shapes[k][1];
        g.epilogue = (GemvEpilogue)shapes[k][2];
        p->warps[k] = gemv_mma_plan(&g, &p->paired[k], NULL);
        p->skip_bit[k] = skip_bits[k];
    }
    int dev;
    cudaCheck(cudaGetDevice(&dev));
    cudaCheck(cudaDeviceGetAttribute(&ct->persistent_blocks, cudaDevAttrMultiProcessorCount, dev));
    p->layers = ct->d_layers;
    p->n_layers = c->n_layers;
    p->dim = c->dim;
    p->hidden = c->hidden_dim;
    p->vocab = c->vocab_size;
    p->qd = c->n_heads * c->head_dim;
    p->eps = c->norm_eps;
    p->tokens = ct->tokens;
    p->embed = ct->tok_embed;
    p->edt = ct->edt;
    p->x = ct->x;
    p->qkv = ct->qkv;
    p->att = (float *)ct->att;
    p->hb = (float *)ct->hb;
    p->logits = ct->logits;
    p->lm_head = ct->lm_head;
    p->final_norm = ct->final_norm;
    p->cache_stride = (size_t)c->seq_len * c->n_kv_heads * c->head_dim;
    p->splits = attention_splits(c->head_dim, c->n_kv_heads);
    p->att_part = ct->att_part;
    p->att_count = ct->att_count;
    p->barrier = ct->barrier;
    p->skip = ct->skip_launches;
}

void launch_forward_persistent(CudaTarget *ct, const AttentionArgs *att, int n, int n_logits) {
    PersistentArgs p = ct->persistent;
    p.att_args = *att;
    p.n = n;
    p.n_logits = n_logits;
    const dim3 grid(ct->persistent_blocks), block(PF_THREADS);
    const size_t smem = PF_SMEM_FLOATS(ct->cfg.head_dim) * sizeof(float);
    if (ct->cfg.head_dim == 32) {
        if (n <= 8) launch_pdl(forward_persistent_kernel<1, 1>, grid, block, smem, ct->stream, p);
        else launch_pdl(forward_persistent_kernel<2, 1>, grid, block, smem, ct->stream, p);
    } else {
        if (n <= 8) launch_pdl(forward_persistent_kernel<1, 2>, grid, block, smem, ct->stream, p);
        else launch_pdl(forward_persistent_kernel<2, 2>, grid, block, smem, ct->stream, p);
    }
}
