/* The CPU reference target: fp32 compute, weights widened once at build into one allocation, the
 * KV cache and every activation buffer sized before the first token. forward() scores n tokens in
 * one pass so each weight row is read once for all n rows (the verification pass). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "target.h"

typedef struct {
    float *attn_norm; /* (dim) */
    float *wq;        /* (n_heads * head_dim, dim) */
    float *wk;        /* (kv_dim, dim) */
    float *wv;        /* (kv_dim, dim) */
    float *wo;        /* (dim, n_heads * head_dim) */
    float *ffn_norm;  /* (dim) */
    float *w_gate;    /* (hidden_dim, dim) */
    float *w_down;    /* (dim, hidden_dim) */
    float *w_up;      /* (hidden_dim, dim) */
} CpuLayer;

typedef struct {
    ModelConfig cfg;
    int max_batch;
    float *weights_mem;  /* the one allocation every weight is carved from */
    float *tok_embed;    /* (vocab, dim) */
    CpuLayer *layers;    /* (n_layers) */
    float *final_norm;   /* (dim) */
    float *lm_head;      /* (vocab, dim), tok_embed when tied */
    /* run state, one allocation */
    float *state_mem;
    float *x;            /* (max_batch, dim) residual stream */
    float *xb;           /* (max_batch, dim) normed input */
    float *q;            /* (max_batch, n_heads * head_dim) */
    float *att_out;      /* (max_batch, n_heads * head_dim) */
    float *xb2;          /* (max_batch, dim) */
    float *hb;           /* (max_batch, hidden_dim) gate */
    float *hb2;          /* (max_batch, hidden_dim) up */
    float *att;          /* (max_batch * n_heads, seq_len) scores */
    float *key_cache;    /* (n_layers, seq_len, kv_dim) */
    float *value_cache;  /* (n_layers, seq_len, kv_dim) */
    float *rope_cos;     /* (seq_len, head_dim / 2) */
    float *rope_sin;     /* (seq_len, head_dim / 2) */
} CpuState;

/* out rows [i0, i1) of (B, d) = x (B, n) @ w (d, n)^T. Each weight row is loaded once and used
 * for all B rows, so verifying B tokens reads the weights once. Tiles of 4 weight rows x 4 batch
 * rows keep 16 running sums in registers: 8 loads feed 16 multiply-adds. Cloned for AVX-512 and
 * AVX2+FMA, picked when the program loads. */
__attribute__((target_clones("avx512f", "avx2,fma", "default")))
static void matmul_rows(float *out, const float *x, const float *w, int B, int n, int d, int i0, int i1) {
    int i = i0;
    if (B >= 4) {
        for (; i + 4 <= i1; i += 4) {
            const float *w0 = w + (size_t)i * n, *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
            int b = 0;
            for (; b + 4 <= B; b += 4) {
                const float *x0 = x + (size_t)b * n, *x1 = x0 + n, *x2 = x1 + n, *x3 = x2 + n;
                float s00 = 0, s01 = 0, s02 = 0, s03 = 0, s10 = 0, s11 = 0, s12 = 0, s13 = 0;
                float s20 = 0, s21 = 0, s22 = 0, s23 = 0, s30 = 0, s31 = 0, s32 = 0, s33 = 0;
#pragma omp simd reduction(+ : s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33)
                for (int j = 0; j < n; j++) {
                    float a0 = x0[j], a1 = x1[j], a2 = x2[j], a3 = x3[j];
                    s00 += w0[j] * a0; s01 += w0[j] * a1; s02 += w0[j] * a2; s03 += w0[j] * a3;
                    s10 += w1[j] * a0; s11 += w1[j] * a1; s12 += w1[j] * a2; s13 += w1[j] * a3;
                    s20 += w2[j] * a0; s21 += w2[j] * a1; s22 += w2[j] * a2; s23 += w2[j] * a3;
                    s30 += w3[j] * a0; s31 += w3[j] * a1; s32 += w3[j] * a2; s33 += w3[j] * a3;
                }
                float *o = out + (size_t)b * d + i;
                o[0] = s00; o[1] = s10; o[2] = s20; o[3] = s30; o += d;
                o[0] = s01; o[1] = s11; o[2] = s21; o[3] = s31; o += d;
                o[0] = s02; o[1] = s12; o[2] = s22; o[3] = s32; o += d;
                o[0] = s03; o[1] = s13; o[2] = s23; o[3] = s33;
            }
            for (; b < B; b++) { /* leftover batch rows */
                const float *xb = x + (size_t)b * n;
                float s0 = 0, s1 = 0, s2 = 0, s3 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3)
                for (int j = 0; j < n; j++) {
                    s0 += w0[j] * xb[j]; s1 += w1[j] * xb[j]; s2 += w2[j] * xb[j]; s3 += w3[j] * xb[j];
                }
                float *o = out + (size_t)b * d + i;
                o[0] = s0; o[1] = s1; o[2] = s2; o[3] = s3;
            }
        }
    }
    for (; i < i1; i++) { /* one weight row against every batch row */
        const float *wi = w + (size_t)i * n;
        for (int b = 0; b < B; b++) {
            const float *xb = x + (size_t)b * n;
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int j = 0; j < n; j++) s += wi[j] * xb[j];
            out[(size_t)b * d + i] = s;
        }
    }
}

