/* Verification: exact cases for max_fn and greedy, the RNG slot layout, and statistical proof
 * that sampled verification is lossless (and that skipping the residual is not). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "rng.h"
#include "sampler.h"
#include "verify.h"
#include "test_util.h"

static void test_max_fn(void) {
    float out[4];
    /* p == q: no residual mass; p comes back, not 0/0. */
    const float p[4] = {0.1f, 0.2f, 0.3f, 0.4f};
    EXPECT(max_fn_residual(p, p, 1, 4, out) == 0, "p == q reports an empty residual");
    for (int i = 0; i < 4; i++) EXPECT(out[i] == p[i] && !isnan(out[i]), "p == q: out[%d] = %g", i, out[i]);
    /* One-hot q at 2: p without token 2, renormalised: 0.1 0.2 0 0.4 over 0.7. */
    EXPECT(max_fn_residual(p, NULL, 2, 4, out) == 1, "one-hot q has a residual");
    const double oh[4] = {1 / 7., 2 / 7., 0, 4 / 7.};
    for (int i = 0; i < 4; i++) EXPECT(fabs(out[i] - oh[i]) < 1e-6, "one-hot: out[%d] = %g", i, out[i]);
    /* A model q: max(0, p - q) = 0.25 0 0.25 0, normalised. */
    const float pm[4] = {0.5f, 0.25f, 0.25f, 0.0f}, qm[4] = {0.25f, 0.5f, 0.0f, 0.25f};
    EXPECT(max_fn_residual(pm, qm, 1, 4, out) == 1, "model q has a residual");
    const float mm[4] = {0.5f, 0.0f, 0.5f, 0.0f};
    for (int i = 0; i < 4; i++) EXPECT(out[i] == mm[i], "model q: out[%d] = %g", i, out[i]);
    /* p one-hot at the draft and q one-hot there too: empty residual, fall back to p. */
    const float p1[4] = {0, 0, 1, 0};
    EXPECT(max_fn_residual(p1, NULL, 2, 4, out) == 0, "p one-hot at the draft: empty residual");
    for (int i = 0; i < 4; i++) EXPECT(out[i] == p1[i], "p one-hot: out[%d] = %g", i, out[i]);
}

static void test_greedy(void) {
    enum { VG = 5, G = 3 };
    /* argmax of the rows: 2, 0 (tied with 3: the first wins), 4, 1. */
    const float p[G + 1][VG] = {{0.1f, 0.2f, 0.4f, 0.2f, 0.1f},
                                {0.3f, 0.1f, 0.1f, 0.3f, 0.2f},
                                {0.1f, 0.1f, 0.1f, 0.1f, 0.6f},
                                {0.1f, 0.5f, 0.1f, 0.2f, 0.1f}};
    const float q[G][VG] = {{0.2f, 0.2f, 0.2f, 0.2f, 0.2f},
                            {0.1f, 0.1f, 0.1f, 0.6f, 0.1f},
                            {0.2f, 0.2f, 0.2f, 0.2f, 0.2f}};
    float scratch[VG];
    const struct {
        int drafts[G], n_accepted, next;
    } cases[] = {
        {{2, 0, 4}, 3, 1}, /* all accepted: the bonus is argmax p_4 */
        {{2, 0, 3}, 2, 4}, /* mismatch at 3: argmax p_3 */
        {{2, 3, 4}, 1, 0}, /* the tie partner 3 is not the argmax */
        {{1, 0, 4}, 0, 2},
    };
    for (int c = 0; c < 4; c++)
        for (uint64_t seed = 0; seed < 3; seed++) { /* the seed must not matter */
            VerifyResult r = verify_round(&p[0][0], (c & 1) ? &q[0][0] : NULL, cases[c].drafts, G, VG, 1, 0,
                                          seed, seed * 7, scratch);
            EXPECT(r.n_accepted == cases[c].n_accepted && r.next_token == cases[c].next,
                   "greedy case %d seed %llu: accepted %d next %d, want %d %d", c, (unsigned long long)seed,
                   r.n_accepted, r.next_token, cases[c].n_accepted, cases[c].next);
            int reached = cases[c].n_accepted < G ? cases[c].n_accepted + 1 : G;
            for (int i = 0; i < reached; i++) {
                int x = cases[c].drafts[i];
                EXPECT(r.p_draft[i] == p[i][x] && r.q_draft[i] == ((c & 1) ? q[i][x] : 1.0f),
                       "greedy case %d: p_draft/q_draft[%d]", c, i);
            }
        }
    VerifyResult r = verify_round(&p[0][0], NULL, NULL, 0, VG, 1, 0, 0, 0, scratch);
    EXPECT(r.n_accepted == 0 && r.next_token == 2, "gamma 0: argmax p_1");
}

