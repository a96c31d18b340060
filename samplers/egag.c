#include "egag.h"

#include <math.h>

#include "check.h"
#include "generate.h"

void egag_init(EgagState *e, int gamma_min, int gamma_max, float beta) {
    if (gamma_max < 1 || gamma_max > GAMMA_MAX_LIMIT)
        fatal("egag: gamma_max must be in [1, %d], got %d", GAMMA_MAX_LIMIT, gamma_max);
    if (gamma_min < 1 || gamma_min > gamma_max)
        fatal("egag: gamma_min must be in [1, gamma_max = %d], got %d", gamma_max, gamma_min);
    if (!(beta >= 0.0f && beta <= 1.0f))
        fatal("egag: beta (egag_beta) must be in [0, 1], got %g", (double)beta);
    e->gamma_min = gamma_min;
    e->gamma_max = gamma_max;
    e->beta = beta;
    e->g = (float)gamma_max;
}

int egag_raw_gamma(float entropy, int vocab, int gamma_min, int gamma_max) {
    CHECK(vocab > 1, "egag_raw_gamma: vocab %d", vocab);
    CHECK(isfinite(entropy), "egag_raw_gamma: entropy %g", (double)entropy);
    double g = floor((1.0 - (double)entropy / log((double)vocab)) * gamma_max);
    if (g < gamma_min) return gamma_min;
    if (g > gamma_max) return gamma_max;
    return (int)g;
}

int egag_next_gamma(EgagState *e, float entropy, int vocab) {
    int raw = egag_raw_gamma(entropy, vocab, e->gamma_min, e->gamma_max);
    e->g = (float)((double)e->beta * e->g + (1.0 - (double)e->beta) * raw);
    return (int)lround(e->g);
}
