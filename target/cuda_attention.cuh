/* The per-query arithmetic of attention, shared by the attention kernel (cuda_kernels.cu) and the
 * persistent forward (cuda_forward_persistent.cu) so that a query's result is bit-identical in
 * both: RoPE, the score of a key, the online-softmax step, and the merge of the splits. */
#ifndef SPECDEC_CUDA_ATTENTION_CUH
#define SPECDEC_CUDA_ATTENTION_CUH

#include "cuda_common.h"

#define ATT_TILE 32 /* positions per tile: one per lane */

/* RoPE of element d of a head vector of size hd: it pairs with element *partner, and the pair
 * takes factor i of the position's row of the tables; first: d is the pair's first element. */
__device__ __forceinline__ void rope_pair(int d, int hd, int interleaved, int *partner, int *i, int *first) {
    if (interleaved) {
        *i = d >> 1;
        *first = !(d & 1);
        *partner = *first ? d + 1 : d - 1;
    } else {
        *first = d < hd / 2;
        *i = *first ? d : d - hd / 2;
        *partner = *first ? d + hd / 2 : d - hd / 2;
    }
}

/* Exactly as target_cpu.c's rope(): the pair (a, b) becomes (x_a cos - x_b sin, x_b cos + x_a sin). */
__device__ __forceinline__ float rope_apply(float x, float x_partner, float c, float s, int first) {
    return first ? x * c - x_partner * s : x * c + x_partner * s;
}

/* Element d of head vector v after RoPE at position p. COHERENT: v was written by other blocks of
 * this kernel, so it is read from L2 (cuda_gemv_mma.cuh's load_act4 says why). */
template <bool COHERENT = false>
__device__ __forceinline__ float rope_elem(const float *v, int d, int p, int hd, int interleaved, const float *cosb,
                                           const float *sinb) {
    int partner, i, first;
    rope_pair(d, hd, interleaved, &partner, &i, &first);
    const size_t at = (size_t)p * (hd / 2) + i;
    const float x = COHERENT ? __ldcg(v + d) : v[d], xp = COHERENT ? __ldcg(v + partner) : v[partner];
    return rope_apply(x, xp, cosb[at], sinb[at], first);
}

/* da + q . k over four dims: a key's score is these, in order over its float4s. */
__device__ __forceinline__ float dot4_acc(float da, float4 x, float4 k) {
    return da + (x.x * k.x + x.y * k.y + x.z * k.z + x.w * k.w);
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

/* One query's output at dim d from the partials (m, l, acc[hd]) of its n_parts splits, stride
 * floats apart: sum_s w_s acc_s / sum_s w_s l_s, w_s = exp(m_s - max m); a split with nothing
 * visible has m = -inf and weight 0. COHERENT: the partials were written by other blocks of this
 * kernel. */
template <bool COHERENT>
__device__ __forceinline__ float merge_splits(const float *pq, size_t stride, int n_parts, int d) {
    auto ld = [](const float *p) { return COHERENT ? __ldcg(p) : *p; };
    float M = -CUDART_INF_F;
    for (int sp = 0; sp < n_parts; sp++) M = fmaxf(M, ld(pq + (size_t)sp * stride));
    float sum = 0.0f, o = 0.0f;
    for (int sp = 0; sp < n_parts; sp++) {
        const float *pp = pq + (size_t)sp * stride, m = ld(pp);
        const float w = m == -CUDART_INF_F ? 0.0f : expf(m - M);
        sum += w * ld(pp + 1);
        o += w * ld(pp + 2 + d);
    }
    return o / sum;
}

#endif
