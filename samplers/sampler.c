#include "sampler.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "check.h"

struct Sampler {
    SamplerConfig cfg;
    int vocab;
    float *work;          /* (vocab) penalised logits, then the exp weights of the candidates */
    int *idx;             /* (vocab) candidate token ids: the top-k survivors, then the nucleus first */
    unsigned char *seen;  /* (vocab) 1 while a token's penalty has been applied in this call */
    void *mem;            /* the one allocation the three arrays above are carved from */
};

SamplerConfig sampler_config_default(void) {
    SamplerConfig c = {.temperature = 0.0f, .top_k = 0, .top_p = 1.0f, .repetition_penalty = 1.0f,
                       .repetition_window = 0};
    return c;
}

/* Written as negations so that NaN fails every range test. */
void sampler_config_validate(const SamplerConfig *c, const char *where) {
    if (!(c->temperature >= 0.0f) || isinf(c->temperature))
        fatal("%s: temperature must be a finite number >= 0, got %g", where, (double)c->temperature);
    if (c->top_k < 0) fatal("%s: top_k must be >= 0 (0 = off), got %d", where, c->top_k);
    if (!(c->top_p > 0.0f && c->top_p <= 1.0f))
        fatal("%s: top_p must be in (0, 1], got %g", where, (double)c->top_p);
    if (!(c->repetition_penalty > 0.0f) || isinf(c->repetition_penalty))
        fatal("%s: repetition_penalty must be a finite number > 0, got %g", where,
              (double)c->repetition_penalty);
    if (c->repetition_window < 0)
        fatal("%s: repetition_window must be >= 0 (0 = all tokens), got %d", where, c->repetition_window);
}

int sampler_is_greedy(const SamplerConfig *c) { return c->temperature == 0.0f; }

const char *sampler_name(const SamplerConfig *c) {
    if (sampler_is_greedy(c)) return "greedy";
    int k = c->top_k > 0, p = c->top_p < 1.0f;
    if (k && p) return "top_k_nucleus";
    if (k) return "top_k";
    if (p) return "nucleus";
    return "multinomial";
}

Sampler *sampler_build(const SamplerConfig *c, int vocab) {
    sampler_config_validate(c, "sampler");
    CHECK(vocab > 0, "sampler_build: vocab %d", vocab);
    Sampler *s = callocCheck(1, sizeof(Sampler));
    s->cfg = *c;
    s->vocab = vocab;
    size_t n = (size_t)vocab;
    char *mem = mallocCheck(n * (sizeof(float) + sizeof(int) + 1));
    s->mem = mem;
    s->work = (float *)mem;
    s->idx = (int *)(mem + n * sizeof(float));
    s->seen = (unsigned char *)(mem + n * (sizeof(float) + sizeof(int)));
    memset(s->seen, 0, n);
    return s;
}

void sampler_free(Sampler *s) {
    if (!s) return;
    free(s->mem);
    free(s);
}

/* Token a comes before token b: larger value, then the smaller id, so every order is total and
 * the result does not depend on the scan order. */
static inline int ranks_above(const float *w, int a, int b) {
    return w[a] > w[b] || (w[a] == w[b] && a < b);
}

/* Restores a binary min-heap of ids in h[0..n) below i: the worst-ranked id sits at the root. */
static void sift_down(int *h, int n, int i, const float *w) {
    for (;;) {
        int low = i, l = 2 * i + 1, r = l + 1;
        if (l < n && ranks_above(w, h[low], h[l])) low = l;
        if (r < n && ranks_above(w, h[low], h[r])) low = r;
        if (low == i) return;
        int t = h[i];
        h[i] = h[low];
        h[low] = t;
        i = low;
    }
}

static void apply_repetition_penalty(Sampler *s, const int *history, int n_history) {
    float pen = s->cfg.repetition_penalty;
    int w = s->cfg.repetition_window;
    int start = (w > 0 && n_history > w) ? n_history - w : 0;
    for (int i = start; i < n_history; i++) {
        int t = history[i];
        CHECK(t >= 0 && t < s->vocab, "sampler_probs: history token %d outside vocab %d", t, s->vocab);
        if (s->seen[t]) continue; /* once per distinct token, as Hugging Face does */
        s->seen[t] = 1;
        float x = s->work[t];
        s->work[t] = x > 0.0f ? x / pen : x * pen;
    }
    for (int i = start; i < n_history; i++) s->seen[history[i]] = 0;
}

/* Keeps the top_k best-ranked tokens plus any tied with the k-th, in O(vocab log k) with a
 * min-heap of the best k seen so far. Returns how many ids it wrote to idx. */
static int select_top_k(Sampler *s, int k) {
    const float *x = s->work;
    int *h = s->idx;
    for (int i = 0; i < k; i++) h[i] = i;
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(h, k, i, x);
    for (int i = k; i < s->vocab; i++) {
        if (ranks_above(x, i, h[0])) {
            h[0] = i;
            sift_down(h, k, 0, x);
        }
    }
    float kth = x[h[0]];
    int n = 0;
    for (int i = 0; i < s->vocab; i++)
        if (x[i] >= kth) s->idx[n++] = i;
    return n;
}