/* Small products stay on the calling thread: an OpenMP region costs more than they do. */
static void matmul(float *out, const float *x, const float *w, int B, int n, int d) {
    if ((long)B * n * d < 200000 || omp_get_max_threads() == 1) {
        matmul_rows(out, x, w, B, n, d, 0, d);
        return;
    }
#pragma omp parallel
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int chunk = (d + nt - 1) / nt, i0 = id * chunk, i1 = i0 + chunk < d ? i0 + chunk : d;
        if (i0 < i1) matmul_rows(out, x, w, B, n, d, i0, i1);
    }
}

static void rmsnorm(float *out, const float *x, const float *w, int n, float eps) {
    float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
    for (int j = 0; j < n; j++) ss += x[j] * x[j];
    float inv = 1.0f / sqrtf(ss / (float)n + eps);
    for (int j = 0; j < n; j++) out[j] = w[j] * (x[j] * inv);
}

static void rope(float *v, const float *cs, const float *sn, int hd, int interleaved) {
    int half = hd / 2;
    for (int i = 0; i < half; i++) {
        int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
        float x0 = v[a], x1 = v[b];
        v[a] = x0 * cs[i] - x1 * sn[i];
        v[b] = x1 * cs[i] + x0 * sn[i];
    }
}

/* Attention of row b, head h (bh = b * n_heads + h) over the cached keys 0..pos + b (causal),
 * with grouped-query heads sharing a key/value head. */
static void attend(CpuState *s, const float *kc, const float *vc, int bh, int pos, float scale) {
    const ModelConfig *c = &s->cfg;
    int hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    int b = bh / c->n_heads, h = bh % c->n_heads, kvh = h / (c->n_heads / c->n_kv_heads), last = pos + b;
    const float *qv = s->q + (size_t)b * qd + h * hd;
    float *att = s->att + (size_t)bh * c->seq_len;
    float mx = -INFINITY;
    for (int t = 0; t <= last; t++) {
        const float *k = kc + (size_t)t * kvd + kvh * hd;
        float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
        for (int j = 0; j < hd; j++) dot += qv[j] * k[j];
        att[t] = dot * scale;
        if (att[t] > mx) mx = att[t];
    }
    float sum = 0.0f;
    for (int t = 0; t <= last; t++) {
        att[t] = expf(att[t] - mx);
        sum += att[t];
    }
    float inv = 1.0f / sum;
    float *o = s->att_out + (size_t)b * qd + h * hd;
    memset(o, 0, sizeof(float) * hd);
    for (int t = 0; t <= last; t++) {
        const float *v = vc + (size_t)t * kvd + kvh * hd;
        float a = att[t] * inv;
#pragma omp simd
        for (int j = 0; j < hd; j++) o[j] += a * v[j];
    }
}

