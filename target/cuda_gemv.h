/* Fused projections for decode and verification (n <= GEMV_ROWS_MAX rows): one kernel reads
 * each weight row once for all n rows, with the RMSNorm folded into its input and the residual
 * add or SwiGLU into its output, so a layer is 5 launches instead of 8 plus cuBLAS's own. The
 * activations stay fp32 (as on the CPU); each output is summed in the same order whatever n is,
 * so a row's result does not depend on how many rows share the launch. CUDA-only. */
#ifndef SPECDEC_CUDA_GEMV_H
#define SPECDEC_CUDA_GEMV_H

#include "cuda_common.h"

#define GEMV_ROWS_MAX 16

typedef enum {
    GEMV_STORE,   /* y[r][o] = W a_r */
    GEMV_RESIDUAL,/* y[r][o] += W a_r */
    GEMV_SWIGLU,  /* W stacks gate (hidden rows) over up: y[r][o] = silu(gate_o) * up_o, o < hidden */
} GemvEpilogue;

typedef struct {
    const void *W;        /* (out, in) stored dtype wdt */
    DType wdt;
    const float *a;       /* (n, in) input rows */
    const float *norm;    /* (in) RMSNorm weight: the input is norm * a / rms(a); NULL: a as is */
    float eps;
    float *y;             /* (n, out) or (n, out / 2) for GEMV_SWIGLU */
    int n, in, out;
    GemvEpilogue epilogue;
    int flags;            /* GEMV_* bits below; 0 for the defaults */
} GemvArgs;

/* GemvArgs.flags */
enum {
    /* Let the next kernel launch only once this one's inputs are ready (pdl_trigger() after
     * pdl_wait()), so that everything enqueued before this kernel has completed when the next one
     * starts: the attention kernel then reads the KV cache and the position before its own wait. */
    GEMV_LATE_TRIGGER = 1,
};

/* Whether the fused kernels take rows of `in` elements of dtype dt (16-byte aligned rows). */
int gemv_supported(DType dt, int in);
/* Once per process before the first launch: lets the kernels stage inputs in shared memory, and
 * reads SPECDEC_CUDA_GEMV (mma: the tensor-core kernel where it applies, the default; simt: the
 * CUDA-core kernel always, for comparison), SPECDEC_CUDA_GEMV_PERSISTENT (1, the default, or
 * 0: see gemv_mma_tune()), SPECDEC_CUDA_GEMV_WARPS (the warps argument of gemv_mma_tune(), for
 * timing), SPECDEC_CUDA_GEMV_PAIR (see gemv_mma_pair_tiles()) and SPECDEC_CUDA_GEMV_INTERLEAVE
 * (see gemv_mma_interleave()). */
void gemv_init(void);
/* The tensor-core kernel (cuda_gemv_mma.cu) where gemv_mma_supported(), else the CUDA-core one. */
void launch_gemv(const GemvArgs *g, cudaStream_t s);

/* The CUDA-core kernel, any dtype (cuda_gemv.cu). */
void launch_gemv_simt(const GemvArgs *g, cudaStream_t s);
/* The tensor-core kernel: bf16 weights with `in` a multiple of 64. */
int gemv_mma_supported(const GemvArgs *g);
void launch_gemv_mma(const GemvArgs *g, cudaStream_t s);
/* For kernel_bench and gemv_init(): warps = 0 chooses the warps per block by occupancy (the
 * default), else at most that many; each warp takes at least min_chunks chunks of 64 inputs
 * (default 1); persistent (default 1): a launch with more tiles than the device holds blocks at once
 * runs only that many blocks, each looping over tiles (or pairs of tiles); 0: one block per tile
 * (or pair). */
void gemv_mma_tune(int warps, int min_chunks, int persistent);
/* Matrices of at least `tiles` tiles of 16 rows (default 1,024) take two tiles per block at every
 * row count; 0: none. */
void gemv_mma_pair_tiles(int tiles);
/* 1 (the default): the warps of paired matrices take interleaved chunks (see gemv_mma_kernel's IL);
 * 0: contiguous ranges, as the other matrices. */
void gemv_mma_interleave(int on);
/* Whether launch_gemv() uses the tensor-core kernel for bf16 weights of these input sizes. */
int gemv_mma_enabled(DType dt, const int *ins, int n_ins);

/* x (n, dim) fp32 = embed[tokens[r]]. */
void launch_embed(float *x, const int *tokens, const void *embed, DType edt, int n, int dim, cudaStream_t s);

#endif
