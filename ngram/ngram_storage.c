#include "ngram_storage.h"

#include <string.h>

#include "check.h"

/* uthash stops the program on allocation failure; route that through our internal-error path. */
#define uthash_fatal(msg) CHECK(0, "uthash: %s", msg)
#include <uthash.h>

typedef struct {
    int token;
    int count;
} NGramCount;

struct NGramEntry {
    int key[NGRAM_MAX_N - 1]; /* the context, oldest token first, padded with -1 */
    NGramCount *next;         /* (cap) continuations in first-seen order, n_next of them used */
    int n_next, cap;
    int best;                 /* index into next of the most frequent continuation */
    UT_hash_handle hh;
};

static NGramStorage *build(int n, int vocab, int one_level, const char *name) {
    if (n < 2 || n > NGRAM_MAX_N) fatal("%s: N must be between 2 and %d, got %d", name, NGRAM_MAX_N, n);
    if (vocab < 1) fatal("%s: vocab_size must be positive, got %d", name, vocab);
    NGramStorage *s = callocCheck(1, sizeof(NGramStorage));
    s->n = n;
    s->lowest = one_level ? n - 1 : 1;
    s->vocab = vocab;
    return s;
}

NGramStorage *ngram_storage_build(int n, int vocab) { return build(n, vocab, 0, "ngram"); }
NGramStorage *ngram1_storage_build(int n, int vocab) { return build(n, vocab, 1, "ngram1"); }

void ngram_storage_reset(NGramStorage *s) {
    NGramEntry *e, *tmp;
    HASH_ITER(hh, s->table, e, tmp) {
        HASH_DEL(s->table, e);
        free(e->next);
        free(e);
    }
    memset(s->n_contexts, 0, sizeof(s->n_contexts));
}

void ngram_storage_free(NGramStorage *s) {
    if (!s) return;
    ngram_storage_reset(s);
    free(s);
}

static int level_kept(const NGramStorage *s, int level) {
    return level == 0 || (level >= s->lowest && level <= s->n - 1);
}

/* The key of the last `level` tokens of ctx[0..ctx_len). Every element is written, padding
 * included: uthash hashes and compares the whole array. */
static void make_key(const NGramStorage *s, int key[NGRAM_MAX_N - 1], const int *ctx, int ctx_len, int level) {
    for (int i = 0; i < NGRAM_MAX_N - 1; i++) {
        if (i < level) {
            int t = ctx[ctx_len - level + i];
            CHECK(t >= 0 && t < s->vocab, "ngram: context token %d outside the vocabulary [0, %d)", t, s->vocab);
            key[i] = t;
        } else {
            key[i] = -1;
        }
    }
}

static NGramEntry *find(const NGramStorage *s, const int *ctx, int ctx_len, int level) {
    int key[NGRAM_MAX_N - 1];
    make_key(s, key, ctx, ctx_len, level);
    NGramEntry *e;
    HASH_FIND(hh, s->table, key, sizeof(key), e);
    return e;
}

static void count_one(NGramStorage *s, const int *ctx, int ctx_len, int level, int token) {
    NGramEntry *e = find(s, ctx, ctx_len, level);
    if (!e) {
        e = callocCheck(1, sizeof(NGramEntry));
        make_key(s, e->key, ctx, ctx_len, level);
        HASH_ADD(hh, s->table, key, sizeof(e->key), e);
        s->n_contexts[level]++;
    }
    int i = 0;
    while (i < e->n_next && e->next[i].token != token) i++;
    if (i == e->n_next) {
        if (e->n_next == e->cap) {
            e->cap = e->cap ? 2 * e->cap : 2;
            e->next = reallocCheck(e->next, (size_t)e->cap * sizeof(NGramCount));
        }
        e->next[e->n_next++] = (NGramCount){token, 0};
    }
    int c = ++e->next[i].count;
    const NGramCount *b = &e->next[e->best];
    if (c > b->count || (c == b->count && token < b->token)) e->best = i;
}

void ngram_storage_update(NGramStorage *s, const int *ctx, int ctx_len, int next_token) {
    CHECK(ctx_len >= 0, "ngram: negative context length %d", ctx_len);
    CHECK(next_token >= 0 && next_token < s->vocab, "ngram: token %d outside the vocabulary [0, %d)", next_token,
          s->vocab);
    count_one(s, ctx, ctx_len, 0, next_token);
    int top = ctx_len < s->n - 1 ? ctx_len : s->n - 1;
    for (int level = s->lowest; level <= top; level++) count_one(s, ctx, ctx_len, level, next_token);
}

void ngram_storage_initialize(NGramStorage *s, const int *tokens, int n_tokens) {
    for (int i = 0; i < n_tokens; i++) ngram_storage_update(s, tokens, i, tokens[i]);
}

static int best_token(const NGramEntry *e) { return e->next[e->best].token; }

int ngram_storage_next_token(const NGramStorage *s, const int *ctx, int ctx_len, int *level) {
    int top = ctx_len < s->n - 1 ? ctx_len : s->n - 1;
    for (int j = top; j >= s->lowest; j--) {
        const NGramEntry *e = find(s, ctx, ctx_len, j);
        if (e) {
            if (level) *level = j;
            return best_token(e);
        }
    }
    if (level) *level = 0;
    return -1;
}

int ngram_storage_most_frequent(const NGramStorage *s) {
    const NGramEntry *e = find(s, NULL, 0, 0);
    return e ? best_token(e) : -1;
}

int ngram_storage_count(const NGramStorage *s, const int *ctx, int ctx_len, int token) {
    if (ctx_len < 0 || !level_kept(s, ctx_len)) return 0;
    const NGramEntry *e = find(s, ctx, ctx_len, ctx_len);
    if (!e) return 0;
    for (int i = 0; i < e->n_next; i++)
        if (e->next[i].token == token) return e->next[i].count;
    return 0;
}

int ngram_storage_has_gram(const NGramStorage *s, const int *gram, int len) {
    return len >= 1 && ngram_storage_count(s, gram, len - 1, gram[len - 1]) > 0;
}
