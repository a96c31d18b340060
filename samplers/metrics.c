/* Derived metrics, with DESIGN.md's definitions. */
#include <math.h>

#include "generate.h"

double metric_acceptance_rate(const GenResult *r) {
    return r->drafted > 0 ? (double)r->accepted / (double)r->drafted : NAN;
}

double metric_mean_accepted_length(const GenResult *r) {
    return r->target_calls > 0 ? (double)r->n_tokens / (double)r->target_calls : NAN;
}

/* Decode throughput: generated tokens over the time after prefill. */
double metric_tokens_per_s(const GenResult *r) {
    return r->decode_s > 0 ? (double)r->n_tokens / r->decode_s : NAN;
}

/* c = mean drafter time per proposed token / mean target time per verify call */
double metric_cost_ratio(const GenResult *r) {
    if (r->drafter_tokens == 0 || r->verify_calls == 0 || r->target_s <= 0) return NAN;
    return (r->drafter_s / (double)r->drafter_tokens) / (r->target_s / (double)r->verify_calls);
}

/* Leviathan et al. 2023, eq. for the expected walltime improvement: (1 - a^(g+1)) / ((1 - a)(g c + 1)) */
double predicted_speedup(double alpha, int gamma, double c) {
    if (isnan(alpha) || isnan(c) || gamma < 1) return NAN;
    double gain = alpha >= 1.0 ? (double)(gamma + 1) : (1.0 - pow(alpha, gamma + 1)) / (1.0 - alpha);
    return gain / ((double)gamma * c + 1.0);
}
