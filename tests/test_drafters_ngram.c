/* The non-model drafters: ngram and ngram1 (NGramStorage behind the drafter interface) and
 * prompt lookup. Hand-worked sequences, the reference harness's update rule (accepted tokens plus
 * the target's top-k), a brute-force prompt lookup on random data, transformers' prompt-lookup
 * results on hand examples, long contexts, and the one-line errors of the builders. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "test_util.h"
#include "drafters.h"
#include "ngram_storage.h"
#include "rng.h"


/* Fixed-seed draws from the harness's Philox stream (24-bit uniforms; every n here is small). */
static uint64_t draws = 0;
static int rand_below(int n) { return (int)((double)rng_uniform(3, 0, draws++) * n); }

static int propose(Drafter *d, const int *ctx, int ctx_len, int gamma, int *out) {
    return d->ops->propose(d->st, ctx, ctx_len, gamma, out, NULL);
}

static int same(const int *a, const int *b, int n) { return memcmp(a, b, sizeof(int) * (size_t)n) == 0; }

static void test_ngram_hand(void) {
    const int prompt[] = {1, 2, 3, 4, 1, 2, 3, 4, 1, 2};
    int out[8];
    Drafter d = drafter_ngram_build(3, 10, 0, 0, 1);
    EXPECT(strcmp(d.ops->name, "ngram") == 0 && d.ops->version == DRAFTER_OPS_VERSION && !d.is_model, "ngram ops");
    EXPECT(d.ops->next_entropy(d.st, prompt, 10) < 0, "deterministic: no entropy");
    const int want[] = {3, 4, 1, 2, 3, 4};
    EXPECT(propose(&d, prompt, 10, 6, out) == 6 && same(out, want, 6), "the prompt's cycle");
    EXPECT(propose(&d, prompt, 10, 0, out) == 0, "gamma 0");
    d.ops->free(d.st);

    /* (9 2) is unknown: ngram backs off to (2), ngram1 cannot */
    const int p2[] = {1, 2, 3, 4, 1, 2, 3, 4, 9, 2};
    const int want_backoff[] = {3, 4, 1, 2};
    d = drafter_ngram_build(3, 10, 0, 0, 1);
    EXPECT(propose(&d, p2, 10, 4, out) == 4 && same(out, want_backoff, 4), "backoff to (2)");
    d.ops->free(d.st);
    d = drafter_ngram_build(3, 10, 1, 0, 1);
    EXPECT(strcmp(d.ops->name, "ngram1") == 0 && !d.is_model, "ngram1 ops");
    EXPECT(propose(&d, p2, 10, 4, out) == 0, "ngram1 stops at the unknown (9 2)");
    EXPECT(propose(&d, prompt, 10, 4, out) == 4 && same(out, want_backoff, 4), "ngram1 knows (1 2)");
    d.ops->free(d.st);
    /* without stop_if_unknown: the most frequent token overall, 2 (three times), at every step */
    d = drafter_ngram_build(3, 10, 1, 0, 0);
    const int twos[] = {2, 2, 2, 2};
    EXPECT(propose(&d, p2, 10, 4, out) == 4 && same(out, twos, 4), "fallback to the most frequent token");
    d.ops->free(d.st);
}

static void test_empty_store(void) {
    int out[4], five = 5;
    for (int stop = 0; stop <= 1; stop++) {
        Drafter d = drafter_ngram_build(3, 10, 0, 0, stop);
        EXPECT(propose(&d, NULL, 0, 4, out) == 0, "stop %d: an empty storage proposes nothing", stop);
        int k = propose(&d, &five, 1, 4, out);
        if (stop) {
            EXPECT(k == 0, "stop: (5) is no known context");
        } else {
            const int fives[] = {5, 5, 5, 5};
            EXPECT(k == 4 && same(out, fives, 4), "no stop: 5 is the only token seen");
        }
        d.ops->reset(d.st, 0);
        EXPECT(propose(&d, NULL, 0, 4, out) == 0, "stop %d: empty again after reset", stop);
        d.ops->free(d.st);
    }
}

