/* The decoding loops on the GPU: autoregressive_generate() and speculative_generate() hand over
 * to these when the target's backend is "cuda". Same semantics and metrics as the CPU loops
 * (decode_ar.c, decode_spec.c): greedy is exact argmax, sampling makes the same counter-based RNG
 * draws (rng.h slots), EOS/stop ids, first_target and EGAG behave alike.
 *
 * What differs is where the work happens: the target's processors, the acceptance test and the
 * residual sampling run on the device, and a model drafter whose target is CUDA drafts on the
 * device too, its gamma steps captured in one CUDA graph. Per round the host reads back one small
 * record (the accepted count and tokens); logit rows never leave the device. With EGAG and a model
 * drafter the drafter's entropy is read back as well, before gamma is chosen. */
#ifndef SPECDEC_SPEC_CUDA_H
#define SPECDEC_SPEC_CUDA_H

#ifdef SPECDEC_HAVE_CUDA
#include "generate.h"

void autoregressive_generate_cuda(Target *t, const int *prompt, int n_prompt, const GenConfig *g, GenResult *r);
void speculative_generate_cuda(Target *t, Drafter *d, const int *prompt, int n_prompt, const GenConfig *g,
                               GenResult *r);

#ifdef __CUDACC__
/* ---- internal: the device-side verification (verify_cuda.cu) used by spec_cuda.cu ---- */
#include <stdint.h>

#define FILLER_MAX 16 /* target candidates per verified row handed to n-gram drafters (sampling) */

typedef struct {
    float temperature, top_p, penalty;
    int top_k, window, greedy;
} DevSampler;

/* One generation's settings and its counters, in device memory: graphs read them at run time, so
 * one captured graph serves every seed and sampler. */
typedef struct {
    DevSampler target, drafter;
    unsigned long long seed;          /* the target's draws (RNG_STREAM_TARGET) */
    unsigned long long drafter_seed;  /* the model drafter's draws (RNG_STREAM_DRAFTER) */
    int skip_sample_adjustment;
    int want_entropy;                 /* rows_kernel: entropy of each target row (EGAG stand-in) */
    int want_candidates;              /* rows_kernel: top FILLER_MAX candidates of each row */
    int has_q;                        /* verification uses the drafter's rows Q */
    int drafter_eos[MODEL_MAX_EOS];   /* a model drafter stops drafting after these */
    int n_drafter_eos;
    int *drafter_io;                  /* a device drafter's input (position, then tokens), which
                                         verification sets for the next round; NULL without one */
    /* counters */
    unsigned long long round;         /* verification rounds (autoregressive steps) so far */
    unsigned long long draws;         /* the model drafter's draws so far */
    int n_drafted;                    /* drafts waiting in the target's tokens[1..] */
    int draft_stopped;                /* the model drafter drafted EOS this round */
} LoopState;

/* What the host reads back after each round. */
typedef struct {
    int n_accepted, next_token, n_drafted;
    float expected_acceptance;        /* sum_x min(p, q) at draft position 1 */
    float target_entropy;             /* entropy of the target's row n_accepted (want_entropy) */
    float drafter_entropy;            /* set by launch_drafter_entropy */
    int tokens[GAMMA_MAX_LIMIT + 1];  /* the accepted drafts, then next_token */
    float p_draft[GAMMA_MAX_LIMIT], q_draft[GAMMA_MAX_LIMIT];
    /* draft-ahead: the drafter's continuation beside the verification, as if every draft were
     * accepted: ahead[0] its guess of the bonus token, then drafts of the next round */
    int n_ahead, ahead_stopped;       /* drafts made; one of them was a drafter EOS */
    int ahead[GAMMA_MAX_LIMIT + 1];
} RoundResult;

typedef struct {
    int id[FILLER_MAX];               /* most probable first; -1 past the last candidate */
    float p[FILLER_MAX];
} Candidates;

typedef struct {
    LoopState *st;
    RoundResult *res;
    int vocab;
    int *hist;            /* (seq_len) the text so far: hist[0 .. pos] with pos the target's */
    int *tokens;          /* the target's input row tokens: [last token, drafts...] */
    int *pos;             /* the target's position of tokens[0] */
    const float *logits;  /* (rows, vocab) the target's logits */
    float *P;             /* (GAMMA_MAX_LIMIT + 1, vocab) processed target rows (sampling) */
    int *argmax;          /* (GAMMA_MAX_LIMIT + 1) processed target argmax (greedy) */
    float *entropy;       /* (GAMMA_MAX_LIMIT + 1) */
    Candidates *cand;     /* (GAMMA_MAX_LIMIT + 1) */
    float *Q;             /* (GAMMA_MAX_LIMIT, vocab) the model drafter's processed rows */
    /* the model drafter on the device */
    const float *d_logits;/* (1, vocab) its next-token logits */
    int *d_tokens;        /* its input token */
    int *d_pos;           /* its input position */
} VerifyArgs;

/* Processes the target's rows 0..rows-1, then verifies the drafts and writes the RoundResult; also
 * appends the accepted tokens to hist and sets the target's next input (tokens[0], pos). */
void launch_verify(const VerifyArgs *a, int rows, cudaStream_t s);
/* Draft step `step` of a model drafter: process its logits, pick the draft, feed it back. */
void launch_draft_step(const VerifyArgs *a, int step, cudaStream_t s);
/* Draft-ahead step k (0-based) of a greedy model drafter, beside the verification: the argmax of
 * its logits into res->ahead[k], fed back one position past the drafter's last input. Writes
 * nothing the verification reads, and reads nothing it writes. */
void launch_ahead_step(const VerifyArgs *a, int k, cudaStream_t s);
/* After a kept continuation: its drafts 1 .. n_pre become the target's drafts 1 .. n_pre. */
void launch_ahead_resume(const VerifyArgs *a, int n_pre, cudaStream_t s);
/* EGAG: the entropy of the model drafter's next-token logits into res->drafter_entropy. */
void launch_drafter_entropy(const VerifyArgs *a, cudaStream_t s);
#endif /* __CUDACC__ */

#endif /* SPECDEC_HAVE_CUDA */
#endif
