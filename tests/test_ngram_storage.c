/* NGramStorage and OneLevelNGramStorage: counts and backoff on a sequence worked by hand, then
 * every query compared with a brute-force scan of the sequence on random data (fixed seed). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "test_util.h"
#include "ngram_storage.h"
#include "rng.h"


/* Fixed-seed draws from the harness's Philox stream (24-bit uniforms; every n here is small). */
static uint64_t draws = 0;
static int rand_below(int n) { return (int)((double)rng_uniform(2, 0, draws++) * n); }

/* The 9 tokens below, n = 3. Every observation (context -> token):
 *   () -> 1 | (1) -> 2 | (1 2), (2) -> 3 | (2 3), (3) -> 1 | (3 1), (1) -> 2 | (1 2), (2) -> 4 |
 *   (2 4), (4) -> 1 | (4 1), (1) -> 2 | (1 2), (2) -> 3
 * so (1 2) and (2) saw 3 twice and 4 once, (1) saw 2 three times, and overall 1 and 2 came three
 * times each, 3 twice, 4 once. */
static const int HAND[9] = {1, 2, 3, 1, 2, 4, 1, 2, 3};

static void test_hand_multi_level(void) {
    NGramStorage *s = ngram_storage_build(3, 10);
    ngram_storage_initialize(s, HAND, 9);
    int level;
    EXPECT(s->n_contexts[0] == 1 && s->n_contexts[1] == 4 && s->n_contexts[2] == 5,
           "contexts per level %ld %ld %ld, want 1 4 5", s->n_contexts[0], s->n_contexts[1], s->n_contexts[2]);

    int c12[] = {9, 1, 2};
    EXPECT(ngram_storage_next_token(s, c12, 3, &level) == 3 && level == 2, "(1 2) -> 3 at level 2");
    int c52[] = {5, 2};
    EXPECT(ngram_storage_next_token(s, c52, 2, &level) == 3 && level == 1, "(5 2) backs off to (2) -> 3");
    int c231[] = {2, 3, 1};
    EXPECT(ngram_storage_next_token(s, c231, 3, &level) == 2 && level == 2, "(3 1) -> 2");
    int c4[] = {4};
    EXPECT(ngram_storage_next_token(s, c4, 1, &level) == 1 && level == 1, "(4) -> 1");
    int c7[] = {7};
    EXPECT(ngram_storage_next_token(s, c7, 1, &level) == -1 && level == 0, "(7) is unknown");
    EXPECT(ngram_storage_next_token(s, NULL, 0, &level) == -1 && level == 0, "the empty context is no level");
    EXPECT(ngram_storage_most_frequent(s) == 1, "1 and 2 tie at 3: the smaller id");

    EXPECT(ngram_storage_count(s, c12 + 1, 2, 3) == 2, "count (1 2) 3");
    EXPECT(ngram_storage_count(s, c12 + 1, 2, 4) == 1, "count (1 2) 4");
    EXPECT(ngram_storage_count(s, c12 + 1, 2, 5) == 0, "count (1 2) 5");
    EXPECT(ngram_storage_count(s, c12 + 2, 1, 3) == 2, "count (2) 3");
    EXPECT(ngram_storage_count(s, NULL, 0, 1) == 3, "count () 1");
    EXPECT(ngram_storage_count(s, HAND, 3, 1) == 0, "level 3 is not kept by n = 3");

    int g123[] = {1, 2, 3}, g124[] = {1, 2, 4}, g125[] = {1, 2, 5}, g23[] = {2, 3}, g3[] = {3}, g5[] = {5};
    EXPECT(ngram_storage_has_gram(s, g123, 3), "has (1 2 3)");
    EXPECT(ngram_storage_has_gram(s, g124, 3), "has (1 2 4)");
    EXPECT(!ngram_storage_has_gram(s, g125, 3), "no (1 2 5)");
    EXPECT(ngram_storage_has_gram(s, g23, 2), "has (2 3)");
    EXPECT(ngram_storage_has_gram(s, g3, 1), "3 was observed");
    EXPECT(!ngram_storage_has_gram(s, g5, 1), "5 never was");
    EXPECT(!ngram_storage_has_gram(s, HAND, 4), "4-grams are not kept by n = 3");
    EXPECT(!ngram_storage_has_gram(s, HAND, 0), "the empty gram");

    /* ties go to the smaller id whichever came first */
    ngram_storage_update(s, c12 + 1, 2, 4); /* (1 2): 3 x2, 4 x2 */
    EXPECT(ngram_storage_next_token(s, c12, 3, NULL) == 3, "3 and 4 tie: 3");
    ngram_storage_update(s, c12 + 1, 2, 4);
    EXPECT(ngram_storage_next_token(s, c12, 3, NULL) == 4, "4 leads");
    ngram_storage_update(s, c7, 1, 9);
    ngram_storage_update(s, c7, 1, 8);
    EXPECT(ngram_storage_next_token(s, c7, 1, &level) == 8 && level == 1, "9 then 8 tie: 8");

    ngram_storage_reset(s);
    EXPECT(ngram_storage_next_token(s, c12, 3, &level) == -1 && level == 0, "reset forgets contexts");
    EXPECT(ngram_storage_most_frequent(s) == -1, "reset forgets the overall counts");
    EXPECT(!ngram_storage_has_gram(s, g123, 3), "reset forgets grams");
    EXPECT(s->n_contexts[0] == 0 && s->n_contexts[1] == 0 && s->n_contexts[2] == 0, "reset clears the tallies");
    ngram_storage_initialize(s, HAND, 9);
    EXPECT(ngram_storage_next_token(s, c52, 2, &level) == 3 && level == 1, "usable after reset");
    EXPECT(ngram_storage_count(s, c12 + 1, 2, 4) == 1, "counts restart from zero");
    ngram_storage_free(s);
}