/* Each token is ingested once however often a context is shown; a context that leaves what was
 * seen adds its new tokens. */
static void test_ingest_once(void) {
    const int prompt[] = {1, 2, 3, 1, 2, 3, 1, 2}; /* (1 2) -> 3 twice */
    const int c127[] = {1, 2, 7, 1, 2, 7, 1, 2, 7, 1, 2};
    int out[2];
    Drafter d = drafter_ngram_build(3, 10, 0, 0, 1);
    propose(&d, prompt, 8, 1, out);
    for (int i = 0; i < 3; i++) propose(&d, c127, 3, 1, out); /* (1 2) -> 7 counted once */
    EXPECT(propose(&d, c127, 2, 1, out) == 1 && out[0] == 3, "3 x2 beats 7 x1, got %d", out[0]);
    propose(&d, c127, 8, 1, out); /* (1 2) -> 7 twice now: a tie, 3 wins */
    EXPECT(propose(&d, c127, 2, 1, out) == 1 && out[0] == 3, "3 x2 ties 7 x2, got %d", out[0]);
    propose(&d, c127, 11, 1, out);
    EXPECT(propose(&d, c127, 2, 1, out) == 1 && out[0] == 7, "7 x3 leads, got %d", out[0]);
    d.ops->reset(d.st, 0);
    EXPECT(propose(&d, c127, 2, 1, out) == 0, "reset: only (1) -> 2 is known, (1 2) is not");
    d.ops->free(d.st);
}

/* The first proposal after (10 11) once two rounds were observed, starting with observe() as the
 * first_target flow does: round 1 accepted 10 11 and the target said 5, round 2 accepted 10 11
 * and the target said 6. row_a and row_b are the target's rows where 5 and 6 were chosen; the
 * other rows are one-hot at the accepted token. */
enum { FV = 16 };
static int filler_scenario(int top_k, int with_p, const float *row_a, const float *row_b) {
    const int ctx[] = {1, 2, 10, 11, 5, 10, 11, 6, 10, 11};
    float p[3 * FV];
    Drafter d = drafter_ngram_build(3, FV, 0, top_k, 1);
    for (int round = 0; round < 2; round++) {
        memset(p, 0, sizeof(p));
        p[10] = 1.0f;
        p[FV + 11] = 1.0f;
        memcpy(p + 2 * FV, round == 0 ? row_a : row_b, sizeof(float) * FV);
        d.ops->observe(d.st, ctx, 5 + 3 * round, 2, with_p ? p : NULL, 3);
    }
    int out[1];
    int k = propose(&d, ctx, 10, 1, out);
    d.ops->free(d.st);
    return k == 1 ? out[0] : -1;
}

static void test_filler(void) {
    float a[FV] = {0}, b[FV] = {0};
    a[7] = 0.6f, a[5] = 0.4f; /* top-1: 7 */
    b[7] = 0.5f, b[6] = 0.3f, b[2] = 0.2f;
    /* (10 11): 5 x1, 6 x1, and the target's favourite 7 twice though it was never kept */
    EXPECT(filler_scenario(1, 1, a, b) == 7, "top-1 filler makes 7 the prediction");
    EXPECT(filler_scenario(0, 1, a, b) == 5, "no filler: 5 and 6 tie, 5");
    EXPECT(filler_scenario(1, 0, a, b) == 5, "no rows: as without filler");
    /* ties inside a row: 7 and 8 tie, the top-1 is 7 (smaller id): 7 x2 */
    float b2[FV] = {0};
    b2[8] = 0.5f, b2[7] = 0.5f;
    EXPECT(filler_scenario(1, 1, a, b2) == 7, "row tie goes to the smaller id");
    /* one-hot rows have one candidate, whatever top_k asks: 5 x1, 9 x1, 6 x2 (zeros would add
     * 0 and 1 twice each and win the tie) */
    float a3[FV] = {0}, b3[FV] = {0};
    a3[9] = 1.0f, b3[6] = 1.0f;
    EXPECT(filler_scenario(3, 1, a3, b3) == 6, "zero-probability tokens are no candidates");

    /* a round observed again adds nothing: (10 11) -> 5 x2 stays ahead of the filler 8 */
    const int ctx[] = {10, 11, 5, 10, 11, 5, 10, 11, 6};
    float row[FV] = {0};
    row[8] = 1.0f;
    int out[1];
    Drafter d = drafter_ngram_build(3, FV, 0, 1, 1);
    propose(&d, ctx, 8, 1, out);
    for (int i = 0; i < 3; i++) d.ops->observe(d.st, ctx, 9, 0, row, 1);
    EXPECT(propose(&d, ctx, 8, 1, out) == 1 && out[0] == 5, "filler counted once per position, got %d", out[0]);
    d.ops->free(d.st);
}

