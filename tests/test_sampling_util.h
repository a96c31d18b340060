/* The chi-square test of the sampling tests (tests/test_spec_sampling.c and its GPU twin
 * tests/gpu/test_cuda_sampling.c): the exact joint distribution of the first two generated tokens,
 * p(x1) p(x2 | x1), from the target's logits and the CPU's sampler_probs(), grouped into categories
 * with an expected count of at least 10; everything else is pooled into one "other" category. */
#ifndef SPECDEC_TEST_SAMPLING_UTIL_H
#define SPECDEC_TEST_SAMPLING_UTIL_H

#include "sampler.h"
#include "target.h"
#include "test_util.h"

#define MAX_CAT 512

typedef struct {
    int x1, x2; /* x2 = -1: x1 followed by a token not listed */
    double prob;
} Category;

/* Pairs (x1, x2) with probability >= min_prob, then (x1, other) where that is >= min_prob. */
static int sampling_categories(Target *t, const int *prompt, int np, const SamplerConfig *sc, double min_prob,
                               Category *cat) {
    int V = t->cfg->vocab_size, n = 0;
    float *logits = mallocCheck(sizeof(float) * V), *p1 = mallocCheck(sizeof(float) * V), *p2 = mallocCheck(sizeof(float) * V);
    int *hist = mallocCheck(sizeof(int) * (np + 1));
    memcpy(hist, prompt, sizeof(int) * np);
    Sampler *s = sampler_build(sc, V);
    t->truncate(t, 0);
    t->forward(t, prompt, np, 0, logits, 1);
    sampler_probs(s, logits, prompt, np, p1);
    for (hist[np] = 0; hist[np] < V; hist[np]++) {
        int x1 = hist[np];
        if (p1[x1] < min_prob) continue;
        t->truncate(t, np);
        t->forward(t, &x1, 1, np, logits, 1);
        sampler_probs(s, logits, hist, np + 1, p2);
        double rest = p1[x1];
        for (int x2 = 0; x2 < V && n < MAX_CAT - 1; x2++) {
            double pj = (double)p1[x1] * p2[x2];
            if (pj < min_prob) continue;
            cat[n++] = (Category){x1, x2, pj};
            rest -= pj;
        }
        if (rest >= min_prob && n < MAX_CAT) cat[n++] = (Category){x1, -1, rest};
    }
    sampler_free(s);
    free(logits);
    free(p1);
    free(p2);
    free(hist);
    return n;
}

/* The category of a generated pair; n (the pooled rest) when none lists it. */
static int sampling_category_of(const Category *cat, int n, int x1, int x2) {
    int k = n;
    for (int c = 0; c < n; c++) {
        if (cat[c].x1 != x1) continue;
        if (cat[c].x2 == x2) return c;
        if (cat[c].x2 == -1) k = c;
    }
    return k;
}

/* Pearson's statistic of count[0..n] (the last one: the pooled rest) against the categories'
 * expected counts; *df gets the degrees of freedom. */
static double sampling_chi2(const long *count, const Category *cat, int n, int n_samples, int *df) {
    double listed = 0.0, chi2 = 0.0;
    for (int c = 0; c < n; c++) listed += cat[c].prob;
    *df = -1;
    for (int c = 0; c <= n; c++) {
        double e = n_samples * (c < n ? cat[c].prob : 1.0 - listed);
        if (e <= 0) continue;
        chi2 += (count[c] - e) * (count[c] - e) / e;
        (*df)++;
    }
    return chi2;
}

#endif