/* The draws of rng.h's layout, exactly: with one-hot q and p(x_1) = 1, p(x_2) = 0.25, position 2 is
 * accepted iff the uniform of slot 1 is < 0.25, and the final token is the inverse CDF at slot
 * 127 of the residual (rejected) or of p_3 (bonus). */
static void test_slot_layout(void) {
    enum { VS = 4 };
    const float p[3][VS] = {{0, 1, 0, 0}, {0.25f, 0.25f, 0.25f, 0.25f}, {0.5f, 0.125f, 0.125f, 0.25f}};
    const float resid[VS] = {1 / 3.f, 1 / 3.f, 0, 1 / 3.f};
    const int drafts[2] = {1, 2};
    float scratch[VS];
    int n_acc[3] = {0, 0, 0};
    for (uint64_t seed = 100; seed < 110; seed++)
        for (uint64_t round = 0; round < 100; round += 3) {
            VerifyResult r = verify_round(&p[0][0], NULL, drafts, 2, VS, 0, 0, seed, round, scratch);
            uint64_t base = round * RNG_SLOTS_PER_ROUND;
            int accept2 = rng_uniform(seed, RNG_STREAM_TARGET, base + 1) < 0.25f;
            float uf = rng_uniform(seed, RNG_STREAM_TARGET, base + RNG_SLOT_FINAL);
            int next = sample_from_probs(accept2 ? p[2] : resid, VS, uf);
            EXPECT(r.n_accepted == 1 + accept2 && r.next_token == next,
                   "seed %llu round %llu: accepted %d next %d, want %d %d", (unsigned long long)seed,
                   (unsigned long long)round, r.n_accepted, r.next_token, 1 + accept2, next);
            EXPECT(r.p_draft[0] == 1 && r.p_draft[1] == 0.25f && r.q_draft[0] == 1 && r.q_draft[1] == 1,
                   "p_draft/q_draft");
            n_acc[r.n_accepted]++;
        }
    EXPECT(n_acc[1] > 0 && n_acc[2] > 0, "both outcomes seen: %d %d", n_acc[1], n_acc[2]);
}

/* ---- statistics ---------------------------------------------------------------------------- */

/* At the 1e-6 quantile a fixed seed is not near the edge, and with ~40 tests run the family-wise
 * rate is < 1e-4. */
#define Z_1E6 4.753424
static double chi2_critical(int df) { return test_chi2_critical(df, Z_1E6); }

typedef struct {
    double stat, crit;
    int df;
    long in_empty_cells; /* observations where the law has probability 0: must be none */
} Chi2;

/* Pearson's statistic of counts against a law over n cells; zero-probability cells carry no
 * degree of freedom. */
static Chi2 chi2_test(const long *obs, const double *law, int n, long total) {
    Chi2 c = {0, 0, -1, 0};
    for (int i = 0; i < n; i++) {
        if (law[i] <= 0) {
            c.in_empty_cells += obs[i];
            continue;
        }
        double e = law[i] * total;
        c.stat += (obs[i] - e) * (obs[i] - e) / e;
        c.df++;
    }
    c.crit = chi2_critical(c.df);
    return c;
}

/* Sample size check: a law at total-variation distance delta from the null has Pearson
 * noncentrality lambda = N sum d_i^2 / p_i >= N (sum |d_i|)^2 = 4 N delta^2 (Cauchy-Schwarz). The
 * test detects it when the noncentral mean df + lambda clears the critical value by 4 of its
 * standard deviations sqrt(2 (df + 2 lambda)). */
static int detects_tv(int df, long n, double delta) {
    double lambda = 4.0 * n * delta * delta;
    return df + lambda - chi2_critical(df) > 4.0 * sqrt(2.0 * (df + 2.0 * lambda));
}

