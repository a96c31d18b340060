#include "decode_util.h"

#include <math.h>
#include <string.h>

#include "check.h"

int is_stop_token(const ModelConfig *cfg, const GenConfig *g, int token) {
    if (model_is_eos(cfg, token)) return 1;
    for (int i = 0; i < g->n_stop; i++)
        if (g->stop_ids[i] == token) return 1;
    return 0;
}

float logits_entropy(const float *logits, int n, float temperature, float *scratch) {
    float inv_t = temperature > 0.0f ? 1.0f / temperature : 1.0f;
    float mx = -INFINITY;
    for (int i = 0; i < n; i++) mx = fmaxf(mx, logits[i] * inv_t);
    double sum = 0.0;
    for (int i = 0; i < n; i++) sum += (scratch[i] = expf(logits[i] * inv_t - mx));
    double h = 0.0;
    for (int i = 0; i < n; i++) {
        double p = scratch[i] / sum;
        if (p > 0) h -= p * log(p);
    }
    return (float)h;
}

int new_token_budget(const ModelConfig *cfg, int n_prompt, int max_new_tokens) {
    if (n_prompt < 1) fatal("the prompt is empty (it needs at least one token, e.g. BOS)");
    if (n_prompt >= cfg->seq_len)
        fatal("the prompt has %d tokens but the model's context length is %d", n_prompt, cfg->seq_len);
    if (max_new_tokens < 0) fatal("--max-new-tokens must be >= 0, got %d", max_new_tokens);
    int room = cfg->seq_len - n_prompt;
    return max_new_tokens < room ? max_new_tokens : room;
}

int choose_gamma(GenResult *r, const GenConfig *g, EgagState *egag, float entropy, long round, int remaining,
                 int vocab) {
    int gamma = g->gamma;
    if (g->use_egag) gamma = entropy >= 0 ? egag_next_gamma(egag, entropy, vocab) : (int)lround(egag->g);
    if (g->first_target && round == 0) gamma = 0;
    if (gamma > remaining - 1) gamma = remaining - 1;
    if (entropy >= 0) {
        r->entropy_sum += entropy;
        r->entropy_n++;
    }
    return gamma;
}

void record_round(GenResult *r, int gamma, int k, int acc, double expected_acceptance, float entropy, int vocab) {
    if (k > 0) {
        r->expected_acceptance_sum += expected_acceptance;
        r->expected_acceptance_n++;
        if (entropy >= 0) {
            int bin = (int)(entropy / logf((float)vocab) * ENTROPY_BINS);
            bin = bin < 0 ? 0 : bin >= ENTROPY_BINS ? ENTROPY_BINS - 1 : bin;
            r->entropy_bin_drafted[bin] += k;
            r->entropy_bin_accepted[bin] += acc;
        }
    }
    r->rounds++;
    r->drafted += k;
    r->accepted += acc;
    r->gamma_hist[gamma]++;
    for (int i = 0; i < k && i <= acc; i++) {
        r->reached[i]++;
        if (i < acc) r->accepted_at[i]++;
    }
}

void trace_round(FILE *f, long round, int gamma, int proposed, int accepted, int next_token, float entropy,
                 const float *p_draft, const float *q_draft, double drafter_s, double target_s) {
    fprintf(f, "{\"round\":%ld,\"gamma\":%d,\"proposed\":%d,\"accepted\":%d,\"next_token\":%d,", round, gamma,
            proposed, accepted, next_token);
    if (entropy >= 0) fprintf(f, "\"entropy\":%.6g,", entropy);
    else fprintf(f, "\"entropy\":null,");
    int reached = accepted < proposed ? accepted + 1 : proposed;
    fprintf(f, "\"p_draft\":[");
    for (int i = 0; i < reached; i++) fprintf(f, "%s%.6g", i ? "," : "", p_draft[i]);
    fprintf(f, "],\"q_draft\":[");
    for (int i = 0; i < reached; i++) fprintf(f, "%s%.6g", i ? "," : "", q_draft[i]);
    fprintf(f, "],\"drafter_ms\":%.4f,\"drafter_ms_per_token\":%.4f,\"target_ms\":%.4f}\n", drafter_s * 1e3,
            proposed ? drafter_s * 1e3 / proposed : 0.0, target_s * 1e3);
}

int emit_tokens(GenResult *r, const ModelConfig *cfg, const GenConfig *g, const int *tokens, int n) {
    int kept = 0;
    while (kept < n) {
        int tok = tokens[kept++];
        if (is_stop_token(cfg, g, tok)) {
            r->stopped_at_eos = 1;
            break;
        }
    }
    memcpy(r->tokens + r->n_tokens, tokens, sizeof(int) * (size_t)kept);
    r->n_tokens += kept;
    if (g->on_tokens && kept) g->on_tokens(g->user, tokens, kept);
    return kept;
}

double prefill_prompt(GenResult *r, Target *t, const int *prompt, int n_prompt) {
    double t0 = now_seconds();
    t->truncate(t, 0);
    if (n_prompt > 1) t->forward(t, prompt, n_prompt - 1, 0, NULL, 0);
    double t1 = now_seconds();
    r->prefill_s = t1 - t0;
    return t1;
}
