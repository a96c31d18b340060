/* The decoding loops: autoregressive, speculative (fixed gamma or EGAG) and beam search.
 * They share one settings struct and one result struct, whose metrics follow DESIGN.md. */
#ifndef SPECDEC_GENERATE_H
#define SPECDEC_GENERATE_H

#include <stdint.h>
#include <stdio.h>

#include "drafter.h"
#include "sampler.h"
#include "target.h"

#define GAMMA_MAX_LIMIT 64
#define ENTROPY_BINS 10

typedef struct {
    SamplerConfig sampler;
    int max_new_tokens;
    uint64_t seed;
    const int *stop_ids;      /* (n_stop) extra stop tokens besides the model's EOS ids */
    int n_stop;
    /* speculative */
    int gamma;                /* fixed gamma, 1..64 */
    int use_egag;             /* entropy-guided adaptive gamma */
    int gamma_min, gamma_max;
    float egag_beta;          /* EMA smoothing of gamma over rounds */
    int first_target;         /* the target makes the first new token before drafting starts */
    int skip_sample_adjustment; /* ablation: resample from p, not max_fn(p - q); not lossless */
    int draft_ahead;          /* CUDA model drafter, greedy: drafting continues this many steps
                                 beside each verification, kept when every draft and the bonus
                                 token matched (0: off); spec_cuda.h */
    /* beam search */
    int num_beams, beam_top_k, min_length;
    float length_alpha;
    /* observers: per-round trace lines (JSON) and streaming of accepted tokens */
    FILE *trace;
    void (*on_tokens)(void *user, const int *tokens, int n);
    void *user;
} GenConfig;

GenConfig gen_config_default(void);

typedef struct {
    int *tokens;              /* (n_tokens) generated ids, EOS included when it stopped there */
    int n_tokens;
    int stopped_at_eos;
    /* counts */
    long drafted, accepted, rounds, target_calls;
    long reached[GAMMA_MAX_LIMIT];    /* rounds whose verification reached draft position i */
    long accepted_at[GAMMA_MAX_LIMIT];/* rounds that accepted draft position i */
    long gamma_hist[GAMMA_MAX_LIMIT + 1]; /* rounds per chosen gamma */
    double expected_acceptance_sum;   /* sum over rounds of sum_x min(p(x), q(x)) at position 1 */
    long expected_acceptance_n;
    double entropy_sum;               /* sum of the per-round drafter entropies (EGAG's H) */
    long entropy_n;
    /* acceptance against normalised entropy H / ln V, in ENTROPY_BINS equal bins */
    long entropy_bin_drafted[ENTROPY_BINS], entropy_bin_accepted[ENTROPY_BINS];
    /* times, seconds */
    double prefill_s, decode_s, drafter_s, target_s;
    long drafter_tokens;              /* tokens the drafter proposed (its time is per token) */
    long verify_calls;                /* target forward calls timed in target_s */
    long ahead_rounds, ahead_kept;    /* draft-ahead: rounds with a continuation, and those kept */
} GenResult;

void gen_result_free(GenResult *r);

/* prompt: (n_prompt) ids, BOS included. */
void autoregressive_generate(Target *t, const int *prompt, int n_prompt, const GenConfig *g,
                             GenResult *r);
void speculative_generate(Target *t, Drafter *d, const int *prompt, int n_prompt, const GenConfig *g,
                          GenResult *r);
/* Beams keep their own KV caches: one Target per beam, built by the caller (beams[num_beams]). */
void beam_search_generate(Target **beams, const int *prompt, int n_prompt, const GenConfig *g,
                          GenResult *r);

/* Derived metrics, DESIGN.md definitions; NAN when undefined (printed as null). */
double metric_acceptance_rate(const GenResult *r);
double metric_mean_accepted_length(const GenResult *r);
double metric_tokens_per_s(const GenResult *r);
double metric_cost_ratio(const GenResult *r);
double predicted_speedup(double alpha, int gamma, double c);

#endif