/* A two-step world where every row is known in closed form: the target and the drafter are
 * bigram models, row a being the next-token law after token a (row START before any token). */
enum { V = 20, START = V, N_TRIALS = 300000 };
typedef struct {
    float p[V + 1][V]; /* target */
    float q[V + 1][V]; /* model drafter */
    int det[V + 1];    /* deterministic drafter: the draft after token a */
} Chain;

static float test_uniform(uint64_t *ctr) { return rng_uniform(0x5eed, 9, (*ctr)++); }

static void normalise(float *w) {
    double s = 0;
    for (int i = 0; i < V; i++) s += w[i];
    for (int i = 0; i < V; i++) w[i] = (float)(w[i] / s);
}

/* Rows with zeros in both p (drafts that must always be rejected) and q (tokens only the residual
 * can produce); q is sharper than p so that rejections are common. The deterministic drafter
 * proposes a token that p favours, as a real one would, so that deep acceptances happen too. */
static void build_chain(Chain *c) {
    uint64_t ctr = 0;
    for (int a = 0; a <= V; a++) {
        c->det[a] = a == 5 ? (3 * 5 + 1) % V : (int)(test_uniform(&ctr) * V); /* row 5: p(det) = 0 */
        for (int i = 0; i < V; i++) {
            c->p[a][i] = 0.2f + test_uniform(&ctr);
            float u = test_uniform(&ctr);
            c->q[a][i] = 0.02f + u * u * u;
        }
        c->p[a][c->det[a]] += 6.0f;
        c->p[a][(3 * a + 1) % V] = 0;
        c->q[a][(5 * a + 2) % V] = 0;
        c->q[a][(7 * a + 4) % V] = 0;
        normalise(c->p[a]);
        normalise(c->q[a]);
    }
}

typedef struct {
    long first[V];
    long joint[V][V];
    long accepted_first; /* round 0 accepted its first draft */
    long bad_resample;   /* a rejected draft came back as the replacement */
} Tally;

/* One generation per trial, each with its own seed, until two tokens are out. The drafter samples
 * from its rows on RNG_STREAM_DRAFTER; the target rows for the round follow the drafted path. */
static void simulate(const Chain *c, int gamma, int model_q, int skip, Tally *t) {
    float p[4 * V], q[3 * V], scratch[V];
    int drafts[3];
    memset(t, 0, sizeof(*t));
    for (long trial = 0; trial < N_TRIALS; trial++) {
        uint64_t seed = 1000003ULL * (uint64_t)(gamma + 4 * model_q + 8 * skip) + (uint64_t)trial;
        int out[2], n_out = 0, last = START;
        for (uint64_t round = 0; n_out < 2; round++) {
            int prev = last;
            for (int i = 0; i < gamma; i++) {
                memcpy(p + i * V, c->p[prev], sizeof(c->p[prev]));
                if (model_q) {
                    memcpy(q + i * V, c->q[prev], sizeof(c->q[prev]));
                    float u = rng_uniform(seed, RNG_STREAM_DRAFTER, round * RNG_SLOTS_PER_ROUND + (uint64_t)i);
                    drafts[i] = sample_from_probs(c->q[prev], V, u);
                } else {
                    drafts[i] = c->det[prev];
                }
                prev = drafts[i];
            }
            memcpy(p + gamma * V, c->p[prev], sizeof(c->p[prev]));
            VerifyResult r = verify_round(p, model_q ? q : NULL, drafts, gamma, V, 0, skip, seed, round, scratch);
            if (round == 0) t->accepted_first += r.n_accepted >= 1;
            if (!skip && r.n_accepted < gamma) t->bad_resample += r.next_token == drafts[r.n_accepted];
            for (int i = 0; i < r.n_accepted && n_out < 2; i++) out[n_out++] = drafts[i];
            if (n_out < 2) out[n_out++] = r.next_token;
            last = out[n_out - 1];
        }
        t->first[out[0]]++;
        t->joint[out[0]][out[1]]++;
    }
}

