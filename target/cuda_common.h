/* Shared by every .cu file: error checks that stop with file:line (llm.c's cudaCheck), dtype
 * loads, and the block-wide reductions the kernels build on. CUDA-only; never included from C. */
#ifndef SPECDEC_CUDA_COMMON_H
#define SPECDEC_CUDA_COMMON_H

#include <cublas_v2.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <math_constants.h>

extern "C" {
#include "check.h"
#include "model.h"
}

#define cudaCheck(call)                                                                         \
    do {                                                                                        \
        cudaError_t err_ = (call);                                                              \
        if (err_ != cudaSuccess) {                                                              \
            fprintf(stderr, "specdec: CUDA error at %s:%d: %s\n", __FILE__, __LINE__,          \
                    cudaGetErrorString(err_));                                                  \
            exit(3);                                                                            \
        }                                                                                       \
    } while (0)

#define cublasCheck(call)                                                                       \
    do {                                                                                        \
        cublasStatus_t st_ = (call);                                                            \
        if (st_ != CUBLAS_STATUS_SUCCESS) {                                                     \
            fprintf(stderr, "specdec: cuBLAS error at %s:%d: %s\n", __FILE__, __LINE__,        \
                    cublasGetStatusString(st_));                                                \
            exit(3);                                                                            \
        }                                                                                       \
    } while (0)

/* After a launch: a bad configuration shows up here, not at the next synchronisation. */
#define cudaCheckLaunch() cudaCheck(cudaGetLastError())

/* Programmatic dependent launch (Hopper): a kernel launched with launch_pdl() may start while
 * its predecessor in the stream is finishing. It must call pdl_wait() before touching anything
 * an earlier kernel writes (what comes before may only read constants such as weights), and calls
 * pdl_trigger() to let its own successor start early. A CTA's first trigger is the one that counts,
 * so a kernel that triggers only after its wait (GEMV_LATE_TRIGGER) lets its successor read, before
 * its own wait, whatever the kernels before that one wrote. Both are no-ops without PDL. */
__device__ __forceinline__ void pdl_wait(void) { asm volatile("griddepcontrol.wait;" ::: "memory"); }
__device__ __forceinline__ void pdl_trigger(void) { asm volatile("griddepcontrol.launch_dependents;" ::: "memory"); }

/* 1 (the default): launch_pdl*() launch with programmatic stream serialization; 0
 * (SPECDEC_CUDA_PDL=0, for timing): each kernel waits for its predecessor to finish. Defined in
 * cuda_kernels.cu. */
extern int cuda_pdl;

/* cluster_x >= 1: the grid's x dimension runs in clusters of that many blocks (1 included, for
 * kernels that use cluster barriers whatever their split count); 0: no cluster. */
template <typename... Params, typename... Args>
static void launch_pdl_cluster(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t s,
                               int cluster_x, Args... args) {
    cudaLaunchConfig_t cfg = {};
    cfg.gridDim = grid;
    cfg.blockDim = block;
    cfg.dynamicSmemBytes = smem;
    cfg.stream = s;
    cudaLaunchAttribute attr[2];
    attr[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
    attr[0].val.programmaticStreamSerializationAllowed = cuda_pdl;
    attr[1].id = cudaLaunchAttributeClusterDimension;
    attr[1].val.clusterDim.x = cluster_x;
    attr[1].val.clusterDim.y = attr[1].val.clusterDim.z = 1;
    cfg.attrs = attr;
    cfg.numAttrs = cluster_x > 0 ? 2 : 1;
    cudaCheck(cudaLaunchKernelEx(&cfg, kernel, args...));
}

template <typename... Params, typename... Args>
static void launch_pdl(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t s, Args... args) {
    launch_pdl_cluster(kernel, grid, block, smem, s, 0, args...);
}

/* Element loads and stores by stored dtype. */
__device__ __forceinline__ float load_elem(const void *p, size_t i, DType dt) {
    if (dt == DTYPE_BF16) return __bfloat162float(((const __nv_bfloat16 *)p)[i]);
    if (dt == DTYPE_F16) return __half2float(((const __half *)p)[i]);
    return ((const float *)p)[i];
}

__device__ __forceinline__ void store_elem(void *p, size_t i, DType dt, float v) {
    if (dt == DTYPE_BF16) ((__nv_bfloat16 *)p)[i] = __float2bfloat16(v);
    else if (dt == DTYPE_F16) ((__half *)p)[i] = __float2half(v);
    else ((float *)p)[i] = v;
}

static inline cudaDataType cuda_dtype(DType dt) {
    return dt == DTYPE_BF16 ? CUDA_R_16BF : dt == DTYPE_F16 ? CUDA_R_16F : CUDA_R_32F;
}

__device__ __forceinline__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    return v;
}

__device__ __forceinline__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

/* Block-wide sum / max for blockDim.x a multiple of 32 (<= 1024); every thread gets the result.
 * `tmp` is 32 floats of shared memory; the trailing barrier lets the caller reuse it at once. */
__device__ __forceinline__ float block_sum(float v, float *tmp) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_sum(v);
    if (lane == 0) tmp[warp] = v;
    __syncthreads();
    v = lane < nw ? tmp[lane] : 0.0f;
    v = warp_sum(v);
    __syncthreads();
    return v;
}

__device__ __forceinline__ float block_max(float v, float *tmp) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    v = warp_max(v);
    if (lane == 0) tmp[warp] = v;
    __syncthreads();
    v = lane < nw ? tmp[lane] : -CUDART_INF_F;
    v = warp_max(v);
    __syncthreads();
    return v;
}

/* Block-wide argmax: the largest value, first index on ties (argmax_f32's rule). */
__device__ __forceinline__ int block_argmax(float v, int idx, float *tmpv, int *tmpi) {
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, nw = blockDim.x >> 5;
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, v, o);
        int oi = __shfl_xor_sync(0xffffffffu, idx, o);
        if (ov > v || (ov == v && oi < idx)) { v = ov; idx = oi; }
    }
    if (lane == 0) { tmpv[warp] = v; tmpi[warp] = idx; }
    __syncthreads();
    v = lane < nw ? tmpv[lane] : -CUDART_INF_F;
    idx = lane < nw ? tmpi[lane] : 0x7fffffff;
    for (int o = 16; o > 0; o >>= 1) {
        float ov = __shfl_xor_sync(0xffffffffu, v, o);
        int oi = __shfl_xor_sync(0xffffffffu, idx, o);
        if (ov > v || (ov == v && oi < idx)) { v = ov; idx = oi; }
    }
    __syncthreads();
    return idx;
}

#endif
