/* Logits processors against closed-form distributions, tie rules, the validation messages, and
 * the fast selection paths against a plain full-sort reference at vocab 8192. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "sampler.h"
#include "test_util.h"

static SamplerConfig cfg(float t, int k, float p) {
    SamplerConfig c = sampler_config_default();
    c.temperature = t;
    c.top_k = k;
    c.top_p = p;
    return c;
}

/* Runs the sampler on logits ln(w[i]) (so T = 1 gives w / sum w) and compares with want. */
static void expect_probs_from(const char *what, SamplerConfig c, const float *logits, int n,
                              const int *hist, int n_hist, const double *want) {
    Sampler *s = sampler_build(&c, n);
    float probs[16];
    sampler_probs(s, logits, hist, n_hist, probs);
    for (int i = 0; i < n; i++)
        EXPECT(fabs(probs[i] - want[i]) < 1e-6, "%s: probs[%d] = %.8f, want %.8f", what, i, probs[i],
               want[i]);
    sampler_free(s);
}

static void expect_probs(const char *what, SamplerConfig c, const double *w, int n, const double *want) {
    float logits[16];
    for (int i = 0; i < n; i++) logits[i] = w[i] > 0 ? (float)log(w[i]) : -INFINITY;
    expect_probs_from(what, c, logits, n, NULL, 0, want);
}

static void test_names(void) {
    EXPECT(!strcmp(sampler_name(&(SamplerConfig){0, 0, 1, 1, 0}), "greedy"), "greedy");
    EXPECT(!strcmp(sampler_name(&(SamplerConfig){0, 5, 0.5f, 1, 0}), "greedy"), "greedy ignores k, p");
    EXPECT(!strcmp(sampler_name(&(SamplerConfig){1, 0, 1, 1, 0}), "multinomial"), "multinomial");
    EXPECT(!strcmp(sampler_name(&(SamplerConfig){0.7f, 40, 1, 1, 0}), "top_k"), "top_k");
    EXPECT(!strcmp(sampler_name(&(SamplerConfig){0.7f, 0, 0.9f, 1, 0}), "nucleus"), "nucleus");
    EXPECT(!strcmp(sampler_name(&(SamplerConfig){0.7f, 40, 0.9f, 1, 0}), "top_k_nucleus"), "top_k_nucleus");
    EXPECT(sampler_is_greedy(&(SamplerConfig){0, 0, 1, 1, 0}), "T = 0 is greedy");
    EXPECT(!sampler_is_greedy(&(SamplerConfig){1e-3f, 0, 1, 1, 0}), "T > 0 is not greedy");
    SamplerConfig d = sampler_config_default();
    EXPECT(d.temperature == 0 && d.top_k == 0 && d.top_p == 1 && d.repetition_penalty == 1 &&
               d.repetition_window == 0, "default is greedy without penalty");
}

/* A bad value must exit with status 2 and one line naming the field, prefixed by `where`. */
static void validate(void *arg) { sampler_config_validate(arg, "run.json: sampler"); }

static void expect_rejected(SamplerConfig c, const char *want) {
    char buf[512];
    int status = test_run_captured(validate, &c, buf, sizeof buf);
    size_t len = strlen(buf);
    EXPECT(status == 2, "'%s': exit status %d", want, status);
    EXPECT(strstr(buf, want) != NULL, "message '%s' lacks '%s'", buf, want);
    EXPECT(strncmp(buf, "specdec: error: run.json: sampler: ", 35) == 0, "prefix of '%s'", buf);
    EXPECT(len > 0 && buf[len - 1] == '\n' && strchr(buf, '\n') == buf + len - 1, "one line: '%s'", buf);
}

static void test_validate(void) {
    SamplerConfig ok = {0.8f, 50, 0.95f, 1.2f, 64};
    sampler_config_validate(&ok, "ok"); /* returns: nothing out of range */
    SamplerConfig c;
    c = ok, c.top_p = 1.5f;
    expect_rejected(c, "top_p must be in (0, 1], got 1.5");
    c = ok, c.top_p = 0.0f;
    expect_rejected(c, "top_p must be in (0, 1], got 0");
    c = ok, c.top_p = NAN;
    expect_rejected(c, "top_p must be in (0, 1]");
    c = ok, c.temperature = -0.5f;
    expect_rejected(c, "temperature must be a finite number >= 0, got -0.5");
    c = ok, c.repetition_penalty = 0.0f;
    expect_rejected(c, "repetition_penalty must be a finite number > 0, got 0");
    c = ok, c.top_k = -1;
    expect_rejected(c, "top_k must be >= 0 (0 = off), got -1");
    c = ok, c.repetition_window = -3;
    expect_rejected(c, "repetition_window must be >= 0 (0 = all tokens), got -3");
}

