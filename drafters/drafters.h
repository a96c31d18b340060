/* Builders for every drafter, and the command-line / config spec that picks one:
 *   none | model:PATH[@bf16] | ngram:N | ngram1:N | lookup:MAX[:MIN]
 * model:PATH@bf16 rounds the drafter's weight matrices to bf16 (model_round_to_bf16). */
#ifndef SPECDEC_DRAFTERS_H
#define SPECDEC_DRAFTERS_H

#include "drafter.h"
#include "model.h"
#include "sampler.h"
#include "target.h"
#include <stdint.h>

typedef struct {
    int filler_top_k;      /* ngram: the target's top-k candidates added at each verified position */
    int stop_if_unknown;   /* ngram: stop drafting at a context the storage has never seen */
    const char *device;    /* model drafter: "cpu" or "cuda" */
    SamplerConfig sampler; /* model drafter: q is processed like p */
} DrafterOptions;

/* Drafter from a spec string. Returns 0 for "none" (d->ops == NULL). fatal() on an unknown spec or
 * a vocabulary that differs from the target's. */
int drafter_from_spec(Drafter *d, const char *spec, const ModelConfig *target_cfg, const DrafterOptions *o);
void drafter_free(Drafter *d);
/* Whether spec names a model drafter (model:PATH[@bf16]), without resolving the path. */
int drafter_spec_is_model(const char *spec);
/* 1 when spec is model:PATH[@bf16]: the resolved path (fatal when missing) and, unless bf16 is
 * NULL, whether @bf16 asks for rounded weights; else 0. */
int drafter_model_spec(const char *spec, char *path, size_t path_size, int *bf16);

Drafter drafter_model_build(const char *path, int bf16, const ModelConfig *target_cfg, const DrafterOptions *o);
Drafter drafter_ngram_build(int n, int vocab, int one_level, int filler_top_k, int stop_if_unknown);
Drafter drafter_lookup_build(int max_ngram, int min_ngram);

/* The model drafter's own target and the length of the prefix its cache holds (for the CUDA loop). */
Target *drafter_model_target(const Drafter *d);

#endif
