/* The CUDA target's state and the device-level entry points the GPU decoding loops use
 * (samplers/spec_cuda.cu). The Target vtable (target.h) wraps these for host callers; the loops
 * call them directly so that tokens, positions and logits stay on the device.
 *
 * Projections: for models of up to 256 MB of weights, forwards of up to GEMV_ROWS_MAX rows (decode,
 * verification) use the fused projections of cuda_gemv.cu, fp32 activations times the stored weights; longer ones (prefill) use
 * cuBLAS GEMMs (fp32 accumulation) whose inputs are the activations rounded to the weights' dtype.
 * Larger models use cuBLAS for every forward (target_cuda_build says why).
 * SPECDEC_CUDA_FUSED_ROWS=N in the environment moves the threshold from GEMV_ROWS_MAX down to N
 * (0: cuBLAS for every forward), for comparisons. The two paths round differently, so greedy
 * speculative decoding reproduces the autoregressive text exactly only while the verification
 * (gamma + 1 rows) takes the same path as the 1-row steps: gamma < the threshold.
 * Weights stay as stored; the residual stream, RMSNorm, RoPE, attention, the KV cache and the
 * logits are fp32. */
#ifndef SPECDEC_CUDA_TARGET_H
#define SPECDEC_CUDA_TARGET_H

#include "cuda_common.h"
extern "C" {
#include "target.h"
}

#define CUDA_HEAD_DIM_MAX 128  /* attention keeps two queries per warp in registers up to this */
#define CUDA_GRAPH_ROWS_MAX 65 /* forward graphs are captured for 1..this many rows (gamma <= 64) */

/* SPECDEC_CUDA_SKIP=mask (timing only: the outputs are wrong): a fused forward (decode and
 * verification) leaves out these launches, so that `specdec bench` shows each one's share of a
 * forward in graphs, overlap included, which timing the kernels alone cannot. */
enum { SKIP_QKV = 1, SKIP_ATTENTION = 2, SKIP_O = 4, SKIP_GATE_UP = 8, SKIP_DOWN = 16, SKIP_CLASSIFIER = 32, SKIP_ALL = 63 };

typedef struct {
    const float *attn_norm; /* (dim) */
    const void *wqkv;       /* (n_heads * head_dim + 2 * kv_dim, dim): q, k, v rows stacked */
    const void *wo;         /* (dim, n_heads * head_dim) */
    const float *ffn_norm;  /* (dim) */
    const void *w_gate_up;  /* (2 * hidden_dim, dim): gate rows, then up rows */
    const void *w_down;     /* (dim, hidden_dim) */
} CudaLayer;

typedef struct {
    ModelConfig cfg;
    unsigned long id;        /* unique per built target: what graphs captured with it are keyed by */
    int max_batch;           /* rows per forward launch; longer inputs are chunked */
    int qkv_dim;             /* n_heads * head_dim + 2 * kv_dim */
    DType wdt;               /* dtype of every projection (and the GEMM input activations) */
    DType edt;               /* dtype of the token embedding */
    size_t weight_bytes;     /* bytes of every stored tensor on the device, for the bench */
    /* weights: one allocation */
    void *weights_mem;
    const void *tok_embed;   /* (vocab, dim) edt */
    CudaLayer *layers;       /* (n_layers) host array of device pointers */
    const float *final_norm; /* (dim) */
    const void *lm_head;     /* (vocab, dim) wdt; tok_embed when tied */
    /* run state: one allocation */
    void *state_mem;
    float *x;                /* (max_batch, dim) residual stream */
    void *xn;                /* (max_batch, dim) wdt: normed GEMM input (cuBLAS) */
    float *qkv;              /* (max_batch, qkv_dim) */
    void *att;               /* (max_batch, n_heads * head_dim) attention output: fp32 (fused), wdt (cuBLAS) */
    float *gu;               /* (max_batch, 2 * hidden_dim): gate | up (cuBLAS) */
    void *hb;                /* (max_batch, hidden_dim) silu(gate) * up: fp32 (fused), wdt (cuBLAS) */
    float *logits;           /* (max_batch, vocab) */
    float *key_cache;        /* (n_layers, seq_len, kv_dim) */
    float *value_cache;      /* (n_layers, seq_len, kv_dim) */
    float *rope_cos;         /* (seq_len, head_dim / 2) */
    float *rope_sin;         /* (seq_len, head_dim / 2) */
    int *pos;                /* (1 + max_batch) device: the position of the first input row, */
    int *tokens;             /*   then the input token ids (pos + 1): one copy writes both */
    void *cublas_ws;         /* cuBLAS workspace, so graph capture never allocates */
    int fused_rows;          /* forwards of at most this many rows use the fused projections */
    int skip_launches;       /* SKIP_* bits: launches a fused forward leaves out (timing only) */
    int att_early;           /* fused forwards: attention reads the cache before its wait
                              * (AttentionArgs.early); see target_cuda_build() */
    /* host side */
    int *h_io;               /* (1 + max_batch) pinned staging for pos and tokens */
    cudaStream_t stream;     /* where forwards run: own_stream, or a decoding loop's */
    cudaStream_t own_stream;
    cublasHandle_t cublas;
    /* forward of n rows with the logits of [0]: all n rows, [1]: the last row */
    cudaGraphExec_t graphs[CUDA_GRAPH_ROWS_MAX + 1][2];
    /* the GPU decoding loop's buffers and graphs (spec_cuda.cu), freed with the target */
    void *loop;
    void (*loop_free)(void *loop);
} CudaTarget;

static inline CudaTarget *cuda_target_of(Target *t) { return (CudaTarget *)t->state; }

/* Enqueues one forward of n rows (n <= max_batch) on ct->stream, reading ct->tokens and ct->pos
 * from the device and writing the logits of the last n_logits rows to ct->logits. No host sync, no
 * allocation. With use_graph and n_logits == n or 1, replays (capturing on first use) the graph
 * for (n, n_logits); pass use_graph = 0 while an outer capture records this forward. */
void cuda_forward_enqueue(CudaTarget *ct, int n, int n_logits, int use_graph);
/* Enqueues the forward of n tokens that are on the device already (d_tokens; their host copy
 * `tokens` is only checked) at positions [pos, pos + n), without logits, in chunks of max_batch
 * rows: no host staging and no sync, so it can run beside another target's forward. The caller
 * sets the target's len. */
void cuda_prefill_enqueue(CudaTarget *ct, const int *d_tokens, const int *tokens, int n, int pos);
/* Runs the forward of n rows on another stream, e.g. the decoding loop's; cuBLAS follows. */
void cuda_target_set_stream(CudaTarget *ct, cudaStream_t s);

#endif
