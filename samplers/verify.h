/* Verification of one speculative round (Leviathan et al. 2023; Chen et al. 2023).
 *
 * Given the drafts x_1..x_g, the target's processed rows p_1..p_{g+1} and the drafter's rows
 * q_1..q_g (NULL for deterministic drafters: q is one-hot at the draft):
 *  - greedy: accept x_i iff x_i == argmax p_i; the next token is argmax p at the first mismatch,
 *    or argmax p_{g+1} when all are accepted. Uses no randomness.
 *  - sampling: accept x_i with probability min(1, p_i(x_i) / q_i(x_i)), using the uniform of slot i.
 *    At the first rejection sample from max_fn(p_i - q_i) = norm(max(0, p_i - q_i)), falling back
 *    to p_i when the residual has no mass. With a one-hot q this is p_i with x_i removed and
 *    renormalised. After g acceptances, sample the bonus token from p_{g+1}.
 *  - skip_sample_adjustment samples the replacement from p_i instead of the residual: an ablation
 *    that is NOT lossless.
 */
#ifndef SPECDEC_VERIFY_H
#define SPECDEC_VERIFY_H

#include <stdint.h>

/* out = norm(max(0, p - q)). Returns 1 when the residual had mass, 0 when it had none (then out is
 * a copy of p). q == NULL means one-hot at `draft`. */
int max_fn_residual(const float *p, const float *q, int draft, int vocab, float *out);

typedef struct {
    int n_accepted;     /* drafts accepted, 0..gamma */
    int next_token;     /* the resampled token, or the bonus token when all were accepted */
    float p_draft[64];  /* p_i(x_i) for each draft position reached, for traces */
    float q_draft[64];  /* q_i(x_i) (1 for deterministic drafters) */
} VerifyResult;

/* p: (gamma + 1, vocab); q: (gamma, vocab) or NULL; scratch: (vocab). Draws come from
 * rng_uniform(seed, RNG_STREAM_TARGET, round * RNG_SLOTS_PER_ROUND + slot). gamma <= 64. */
VerifyResult verify_round(const float *p, const float *q, const int *drafts, int gamma, int vocab,
                          int greedy, int skip_sample_adjustment, uint64_t seed, uint64_t round,
                          float *scratch);

#endif