static void test_hand_one_level(void) {
    NGramStorage *s = ngram1_storage_build(3, 10);
    ngram_storage_initialize(s, HAND, 9);
    int level;
    int c12[] = {1, 2}, c52[] = {5, 2}, g23[] = {2, 3};
    EXPECT(ngram_storage_next_token(s, c12, 2, &level) == 3 && level == 2, "(1 2) -> 3");
    EXPECT(ngram_storage_next_token(s, c52, 2, &level) == -1 && level == 0, "no backoff to (2)");
    EXPECT(ngram_storage_next_token(s, c12 + 1, 1, &level) == -1, "a context shorter than n-1 is unknown");
    EXPECT(ngram_storage_count(s, c12 + 1, 1, 3) == 0 && !ngram_storage_has_gram(s, g23, 2), "level 1 not kept");
    EXPECT(ngram_storage_most_frequent(s) == 1, "the overall counts are kept");
    EXPECT(s->n_contexts[1] == 0 && s->n_contexts[2] == 5, "only level 2 has contexts");
    ngram_storage_free(s);
}

/* Brute force: how often token followed ctx[0..len) in seq (len 0: how often token occurs). */
static int brute_count(const int *seq, int n_seq, const int *ctx, int len, int token) {
    int c = 0;
    for (int i = len; i < n_seq; i++)
        if (seq[i] == token && memcmp(seq + i - len, ctx, sizeof(int) * (size_t)len) == 0) c++;
    return c;
}

/* Brute force next_token: scan seq for each context length, longest first; the most frequent
 * continuation, smaller id on ties. */
static int brute_next(const int *seq, int n_seq, int n, int lowest, int vocab, const int *ctx, int ctx_len, int *level) {
    int counts[64];
    int top = ctx_len < n - 1 ? ctx_len : n - 1;
    for (int j = top; j >= lowest; j--) {
        memset(counts, 0, sizeof(counts));
        int found = 0;
        for (int i = j; i < n_seq; i++)
            if (memcmp(seq + i - j, ctx + ctx_len - j, sizeof(int) * (size_t)j) == 0) {
                counts[seq[i]]++;
                found = 1;
            }
        if (!found) continue;
        int best = 0;
        for (int t = 1; t < vocab; t++)
            if (counts[t] > counts[best]) best = t;
        *level = j;
        return best;
    }
    *level = 0;
    return -1;
}

