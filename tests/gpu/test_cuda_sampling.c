/* Sampling on the GPU is lossless (Leviathan et al. 2023, Theorem 1): the first two tokens that
 * the GPU loops generate follow the target's distribution. Target pycode-3m on CUDA; the exact
 * joint distribution p(x1) p(x2 | x1) comes from its logits through the CPU's sampler_probs(),
 * an independent implementation of the processors. Loops under test: speculative decoding with the
 * model drafter on the device (pycode-1m: q rows, device residual sampling), with a host drafter
 * (ngram:2, one-hot q), and autoregressive sampling; processors plain, top-k, top-p with a lower
 * temperature, and a repetition penalty. A chi-square goodness-of-fit test must accept each; it
 * must reject skip_sample_adjustment (known to be biased), which shows it can catch a wrong
 * sampler. The measured position-1 acceptance must match the analytic mean of sum_x min(p, q)
 * that the device reports, within 4 standard errors.
 *
 * Critical values: Wilson-Hilferty, chi2_{k,1-a} ~ k (1 - 2/(9k) + z sqrt(2/(9k)))^3 with
 * z = 3.09 (a = 0.001); categories have expected counts >= 10, the rest pooled. */
#include <math.h>

#include "drafters.h"
#include "generate.h"
#include "sampler.h"
#include "test_sampling_util.h"

#define N_SAMPLES 10000
static double chi2_critical(int k) { return test_chi2_critical(k, 3.09); }

/* Generates N_SAMPLES times (drafter NULL: autoregressive) and returns chi2 / critical value. */
static double run(Target *t, const ModelConfig *cfg, const char *drafter, SamplerConfig sc, int skip, const int *prompt,
                  int np) {
    Category cat[MAX_CAT];
    int nc = sampling_categories(t, prompt, np, &sc, 10.0 / N_SAMPLES, cat);
    long *count = callocCheck(nc + 1, sizeof(long)), reached = 0, accepted = 0;
    double ea = 0.0;
    long ea_n = 0;
    GenConfig g = gen_config_default();
    g.sampler = sc;
    g.max_new_tokens = 2;
    g.gamma = 3;
    g.skip_sample_adjustment = skip;
    Drafter d;
    if (drafter) {
        DrafterOptions o = {.filler_top_k = 0, .stop_if_unknown = 0, .device = "cuda", .sampler = sc};
        drafter_from_spec(&d, drafter, cfg, &o);
    }
    for (int s = 0; s < N_SAMPLES; s++) {
        g.seed = 1000003u * (uint64_t)s + 17;
        GenResult r;
        if (drafter) speculative_generate(t, &d, prompt, np, &g, &r);
        else autoregressive_generate(t, prompt, np, &g, &r);
        CHECK(r.n_tokens >= 2 || r.stopped_at_eos, "fewer than 2 tokens");
        count[sampling_category_of(cat, nc, r.tokens[0], r.n_tokens > 1 ? r.tokens[1] : -2)]++;
        reached += r.reached[0];
        accepted += r.accepted_at[0];
        ea += r.expected_acceptance_sum;
        ea_n += r.expected_acceptance_n;
        gen_result_free(&r);
    }
    if (drafter) drafter_free(&d);
    int df;
    double chi2 = sampling_chi2(count, cat, nc, N_SAMPLES, &df);
    double crit = chi2_critical(df), alpha1 = reached ? (double)accepted / reached : NAN;
    double expected1 = ea_n ? ea / ea_n : NAN, se = sqrt(expected1 * (1 - expected1) / (reached ? reached : 1));
    printf("%-24s T=%.1f top_k=%d top_p=%.2f penalty=%.1f%s: chi2 %.1f (df %d, critical %.1f)", drafter ? drafter : "autoregressive",
           sc.temperature, sc.top_k, sc.top_p, sc.repetition_penalty, skip ? " skip_sample_adjustment" : "", chi2, df, crit);
    if (drafter) printf("; position-1 acceptance %.4f vs analytic %.4f (se %.4f)", alpha1, expected1, se);
    printf("\n");
    if (drafter && !skip)
        EXPECT(expected1 > 0.05, "%s: the drafts should have real mass under p (analytic acceptance %.4f)", drafter,
               expected1);
    if (drafter && !skip)
        EXPECT(fabs(alpha1 - expected1) < 4 * se + 1e-9, "%s: acceptance %.4f differs from sum min(p, q) = %.4f", drafter,
               alpha1, expected1);
    free(count);
    return chi2 / crit;
}

int main(void) {
    char path[4096];
    test_model_path("pycode/pycode-3m", path, sizeof path);
    Model m;
    model_load(&m, path);
    Target *t = target_build(&m, "cuda", 128);
    int *full, nfull = test_humaneval_prompt(0, &full);
    int np = nfull < 8 ? nfull : 8; /* "from typing import List ..." cut short: a spread-out next token */
    /* for the n-gram drafter, a prompt that repeats itself ([BOS] t1..t5 t1..t3), as in
     * tests/test_spec_sampling.c, so that its drafts have real mass under p */
    int repeat[9];
    memcpy(repeat, full, 6 * sizeof(int));
    memcpy(repeat + 6, full + 1, 3 * sizeof(int));
    struct {
        const char *drafter;
        float temperature, top_p, penalty;
        int top_k;
    } cfgs[] = {
        {"model:pycode/pycode-1m", 1.0f, 1.0f, 1.0f, 0}, {"model:pycode/pycode-1m", 1.0f, 1.0f, 1.0f, 20},
        {"model:pycode/pycode-1m", 0.8f, 0.9f, 1.0f, 0}, {"model:pycode/pycode-1m", 1.0f, 1.0f, 1.3f, 0},
        {"ngram:2", 1.0f, 1.0f, 1.0f, 0},                {NULL, 1.0f, 1.0f, 1.0f, 0},
        {NULL, 0.8f, 0.9f, 1.3f, 20},
    };
    for (size_t i = 0; i < sizeof cfgs / sizeof cfgs[0]; i++) {
        SamplerConfig sc = sampler_config_default();
        sc.temperature = cfgs[i].temperature;
        sc.top_k = cfgs[i].top_k;
        sc.top_p = cfgs[i].top_p;
        sc.repetition_penalty = cfgs[i].penalty;
        int ngram = cfgs[i].drafter && !strncmp(cfgs[i].drafter, "ngram", 5);
        double ratio = run(t, &m.cfg, cfgs[i].drafter, sc, 0, ngram ? repeat : full, ngram ? 9 : np);
        EXPECT(ratio < 1.0, "%s: the GPU samples do not follow the target distribution", cfgs[i].drafter ? cfgs[i].drafter : "autoregressive");
    }
    SamplerConfig sc = sampler_config_default();
    sc.temperature = 1.0f;
    double ratio = run(t, &m.cfg, "model:pycode/pycode-1m", sc, 1, full, np);
    EXPECT(ratio > 1.0, "the test failed to detect skip_sample_adjustment's bias");
    free(full);
    target_free(t);
    model_free(&m);
    return test_summary("test_cuda_sampling");
}
