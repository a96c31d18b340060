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
} GemvArgs;

/* Whether the fused kernel takes rows of `in` elements of dtype dt (16-byte aligned rows). */
int gemv_supported(DType dt, int in);
/* Once per process before the first launch: lets the kernels stage inputs in shared memory. */
void gemv_init(void);
void launch_gemv(const GemvArgs *g, cudaStream_t s);

/* x (n, dim) fp32 = embed[tokens[r]]. */
void launch_embed(float *x, const int *tokens, const void *embed, DType edt, int n, int dim, cudaStream_t s);

#endif
