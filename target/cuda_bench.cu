/* The GPU measurements behind `specdec bench`: copy bandwidth and forward latency, both timed
 * with CUDA events after a warm-up, each the median of five batches. */
#include <stdlib.h>

#include "cuda_bench.h"
#include "cuda_target.h"

#define BENCH_BATCHES 5

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

void cuda_device_info(char *name, size_t name_size, int *sms) {
    int dev;
    cudaDeviceProp p;
    cudaCheck(cudaGetDevice(&dev));
    cudaCheck(cudaGetDeviceProperties(&p, dev));
    snprintf(name, name_size, "%s", p.name);
    *sms = p.multiProcessorCount;
}

double cuda_copy_bandwidth(size_t bytes, int iters) {
    void *a, *b;
    cudaStream_t s;
    cudaEvent_t e0, e1;
    cudaCheck(cudaMalloc(&a, bytes));
    cudaCheck(cudaMalloc(&b, bytes));
    cudaCheck(cudaMemset(a, 1, bytes));
    cudaCheck(cudaStreamCreate(&s));
    cudaCheck(cudaEventCreate(&e0));
    cudaCheck(cudaEventCreate(&e1));
    cudaCheck(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice, s)); /* warm-up */
    double t[BENCH_BATCHES];
    for (int r = 0; r < BENCH_BATCHES; r++) {
        cudaCheck(cudaEventRecord(e0, s));
        for (int i = 0; i < iters; i++)
            cudaCheck(cudaMemcpyAsync(i % 2 ? a : b, i % 2 ? b : a, bytes, cudaMemcpyDeviceToDevice, s));
        cudaCheck(cudaEventRecord(e1, s));
        cudaCheck(cudaEventSynchronize(e1));
        float ms;
        cudaCheck(cudaEventElapsedTime(&ms, e0, e1));
        t[r] = 1e-3 * ms / iters;
    }
    cudaCheck(cudaEventDestroy(e0));
    cudaCheck(cudaEventDestroy(e1));
    cudaCheck(cudaStreamDestroy(s));
    cudaCheck(cudaFree(a));
    cudaCheck(cudaFree(b));
    return 2.0 * (double)bytes / median(t, BENCH_BATCHES) / 1e9;
}

int cuda_fused_rows(const Target *t) { return ((const CudaTarget *)t->state)->fused_rows; }
int cuda_skipped_launches(const Target *t) { return ((const CudaTarget *)t->state)->skip_launches; }

double cuda_forward_seconds(Target *t, int n, int iters) {
    CudaTarget *ct = cuda_target_of(t);
    CHECK(n >= 1 && n <= ct->max_batch && t->len + n <= ct->cfg.seq_len, "bench forward of %d rows at %d", n, t->len);
    ct->h_io[0] = t->len;
    for (int i = 0; i < n; i++) ct->h_io[1 + i] = (i * 7919 + 1) % ct->cfg.vocab_size; /* any valid ids */
    cudaCheck(cudaMemcpyAsync(ct->pos, ct->h_io, sizeof(int) * (size_t)(n + 1), cudaMemcpyHostToDevice, ct->stream));
    cudaEvent_t e0, e1;
    cudaCheck(cudaEventCreate(&e0));
    cudaCheck(cudaEventCreate(&e1));
    for (int i = 0; i < 3; i++) cuda_forward_enqueue(ct, n, n, 1); /* capture and warm up */
    double tm[BENCH_BATCHES];
    for (int r = 0; r < BENCH_BATCHES; r++) {
        cudaCheck(cudaEventRecord(e0, ct->stream));
        for (int i = 0; i < iters; i++) cuda_forward_enqueue(ct, n, n, 1);
        cudaCheck(cudaEventRecord(e1, ct->stream));
        cudaCheck(cudaEventSynchronize(e1));
        float ms;
        cudaCheck(cudaEventElapsedTime(&ms, e0, e1));
        tm[r] = 1e-3 * ms / iters;
    }
    cudaCheck(cudaEventDestroy(e0));
    cudaCheck(cudaEventDestroy(e1));
    return median(tm, BENCH_BATCHES);
}