static void expect_fits(const char *what, Chi2 c) {
    printf("  %-45s chi-square %7.1f  critical %6.1f  df %d\n", what, c.stat, c.crit, c.df);
    EXPECT(c.in_empty_cells == 0, "%s: %ld draws where the law has probability 0", what, c.in_empty_cells);
    EXPECT(c.stat < c.crit, "%s: chi-square %.1f >= %.1f (df %d)", what, c.stat, c.crit, c.df);
}

static Tally tally; /* too big for the stack under ASan: 400 longs per joint table */

/* Lossless: the first token has law p(. | START) and the first two p(a | START) p(b | a), for
 * gamma 1..3, with a model q and a one-hot q. Acceptance at position 1 matches sum min(p, q). */
static void test_lossless(const Chain *c) {
    double first[V], joint[V * V];
    for (int a = 0; a < V; a++) {
        first[a] = c->p[START][a];
        for (int b = 0; b < V; b++) joint[a * V + b] = (double)c->p[START][a] * c->p[a][b];
    }
    EXPECT(detects_tv(V * V - 1, N_TRIALS, 0.02), "%d trials cannot detect a TV error of 0.02", N_TRIALS);
    for (int model_q = 0; model_q < 2; model_q++)
        for (int gamma = 1; gamma <= 3; gamma++) {
            char what[64];
            simulate(c, gamma, model_q, 0, &tally);
            snprintf(what, sizeof(what), "gamma %d %s q, first token", gamma, model_q ? "model" : "one-hot");
            expect_fits(what, chi2_test(tally.first, first, V, N_TRIALS));
            snprintf(what, sizeof(what), "gamma %d %s q, first two tokens", gamma, model_q ? "model" : "one-hot");
            expect_fits(what, chi2_test(&tally.joint[0][0], joint, V * V, N_TRIALS));
            EXPECT(tally.bad_resample == 0, "%s: %ld rejected drafts resampled", what, tally.bad_resample);

            double alpha = 0;
            for (int x = 0; x < V; x++)
                alpha += model_q ? fmin(c->p[START][x], c->q[START][x]) : (x == c->det[START]) * c->p[START][x];
            double measured = (double)tally.accepted_first / N_TRIALS;
            double se = sqrt(alpha * (1 - alpha) / N_TRIALS);
            printf("  gamma %d %-7s q: acceptance at position 1 %.5f, sum min(p, q) %.5f, se %.5f\n", gamma,
                   model_q ? "model" : "one-hot", measured, alpha, se);
            EXPECT(fabs(measured - alpha) < 4 * se, "gamma %d %s q: acceptance %.5f, theory %.5f (se %.5f)",
                   gamma, model_q ? "model" : "one-hot", measured, alpha, se);
        }
}

/* Replacing from p instead of the residual gives min(p, q) + (1 - alpha) p, not p: the same test
 * must reject p and accept that biased law. */
static void test_skip_adjustment_is_biased(const Chain *c) {
    const float *p = c->p[START], *q = c->q[START];
    double alpha = 0, pd[V], biased[V], tv = 0;
    for (int x = 0; x < V; x++) alpha += fmin(p[x], q[x]);
    for (int x = 0; x < V; x++) {
        pd[x] = p[x];
        biased[x] = fmin(p[x], q[x]) + (1 - alpha) * p[x];
        tv += 0.5 * fabs(biased[x] - pd[x]);
    }
    EXPECT(tv > 0.05, "the chain does not separate the ablation: TV %.4f", tv);
    simulate(c, 1, 1, 1, &tally);
    Chi2 vs_p = chi2_test(tally.first, pd, V, N_TRIALS);
    printf("  %-45s chi-square %7.1f  critical %6.1f  df %d (TV %.3f)\n", "skip_sample_adjustment vs p",
           vs_p.stat, vs_p.crit, vs_p.df, tv);
    EXPECT(vs_p.stat > vs_p.crit, "skip_sample_adjustment passed as lossless: chi-square %.1f < %.1f",
           vs_p.stat, vs_p.crit);
    expect_fits("skip_sample_adjustment vs its biased law", chi2_test(tally.first, biased, V, N_TRIALS));
}

int main(void) {
    test_max_fn();
    test_greedy();
    test_slot_layout();
    static Chain chain;
    build_chain(&chain);
    test_lossless(&chain);
    test_skip_adjustment_is_biased(&chain);
    return test_summary("test_verify");
}
