/* Measurements for `specdec bench` on the GPU (C linkage; built with CUDA only). */
#ifndef SPECDEC_CUDA_BENCH_H
#define SPECDEC_CUDA_BENCH_H

#include <stddef.h>

#include "target.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The current device's name and multiprocessor count. */
void cuda_device_info(char *name, size_t name_size, int *sms);
/* Device-to-device copy bandwidth in GB/s, counting bytes read plus bytes written, of a `bytes`
 * buffer copied `iters` times (median of five timed batches). */
double cuda_copy_bandwidth(size_t bytes, int iters);
/* Forwards of at most this many rows use the fused projections (cuda_target.h), more use cuBLAS. */
int cuda_fused_rows(const Target *t);
/* The SKIP_* launches its fused forwards leave out (SPECDEC_CUDA_SKIP; cuda_target.h); 0: none. */
int cuda_skipped_launches(const Target *t);
/* Seconds per forward of n rows at position t->len (the cache must hold t->len positions), the
 * logits staying on the device: replays of the forward graph timed with events, median of five
 * batches of `iters`. The cache past t->len is overwritten; t->len is unchanged. */
double cuda_forward_seconds(Target *t, int n, int iters);
#ifdef __cplusplus
}
#endif

#endif