static void swap_ids(int *a, int *b) {
    int t = *a;
    *a = *b;
    *b = t;
}

/* Finds the nucleus: the shortest run, in rank order, of the n candidates whose weight reaches
 * top_p * total. A quickselect on mass rather than a sort: each pass partitions the undecided
 * ids around a pivot and keeps only the side where the boundary lies, so the work is O(n) on
 * average and nothing is ever fully sorted. Leaves the nucleus at idx[0 .. kept) and returns kept. */
static int select_nucleus(Sampler *s, int n, double total, float top_p) {
    int *id = s->idx;
    const float *w = s->work;
    double need = (double)top_p * total, in = 0.0; /* in: the weight of idx[0 .. lo), all kept */
    int lo = 0, hi = n;                            /* idx[lo .. hi) is undecided; idx[hi ..) out */
    while (hi - lo > 16) {
        /* Median of three as the pivot, moved to idx[hi - 1]. */
        int mid = lo + (hi - lo) / 2;
        if (ranks_above(w, id[mid], id[lo])) swap_ids(&id[mid], &id[lo]);
        if (ranks_above(w, id[hi - 1], id[lo])) swap_ids(&id[hi - 1], &id[lo]);
        if (ranks_above(w, id[mid], id[hi - 1])) swap_ids(&id[mid], &id[hi - 1]);
        int pivot = id[hi - 1], store = lo;
        double above = 0.0;
        for (int j = lo; j < hi - 1; j++) {
            if (ranks_above(w, id[j], pivot)) {
                above += w[id[j]];
                swap_ids(&id[j], &id[store++]);
            }
        }
        swap_ids(&id[store], &id[hi - 1]); /* the pivot right after everything above it */
        if (in + above >= need) {
            hi = store; /* the boundary is among the ids above the pivot */
        } else {
            in += above + w[pivot];
            lo = store + 1;
            if (in >= need) return lo;
        }
    }
    /* A few undecided ids left: insertion sort by rank, then take them until the weight is reached. */
    for (int i = lo + 1; i < hi; i++) {
        int t = id[i], j = i;
        for (; j > lo && ranks_above(w, t, id[j - 1]); j--) id[j] = id[j - 1];
        id[j] = t;
    }
    int kept = lo;
    while (kept < hi && in < need) in += w[id[kept++]];
    return kept;
}

void sampler_probs(Sampler *s, const float *logits, const int *history, int n_history, float *probs) {
    const SamplerConfig *c = &s->cfg;
    int V = s->vocab;
    float *x = s->work;
    memcpy(x, logits, (size_t)V * sizeof(float));
    if (c->repetition_penalty != 1.0f && n_history > 0) apply_repetition_penalty(s, history, n_history);
    memset(probs, 0, (size_t)V * sizeof(float));
    if (sampler_is_greedy(c)) {
        probs[argmax_f32(x, V)] = 1.0f;
        return;
    }

    int n = V;
    if (c->top_k > 0 && c->top_k < V) {
        n = select_top_k(s, c->top_k);
    } else {
        for (int i = 0; i < V; i++) s->idx[i] = i;
    }
    float m = -INFINITY;
    for (int j = 0; j < n; j++) m = fmaxf(m, x[s->idx[j]]);
    CHECK(isfinite(m), "sampler_probs: no finite logit among %d candidates", n);
    /* (x - max) / T rather than x / T - max / T: the exponent stays <= 0 even for a tiny T. */
    float t = c->temperature;
    double total = 0.0;
    for (int j = 0; j < n; j++) {
        int i = s->idx[j];
        x[i] = expf((x[i] - m) / t);
        total += x[i];
    }

    const int *kept = s->idx;
    if (c->top_p < 1.0f) {
        n = select_nucleus(s, n, total, c->top_p);
        total = 0.0;
        for (int j = 0; j < n; j++) total += x[kept[j]];
    }
    for (int j = 0; j < n; j++) probs[kept[j]] = (float)(x[kept[j]] / total);
}

int sample_from_probs(const float *probs, int n, float u) {
    double total = 0.0;
    for (int i = 0; i < n; i++) total += probs[i];
    CHECK(total > 0.0, "sample_from_probs: distribution of %d entries has no mass", n);
    double target = (double)u * total, cum = 0.0;
    for (int i = 0; i < n; i++) {
        cum += probs[i];
        if (cum > target) return i;
    }
    /* u rounded up to the total (u = 1, or rounding): the last token that has mass. */
    int i = n - 1;
    while (probs[i] <= 0.0f) i--;
    return i;
}

int argmax_f32(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

float entropy_of(const float *probs, int n) {
    double h = 0.0;
    for (int i = 0; i < n; i++)
        if (probs[i] > 0.0f) h -= (double)probs[i] * log((double)probs[i]);
    return (float)h;
}
