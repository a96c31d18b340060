/* The model drafter: a small LM sharing the target's vocabulary. It keeps its own KV cache and
 * the tokens behind it; before drafting it brings the cache in line with the context by pruning
 * to the longest common prefix (a length reset) and scoring only what is new. So after a round the
 * cache holds exactly the accepted prefix, and in the all-accepted case the last draft, which was
 * never scored, is ingested at the next round. */
#include <string.h>

#include "check.h"
#include "decode_util.h"
#include "drafters.h"
#include "rng.h"

typedef struct {
    Model model;
    Target *t;
    Sampler *smp;
    SamplerConfig sc;
    uint64_t seed;
    uint64_t draws;     /* counter of the drafter's RNG stream */
    int vocab;
    int *cached;        /* (seq_len) tokens whose keys/values are in t's cache: t->len of them */
    float *logits;      /* (vocab) the distribution after cached[0..logits_len) */
    int logits_len;     /* -1 when logits are stale */
    float *scratch;     /* (vocab) */
} ModelDrafter;

/* Makes logits the drafter's next-token logits after ctx[0..n). */
static void sync_to(ModelDrafter *s, const int *ctx, int n) {
    Target *t = s->t;
    int common = 0;
    while (common < t->len && common < n && s->cached[common] == ctx[common]) common++;
    if (common == n && s->logits_len == n) return;
    if (common == n) common = n - 1; /* logits are needed: rescore the last token */
    t->truncate(t, common);
    if (n > t->cfg->seq_len) fatal("the context (%d tokens) exceeds the drafter's context length %d", n, t->cfg->seq_len);
    memcpy(s->cached + common, ctx + common, sizeof(int) * (size_t)(n - common));
    t->forward(t, ctx + common, n - common, common, s->logits, 1);
    s->logits_len = n;
}

static int model_propose(void *st, const int *ctx, int n, int gamma, int *out, float *q) {
    ModelDrafter *s = st;
    sync_to(s, ctx, n);
    int greedy = sampler_is_greedy(&s->sc), V = s->vocab;
    float *probs = s->scratch;
    int i = 0;
    while (i < gamma) {
        float *row = q ? q + (size_t)i * V : probs;
        /* cached[] holds ctx followed by the drafts so far: the history the sampler needs */
        sampler_probs(s->smp, s->logits, s->cached, n + i, row);
        int tok = greedy ? argmax_f32(row, V) : sample_from_probs(row, V, rng_uniform(s->seed, RNG_STREAM_DRAFTER, s->draws++));
        out[i++] = tok;
        if (model_is_eos(s->t->cfg, tok) || i == gamma || n + i >= s->t->cfg->seq_len) break; /* nothing to draft past EOS */
        s->cached[n + i - 1] = tok;
        s->t->forward(s->t, &tok, 1, n + i - 1, s->logits, 1);
        s->logits_len = n + i;
    }
    return i;
}

static void model_observe(void *st, const int *ctx, int n, int n_accepted, const float *p, int n_p) {
    ModelDrafter *s = st;
    /* prune now to the accepted prefix, so the cache never holds rejected drafts */
    int common = 0;
    while (common < s->t->len && common < n && s->cached[common] == ctx[common]) common++;
    if (common < s->t->len) {
        s->t->truncate(s->t, common);
        s->logits_len = -1;
    }
}

static float model_next_entropy(void *st, const int *ctx, int n) {
    ModelDrafter *s = st;
    sync_to(s, ctx, n);
    return logits_entropy(s->logits, s->vocab, s->sc.temperature, s->scratch);
}

static void model_reset(void *st, uint64_t seed) {
    ModelDrafter *s = st;
    s->t->truncate(s->t, 0);
    s->logits_len = -1;
    s->seed = seed;
    s->draws = 0;
}

static void model_drafter_free(void *st) {
    ModelDrafter *s = st;
    target_free(s->t);
    model_free(&s->model);
    sampler_free(s->smp);
    free(s->cached);
    free(s->logits);
    free(s->scratch);
    free(s);
}

static const DrafterOps MODEL_OPS = {DRAFTER_OPS_VERSION, "model", model_propose, model_observe, model_next_entropy,
                                     model_reset, model_drafter_free};

Drafter drafter_model_build(const char *path, int bf16, const ModelConfig *target_cfg, const DrafterOptions *o) {
    ModelDrafter *s = callocCheck(1, sizeof *s);
    model_load(&s->model, path);
    if (bf16) model_round_to_bf16(&s->model);
    const ModelConfig *c = &s->model.cfg;
    if (c->vocab_size != target_cfg->vocab_size)
        fatal("drafter %s: vocabulary size %d differs from the target's %d (a model drafter must share the "
              "target's tokenizer)", path, c->vocab_size, target_cfg->vocab_size);
    s->t = target_build(&s->model, o->device, 128);
    s->sc = o->sampler;
    s->smp = sampler_build(&s->sc, c->vocab_size);
    s->vocab = c->vocab_size;
    s->cached = mallocCheck(sizeof(int) * (size_t)c->seq_len);
    s->logits = mallocCheck(sizeof(float) * (size_t)c->vocab_size);
    s->scratch = mallocCheck(sizeof(float) * (size_t)c->vocab_size);
    s->logits_len = -1;
    return (Drafter){&MODEL_OPS, s, 1};
}

Target *drafter_model_target(const Drafter *d) {
    return d->ops == &MODEL_OPS ? ((ModelDrafter *)d->st)->t : NULL;
}
