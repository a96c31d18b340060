/* The target interface: a language model that scores tokens with a KV cache.
 * One interface, several backends (target_cpu.c; target_cuda.cu when built with CUDA). */
#ifndef SPECDEC_TARGET_H
#define SPECDEC_TARGET_H

#include "model.h"

typedef struct Target Target;
struct Target {
    const ModelConfig *cfg;
    const char *backend;   /* "cpu" or "cuda" */
    int len;               /* positions held in the KV cache */
    /* Scores tokens[0..n) placed at positions [pos, pos + n), pos <= len, in one pass that reads
     * each weight once for all n rows, and appends their keys/values to the cache (len = pos + n).
     * Writes the logits of the last n_logits rows to logits (n_logits, vocab); n_logits may be 0. */
    void (*forward)(Target *t, const int *tokens, int n, int pos, float *logits, int n_logits);
    /* Prunes the cache to its first len positions in O(1): a length reset. */
    void (*truncate)(Target *t, int len);
    /* Copies src's cache (its first src->len positions) into t, for beam search; same model. */
    void (*copy_cache)(Target *t, const Target *src);
    void (*free)(Target *t);
    void *state;           /* backend-specific */
};

/* max_batch: the most rows one forward call takes at once (longer inputs are chunked). */
Target *target_cpu_build(const Model *m, int max_batch);
#ifdef SPECDEC_HAVE_CUDA
Target *target_cuda_build(const Model *m, int max_batch);
int cuda_device_available(void);
#endif

/* Builds the backend named "cpu" or "cuda" (fatal when unavailable). */
Target *target_build(const Model *m, const char *device, int max_batch);
/* "cuda" when built with CUDA and a GPU is present, else "cpu". */
const char *default_device(void);

static inline void target_free(Target *t) { if (t) t->free(t); }

#endif