/* The drafter proposes exactly the chain a storage fed the same tokens gives. */
static void test_ngram_matches_storage(void) {
    enum { LEN = 600, G = 8 };
    static int ctx[LEN];
    for (int trial = 0; trial < 40; trial++) {
        int vocab = trial % 2 ? 50 : 4, n = 2 + trial % 5, one_level = trial % 3 == 0, stop = trial % 4 < 2;
        int len = 1 + rand_below(LEN);
        for (int i = 0; i < len; i++) ctx[i] = rand_below(vocab);
        NGramStorage *s = one_level ? ngram1_storage_build(n, vocab) : ngram_storage_build(n, vocab);
        ngram_storage_initialize(s, ctx, len);
        int want[G + LEN], k_want = 0;
        memcpy(want, ctx, sizeof(int) * (size_t)len);
        while (k_want < G) {
            int t = ngram_storage_next_token(s, want, len + k_want, NULL);
            if (t < 0 && stop) break;
            if (t < 0) t = ngram_storage_most_frequent(s);
            want[len + k_want++] = t;
        }
        Drafter d = drafter_ngram_build(n, vocab, one_level, 0, stop);
        int out[G];
        int k = propose(&d, ctx, len, G, out);
        EXPECT(k == k_want && same(out, want + len, k), "trial %d (vocab %d n %d one_level %d stop %d): %d vs %d",
               trial, vocab, n, one_level, stop, k, k_want);
        d.ops->free(d.st);
        ngram_storage_free(s);
    }
}

/* Brute-force prompt lookup: sizes max..min, earlier starts from the most recent, continuation read
 * from ctx followed by the proposals themselves. */
static int brute_lookup(const int *ctx, int len, int max_ngram, int min_ngram, int gamma, int *out) {
    for (int n = max_ngram < len - 1 ? max_ngram : len - 1; n >= min_ngram; n--)
        for (int j = len - n - 1; j >= 0; j--) {
            if (!same(ctx + j, ctx + len - n, n)) continue;
            for (int k = 0; k < gamma; k++) out[k] = j + n + k < len ? ctx[j + n + k] : out[j + n + k - len];
            return gamma;
        }
    return 0;
}

static void test_lookup_brute_force(void) {
    enum { LEN = 300, G = 10 };
    static int ctx[LEN];
    int out[G], want[G], mismatches = 0, matched = 0;
    for (int trial = 0; trial < 400; trial++) {
        int vocab = trial % 2 ? 20 : 4, len = rand_below(LEN + 1), max_n = 1 + rand_below(5);
        int min_n = 1 + rand_below(max_n), gamma = 1 + rand_below(G);
        for (int i = 0; i < len; i++) ctx[i] = rand_below(vocab);
        Drafter d = drafter_lookup_build(max_n, min_n);
        int k = propose(&d, ctx, len, gamma, out);
        int k_want = brute_lookup(ctx, len, max_n, min_n, gamma, want);
        if (k != k_want || !same(out, want, k)) mismatches++;
        matched += k > 0;
        d.ops->free(d.st);
    }
    EXPECT(mismatches == 0, "lookup differs from brute force in %d of 400 trials", mismatches);
    EXPECT(matched > 100 && matched < 400, "both outcomes exercised: %d of 400 matched", matched);
}