static void test_greedy(void) {
    /* One-hot at the first maximum, whatever k and p say. */
    const double w[5] = {1, 4, 2, 4, 3};
    const double want[5] = {0, 1, 0, 0, 0};
    expect_probs("greedy tie", cfg(0, 0, 1), w, 5, want);
    expect_probs("greedy ignores k, p", cfg(0, 2, 0.3f), w, 5, want);
    float x[6] = {-3, -1, -1, -2, -5, -1};
    EXPECT(argmax_f32(x, 6) == 1, "argmax_f32 takes the first of equal maxima");
}

static void test_temperature(void) {
    const double w[4] = {1, 2, 3, 4};
    const double t1[4] = {0.1, 0.2, 0.3, 0.4};
    expect_probs("T = 1", cfg(1, 0, 1), w, 4, t1);
    /* exp(ln k / 0.5) = k^2: 1, 4, 9, 16 over 30. */
    const double t05[4] = {1 / 30., 4 / 30., 9 / 30., 16 / 30.};
    expect_probs("T = 0.5", cfg(0.5f, 0, 1), w, 4, t05);
    /* exp(ln k / 2) = sqrt(k). */
    double s = 1 + sqrt(2) + sqrt(3) + 2;
    const double t2[4] = {1 / s, sqrt(2) / s, sqrt(3) / s, 2 / s};
    expect_probs("T = 2", cfg(2, 0, 1), w, 4, t2);
    /* Large logits: the max is subtracted before exp, so nothing overflows. */
    float big[3] = {1000.0f, 1000.0f + logf(3.0f), 1000.0f};
    double d = exp((double)big[1] - big[0]); /* 3 up to the float spacing at 1000 */
    const double wb[3] = {1 / (2 + d), d / (2 + d), 1 / (2 + d)};
    expect_probs_from("logits near 1000", cfg(1, 0, 1), big, 3, NULL, 0, wb);
    /* A tiny T is the limit of the argmax, not 0/0. */
    const double onehot[4] = {0, 0, 0, 1};
    expect_probs("T = 1e-30", cfg(1e-30f, 0, 1), w, 4, onehot);
}

static void test_top_k(void) {
    const double w[5] = {1, 2, 3, 4, 5};
    const double k2[5] = {0, 0, 0, 4 / 9., 5 / 9.};
    expect_probs("top_k 2", cfg(1, 2, 1), w, 5, k2);
    const double k1[5] = {0, 0, 0, 0, 1};
    expect_probs("top_k 1", cfg(1, 1, 1), w, 5, k1);
    const double all[5] = {1 / 15., 2 / 15., 3 / 15., 4 / 15., 5 / 15.};
    expect_probs("top_k = vocab", cfg(1, 5, 1), w, 5, all);
    expect_probs("top_k > vocab", cfg(1, 9, 1), w, 5, all);
    /* Ties at the k-th value are all kept: k = 2 keeps the three 3s. */
    const double t[5] = {1, 3, 3, 3, 2};
    const double tk[5] = {0, 1 / 3., 1 / 3., 1 / 3., 0};
    expect_probs("top_k ties", cfg(1, 2, 1), t, 5, tk);
    /* Temperature before top-k: the kept set is the same, the weights are squared. */
    const double k2t[5] = {0, 0, 0, 16 / 41., 25 / 41.};
    expect_probs("top_k 2, T 0.5", cfg(0.5f, 2, 1), w, 5, k2t);
}

static void test_top_p(void) {
    const double w[4] = {1, 2, 3, 4}; /* p = 0.1 0.2 0.3 0.4 */
    const double p35[4] = {0, 0, 0, 1};
    expect_probs("top_p 0.35", cfg(1, 0, 0.35f), w, 4, p35);
    /* 0.4 < 0.5, 0.4 + 0.3 >= 0.5: the smallest set reaching 0.5 is {3, 4}. */
    const double p50[4] = {0, 0, 3 / 7., 4 / 7.};
    expect_probs("top_p 0.5", cfg(1, 0, 0.5f), w, 4, p50);
    const double p75[4] = {0, 2 / 9., 3 / 9., 4 / 9.};
    expect_probs("top_p 0.75", cfg(1, 0, 0.75f), w, 4, p75);
    const double p95[4] = {0.1, 0.2, 0.3, 0.4};
    expect_probs("top_p 0.95", cfg(1, 0, 0.95f), w, 4, p95);
    /* Temperature first: at T = 0.5 the top token has 16/30 > 0.5 by itself. */
    expect_probs("top_p 0.5, T 0.5", cfg(0.5f, 0, 0.5f), w, 4, p35);
    /* Equal probabilities: the smallest set, the lower id first (0.25 + 0.25 reaches 0.4). */
    const double eq[4] = {1, 1, 1, 1};
    const double eq40[4] = {0.5, 0.5, 0, 0};
    expect_probs("top_p ties", cfg(1, 0, 0.4f), eq, 4, eq40);
    /* Exactly 0.5 (the weights are exp(0) = 1): two tokens reach it, a third is not kept. */
    expect_probs("top_p mass exactly reached", cfg(1, 0, 0.5f), eq, 4, eq40);
    /* The same over 64 equal tokens, enough for the selection to partition: ids 0..31 exactly. */
    SamplerConfig c = cfg(1, 0, 0.5f);
    Sampler *s = sampler_build(&c, 64);
    float zeros[64] = {0}, probs[64];
    sampler_probs(s, zeros, NULL, 0, probs);
    for (int i = 0; i < 64; i++)
        EXPECT(probs[i] == (i < 32 ? 1.0f / 32 : 0.0f), "64 equal, top_p 0.5: probs[%d] = %g", i, probs[i]);
    sampler_free(s);
}

