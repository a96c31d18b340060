/* speculative_generate: draft gamma tokens, verify them with ONE target forward over
 * [last token, drafts], keep the longest acceptable prefix, then prune the cache to it.
 *
 * Invariant between rounds: ctx[0..n) is the text so far; the target's cache holds positions
 * [0, n - 1), i.e. everything but the last token, which the next round's forward scores first. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "decode_util.h"
#include "egag.h"
#include "rng.h"
#include "verify.h"
#ifdef SPECDEC_HAVE_CUDA
#include "spec_cuda.h"
#endif

void speculative_generate(Target *t, Drafter *d, const int *prompt, int n_prompt, const GenConfig *g, GenResult *r) {
#ifdef SPECDEC_HAVE_CUDA
    if (!strcmp(t->backend, "cuda")) {
        speculative_generate_cuda(t, d, prompt, n_prompt, g, r);
        return;
    }
#endif
    if (g->draft_ahead) fatal("--draft-ahead needs --device cuda: the CPU drafts and verifies one after the other");
    const ModelConfig *c = t->cfg;
    int V = c->vocab_size, budget = new_token_budget(c, n_prompt, g->max_new_tokens);
    int gmax = g->use_egag ? g->gamma_max : g->gamma;
    CHECK(gmax >= 1 && gmax <= GAMMA_MAX_LIMIT, "gamma %d", gmax);
    memset(r, 0, sizeof *r);
    r->tokens = mallocCheck(sizeof(int) * (size_t)(budget + 1));
    int *ctx = mallocCheck(sizeof(int) * (size_t)(n_prompt + budget + gmax + 2));
    memcpy(ctx, prompt, sizeof(int) * (size_t)n_prompt);
    int *input = mallocCheck(sizeof(int) * (size_t)(gmax + 1));
    float *logits = mallocCheck(sizeof(float) * (size_t)(gmax + 1) * V); /* (gamma + 1, vocab) */
    float *p = mallocCheck(sizeof(float) * (size_t)(gmax + 1) * V);      /* processed rows */
    float *q = mallocCheck(sizeof(float) * (size_t)gmax * V);            /* drafter rows */
    float *scratch = mallocCheck(sizeof(float) * (size_t)V);
    Sampler *smp = sampler_build(&g->sampler, V);
    int greedy = sampler_is_greedy(&g->sampler);
    EgagState egag;
    egag_init(&egag, g->gamma_min, g->gamma_max, g->egag_beta);
    float last_target_entropy = -1.0f; /* EGAG's stand-in for deterministic drafters */
    int n = n_prompt, generated = 0;
    long round = 0;

    d->ops->reset(d->st, g->seed);
    double t1 = prefill_prompt(r, t, prompt, n_prompt);

    while (generated < budget && !r->stopped_at_eos) {
        int remaining = budget - generated;
        float entropy = -1.0f;
        if (g->use_egag) {
            double te = now_seconds();
            entropy = d->ops->next_entropy(d->st, ctx, n);
            r->drafter_s += now_seconds() - te;
            if (entropy < 0) entropy = last_target_entropy;
        }
        int gamma = choose_gamma(r, g, &egag, entropy, round, remaining, V);

        double td = now_seconds();
        int k = gamma > 0 ? d->ops->propose(d->st, ctx, n, gamma, ctx + n, d->is_model ? q : NULL) : 0;
        double drafter_round = now_seconds() - td;
        CHECK(k >= 0 && k <= gamma, "drafter %s proposed %d of %d", d->ops->name, k, gamma);
        r->drafter_s += drafter_round;
        r->drafter_tokens += k;

        input[0] = ctx[n - 1];
        memcpy(input + 1, ctx + n, sizeof(int) * (size_t)k);
        double tt = now_seconds();
        t->forward(t, input, k + 1, n - 1, logits, k + 1);
        double target_round = now_seconds() - tt;
        r->target_s += target_round;
        r->target_calls++;
        r->verify_calls++;
        /* p rows are processed with the history each position sees: ctx plus the drafts before it */
        for (int i = 0; i <= k; i++) sampler_probs(smp, logits + (size_t)i * V, ctx, n + i, p + (size_t)i * V);

        VerifyResult vr = verify_round(p, d->is_model ? q : NULL, ctx + n, k, V, greedy, g->skip_sample_adjustment,
                                       g->seed, (uint64_t)round, scratch);
        int acc = vr.n_accepted;
        double ea = 0.0; /* sum_x min(p, q) at the first draft position */
        if (k > 0 && d->is_model)
            for (int x = 0; x < V; x++) ea += fminf(p[x], q[x]);
        else if (k > 0)
            ea = p[ctx[n]]; /* one-hot q: sum_x min(p, q) = p(draft) */
        record_round(r, gamma, k, acc, ea, entropy, V);
        if (g->use_egag && !d->is_model) last_target_entropy = logits_entropy(logits + (size_t)acc * V, V, g->sampler.temperature, scratch);
        if (g->trace)
            trace_round(g->trace, round, gamma, k, acc, vr.next_token, entropy, vr.p_draft, vr.q_draft, drafter_round,
                        target_round);

        /* keep exactly the accepted prefix: the cache drops the rejected drafts' positions */
        ctx[n + acc] = vr.next_token;
        t->truncate(t, n + acc);
        int kept = emit_tokens(r, c, g, ctx + n, acc + 1);
        generated += kept;
        n += acc + 1;
        td = now_seconds();
        d->ops->observe(d->st, ctx, n, acc, p, acc + 1);
        r->drafter_s += now_seconds() - td;
        round++;
    }
    r->decode_s = now_seconds() - t1;
    sampler_free(smp);
    free(ctx);
    free(input);
    free(logits);
    free(p);
    free(q);
    free(scratch);
}
