/* Pieces the decoding loops share. */
#ifndef SPECDEC_DECODE_UTIL_H
#define SPECDEC_DECODE_UTIL_H

#include "egag.h"
#include "generate.h"

/* EOS of the model or one of the run's stop ids. */
int is_stop_token(const ModelConfig *cfg, const GenConfig *g, int token);
/* Entropy (nats) of softmax(logits / T), with T = 1 when the sampler is greedy: EGAG's H. */
float logits_entropy(const float *logits, int n, float temperature, float *scratch);
/* Validates the prompt against the context and returns how many new tokens fit: fatal() when the
 * prompt is empty or leaves no room. */
int new_token_budget(const ModelConfig *cfg, int n_prompt, int max_new_tokens);
/* Empties t's cache and forwards every prompt token but the last (each loop's first step forwards
 * that one), timed into r->prefill_s; returns the time decoding starts (now_seconds()). */
double prefill_prompt(GenResult *r, Target *t, const int *prompt, int n_prompt);
/* Appends tokens[0..n) to r->tokens (stopping after a stop token), streams them, and returns how
 * many were kept; sets r->stopped_at_eos. */
int emit_tokens(GenResult *r, const ModelConfig *cfg, const GenConfig *g, const int *tokens, int n);
/* This round's gamma: g->gamma, or EGAG's from entropy (negative: no entropy this round, keep the
 * smoothed value); 0 in the first_target round; never more than the budget can use, since a round
 * always adds one token of the target's own. Records the entropy in r. */
int choose_gamma(GenResult *r, const GenConfig *g, EgagState *egag, float entropy, long round, int remaining,
                 int vocab);
/* Adds one verified round to r's counters: k drafts proposed at the chosen gamma, acc accepted;
 * expected_acceptance = sum_x min(p(x), q(x)) at the first draft position (unused when k = 0);
 * entropy < 0 when the round had none. */
void record_round(GenResult *r, int gamma, int k, int acc, double expected_acceptance, float entropy, int vocab);
/* One --trace line (JSON) for a round: gamma, proposals, acceptances, the drafter's entropy (null
 * when negative), p(x) and q(x) of each draft position verification reached, and the times. */
void trace_round(FILE *f, long round, int gamma, int proposed, int accepted, int next_token, float entropy,
                 const float *p_draft, const float *q_draft, double drafter_s, double target_s);

#endif