/* One chunk of B rows at positions [pos, pos + B); logits for rows [B - n_logits, B). */
static void forward_chunk(CpuState *s, const int *tokens, int B, int pos, float *logits, int n_logits) {
    const ModelConfig *c = &s->cfg;
    int D = c->dim, hd = c->head_dim, H = c->hidden_dim, V = c->vocab_size;
    int qd = c->n_heads * hd, kvd = c->n_kv_heads * hd, half = hd / 2;
    float scale = 1.0f / sqrtf((float)hd);
    for (int b = 0; b < B; b++) {
        if (tokens[b] < 0 || tokens[b] >= V) fatal("token id %d is outside the vocabulary (0..%d)", tokens[b], V - 1);
        memcpy(s->x + (size_t)b * D, s->tok_embed + (size_t)tokens[b] * D, sizeof(float) * D);
    }
    for (int l = 0; l < c->n_layers; l++) {
        const CpuLayer *L = &s->layers[l];
        float *kc = s->key_cache + (size_t)l * c->seq_len * kvd, *vc = s->value_cache + (size_t)l * c->seq_len * kvd;
        for (int b = 0; b < B; b++) rmsnorm(s->xb + (size_t)b * D, s->x + (size_t)b * D, L->attn_norm, D, c->norm_eps);
        matmul(s->q, s->xb, L->wq, B, D, qd);
        /* keys and values go straight into the cache rows of their positions */
        matmul(kc + (size_t)pos * kvd, s->xb, L->wk, B, D, kvd);
        matmul(vc + (size_t)pos * kvd, s->xb, L->wv, B, D, kvd);
        for (int b = 0; b < B; b++) {
            const float *cs = s->rope_cos + (size_t)(pos + b) * half, *sn = s->rope_sin + (size_t)(pos + b) * half;
            for (int h = 0; h < c->n_heads; h++) rope(s->q + (size_t)b * qd + h * hd, cs, sn, hd, c->rope_interleaved);
            for (int h = 0; h < c->n_kv_heads; h++)
                rope(kc + (size_t)(pos + b) * kvd + h * hd, cs, sn, hd, c->rope_interleaved);
        }
        if ((long)(pos + B) * B * c->n_heads * hd < 100000 || omp_get_max_threads() == 1) {
            for (int bh = 0; bh < B * c->n_heads; bh++) attend(s, kc, vc, bh, pos, scale);
        } else {
#pragma omp parallel for schedule(dynamic)
            for (int bh = 0; bh < B * c->n_heads; bh++) attend(s, kc, vc, bh, pos, scale);
        }
        matmul(s->xb2, s->att_out, L->wo, B, qd, D);
        for (size_t i = 0; i < (size_t)B * D; i++) s->x[i] += s->xb2[i];
        for (int b = 0; b < B; b++) rmsnorm(s->xb + (size_t)b * D, s->x + (size_t)b * D, L->ffn_norm, D, c->norm_eps);
        matmul(s->hb, s->xb, L->w_gate, B, D, H);
        matmul(s->hb2, s->xb, L->w_up, B, D, H);
        for (size_t i = 0; i < (size_t)B * H; i++) {
            float g = s->hb[i];
            s->hb[i] = g / (1.0f + expf(-g)) * s->hb2[i]; /* SwiGLU: silu(gate) * up */
        }
        matmul(s->xb2, s->hb, L->w_down, B, H, D);
        for (size_t i = 0; i < (size_t)B * D; i++) s->x[i] += s->xb2[i];
    }
    if (n_logits > 0) {
        int first = B - n_logits;
        for (int b = first; b < B; b++) rmsnorm(s->xb + (size_t)b * D, s->x + (size_t)b * D, s->final_norm, D, c->norm_eps);
        matmul(logits, s->xb + (size_t)first * D, s->lm_head, n_logits, D, V);
    }
}

static void cpu_forward(Target *t, const int *tokens, int n, int pos, float *logits, int n_logits) {
    CpuState *s = t->state;
    CHECK(n >= 1 && pos >= 0 && pos <= t->len, "forward at pos %d with %d cached positions", pos, t->len);
    CHECK(n_logits >= 0 && n_logits <= n, "n_logits %d for %d tokens", n_logits, n);
    if (pos + n > s->cfg.seq_len)
        fatal("%d positions exceed the model's context length %d", pos + n, s->cfg.seq_len);
    /* Long inputs (prefill) go through in chunks of max_batch rows; logits rows come from the
     * chunks that hold the last n_logits positions. */
    for (int start = 0; start < n; start += s->max_batch) {
        int B = n - start < s->max_batch ? n - start : s->max_batch;
        int first_logit_row = n - n_logits; /* global row index */
        int lo = first_logit_row > start ? first_logit_row : start;
        int rows = start + B - lo > 0 ? start + B - lo : 0;
        forward_chunk(s, tokens + start, B, pos + start, rows ? logits + (size_t)(lo - first_logit_row) * s->cfg.vocab_size : NULL, rows);
    }
    t->len = pos + n;
}

static void cpu_truncate(Target *t, int len) {
    CHECK(len >= 0 && len <= t->len, "truncate to %d with %d cached positions", len, t->len);
    t->len = len;
}

