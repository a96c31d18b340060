/* Edge cases of the decoding loops, each against the autoregressive output of the same model:
 * gamma larger than the remaining budget, EOS (a stop id) inside accepted drafts,
 * max_new_tokens = 1 (no drafts, acceptance undefined, no division by zero), max_new_tokens = 0,
 * a prompt at the context limit, an empty n-gram store, and beam search with one beam (= greedy). */
#include <math.h>

#include "drafters.h"
#include "generate.h"
#include "test_util.h"

static int same_tokens(const GenResult *a, const GenResult *b) {
    return a->n_tokens == b->n_tokens && !memcmp(a->tokens, b->tokens, sizeof(int) * (size_t)a->n_tokens);
}

static void spec(Target *t, const ModelConfig *cfg, const char *spec_str, const int *prompt, int np, const GenConfig *g,
                 GenResult *r, int stop_if_unknown) {
    DrafterOptions o = {.filler_top_k = 0, .stop_if_unknown = stop_if_unknown, .device = "cpu", .sampler = g->sampler};
    Drafter d;
    drafter_from_spec(&d, spec_str, cfg, &o);
    speculative_generate(t, &d, prompt, np, g, r);
    drafter_free(&d);
}

int main(void) {
    char path[4096];
    test_model_path("tinystories-llama2c/tinystories_260k/checkpoint_legacy.bin", path, sizeof path);
    Model m;
    model_load(&m, path);
    Target *t = target_cpu_build(&m, 128);
    int bos[1] = {1};
    char drafter_self[4200];
    snprintf(drafter_self, sizeof drafter_self, "model:%s", path);

    GenConfig g = gen_config_default();
    g.max_new_tokens = 40;
    GenResult ar, r;
    autoregressive_generate(t, bos, 1, &g, &ar);
    EXPECT(ar.n_tokens == 40, "AR made %d tokens", ar.n_tokens);

    /* gamma larger than the remaining budget */
    GenConfig g3 = g;
    g3.max_new_tokens = 3;
    g3.gamma = 8;
    spec(t, &m.cfg, drafter_self, bos, 1, &g3, &r, 0);
    EXPECT(r.n_tokens == 3 && !memcmp(r.tokens, ar.tokens, 3 * sizeof(int)), "gamma 8 with 3 tokens left: got %d tokens", r.n_tokens);
    EXPECT(r.drafted <= 2, "drafted %ld with a budget of 3", r.drafted);
    gen_result_free(&r);

    /* a stop token inside accepted drafts: the model drafting for itself accepts everything */
    int stop = ar.tokens[12];
    int first = 0;
    while (ar.tokens[first] != stop) first++;
    GenConfig gs = g;
    gs.stop_ids = &stop;
    gs.n_stop = 1;
    gs.gamma = 6;
    spec(t, &m.cfg, drafter_self, bos, 1, &gs, &r, 0);
    EXPECT(r.stopped_at_eos && r.n_tokens == first + 1 && !memcmp(r.tokens, ar.tokens, sizeof(int) * (first + 1)),
           "stop id %d first at %d: got %d tokens, stopped %d", stop, first, r.n_tokens, r.stopped_at_eos);
    EXPECT(r.accepted == r.drafted, "self-drafting must accept everything (%ld of %ld)", r.accepted, r.drafted);
    gen_result_free(&r);

    /* max_new_tokens = 1: the round has no drafts */
    GenConfig g1 = g;
    g1.max_new_tokens = 1;
    spec(t, &m.cfg, "lookup:3", bos, 1, &g1, &r, 0);
    EXPECT(r.n_tokens == 1 && r.tokens[0] == ar.tokens[0] && r.drafted == 0, "max_new_tokens 1");
    EXPECT(isnan(metric_acceptance_rate(&r)) && metric_mean_accepted_length(&r) == 1.0, "alpha undefined, tau 1");
    gen_result_free(&r);

    /* max_new_tokens = 0 */
    GenConfig g0 = g;
    g0.max_new_tokens = 0;
    spec(t, &m.cfg, "ngram:3", bos, 1, &g0, &r, 0);
    EXPECT(r.n_tokens == 0 && r.target_calls == 0, "max_new_tokens 0");
    gen_result_free(&r);

    /* an empty n-gram store that stops at unknown contexts proposes nothing at first */
    spec(t, &m.cfg, "ngram:3", bos, 1, &g, &r, 1);
    EXPECT(same_tokens(&r, &ar), "empty n-gram store changes the output");
    gen_result_free(&r);

    /* beam search with one beam and top-1 is greedy */
    GenConfig gb = g;
    gb.num_beams = 1;
    gb.beam_top_k = 1;
    Target *beams[1] = {t};
    beam_search_generate(beams, bos, 1, &gb, &r);
    EXPECT(same_tokens(&r, &ar), "beam search with one beam differs from greedy");
    gen_result_free(&r);

    /* beam search with 3 beams finds a sequence at least as likely as greedy's */
    gb.num_beams = 3;
    gb.beam_top_k = 3;
    gb.max_new_tokens = 12;
    Target *b3[3] = {t, target_cpu_build(&m, 128), target_cpu_build(&m, 128)};
    beam_search_generate(b3, bos, 1, &gb, &r);
    EXPECT(r.n_tokens == 12, "beam search made %d tokens", r.n_tokens);
    for (int i = 0; i < 3; i++) /* beam search permutes the array */
        if (b3[i] != t) target_free(b3[i]);
    gen_result_free(&r);
    gen_result_free(&ar);
    target_free(t);
    model_free(&m);

    /* a prompt at the context limit: aidreams260K has 128 positions; 127 prompt tokens leave 1 */
    test_model_path("aidreams-esp32/aidreams260K.bin", path, sizeof path);
    model_load(&m, path);
    t = target_cpu_build(&m, 128);
    int prompt[127];
    prompt[0] = 1;
    for (int i = 1; i < 127; i++) prompt[i] = 3 + (i * 7) % 200;
    g.max_new_tokens = 10;
    autoregressive_generate(t, prompt, 127, &g, &ar);
    spec(t, &m.cfg, "lookup:2", prompt, 127, &g, &r, 0);
    EXPECT(ar.n_tokens == 1 && same_tokens(&r, &ar), "at the context limit: AR %d tokens, spec %d", ar.n_tokens, r.n_tokens);
    gen_result_free(&r);
    gen_result_free(&ar);
    target_free(t);
    model_free(&m);
    return test_summary("test_spec_edges");
}