/* transformers' PromptLookupCandidateGenerator.get_candidates, worked by hand: for sizes
 * max_matching_ngram_size..1 it takes the first window equal to the suffix whose continuation
 * start lies before the end, and returns input_ids[start : min(start + num_output_tokens, len)]. */
static void test_lookup_transformers(void) {
    int out[10];
    Drafter d2 = drafter_lookup_build(2, 1), d1 = drafter_lookup_build(1, 1), d3 = drafter_lookup_build(3, 2);
    EXPECT(strcmp(d2.ops->name, "lookup") == 0 && !d2.is_model && d2.ops->next_entropy(d2.st, NULL, 0) < 0,
           "lookup ops");
    /* [2 3] occurs at 1: transformers (2, 3 tokens) gives [4 5 6] */
    const int a[] = {1, 2, 3, 4, 5, 6, 1, 2, 3};
    const int want_a[] = {4, 5, 6, 1, 2, 3, 4, 5, 6, 1};
    EXPECT(propose(&d2, a, 9, 3, out) == 3 && same(out, want_a, 3), "transformers: [4 5 6]");
    /* 10 tokens: transformers stops at the end of the input, [4 5 6 1 2 3]; we agree on those six
     * and go on copying the match through our own proposals */
    EXPECT(propose(&d2, a, 9, 10, out) == 10 && same(out, want_a, 10), "overlapping copy");
    /* the longest suffix wins: [1 2] at 1 beats [2] at 5 */
    const int b[] = {8, 1, 2, 9, 5, 2, 7, 1, 2};
    const int want_b2[] = {9, 5, 2}, want_b1[] = {7, 1, 2};
    EXPECT(propose(&d2, b, 9, 3, out) == 3 && same(out, want_b2, 3), "transformers: [9 5 2]");
    /* size 1: [2] occurs at 2 and 5; transformers takes the first, [9 5 2], we the most recent */
    EXPECT(propose(&d1, b, 9, 3, out) == 3 && same(out, want_b1, 3), "most recent occurrence: [7 1 2]");
    /* no earlier occurrence: transformers returns no candidates */
    const int c[] = {1, 2, 3, 4};
    EXPECT(propose(&d2, c, 4, 3, out) == 0, "no match");
    EXPECT(propose(&d2, c, 1, 3, out) == 0 && propose(&d2, c, 0, 3, out) == 0, "too short to match");
    EXPECT(propose(&d2, a, 9, 0, out) == 0, "gamma 0");
    /* min 2: the lone [2] match is too short */
    const int e[] = {5, 2, 6, 2};
    EXPECT(propose(&d3, e, 4, 3, out) == 0, "below min_ngram");
    const int want_e[] = {6, 2, 6};
    EXPECT(propose(&d2, e, 4, 3, out) == 3 && same(out, want_e, 3), "min 1 takes [2]");
    /* a periodic stretch: transformers (2, 4) gives [5 6 5 6] as well */
    const int f[] = {5, 6, 5, 6, 5, 6};
    const int want_f[] = {5, 6, 5, 6};
    EXPECT(propose(&d2, f, 6, 4, out) == 4 && same(out, want_f, 4), "period 2");
    d1.ops->free(d1.st);
    d2.ops->free(d2.st);
    d3.ops->free(d3.st);
}

/* A few thousand tokens: a copied block is found and followed, and generation that keeps
 * appending the proposals stays equal to the brute force. */
