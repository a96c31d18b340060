/* EGAG: entropy-guided adaptive gamma.
 *   gamma_raw = clamp(floor((1 - H / ln V) * gamma_max), gamma_min, gamma_max)
 *   g <- beta * g + (1 - beta) * gamma_raw, and the round uses round(g).
 * H is the entropy (nats) of the drafter's next-token distribution after temperature; for
 * deterministic drafters the target's last distribution stands in. */
#ifndef SPECDEC_EGAG_H
#define SPECDEC_EGAG_H

typedef struct {
    int gamma_min, gamma_max;
    float beta;
    float g;        /* the smoothed gamma; starts at gamma_max */
} EgagState;

void egag_init(EgagState *e, int gamma_min, int gamma_max, float beta);
int egag_raw_gamma(float entropy, int vocab, int gamma_min, int gamma_max);
/* Feeds this round's entropy; returns the gamma to use. */
int egag_next_gamma(EgagState *e, float entropy, int vocab);

#endif