/* Distinct contexts of length j that some token followed, by brute force. */
static long brute_contexts(const int *seq, int n_seq, int j) {
    long distinct = 0;
    for (int i = j; i < n_seq; i++) {
        int earlier = 0;
        for (int k = j; k < i && !earlier; k++)
            earlier = memcmp(seq + k - j, seq + i - j, sizeof(int) * (size_t)j) == 0;
        distinct += !earlier;
    }
    return distinct;
}

static void test_random_against_brute_force(void) {
    enum { N_SEQ = 1200, N_QUERIES = 150 };
    static int seq[N_SEQ];
    const int vocabs[] = {3, 40}, ns[] = {2, 3, 5, NGRAM_MAX_N};
    for (int vi = 0; vi < 2; vi++)
        for (int ni = 0; ni < 4; ni++)
            for (int one_level = 0; one_level <= 1; one_level++) {
                int vocab = vocabs[vi], n = ns[ni], lowest = one_level ? n - 1 : 1;
                /* a small vocabulary repeats long contexts; a larger one leaves many unknown */
                for (int i = 0; i < N_SEQ; i++) seq[i] = rand_below(vocab);
                NGramStorage *s = one_level ? ngram1_storage_build(n, vocab) : ngram_storage_build(n, vocab);
                /* half from initialize, half one update at a time: the same observations */
                ngram_storage_initialize(s, seq, N_SEQ / 2);
                for (int i = N_SEQ / 2; i < N_SEQ; i++) ngram_storage_update(s, seq, i, seq[i]);

                int level, want_level, ctx[NGRAM_MAX_N + 2];
                int mismatches = 0;
                for (int q = 0; q < N_QUERIES; q++) {
                    int len = rand_below(n + 2);
                    if (q % 2 == 0) { /* a context that occurs in seq, maybe followed by a new token */
                        int at = len + rand_below(N_SEQ - len);
                        memcpy(ctx, seq + at - len, sizeof(int) * (size_t)len);
                    } else {
                        for (int i = 0; i < len; i++) ctx[i] = rand_below(vocab);
                    }
                    int got = ngram_storage_next_token(s, ctx, len, &level);
                    int want = brute_next(seq, N_SEQ, n, lowest, vocab, ctx, len, &want_level);
                    if (got != want || level != want_level) mismatches++;
                    int j = rand_below(n), token = rand_below(vocab);
                    if (j > len) j = len;
                    int kept = j == 0 || j >= lowest;
                    int want_count = kept ? brute_count(seq, N_SEQ, ctx + len - j, j, token) : 0;
                    if (ngram_storage_count(s, ctx + len - j, j, token) != want_count) mismatches++;
                    int gram[NGRAM_MAX_N + 1];
                    memcpy(gram, ctx + len - j, sizeof(int) * (size_t)j);
                    gram[j] = token;
                    if (ngram_storage_has_gram(s, gram, j + 1) != (want_count > 0)) mismatches++;
                }
                int want_mf = 0;
                for (int t = 1; t < vocab; t++)
                    if (brute_count(seq, N_SEQ, seq, 0, t) > brute_count(seq, N_SEQ, seq, 0, want_mf)) want_mf = t;
                EXPECT(ngram_storage_most_frequent(s) == want_mf, "vocab %d n %d: most frequent", vocab, n);
                EXPECT(mismatches == 0, "vocab %d n %d one_level %d: %d of %d queries differ from brute force",
                       vocab, n, one_level, mismatches, 3 * N_QUERIES);
                if (vocab == 40 && n == 3)
                    for (int j = 0; j < n; j++) {
                        long want_c = j == 0 ? 1 : j >= lowest ? brute_contexts(seq, N_SEQ, j) : 0;
                        EXPECT(s->n_contexts[j] == want_c, "n 3 one_level %d level %d: %ld contexts, want %ld",
                               one_level, j, s->n_contexts[j], want_c);
                    }
                ngram_storage_free(s);
            }
}

int main(void) {
    test_hand_multi_level();
    test_hand_one_level();
    test_random_against_brute_force();
    return test_summary("test_ngram_storage");
}
