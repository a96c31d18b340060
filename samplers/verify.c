#include "verify.h"

#include <string.h>

#include "check.h"
#include "rng.h"
#include "sampler.h"

int max_fn_residual(const float *p, const float *q, int draft, int vocab, float *out) {
    double mass = 0.0;
    for (int i = 0; i < vocab; i++) {
        float qi = q ? q[i] : (i == draft ? 1.0f : 0.0f);
        float r = p[i] - qi;
        out[i] = r > 0.0f ? r : 0.0f;
        mass += out[i];
    }
    if (!(mass > 0.0)) {
        /* p <= q everywhere means p == q: rejection had probability zero and any choice is
         * unbiased; p keeps the output a distribution instead of 0/0. */
        memcpy(out, p, (size_t)vocab * sizeof(float));
        return 0;
    }
    for (int i = 0; i < vocab; i++) out[i] = (float)(out[i] / mass);
    return 1;
}

static float draw(uint64_t seed, uint64_t round, int slot) {
    return rng_uniform(seed, RNG_STREAM_TARGET, round * RNG_SLOTS_PER_ROUND + (uint64_t)slot);
}

VerifyResult verify_round(const float *p, const float *q, const int *drafts, int gamma, int vocab,
                          int greedy, int skip_sample_adjustment, uint64_t seed, uint64_t round,
                          float *scratch) {
    CHECK(gamma >= 0 && gamma <= 64, "verify_round: gamma %d outside 0..64", gamma);
    CHECK(vocab > 0, "verify_round: vocab %d", vocab);
    VerifyResult res;
    memset(&res, 0, sizeof(res));
    for (int i = 0; i < gamma; i++) {
        const float *pi = p + (size_t)i * vocab;
        const float *qi = q ? q + (size_t)i * vocab : NULL;
        int x = drafts[i];
        CHECK(x >= 0 && x < vocab, "verify_round: draft %d at position %d outside vocab %d", x, i, vocab);
        float px = pi[x], qx = qi ? qi[x] : 1.0f;
        res.p_draft[i] = px;
        res.q_draft[i] = qx;
        if (greedy) {
            int best = argmax_f32(pi, vocab);
            if (x == best) continue;
            res.n_accepted = i;
            res.next_token = best;
            return res;
        }
        CHECK(qx > 0.0f, "verify_round: draft %d at position %d has q = 0", x, i);
        /* u < p/q, multiplied out: no division, and p >= q accepts for every u in [0, 1). */
        if (draw(seed, round, i) * qx < px) continue;
        res.n_accepted = i;
        const float *dist = pi;
        if (!skip_sample_adjustment) {
            max_fn_residual(pi, qi, x, vocab, scratch);
            dist = scratch;
        }
        res.next_token = sample_from_probs(dist, vocab, draw(seed, round, RNG_SLOT_FINAL));
        return res;
    }
    const float *bonus = p + (size_t)gamma * vocab;
    res.n_accepted = gamma;
    res.next_token = greedy ? argmax_f32(bonus, vocab)
                            : sample_from_probs(bonus, vocab, draw(seed, round, RNG_SLOT_FINAL));
    return res;
}