static void cpu_copy_cache(Target *t, const Target *src) {
    CpuState *d = t->state;
    const CpuState *s = src->state;
    size_t kvd = (size_t)d->cfg.n_kv_heads * d->cfg.head_dim, S = d->cfg.seq_len;
    for (int l = 0; l < d->cfg.n_layers; l++) {
        memcpy(d->key_cache + l * S * kvd, s->key_cache + l * S * kvd, sizeof(float) * (size_t)src->len * kvd);
        memcpy(d->value_cache + l * S * kvd, s->value_cache + l * S * kvd, sizeof(float) * (size_t)src->len * kvd);
    }
    t->len = src->len;
}

static void cpu_free(Target *t) {
    CpuState *s = t->state;
    free(s->weights_mem);
    free(s->state_mem);
    free(s->layers);
    free(s);
    free(t);
}

Target *target_cpu_build(const Model *m, int max_batch) {
    const ModelConfig *c = &m->cfg;
    /* One thread unless OMP_NUM_THREADS says otherwise: for models this small, OpenMP's fork/join
     * and spinning cost more than a second core gains (measured on the 2-core dev machine). */
    if (!getenv("OMP_NUM_THREADS")) omp_set_num_threads(1);
    CpuState *s = callocCheck(1, sizeof *s);
    s->cfg = *c;
    s->max_batch = max_batch;
    size_t D = c->dim, H = c->hidden_dim, V = c->vocab_size, L = c->n_layers, hd = c->head_dim;
    size_t qd = c->n_heads * hd, kvd = c->n_kv_heads * hd, S = c->seq_len, Bm = max_batch;

    /* weights: widened to fp32 once */
    size_t per_layer = 2 * D + qd * D + 2 * kvd * D + D * qd + 3 * H * D;
    size_t n_w = V * D + L * per_layer + D + (c->tied_embeddings ? 0 : V * D);
    s->weights_mem = mallocCheck(n_w * sizeof(float));
    float *p = s->weights_mem;
#define CARVE(dst, view)                                                              \
    do {                                                                              \
        dst = p;                                                                      \
        tensor_to_f32(p, (view).data, (view).dtype, (view).rows * (view).cols);       \
        p += (view).rows * (view).cols;                                               \
    } while (0)
    CARVE(s->tok_embed, m->tok_embed);
    s->layers = callocCheck(L, sizeof(CpuLayer));
    for (size_t l = 0; l < L; l++) {
        const LayerTensors *src = &m->layers[l];
        CpuLayer *dst = &s->layers[l];
        CARVE(dst->attn_norm, src->attn_norm);
        CARVE(dst->wq, src->wq);
        CARVE(dst->wk, src->wk);
        CARVE(dst->wv, src->wv);
        CARVE(dst->wo, src->wo);
        CARVE(dst->ffn_norm, src->ffn_norm);
        CARVE(dst->w_gate, src->w_gate);
        CARVE(dst->w_down, src->w_down);
        CARVE(dst->w_up, src->w_up);
    }
    CARVE(s->final_norm, m->final_norm);
    if (c->tied_embeddings) s->lm_head = s->tok_embed;
    else CARVE(s->lm_head, m->lm_head);
#undef CARVE
    CHECK((size_t)(p - s->weights_mem) == n_w, "carved %zu of %zu weights", (size_t)(p - s->weights_mem), n_w);

    /* run state: activations for max_batch rows, the full KV cache, the RoPE tables */
    size_t n_s = Bm * D * 3 + Bm * qd * 2 + Bm * H * 2 + Bm * c->n_heads * S + 2 * L * S * kvd + S * hd;
    s->state_mem = callocCheck(n_s, sizeof(float));
    p = s->state_mem;
    s->x = p; p += Bm * D;
    s->xb = p; p += Bm * D;
    s->xb2 = p; p += Bm * D;
    s->q = p; p += Bm * qd;
    s->att_out = p; p += Bm * qd;
    s->hb = p; p += Bm * H;
    s->hb2 = p; p += Bm * H;
    s->att = p; p += Bm * c->n_heads * S;
    s->key_cache = p; p += L * S * kvd;
    s->value_cache = p; p += L * S * kvd;
    s->rope_cos = p; p += S * hd / 2;
    s->rope_sin = p; p += S * hd / 2;
    CHECK((size_t)(p - s->state_mem) == n_s, "carved state");
    rope_tables(c, s->rope_cos, s->rope_sin);

    Target *t = callocCheck(1, sizeof *t);
    t->cfg = &s->cfg;
    t->backend = "cpu";
    t->forward = cpu_forward;
    t->truncate = cpu_truncate;
    t->copy_cache = cpu_copy_cache;
    t->free = cpu_free;
    t->state = s;
    return t;
}
