/* The ngram and ngram1 drafters: an NGramStorage (or its one-level variant) fed with everything
 * the drafter sees, proposing its most frequent continuations one after another.
 *
 * What it learns from:
 *  - the context itself: every token not yet ingested is counted after the tokens before it
 *    (the whole prompt on the first call after reset, then the new tokens of each round);
 *  - in observe(), the target's top filler_top_k candidates at each verified position (tokens
 *    with zero probability are no candidates). The token that was kept there is counted as well,
 *    so the target's favourite usually weighs double, as in the reference harness.
 * Each position is ingested once: a context that stops short of what was ingested adds nothing; one
 * that departs from it (a different sequence) adds its tokens after the common prefix. Counts are
 * never taken back; only reset() forgets.
 *
 * Proposing: next_token of ctx + the drafts so far, up to gamma times. When no level knows the
 * context, it stops (stop_if_unknown) or proposes the most frequent token seen overall; with an
 * empty storage it proposes nothing. */
#include "check.h"
#include "drafters.h"
#include "ngram_storage.h"

typedef struct {
    NGramStorage *store;
    int filler_top_k;
    int stop_if_unknown;
    int *seen;      /* (cap_seen) the tokens ingested so far, n_seen of them */
    int n_seen, cap_seen;
    int *window;    /* (cap_window) the last n-1 context tokens followed by the drafts */
    int cap_window;
    int *top;       /* (filler_top_k) scratch for one row's candidates */
} NGramDrafter;

/* Ingests ctx[i] for every i past the common prefix of ctx and what was seen, and returns where the
 * new tokens start. A ctx that is a prefix of what was seen brings nothing new. */
static int ingest(NGramDrafter *d, const int *ctx, int ctx_len) {
    int start = 0;
    int common = d->n_seen < ctx_len ? d->n_seen : ctx_len;
    while (start < common && d->seen[start] == ctx[start]) start++;
    if (start == ctx_len) return ctx_len;
    if (ctx_len > d->cap_seen) {
        d->cap_seen = ctx_len > 2 * d->cap_seen ? ctx_len : 2 * d->cap_seen;
        d->seen = reallocCheck(d->seen, sizeof(int) * (size_t)d->cap_seen);
    }
    for (int i = start; i < ctx_len; i++) {
        ngram_storage_update(d->store, ctx, i, ctx[i]);
        d->seen[i] = ctx[i];
    }
    d->n_seen = ctx_len;
    return start;
}

/* The k most probable tokens of a row with nonzero probability, most probable first (ties: the
 * smaller id); returns how many there are (< k when fewer tokens have mass). */
static int top_candidates(const float *row, int vocab, int k, int *top) {
    int n = 0;
    for (int x = 0; x < vocab; x++) {
        if (!(row[x] > 0.0f)) continue;
        if (n == k && row[x] <= row[top[k - 1]]) continue;
        int i = n < k ? n++ : k - 1;
        while (i > 0 && row[top[i - 1]] < row[x]) {
            top[i] = top[i - 1];
            i--;
        }
        top[i] = x;
    }
    return n;
}

static int ngram_propose(void *st, const int *ctx, int ctx_len, int gamma, int *out, float *q) {
    NGramDrafter *d = st;
    ingest(d, ctx, ctx_len);
    if (gamma <= 0) return 0;
    int keep = d->store->n - 1 < ctx_len ? d->store->n - 1 : ctx_len;
    if (keep + gamma > d->cap_window) {
        d->cap_window = keep + gamma;
        d->window = reallocCheck(d->window, sizeof(int) * (size_t)d->cap_window);
    }
    for (int i = 0; i < keep; i++) d->window[i] = ctx[ctx_len - keep + i];
    int k = 0;
    while (k < gamma) {
        int t = ngram_storage_next_token(d->store, d->window, keep + k, NULL);
        if (t < 0) {
            if (d->stop_if_unknown) break;
            t = ngram_storage_most_frequent(d->store);
            if (t < 0) break;
        }
        d->window[keep + k] = t;
        out[k++] = t;
    }
    return k;
}

static void ngram_observe(void *st, const int *ctx, int ctx_len, int n_accepted, const float *p, int n_p) {
    NGramDrafter *d = st;
    int start = ingest(d, ctx, ctx_len);
    if (!p || d->filler_top_k == 0) return;
    CHECK(n_p >= 1 && n_p <= ctx_len, "ngram observe: %d target rows for a context of %d tokens", n_p, ctx_len);
    int vocab = d->store->vocab;
    for (int i = 0; i < n_p; i++) {
        int pos = ctx_len - n_p + i;
        if (pos < start) continue; /* ingested before: its candidates were counted then */
        int m = top_candidates(p + (size_t)i * vocab, vocab, d->filler_top_k, d->top);
        for (int j = 0; j < m; j++) ngram_storage_update(d->store, ctx, pos, d->top[j]);
    }
}

static float ngram_next_entropy(void *st, const int *ctx, int ctx_len) { return -1.0f; }

static void ngram_reset(void *st, uint64_t seed) {
    NGramDrafter *d = st;
    ngram_storage_reset(d->store);
    d->n_seen = 0;
}

static void ngram_free(void *st) {
    NGramDrafter *d = st;
    ngram_storage_free(d->store);
    free(d->seen);
    free(d->window);
    free(d->top);
    free(d);
}

static const DrafterOps NGRAM_OPS = {DRAFTER_OPS_VERSION, "ngram", ngram_propose, ngram_observe,
                                     ngram_next_entropy, ngram_reset, ngram_free};
static const DrafterOps NGRAM1_OPS = {DRAFTER_OPS_VERSION, "ngram1", ngram_propose, ngram_observe,
                                      ngram_next_entropy, ngram_reset, ngram_free};

Drafter drafter_ngram_build(int n, int vocab, int one_level, int filler_top_k, int stop_if_unknown) {
    const char *name = one_level ? "ngram1" : "ngram";
    if (filler_top_k < 0 || filler_top_k > vocab)
        fatal("%s: filler_top_k must be between 0 and the vocabulary size %d, got %d", name, vocab, filler_top_k);
    NGramDrafter *d = callocCheck(1, sizeof(NGramDrafter));
    d->store = one_level ? ngram1_storage_build(n, vocab) : ngram_storage_build(n, vocab);
    d->filler_top_k = filler_top_k;
    d->stop_if_unknown = stop_if_unknown;
    d->top = mallocCheck(sizeof(int) * (size_t)(filler_top_k ? filler_top_k : 1));
    return (Drafter){one_level ? &NGRAM1_OPS : &NGRAM_OPS, d, 0};
}