/* Top-k, then top-p on the renormalised top-k distribution (Hugging Face's order): k = 3 leaves
 * 2/9 3/9 4/9, where 4/9 + 3/9 reaches 0.75; top-p on the full distribution would need 0.2 too. */
static void test_top_k_nucleus(void) {
    const double w[4] = {1, 2, 3, 4};
    const double want[4] = {0, 0, 3 / 7., 4 / 7.};
    expect_probs("top_k 3 + top_p 0.75", cfg(1, 3, 0.75f), w, 4, want);
}

/* CTRL penalty: positive logits divided, negative multiplied, each distinct token once, only over
 * the window, on a copy of the logits. */
static void test_repetition_penalty(void) {
    SamplerConfig c = cfg(1, 0, 1);
    c.repetition_penalty = 2.0f;
    float logits[4] = {2.0f, -2.0f, 1.0f, 0.5f};
    const int hist[4] = {0, 1, 0, 0};
    double e[4] = {exp(1.0), exp(-4.0), exp(1.0), exp(0.5)}, s = 0;
    for (int i = 0; i < 4; i++) s += e[i];
    double want[4];
    for (int i = 0; i < 4; i++) want[i] = e[i] / s;
    expect_probs_from("penalty 2, all history", c, logits, 4, hist, 4, want);
    EXPECT(logits[0] == 2.0f && logits[1] == -2.0f, "the caller's logits are not modified");

    /* Window 2 over {2, 0, 1}: tokens 0 and 1 penalised, token 2 not. */
    c.repetition_window = 2;
    const int hist2[3] = {2, 0, 1};
    expect_probs_from("penalty 2, window 2", c, logits, 4, hist2, 3, want);
    c.repetition_window = 3;
    double e3[4] = {exp(1.0), exp(-4.0), exp(0.5), exp(0.5)}, s3 = 0;
    for (int i = 0; i < 4; i++) s3 += e3[i];
    double want3[4];
    for (int i = 0; i < 4; i++) want3[i] = e3[i] / s3;
    expect_probs_from("penalty 2, window 3", c, logits, 4, hist2, 3, want3);

    /* The penalty comes before greedy: it can move the argmax. */
    SamplerConfig g = sampler_config_default();
    g.repetition_penalty = 2.0f;
    float lg[2] = {3.0f, 2.5f};
    const int h0[1] = {0};
    const double to1[2] = {0, 1};
    expect_probs_from("greedy after penalty", g, lg, 2, h0, 1, to1);
    /* A second call must not see marks left by the first. */
    const double to0[2] = {1, 0};
    expect_probs_from("no history", g, lg, 2, NULL, 0, to0);
}

static void test_sample_from_probs(void) {
    /* Dyadic values, so that the cumulative sums are exact. */
    const float p[6] = {0.25f, 0.25f, 0.0f, 0.5f, 0.0f, 0.0f};
    EXPECT(sample_from_probs(p, 6, 0.0f) == 0, "u = 0");
    EXPECT(sample_from_probs(p, 6, 0.24f) == 0, "u = 0.24");
    EXPECT(sample_from_probs(p, 6, 0.25f) == 1, "u = 0.25: cumulative 0.25 does not exceed 0.25");
    EXPECT(sample_from_probs(p, 6, 0.5f) == 3, "u = 0.5: cumulative 0.5 does not exceed 0.5");
    EXPECT(sample_from_probs(p, 6, 0.99999994f) == 3, "u just below 1");
    EXPECT(sample_from_probs(p, 6, 1.0f) == 3, "u = 1 walks back to the last nonzero token");
    /* Unnormalised weights are scaled by their total. */
    const float w[3] = {2.0f, 0.0f, 6.0f};
    EXPECT(sample_from_probs(w, 3, 0.2f) == 0 && sample_from_probs(w, 3, 0.3f) == 2, "weights");
    const float z[3] = {0.0f, 0.0f, 1.0f};
    EXPECT(sample_from_probs(z, 3, 0.0f) == 2, "leading zeros skipped at u = 0");
}

