/* autoregressive_generate: one target forward per token, KV cache always on.
 * The prompt's last token is not prefilled: each step forwards exactly one token (the last one
 * known) so that target_calls equals the tokens generated and tau is 1.0, as DESIGN.md defines. */
#include <string.h>

#include "check.h"
#include "decode_util.h"
#include "rng.h"
#ifdef SPECDEC_HAVE_CUDA
#include "spec_cuda.h"
#endif

void autoregressive_generate(Target *t, const int *prompt, int n_prompt, const GenConfig *g, GenResult *r) {
#ifdef SPECDEC_HAVE_CUDA
    if (!strcmp(t->backend, "cuda")) {
        autoregressive_generate_cuda(t, prompt, n_prompt, g, r);
        return;
    }
#endif
    const ModelConfig *c = t->cfg;
    int V = c->vocab_size, budget = new_token_budget(c, n_prompt, g->max_new_tokens);
    memset(r, 0, sizeof *r);
    r->tokens = mallocCheck(sizeof(int) * (size_t)(budget + 1));
    int *seq = mallocCheck(sizeof(int) * (size_t)(n_prompt + budget + 1));
    memcpy(seq, prompt, sizeof(int) * (size_t)n_prompt);
    float *logits = mallocCheck(sizeof(float) * (size_t)V), *probs = mallocCheck(sizeof(float) * (size_t)V);
    Sampler *smp = sampler_build(&g->sampler, V);
    int greedy = sampler_is_greedy(&g->sampler), n = n_prompt;

    double t1 = prefill_prompt(r, t, prompt, n_prompt);
    for (int step = 0; step < budget; step++) {
        double ts = now_seconds();
        t->forward(t, &seq[n - 1], 1, n - 1, logits, 1);
        r->target_s += now_seconds() - ts;
        r->target_calls++;
        r->verify_calls++;
        sampler_probs(smp, logits, seq, n, probs);
        int tok = greedy ? argmax_f32(probs, V)
                         : sample_from_probs(probs, V, rng_uniform(g->seed, RNG_STREAM_TARGET,
                                                                   (uint64_t)step * RNG_SLOTS_PER_ROUND + RNG_SLOT_FINAL));
        seq[n++] = tok;
        emit_tokens(r, c, g, &tok, 1);
        if (r->stopped_at_eos) break;
    }
    r->decode_s = now_seconds() - t1;
    sampler_free(smp);
    free(logits);
    free(probs);
    free(seq);
}

void gen_result_free(GenResult *r) {
    free(r->tokens);
    r->tokens = NULL;
    r->n_tokens = 0;
}

GenConfig gen_config_default(void) {
    GenConfig g;
    memset(&g, 0, sizeof g);
    g.sampler = sampler_config_default();
    g.max_new_tokens = 128;
    g.gamma = 4;
    g.gamma_min = 1;
    g.gamma_max = 8;
    g.egag_beta = 0.5f;
    g.num_beams = 4;
    g.beam_top_k = 4;
    g.length_alpha = 0.0f;
    return g;
}
