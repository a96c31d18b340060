/* beam_search_generate: num_beams hypotheses, each expanded by its beam_top_k most likely tokens;
 * the num_beams best by summed log-probability survive. Log-probabilities start at 0. A finished
 * hypothesis is scored with the length penalty ((m + len) / (m + 1))^alpha, m = min_length, and
 * EOS is forbidden before min_length tokens. Each beam keeps its own KV cache: a surviving child
 * takes over its parent's cache, and further children of the same parent get a copy of it. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "decode_util.h"

typedef struct {
    double logp;
    int parent;
    int token;
} Candidate;

static int cmp_candidate(const void *a, const void *b) {
    double x = ((const Candidate *)a)->logp, y = ((const Candidate *)b)->logp;
    return x < y ? 1 : x > y ? -1 : 0;
}

static double length_penalty(int len, int m, float alpha) {
    return pow((double)(m + len) / (double)(m + 1), (double)alpha);
}

void beam_search_generate(Target **beams, const int *prompt, int n_prompt, const GenConfig *g, GenResult *r) {
    const ModelConfig *c = beams[0]->cfg;
    int V = c->vocab_size, B = g->num_beams, K = g->beam_top_k;
    CHECK(B >= 1 && K >= 1, "beams %d, top-k %d", B, K);
    int budget = new_token_budget(c, n_prompt, g->max_new_tokens);
    memset(r, 0, sizeof *r);
    r->tokens = mallocCheck(sizeof(int) * (size_t)(budget + 1));

    double *logp = callocCheck((size_t)B, sizeof(double));          /* (B) running sums, from 0 */
    int *hyp = mallocCheck(sizeof(int) * (size_t)B * (budget + 1)); /* (B, budget) tokens */
    int *next_hyp = mallocCheck(sizeof(int) * (size_t)B * (budget + 1));
    float *logits = mallocCheck(sizeof(float) * (size_t)B * V);    /* (B, vocab) */
    Candidate *cand = mallocCheck(sizeof(Candidate) * (size_t)B * K);
    Target **next_t = mallocCheck(sizeof(Target *) * (size_t)B);
    int *used = mallocCheck(sizeof(int) * (size_t)B);
    int *best_done = mallocCheck(sizeof(int) * (size_t)(budget + 1));
    int best_done_len = -1;
    double best_done_score = -INFINITY;
    int live = 1; /* beams alive; at the start only beam 0, holding the prompt */

    double t0 = now_seconds();
    beams[0]->truncate(beams[0], 0);
    beams[0]->forward(beams[0], prompt, n_prompt, 0, logits, 1);
    r->prefill_s = now_seconds() - t0;
    double t1 = now_seconds();
    int hyp_len = 0;
    for (int len = 0; len < budget; len++) {
        /* expand: top-K of each live beam's log-softmax */
        int nc = 0;
        for (int b = 0; b < live; b++) {
            float *row = logits + (size_t)b * V;
            float mx = -INFINITY;
            for (int x = 0; x < V; x++) mx = fmaxf(mx, row[x]);
            double z = 0.0;
            for (int x = 0; x < V; x++) z += exp((double)(row[x] - mx));
            double lz = mx + log(z);
            if (len < g->min_length)
                for (int e = 0; e < c->n_eos; e++) row[c->eos_ids[e]] = -INFINITY;
            for (int k = 0; k < K; k++) { /* partial selection: K is small */
                int best = -1;
                for (int x = 0; x < V; x++)
                    if (row[x] > -INFINITY && (best < 0 || row[x] > row[best])) best = x;
                if (best < 0) break;
                cand[nc++] = (Candidate){logp[b] + row[best] - lz, b, best};
                row[best] = -INFINITY;
            }
        }
        qsort(cand, (size_t)nc, sizeof *cand, cmp_candidate);
        /* select: finished candidates leave the beam; the best B unfinished ones continue */
        int nl = 0;
        memset(used, 0, sizeof(int) * (size_t)B);
        for (int i = 0; i < nc && nl < B; i++) {
            Candidate *cd = &cand[i];
            if (is_stop_token(c, g, cd->token)) {
                double score = cd->logp / length_penalty(len + 1, g->min_length, g->length_alpha);
                if (score > best_done_score) {
                    best_done_score = score;
                    memcpy(best_done, hyp + (size_t)cd->parent * (budget + 1), sizeof(int) * (size_t)len);
                    best_done[len] = cd->token;
                    best_done_len = len + 1;
                }
                continue;
            }
            memcpy(next_hyp + (size_t)nl * (budget + 1), hyp + (size_t)cd->parent * (budget + 1), sizeof(int) * (size_t)len);
            next_hyp[(size_t)nl * (budget + 1) + len] = cd->token;
            logp[nl] = cd->logp;
            cand[nl] = *cd; /* the survivors, in order */
            nl++;
        }
        /* caches: the first child of a parent takes its Target; later children copy it into a
         * Target whose parent left no child */
        for (int j = 0; j < nl; j++) next_t[j] = NULL;
        for (int j = 0; j < nl; j++)
            if (!used[cand[j].parent]) { used[cand[j].parent] = 1; next_t[j] = beams[cand[j].parent]; }
        int spare = 0;
        for (int j = 0; j < nl; j++) {
            if (next_t[j]) continue;
            while (spare < B && used[spare]) spare++;
            CHECK(spare < B, "no spare beam");
            used[spare] = 1;
            next_t[j] = beams[spare];
            next_t[j]->copy_cache(next_t[j], beams[cand[j].parent]);
        }
        /* the unused Targets go after the live ones so they stay available */
        int w = nl;
        for (int b = 0; b < B; b++) {
            int taken = 0;
            for (int j = 0; j < nl; j++) taken |= next_t[j] == beams[b];
            if (!taken) next_t[w++] = beams[b];
        }
        memcpy(beams, next_t, sizeof(Target *) * (size_t)B);
        int *tmp = hyp; hyp = next_hyp; next_hyp = tmp;
        live = nl;
        hyp_len = len + 1;
        /* without a length penalty scores only fall, so no live beam can beat a better finished one */
        if (live == 0 || hyp_len == budget || (g->length_alpha == 0.0f && best_done_len > 0 && logp[0] <= best_done_score))
            break;
        for (int b = 0; b < live; b++) {
            int tok = hyp[(size_t)b * (budget + 1) + len];
            double ts = now_seconds();
            beams[b]->forward(beams[b], &tok, 1, n_prompt + len, logits + (size_t)b * V, 1);
            r->target_s += now_seconds() - ts;
            r->target_calls++;
            r->verify_calls++;
        }
    }
    double live_score = live > 0 ? logp[0] / length_penalty(hyp_len, g->min_length, g->length_alpha) : -INFINITY;
    if (best_done_len > 0 && best_done_score >= live_score) emit_tokens(r, c, g, best_done, best_done_len);
    else if (live > 0) emit_tokens(r, c, g, hyp, hyp_len);
    r->decode_s = now_seconds() - t1;
    free(logp); free(hyp); free(next_hyp); free(logits); free(cand); free(next_t); free(used); free(best_done);
}