static void test_long_context(void) {
    enum { LEN = 4000, G = 8 };
    static int ctx[LEN + 2000 * G];
    for (int i = 0; i < LEN; i++) ctx[i] = rand_below(1000);
    memcpy(ctx + 3500, ctx + 1000, sizeof(int) * 500); /* ctx ends with ctx[1000..1500) */
    int out[G], want[G];
    Drafter d = drafter_lookup_build(4, 1);
    EXPECT(propose(&d, ctx, LEN, G, out) == G && same(out, ctx + 1500, G), "follows the copied block");
    int len = LEN, mismatches = 0;
    for (int step = 0; step < 1000; step++) {
        int k = propose(&d, ctx, len, G, out);
        if (k != brute_lookup(ctx, len, 4, 1, G, want) || !same(out, want, k)) mismatches++;
        /* append half the proposals and a fresh token, as accepted drafts and the target's token */
        int keep = k / 2;
        memcpy(ctx + len, out, sizeof(int) * (size_t)keep);
        len += keep;
        ctx[len++] = rand_below(1000);
    }
    EXPECT(mismatches == 0, "long context: %d of 1000 proposals differ from brute force", mismatches);
    d.ops->free(d.st);

    /* the ngram drafter over the same rounds, without filler: its storage ends up holding exactly
     * the final context */
    Drafter g = drafter_ngram_build(4, 1000, 0, 3, 0);
    int n = LEN;
    propose(&g, ctx, n, G, out);
    while (n < len) {
        int step = len - n < 5 ? len - n : 5;
        n += step;
        g.ops->observe(g.st, ctx, n, step - 1, NULL, step);
        propose(&g, ctx, n, G, out);
    }
    NGramStorage *s = ngram_storage_build(4, 1000);
    ngram_storage_initialize(s, ctx, len);
    int k = propose(&g, ctx, len, G, out), chain[LEN + 2000 * G + G];
    memcpy(chain, ctx, sizeof(int) * (size_t)len);
    for (int i = 0; i < G; i++) {
        int t = ngram_storage_next_token(s, chain, len + i, NULL);
        chain[len + i] = t >= 0 ? t : ngram_storage_most_frequent(s);
    }
    EXPECT(k == G && same(out, chain + len, G), "ngram drafter after %d tokens", len);
    ngram_storage_free(s);
    g.ops->free(g.st);
}

/* A builder given bad parameters exits with status 2 (fatal), in a child process. */
static void bad_n1(void *unused) { drafter_ngram_build(1, 10, 0, 0, 0); }
static void bad_n_large(void *unused) { drafter_ngram_build(NGRAM_MAX_N + 1, 10, 0, 0, 0); }
static void bad_ngram1(void *unused) { drafter_ngram_build(1, 10, 1, 0, 0); }
static void bad_vocab(void *unused) { drafter_ngram_build(3, 0, 0, 0, 0); }
static void bad_filler(void *unused) { drafter_ngram_build(3, 10, 0, -1, 0); }
static void bad_filler_large(void *unused) { drafter_ngram_build(3, 10, 0, 11, 0); }
static void bad_lookup_order(void *unused) { drafter_lookup_build(2, 3); }
static void bad_lookup_min(void *unused) { drafter_lookup_build(2, 0); }

static void test_bad_parameters(void) {
    void (*const fns[])(void *) = {bad_n1, bad_n_large, bad_ngram1, bad_vocab, bad_filler, bad_filler_large,
                                   bad_lookup_order, bad_lookup_min};
    for (int i = 0; i < 8; i++) {
        char buf[512];
        int status = test_run_captured(fns[i], NULL, buf, sizeof buf);
        EXPECT(status == 2 && strchr(buf, '\n') == buf + strlen(buf) - 1,
               "bad parameters %d: status %d, want exit 2 and one line: %s", i, status, buf);
    }
}

int main(void) {
    test_ngram_hand();
    test_empty_store();
    test_ingest_once();
    test_filler();
    test_ngram_matches_storage();
    test_lookup_brute_force();
    test_lookup_transformers();
    test_long_context();
    test_bad_parameters();
    return test_summary("test_drafters_ngram");
}
