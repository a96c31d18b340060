/* The transformer's own kernels, everything but the projections (cuda_gemv.cu, cuBLAS), as
 * launchers that enqueue on a stream. CUDA-only. */
#ifndef SPECDEC_CUDA_KERNELS_H
#define SPECDEC_CUDA_KERNELS_H

#include "cuda_common.h"

#define ATT_QUERIES_PER_BLOCK 32 /* two per warp */

/* x (rows, dim) fp32 -> out (rows, dim) in odt: w * x / rms(x). With tokens != NULL, first sets
 * x[r] = embed[tokens[r]] (the token embedding fused into the first norm). */
void launch_rmsnorm(float *x, void *out, DType odt, const float *w, int rows, int dim, float eps,
                    const int *tokens, const void *embed, DType edt, cudaStream_t s);

/* pos_tokens (1 + n): [pos, src[0], ..., src[n - 1]], a forward's input from device tokens. */
void launch_set_input(int *pos_tokens, const int *src, int n, int pos, cudaStream_t s);

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
    const int *pos;        /* device: position of row 0 */
    int n, n_heads, n_kv_heads, head_dim, rope_interleaved;
    int early;             /* 1: read pos, the cache before pos and the RoPE factors before waiting for
                            * the previous kernel, which must have been launched with
                            * GEMV_LATE_TRIGGER (so all that is final when this kernel starts) */
} AttentionArgs;

/* Causal grouped-query attention of n rows at positions [pos, pos + n) over the cache and the
 * rows themselves: RoPE on q and k, the new keys/values written to the cache, the context split
 * across a cluster of attention_splits() blocks (flash-decoding) merged through shared memory. */
void launch_attention(const AttentionArgs *a, cudaStream_t s);
/* Once per process before the first launch: the attention kernel's shared memory and cluster
 * limits on this device. */
void attention_init(void);
/* The blocks (one cluster) that split the context of one (kv head, query block). */
int attention_splits(int head_dim, int n_kv_heads);
/* For experiments (tools/kernel_bench, SPECDEC_CUDA_ATT_SPLITS): every later launch uses splits
 * (1, 2, 4, 8, or 16 where the device runs such clusters) blocks; 0 restores the device's choice.
 * Results depend on the splits, so greedy parity holds only within one setting. */
void attention_force_splits(int splits);

#endif
