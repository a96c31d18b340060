#include "metrics_json.h"

#include <math.h>

cJSON *json_number_or_null(double x) {
    return isfinite(x) ? cJSON_CreateNumber(x) : cJSON_CreateNull();
}

static cJSON *long_array(const long *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

cJSON *metrics_to_json(const GenResult *r, int gamma) {
    cJSON *m = cJSON_CreateObject();
    double alpha = metric_acceptance_rate(r), c = metric_cost_ratio(r);
    cJSON_AddNumberToObject(m, "new_tokens", r->n_tokens);
    cJSON_AddBoolToObject(m, "stopped_at_eos", r->stopped_at_eos);
    cJSON_AddNumberToObject(m, "drafted", (double)r->drafted);
    cJSON_AddNumberToObject(m, "accepted", (double)r->accepted);
    cJSON_AddItemToObject(m, "acceptance_rate", json_number_or_null(alpha));
    cJSON_AddNumberToObject(m, "rounds", (double)r->rounds);
    cJSON_AddNumberToObject(m, "target_calls", (double)r->target_calls);
    cJSON_AddItemToObject(m, "mean_accepted_length", json_number_or_null(metric_mean_accepted_length(r)));
    /* per-position acceptance: conditional (accepted at i / reached i) and unconditional
     * (accepted at i / rounds); trailing positions no round reached are left out */
    int npos = 0;
    for (int i = 0; i < GAMMA_MAX_LIMIT; i++)
        if (r->reached[i]) npos = i + 1;
    cJSON *cond = cJSON_CreateArray(), *uncond = cJSON_CreateArray();
    for (int i = 0; i < npos; i++) {
        cJSON_AddItemToArray(cond, json_number_or_null(r->reached[i] ? (double)r->accepted_at[i] / r->reached[i] : NAN));
        cJSON_AddItemToArray(uncond, json_number_or_null(r->rounds ? (double)r->accepted_at[i] / r->rounds : NAN));
    }
    cJSON_AddItemToObject(m, "per_position_acceptance", cond);
    cJSON_AddItemToObject(m, "per_position_acceptance_unconditional", uncond);
    cJSON_AddItemToObject(m, "per_position_reached", long_array(r->reached, npos));
    cJSON_AddItemToObject(m, "per_position_accepted", long_array(r->accepted_at, npos));
    cJSON_AddItemToObject(m, "expected_acceptance",
                          json_number_or_null(r->expected_acceptance_n ? r->expected_acceptance_sum / r->expected_acceptance_n : NAN));
    int ng = 0;
    for (int i = 0; i <= GAMMA_MAX_LIMIT; i++)
        if (r->gamma_hist[i]) ng = i + 1;
    cJSON_AddItemToObject(m, "gamma_histogram", long_array(r->gamma_hist, ng));
    cJSON_AddItemToObject(m, "mean_entropy", json_number_or_null(r->entropy_n ? r->entropy_sum / r->entropy_n : NAN));
    cJSON_AddItemToObject(m, "entropy_bin_drafted", long_array(r->entropy_bin_drafted, ENTROPY_BINS));
    cJSON_AddItemToObject(m, "entropy_bin_accepted", long_array(r->entropy_bin_accepted, ENTROPY_BINS));
    cJSON_AddNumberToObject(m, "prefill_ms", r->prefill_s * 1e3);
    cJSON_AddNumberToObject(m, "decode_ms", r->decode_s * 1e3);
    cJSON_AddNumberToObject(m, "wall_ms", (r->prefill_s + r->decode_s) * 1e3);
    cJSON_AddItemToObject(m, "tokens_per_s", json_number_or_null(metric_tokens_per_s(r)));
    cJSON_AddNumberToObject(m, "drafter_ms", r->drafter_s * 1e3);
    cJSON_AddNumberToObject(m, "target_ms", r->target_s * 1e3);
    cJSON_AddNumberToObject(m, "drafter_tokens", (double)r->drafter_tokens);
    cJSON_AddItemToObject(m, "cost_ratio", json_number_or_null(c));
    cJSON_AddItemToObject(m, "predicted_speedup", json_number_or_null(gamma > 0 ? predicted_speedup(alpha, gamma, c) : NAN));
    if (r->ahead_rounds) { /* --draft-ahead: rounds with a continuation, and those whose drafts were kept */
        cJSON_AddNumberToObject(m, "draft_ahead_rounds", (double)r->ahead_rounds);
        cJSON_AddNumberToObject(m, "draft_ahead_kept", (double)r->ahead_kept);
    }
    return m;
}
