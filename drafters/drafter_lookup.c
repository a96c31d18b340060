/* Prompt lookup (Saxena 2023; transformers' prompt_lookup_num_tokens with
 * max_matching_ngram_size): find the longest suffix of the context, max_ngram tokens down to
 * min_ngram, that occurred earlier in the context, and propose the tokens that followed it.
 *
 * Two choices differ from transformers, which takes the earliest occurrence and stops at the end of
 * the context:
 *  - among occurrences of the longest suffix, the most recent one is used;
 *  - the continuation is copied the way LZ77 copies a match: when it runs into the end of the
 *    context it goes on through the tokens just proposed, so a periodic stretch ("a b a b") yields
 *    gamma tokens of the period rather than a few.
 * Deterministic and stateless: one backward scan, O(ctx_len * max_ngram) per propose. */
#include "check.h"
#include "drafters.h"

typedef struct {
    int max_ngram, min_ngram;
} LookupDrafter;

static int lookup_propose(void *st, const int *ctx, int ctx_len, int gamma, int *out, float *q) {
    const LookupDrafter *d = st;
    /* An earlier occurrence ends at e < ctx_len: ctx[e-m .. e) == ctx[ctx_len-m .. ctx_len).
     * Scanning e downwards, the first e reaching a given length is the most recent one. */
    int best_len = 0, best_end = -1;
    for (int e = ctx_len - 1; e >= 1 && best_len < d->max_ngram; e--) {
        int m = 0;
        while (m < d->max_ngram && m < e && ctx[e - 1 - m] == ctx[ctx_len - 1 - m]) m++;
        if (m >= d->min_ngram && m > best_len) {
            best_len = m;
            best_end = e;
        }
    }
    if (best_end < 0) return 0;
    for (int k = 0; k < gamma; k++) {
        int src = best_end + k;
        out[k] = src < ctx_len ? ctx[src] : out[src - ctx_len];
    }
    return gamma > 0 ? gamma : 0;
}

static void lookup_observe(void *st, const int *ctx, int ctx_len, int n_accepted, const float *p, int n_p) {}
static float lookup_next_entropy(void *st, const int *ctx, int ctx_len) { return -1.0f; }
static void lookup_reset(void *st, uint64_t seed) {}
static void lookup_free(void *st) { free(st); }

static const DrafterOps LOOKUP_OPS = {DRAFTER_OPS_VERSION, "lookup", lookup_propose, lookup_observe,
                                      lookup_next_entropy, lookup_reset, lookup_free};

Drafter drafter_lookup_build(int max_ngram, int min_ngram) {
    if (min_ngram < 1 || max_ngram < min_ngram)
        fatal("lookup: expected MAX >= MIN >= 1, got MAX=%d MIN=%d", max_ngram, min_ngram);
    LookupDrafter *d = mallocCheck(sizeof(LookupDrafter));
    d->max_ngram = max_ngram;
    d->min_ngram = min_ngram;
    return (Drafter){&LOOKUP_OPS, d, 0};
}
