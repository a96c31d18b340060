/* Drafters: pluggable proposers of draft tokens, a small vtable plus an opaque state.
 *
 *  model   a small LM sharing the target's vocabulary (drafter_model.c)
 *  ngram   NGramStorage, multi-level with backoff (drafter_ngram.c)
 *  ngram1  OneLevelNGramStorage (drafter_ngram.c)
 *  lookup  prompt lookup (drafter_lookup.c)
 */
#ifndef SPECDEC_DRAFTER_H
#define SPECDEC_DRAFTER_H

#include <stdint.h>

#define DRAFTER_OPS_VERSION 2

typedef struct {
    int version;        /* DRAFTER_OPS_VERSION */
    const char *name;
    /* Proposes up to gamma tokens after ctx[0..ctx_len). Fills q (gamma, vocab) with their
     * processed distributions when the drafter is a model; deterministic drafters leave q alone.
     * Returns how many were proposed (0 allowed). */
    int (*propose)(void *st, const int *ctx, int ctx_len, int gamma, int *out, float *q);
    /* After verification: ctx now ends with the n_accepted drafts and the target's next token.
     * p holds the target's processed rows (n_p, vocab), n_p = n_accepted + 1: row i is the
     * target's distribution for the token at ctx[ctx_len - n_p + i], given ctx[0 .. that index).
     * p may be NULL (then only the tokens are observed). */
    void (*observe)(void *st, const int *ctx, int ctx_len, int n_accepted, const float *p, int n_p);
    /* Entropy (nats) of the drafter's next-token distribution after ctx, for EGAG; returns a
     * negative number when the drafter has no distribution (deterministic drafters). */
    float (*next_entropy)(void *st, const int *ctx, int ctx_len);
    /* Forgets everything before a new generation; a model drafter's draws restart from seed
     * (the run's seed, on RNG_STREAM_DRAFTER). */
    void (*reset)(void *st, uint64_t seed);
    void (*free)(void *st);
} DrafterOps;

typedef struct {
    const DrafterOps *ops;
    void *st;
    int is_model;   /* proposes with q rows; otherwise q is one-hot at each draft */
} Drafter;

#endif
