/* The CPU target's KV cache, checked against itself:
 *  - one forward of n tokens equals n single-token forwards (max |dlogit| <= 1e-4, every row);
 *  - chunking: a target whose max_batch is smaller than n gives the same rows, for all rows and for
 *    a few last rows that straddle a chunk boundary;
 *  - a prefill that asks for no logits leaves the cache the next forward needs;
 *  - truncate then re-forward reproduces the logits bit for bit, also after other tokens were
 *    written past the truncation point, and a forward at pos < len overwrites without a truncate.
 * Models: pycode-1m (head_dim 48, 2 heads / 1 kv head), pycode-3m (3 / 1) and stories260K
 * (llama2.c interleaved RoPE, 8 / 4). Token sequences are the fixture prompts plus their greedy
 * continuations, so attention sees real text. */
#include <math.h>

#include "target.h"
#include "test_util.h"

#define FIXTURES SPECDEC_SOURCE_DIR "/tests/fixtures/models"
#define BATCH_TOL 1e-4f
#define MAX_TOKENS 256

typedef struct {
    const char *name;   /* fixture model name */
    const char *path;   /* under models_dir() */
    const char *prompt; /* fixture prompt label whose ids + greedy make the sequence */
} Case;

static const Case CASES[] = {
    {"pycode-1m", "pycode/pycode-1m", "humaneval0"},
    {"pycode-3m", "pycode/pycode-3m", "humaneval0"},
    {"stories260K", "tinystories-llama2c/tinystories_260k/checkpoint_legacy.bin", "story"},
};

/* ids followed by greedy of the named fixture prompt; returns the count. */
static int fixture_tokens(const cJSON *index, const Case *c, int *out) {
    const cJSON *m, *p, *e;
    cJSON_ArrayForEach(m, cJSON_GetObjectItem(index, "models")) {
        if (strcmp(cJSON_GetObjectItem(m, "name")->valuestring, c->name)) continue;
        cJSON_ArrayForEach(p, cJSON_GetObjectItem(m, "prompts")) {
            if (strcmp(cJSON_GetObjectItem(p, "label")->valuestring, c->prompt)) continue;
            int n = 0;
            cJSON_ArrayForEach(e, cJSON_GetObjectItem(p, "ids")) if (n < MAX_TOKENS) out[n++] = e->valueint;
            cJSON_ArrayForEach(e, cJSON_GetObjectItem(p, "greedy")) if (n < MAX_TOKENS) out[n++] = e->valueint;
            return n;
        }
    }
    CHECK(0, "fixture index has no %s/%s", c->name, c->prompt);
    return 0;
}

static float max_abs_diff(const float *a, const float *b, size_t n) {
    float worst = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (!(d <= worst)) worst = d; /* NaN counts as worst */
    }
    return worst;
}

static void expect_close(const char *who, const char *what, const float *a, const float *b, size_t n, float tol) {
    float d = max_abs_diff(a, b, n);
    printf("%s: %s: max |dlogit| %.3g\n", who, what, d);
    EXPECT(d <= tol, "%s: %s: max |dlogit| %.3g exceeds %.0e", who, what, d, tol);
}

static void expect_same(const char *who, const char *what, const float *a, const float *b, size_t n) {
    int same = memcmp(a, b, n * sizeof(float)) == 0;
    printf("%s: %s: %s\n", who, what, same ? "bit-identical" : "differs");
    EXPECT(same, "%s: %s: not bit-identical, max |dlogit| %.3g", who, what, max_abs_diff(a, b, n));
}

static void expect_len(const char *who, const Target *t, int len) {
    EXPECT(t->len == len, "%s: cache length %d, expected %d", who, t->len, len);
}