static void test_entropy(void) {
    float u[8], one[8] = {0, 0, 1, 0, 0, 0, 0, 0};
    for (int i = 0; i < 8; i++) u[i] = 0.125f;
    EXPECT(fabsf(entropy_of(u, 8) - logf(8.0f)) < 1e-6f, "uniform: %g", entropy_of(u, 8));
    EXPECT(entropy_of(one, 8) == 0.0f, "one-hot: %g", entropy_of(one, 8));
    const float b[2] = {0.25f, 0.75f};
    double hb = -(0.25 * log(0.25) + 0.75 * log(0.75));
    EXPECT(fabs(entropy_of(b, 2) - hb) < 1e-6, "Bernoulli(0.25): %g", entropy_of(b, 2));
}

/* The reference: sort everything (value descending, id ascending), cut, softmax in double. */
static const float *ref_x;
static int ref_cmp(const void *a, const void *b) {
    int i = *(const int *)a, j = *(const int *)b;
    if (ref_x[i] != ref_x[j]) return ref_x[i] > ref_x[j] ? -1 : 1;
    return i - j;
}

static void reference_probs(const float *logits, int n, SamplerConfig c, int *order, double *out) {
    ref_x = logits;
    for (int i = 0; i < n; i++) order[i] = i;
    qsort(order, (size_t)n, sizeof(int), ref_cmp);
    int keep = n;
    if (c.top_k > 0 && c.top_k < n) {
        keep = c.top_k;
        while (keep < n && logits[order[keep]] == logits[order[c.top_k - 1]]) keep++;
    }
    double m = logits[order[0]], s = 0;
    for (int j = 0; j < n; j++) out[j] = 0;
    for (int j = 0; j < keep; j++) s += exp(((double)logits[order[j]] - m) / c.temperature);
    if (c.top_p < 1) {
        double cum = 0;
        int j = 0;
        while (cum < c.top_p * s) cum += exp(((double)logits[order[j++]] - m) / c.temperature);
        keep = j, s = cum;
    }
    for (int j = 0; j < keep; j++) out[order[j]] = exp(((double)logits[order[j]] - m) / c.temperature) / s;
}

static void test_large_vocab_matches_reference(void) {
    enum { N = 8192 };
    static float logits[N], probs[N];
    static double want[N];
    static int order[N];
    SamplerConfig cases[] = {cfg(1, 0, 1), cfg(0.7f, 50, 1), cfg(1, 0, 0.9f), cfg(0.8f, 50, 0.8f),
                             cfg(1.3f, 1000, 0.95f), cfg(0.5f, 3, 1), cfg(1, 0, 0.999f), cfg(2, 0, 0.5f)};
    /* Continuous logits, then logits on a grid of 1/8 so that many tie, also at the top-k boundary. */
    for (int grid = 0; grid < 2; grid++) {
        for (int i = 0; i < N; i++) {
            float u = rng_uniform(7, 5, (uint64_t)i) * 12.0f;
            logits[i] = grid ? floorf(u * 8.0f) / 8.0f : u;
        }
        for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
            Sampler *s = sampler_build(&cases[k], N);
            sampler_probs(s, logits, NULL, 0, probs);
            reference_probs(logits, N, cases[k], order, want);
            int bad = 0, support = 0;
            double sum = 0;
            for (int i = 0; i < N; i++) {
                bad += (probs[i] > 0) != (want[i] > 0) || fabs(probs[i] - want[i]) > 1e-6 + 1e-4 * want[i];
                support += probs[i] > 0;
                sum += probs[i];
            }
            EXPECT(bad == 0, "%s k=%d p=%g grid=%d: %d entries differ from the full-sort reference",
                   sampler_name(&cases[k]), cases[k].top_k, (double)cases[k].top_p, grid, bad);
            EXPECT(fabs(sum - 1) < 1e-5, "case %zu grid %d: sum %g", k, grid, sum);
            EXPECT(support > 0, "case %zu grid %d: empty support", k, grid);
            sampler_free(s);
        }
    }
}

int main(void) {
    test_validate(); /* forks: first, before anything is allocated */
    test_names();
    test_greedy();
    test_temperature();
    test_top_k();
    test_top_p();
    test_top_k_nucleus();
    test_repetition_penalty();
    test_sample_from_probs();
    test_entropy();
    test_large_vocab_matches_reference();
    return test_summary("test_sampler");
}
