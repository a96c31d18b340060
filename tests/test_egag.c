/* EGAG: the DESIGN.md formula at its ends and in between, the smoothing by hand, and the
 * validation of its settings. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "egag.h"
#include "sampler.h"
#include "test_util.h"

enum { V = 8192 };

static void test_raw_gamma(void) {
    float lnv = logf((float)V);
    /* gamma = clamp(floor((1 - H / ln V) * gamma_max), gamma_min, gamma_max) */
    EXPECT(egag_raw_gamma(0.0f, V, 1, 8) == 8, "H = 0 gives gamma_max");
    EXPECT(egag_raw_gamma(lnv, V, 1, 8) == 1, "H = ln V gives gamma_min");
    EXPECT(egag_raw_gamma(lnv, V, 3, 8) == 3, "H = ln V gives gamma_min = 3");
    EXPECT(egag_raw_gamma(0.45f * lnv, V, 1, 8) == 4, "floor(0.55 * 8 = 4.4) = 4");
    EXPECT(egag_raw_gamma(0.3f * lnv, V, 1, 8) == 5, "floor(0.7 * 8 = 5.6) = 5");
    EXPECT(egag_raw_gamma(0.3f * lnv, V, 1, 5) == 3, "floor(0.7 * 5 = 3.5) = 3");
    EXPECT(egag_raw_gamma(0.9f * lnv, V, 2, 8) == 2, "floor(0.1 * 8 = 0.8) = 0, clamped to 2");
    EXPECT(egag_raw_gamma(0.45f * lnv, V, 6, 6) == 6, "gamma_min = gamma_max");
    /* The entropy of real distributions at both ends. */
    static float probs[V];
    for (int i = 0; i < V; i++) probs[i] = 1.0f / V;
    EXPECT(egag_raw_gamma(entropy_of(probs, V), V, 2, 8) == 2, "uniform drafter: gamma_min");
    memset(probs, 0, sizeof(probs));
    probs[17] = 1.0f;
    EXPECT(egag_raw_gamma(entropy_of(probs, V), V, 2, 8) == 8, "one-hot drafter: gamma_max");
}

/* beta = 0.75, gamma in [1, 8], g starts at 8; raw gammas 1, 1, 8, 1:
 *   g = 0.75*8 + 0.25*1 = 6.25 -> 6; 0.75*6.25 + 0.25 = 4.9375 -> 5;
 *   0.75*4.9375 + 2 = 5.703125 -> 6; 0.75*5.703125 + 0.25 = 4.52734375 -> 5.
 * All of these are exact in binary, so g is compared exactly. */
static void test_smoothing(void) {
    float lnv = logf((float)V);
    EgagState e;
    egag_init(&e, 1, 8, 0.75f);
    EXPECT(e.g == 8.0f && e.gamma_min == 1 && e.gamma_max == 8 && e.beta == 0.75f, "init");
    const float h[4] = {lnv, lnv, 0.0f, lnv};
    const int want[4] = {6, 5, 6, 5};
    const float want_g[4] = {6.25f, 4.9375f, 5.703125f, 4.52734375f};
    for (int i = 0; i < 4; i++) {
        int got = egag_next_gamma(&e, h[i], V);
        EXPECT(got == want[i] && e.g == want_g[i], "step %d: gamma %d g %.9g, want %d %.9g", i, got,
               (double)e.g, want[i], (double)want_g[i]);
    }
    /* beta = 0.5 towards a constant raw 4: g = 6, 5, 4.5, 4.25; 4.5 rounds half away from zero. */
    egag_init(&e, 1, 8, 0.5f);
    const int want2[4] = {6, 5, 5, 4};
    for (int i = 0; i < 4; i++) {
        int got = egag_next_gamma(&e, 0.45f * lnv, V);
        EXPECT(got == want2[i], "beta 0.5 step %d: gamma %d, want %d", i, got, want2[i]);
    }
    /* beta = 0: no memory, each round uses its raw gamma. */
    egag_init(&e, 2, 8, 0.0f);
    EXPECT(egag_next_gamma(&e, 0.3f * lnv, V) == 5 && egag_next_gamma(&e, 0.0f, V) == 8 &&
               egag_next_gamma(&e, lnv, V) == 2, "beta 0 follows the raw gamma");
}

typedef struct {
    int gamma_min, gamma_max;
    float beta;
} EgagArgs;

static void init_egag(void *arg) {
    EgagArgs *a = arg;
    EgagState e;
    egag_init(&e, a->gamma_min, a->gamma_max, a->beta);
}

static void expect_rejected(int gamma_min, int gamma_max, float beta, const char *want) {
    EgagArgs a = {gamma_min, gamma_max, beta};
    char buf[512];
    int status = test_run_captured(init_egag, &a, buf, sizeof buf);
    EXPECT(status == 2, "'%s': exit status %d", want, status);
    EXPECT(strstr(buf, want) != NULL, "message '%s' lacks '%s'", buf, want);
}

static void test_validation(void) {
    expect_rejected(0, 8, 0.5f, "gamma_min must be in [1, gamma_max = 8], got 0");
    expect_rejected(9, 8, 0.5f, "gamma_min must be in [1, gamma_max = 8], got 9");
    expect_rejected(1, 65, 0.5f, "gamma_max must be in [1, 64], got 65");
    expect_rejected(1, 8, 1.5f, "beta (egag_beta) must be in [0, 1], got 1.5");
    expect_rejected(1, 8, NAN, "beta (egag_beta) must be in [0, 1]");
}

int main(void) {
    test_validation(); /* forks: first, before anything is allocated */
    test_raw_gamma();
    test_smoothing();
    return test_summary("test_egag");
}