static void check_model(const Case *c, const int *tokens, int n) {
    char path[4096];
    test_model_path(c->path, path, sizeof path);
    Model m;
    model_load(&m, path);
    size_t V = (size_t)m.cfg.vocab_size;
    float *whole = mallocCheck(sizeof(float) * V * n);  /* (n, V) one forward of all n tokens */
    float *single = mallocCheck(sizeof(float) * V * n); /* (n, V) one token per forward */
    float *other = mallocCheck(sizeof(float) * V * n);  /* (n, V) scratch */

    /* one forward of n tokens vs n single-token forwards */
    Target *big = target_cpu_build(&m, n);
    big->forward(big, tokens, n, 0, whole, n);
    expect_len(c->name, big, n);
    Target *one = target_cpu_build(&m, 1);
    for (int i = 0; i < n; i++) one->forward(one, tokens + i, 1, i, single + (size_t)i * V, 1);
    expect_close(c->name, "one forward of n tokens == n single-token forwards", whole, single, V * n, BATCH_TOL);

    /* chunking: max_batch 7 splits n into uneven chunks */
    Target *chunked = target_cpu_build(&m, 7);
    chunked->forward(chunked, tokens, n, 0, other, n);
    expect_close(c->name, "max_batch 7, all rows", other, whole, V * n, BATCH_TOL);
    chunked->truncate(chunked, 0);
    /* the last 10 rows straddle a chunk boundary whatever n is */
    chunked->forward(chunked, tokens, n, 0, other, 10);
    expect_close(c->name, "max_batch 7, last 10 rows", other, whole + (size_t)(n - 10) * V, V * 10, BATCH_TOL);

    /* prefill without logits, then the rest */
    int k = n / 2;
    chunked->truncate(chunked, 0);
    chunked->forward(chunked, tokens, k, 0, NULL, 0);
    expect_len(c->name, chunked, k);
    chunked->forward(chunked, tokens + k, n - k, k, other, n - k);
    expect_close(c->name, "prefill with n_logits 0, then the rest", other, whole + (size_t)k * V, V * (n - k), BATCH_TOL);

    /* truncate + re-forward: the same call geometry must give the same bits */
    float *tail = mallocCheck(sizeof(float) * V * (n - k)); /* (n - k, V) */
    big->truncate(big, 0);
    big->forward(big, tokens, k, 0, NULL, 0);
    big->forward(big, tokens + k, n - k, k, tail, n - k);
    big->truncate(big, k);
    expect_len(c->name, big, k);
    big->forward(big, tokens + k, n - k, k, other, n - k);
    expect_same(c->name, "truncate(k) then re-forward", other, tail, V * (n - k));

    /* stale entries past the truncation point must not leak into later attention */
    int *junk = mallocCheck(sizeof(int) * (size_t)n);
    for (int i = 0; i < n; i++) junk[i] = (tokens[i] * 7 + 3) % (int)V;
    big->truncate(big, k);
    big->forward(big, junk, n - k, k, NULL, 0);
    big->truncate(big, k);
    big->forward(big, tokens + k, n - k, k, other, n - k);
    expect_same(c->name, "other tokens written past k, truncate(k), re-forward", other, tail, V * (n - k));

    /* forward at pos < len overwrites from pos on, no truncate needed */
    big->forward(big, junk, n - k, k, NULL, 0);
    big->forward(big, tokens + k, n - k, k, other, n - k);
    expect_len(c->name, big, n);
    expect_same(c->name, "forward at pos < len without truncate", other, tail, V * (n - k));

    /* a speculative round: verify 5 drafted tokens, keep 2, continue one token at a time */
    big->truncate(big, k);
    big->forward(big, junk + k, 5, k, NULL, 0);
    big->truncate(big, k);
    for (int i = k; i < n; i++) big->forward(big, tokens + i, 1, i, other + (size_t)(i - k) * V, 1);
    expect_close(c->name, "rejected drafts pruned, then single-token decode", other, whole + (size_t)k * V,
                 V * (n - k), BATCH_TOL);

    free(junk);
    free(tail);
    target_free(chunked);
    target_free(one);
    target_free(big);
    free(other);
    free(single);
    free(whole);
    model_free(&m);
}

int main(void) {
    size_t size;
    char *text = read_file_all(FIXTURES "/index.json", &size);
    cJSON *index = cJSON_Parse(text);
    CHECK(index, "%s/index.json is not JSON", FIXTURES);
    int tokens[MAX_TOKENS];
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        int n = fixture_tokens(index, &CASES[i], tokens);
        CHECK(n > 20, "%s: only %d tokens", CASES[i].name, n);
        check_model(&CASES[i], tokens, n);
    }
    cJSON_Delete(index);
    free(text);
    return test_summary("test_kv_cache");
}
