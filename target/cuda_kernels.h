/* The transformer's own kernels, everything but the projections (cuda_gemv.cu, cuBLAS), as
 * launchers that enqueue on a stream. CUDA-only. */
#ifndef SPECDEC_CUDA_KERNELS_H
#define SPECDEC_CUDA_KERNELS_H

#include "cuda_common.h"

#define ATT_QUERIES_PER_BLOCK 16 /* one per warp */

/* x (rows, dim) fp32 -> out (rows, dim) in odt: w * x / rms(x). With tokens != NULL, first sets
 * x[r] = embed[tokens[r]] (the token embedding fused into the first norm). */
void launch_rmsnorm(float *x, void *out, DType odt, const float *w, int rows, int dim, float eps,
                    const int *tokens, const void *embed, DType edt, cudaStream_t s);

/* gu (rows, 2 * hidden): gate | up -> out (rows, hidden) in odt: silu(gate) * up. */
void launch_swiglu(const float *gu, void *out, DType odt, int rows, int hidden, cudaStream_t s);

typedef struct {
    const float *qkv;      /* (n, qkv_dim): q | k | v of the n new rows, before RoPE */
    int qkv_dim;
    float *kc, *vc;        /* (seq_len, kv_dim): this layer's cache; the new rows are appended */
    const float *rope_cos; /* (seq_len, head_dim / 2) */
    const float *rope_sin;
    void *out;             /* (n, n_heads * head_dim) in odt */
    DType odt;
    float *part;           /* split partials, see CudaTarget.att_part */
    unsigned *count;       /* (n_kv_heads, query blocks) zeros */
    const int *pos;        /* device: position of row 0 */
    int n, n_heads, n_kv_heads, head_dim, splits, max_queries, rope_interleaved;
} AttentionArgs;

/* Causal grouped-query attention of n rows at positions [pos, pos + n) over the cache and the
 * rows themselves: RoPE on q and k, the new keys/values written to the cache, the sequence split
 * across blocks (flash-decoding) and merged by the last block of each group. */
void launch_attention(const AttentionArgs *a, cudaStream_t s);

#endif
