/* The CPU reference target: fp32 compute over weights kept as stored when they are fp32 or bf16
 * (bf16 is widened exactly as it is read, or four rows at a time into a scratch, so it computes
 * the same sums as widening once at build, from half the bytes), fp16 widened once at build. One
 * allocation for the weights, and the KV cache and every activation buffer sized before the first
 * token. forward() scores n tokens in one pass so each weight row is read once for all n rows (the
 * verification pass). */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "target.h"

/* A weight matrix as the CPU keeps it: DTYPE_F32 or DTYPE_BF16 (fp16 is widened to F32 at build). */
typedef struct {
    const void *data; /* (rows, cols), row-major */
    DType dtype;
} CpuMat;

typedef struct {
    float *attn_norm; /* (dim) */
    CpuMat wq;        /* (n_heads * head_dim, dim) */
    CpuMat wk;        /* (kv_dim, dim) */
    CpuMat wv;        /* (kv_dim, dim) */
    CpuMat wo;        /* (dim, n_heads * head_dim) */
    float *ffn_norm;  /* (dim) */
    CpuMat w_gate;    /* (hidden_dim, dim) */
    CpuMat w_down;    /* (dim, hidden_dim) */
    CpuMat w_up;      /* (hidden_dim, dim) */
} CpuLayer;

typedef struct {
    ModelConfig cfg;
    int max_batch;
    unsigned char *weights_mem; /* the one allocation every weight is carved from */
    CpuMat tok_embed;    /* (vocab, dim) */
    CpuLayer *layers;    /* (n_layers) */
    float *final_norm;   /* (dim) */
    CpuMat lm_head;      /* (vocab, dim), tok_embed when tied */
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
    float *wide;         /* (n_threads, 4, max_in) bf16 weight rows widened for products of >= 3 rows */
    int n_threads;       /* OpenMP threads at build: the products use at most these */
    int max_in;          /* the widest product input: max(dim, n_heads * head_dim, hidden_dim) */
} CpuState;

/* out rows [i, i + 4) of (B, d) = x (B, n) @ w (d, n)^T for the four fp32 weight rows w0..w3, each
 * loaded once and used for all B rows, so verifying B tokens reads the weights once. Tiles of
 * 4 weight rows x 4 batch rows keep 16 running sums in registers: 8 loads feed 16 multiply-adds. */
static inline __attribute__((always_inline)) void tile4(float *out, const float *x, const float *w0, const float *w1,
                                                        const float *w2, const float *w3, int B, int n, int d, int i) {
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

/* Weight j of a row stored as fp32 (bf16 = 0) or bf16 (bf16 = 1); a constant at every call site,
 * so each instance of matmul_rows_body() below compiles to one load path. */
#define W(row, j) (bf16 ? bf16_to_f32(((const uint16_t *)(row))[j]) : ((const float *)(row))[j])

/* out rows [i0, i1) of (B, d) = x (B, n) @ w (d, n)^T. With 3 or more rows, groups of 4 weight rows
 * go through tile4(); bf16 groups are first widened into wide (4, n), because widening inside the
 * tile's loop costs more than the loop's multiply-adds save. One or two rows widen as they read
 * (pycode-19m, 2 rows: 2.64 ms against 2.84 through the groups): they are bound by memory, and
 * reading half the bytes is the gain. Widening is exact, so the sums are those of the same weights
 * stored as fp32 (bit for bit on pycode-19m, one to nine rows). */
static inline __attribute__((always_inline)) void matmul_rows_body(float *out, const float *x, const void *w,
                                                                   int bf16, float *wide, int B, int n, int d,
                                                                   int i0, int i1) {
    size_t row_bytes = (size_t)n * (bf16 ? 2 : 4);
    const unsigned char *wb = w;
    int i = i0;
    if (B >= 3) {
        for (; i + 4 <= i1; i += 4) {
            /* the next group's weights start coming from memory while this group's multiply-adds
             * run: without it the two take turns (pycode-19m, 5 rows: 3.4 ms against 4.0) */
            if (i + 8 <= i1)
                for (size_t o = 0; o < 4 * row_bytes; o += 64) __builtin_prefetch(wb + (size_t)(i + 4) * row_bytes + o);
            const float *w0 = wide;
            if (bf16) {
                const uint16_t *src = (const uint16_t *)(wb + (size_t)i * row_bytes);
                for (int j = 0; j < 4 * n; j++) wide[j] = bf16_to_f32(src[j]);
            } else {
                w0 = (const float *)(wb + (size_t)i * row_bytes);
            }
            tile4(out, x, w0, w0 + n, w0 + 2 * n, w0 + 3 * n, B, n, d, i);
        }
    }
    for (; i < i1; i++) { /* one weight row against every batch row */
        const void *wi = wb + (size_t)i * row_bytes;
        for (int b = 0; b < B; b++) {
            const float *xb = x + (size_t)b * n;
            float s = 0.0f;
#pragma omp simd reduction(+ : s)
            for (int j = 0; j < n; j++) s += W(wi, j) * xb[j];
            out[(size_t)b * d + i] = s;
        }
    }
}
#undef W

/* The two instances, each cloned for x86-64-v4 (AVX-512 with 16-bit lanes, so the bf16 loads fill
 * whole vectors) and x86-64-v3 (AVX2), and picked when the program loads. */
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
static void matmul_rows_f32(float *out, const float *x, const void *w, float *wide, int B, int n, int d, int i0,
                            int i1) {
    matmul_rows_body(out, x, w, 0, wide, B, n, d, i0, i1);
}

__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
static void matmul_rows_bf16(float *out, const float *x, const void *w, float *wide, int B, int n, int d, int i0,
                             int i1) {
    matmul_rows_body(out, x, w, 1, wide, B, n, d, i0, i1);
}

/* wide: (4, n) scratch of the calling thread */
static void matmul_rows(float *out, const float *x, CpuMat w, float *wide, int B, int n, int d, int i0, int i1) {
    if (w.dtype == DTYPE_BF16) matmul_rows_bf16(out, x, w.data, wide, B, n, d, i0, i1);
    else matmul_rows_f32(out, x, w.data, wide, B, n, d, i0, i1);
}

/* Small products stay on the calling thread: an OpenMP region costs more than they do. Each thread
 * widens bf16 weights into its own (4, max_in) slice of s->wide. */
static void matmul(CpuState *s, float *out, const float *x, CpuMat w, int B, int n, int d) {
    if ((long)B * n * d < 200000 || s->n_threads == 1) {
        matmul_rows(out, x, w, s->wide, B, n, d, 0, d);
        return;
    }
#pragma omp parallel num_threads(s->n_threads)
    {
        int nt = omp_get_num_threads(), id = omp_get_thread_num();
        int chunk = (d + nt - 1) / nt, i0 = id * chunk, i1 = i0 + chunk < d ? i0 + chunk : d;
        if (i0 < i1) matmul_rows(out, x, w, s->wide + (size_t)id * 4 * s->max_in, B, n, d, i0, i1);
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
        size_t row_bytes = (size_t)D * dtype_size(s->tok_embed.dtype);
        const unsigned char *row = (const unsigned char *)s->tok_embed.data + (size_t)tokens[b] * row_bytes;
        tensor_to_f32(s->x + (size_t)b * D, row, s->tok_embed.dtype, D);
    }
    for (int l = 0; l < c->n_layers; l++) {
        const CpuLayer *L = &s->layers[l];
        float *kc = s->key_cache + (size_t)l * c->seq_len * kvd, *vc = s->value_cache + (size_t)l * c->seq_len * kvd;
        for (int b = 0; b < B; b++) rmsnorm(s->xb + (size_t)b * D, s->x + (size_t)b * D, L->attn_norm, D, c->norm_eps);
        matmul(s, s->q, s->xb, L->wq, B, D, qd);
        /* keys and values go straight into the cache rows of their positions */
        matmul(s, kc + (size_t)pos * kvd, s->xb, L->wk, B, D, kvd);
        matmul(s, vc + (size_t)pos * kvd, s->xb, L->wv, B, D, kvd);
        for (int b = 0; b < B; b++) {
            const float *cs = s->rope_cos + (size_t)(pos + b) * half, *sn = s->rope_sin + (size_t)(pos + b) * half;
            for (int h = 0; h < c->n_heads; h++) rope(s->q + (size_t)b * qd + h * hd, cs, sn, hd, c->rope_interleaved);
            for (int h = 0; h < c->n_kv_heads; h++)
                rope(kc + (size_t)(pos + b) * kvd + h * hd, cs, sn, hd, c->rope_interleaved);
        }
        if ((long)(pos + B) * B * c->n_heads * hd < 100000 || s->n_threads == 1) {
            for (int bh = 0; bh < B * c->n_heads; bh++) attend(s, kc, vc, bh, pos, scale);
        } else {
#pragma omp parallel for schedule(dynamic) num_threads(s->n_threads)
            for (int bh = 0; bh < B * c->n_heads; bh++) attend(s, kc, vc, bh, pos, scale);
        }
        matmul(s, s->xb2, s->att_out, L->wo, B, qd, D);
        for (size_t i = 0; i < (size_t)B * D; i++) s->x[i] += s->xb2[i];
        for (int b = 0; b < B; b++) rmsnorm(s->xb + (size_t)b * D, s->x + (size_t)b * D, L->ffn_norm, D, c->norm_eps);
        matmul(s, s->hb, s->xb, L->w_gate, B, D, H);
        matmul(s, s->hb2, s->xb, L->w_up, B, D, H);
        for (size_t i = 0; i < (size_t)B * H; i++) {
            float g = s->hb[i];
            s->hb[i] = g / (1.0f + expf(-g)) * s->hb2[i]; /* SwiGLU: silu(gate) * up */
        }
        matmul(s, s->xb2, s->hb, L->w_down, B, H, D);
        for (size_t i = 0; i < (size_t)B * D; i++) s->x[i] += s->xb2[i];
    }
    if (n_logits > 0) {
        int first = B - n_logits;
        for (int b = first; b < B; b++) rmsnorm(s->xb + (size_t)b * D, s->x + (size_t)b * D, s->final_norm, D, c->norm_eps);
        matmul(s, logits, s->xb + (size_t)first * D, s->lm_head, n_logits, D, V);
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

/* The next tensor at offset *off of base, kept as the CPU computes from it: bf16 as stored when
 * keep_bf16, anything else widened to fp32. base NULL only advances *off (the sizing pass). Each
 * tensor starts on a 64-byte line. */
static CpuMat carve(unsigned char *base, size_t *off, const TensorView *v, int keep_bf16) {
    int64_t n = v->rows * v->cols;
    CpuMat t = {NULL, keep_bf16 && v->dtype == DTYPE_BF16 ? DTYPE_BF16 : DTYPE_F32};
    size_t bytes = (size_t)n * dtype_size(t.dtype);
    if (base) {
        t.data = base + *off;
        if (t.dtype == DTYPE_BF16) memcpy(base + *off, v->data, bytes);
        else tensor_to_f32((float *)(base + *off), v->data, v->dtype, n);
    }
    *off += (bytes + 63) & ~(size_t)63;
    return t;
}

/* Carves every weight of m from base (NULL: sizes them) and returns the bytes used. Norm vectors
 * are widened to fp32; the matrices keep bf16. */
static size_t carve_weights(CpuState *s, const Model *m, unsigned char *base) {
    size_t off = 0;
    s->tok_embed = carve(base, &off, &m->tok_embed, 1);
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const LayerTensors *src = &m->layers[l];
        CpuLayer *dst = &s->layers[l];
        dst->attn_norm = (float *)carve(base, &off, &src->attn_norm, 0).data;
        dst->wq = carve(base, &off, &src->wq, 1);
        dst->wk = carve(base, &off, &src->wk, 1);
        dst->wv = carve(base, &off, &src->wv, 1);
        dst->wo = carve(base, &off, &src->wo, 1);
        dst->ffn_norm = (float *)carve(base, &off, &src->ffn_norm, 0).data;
        dst->w_gate = carve(base, &off, &src->w_gate, 1);
        dst->w_down = carve(base, &off, &src->w_down, 1);
        dst->w_up = carve(base, &off, &src->w_up, 1);
    }
    s->final_norm = (float *)carve(base, &off, &m->final_norm, 0).data;
    s->lm_head = m->cfg.tied_embeddings ? s->tok_embed : carve(base, &off, &m->lm_head, 1);
    return off;
}

Target *target_cpu_build(const Model *m, int max_batch) {
    const ModelConfig *c = &m->cfg;
    /* One thread unless OMP_NUM_THREADS says otherwise: for models this small, OpenMP's fork/join
     * and spinning cost more than a second core gains (measured on the 2-core dev machine). */
    if (!getenv("OMP_NUM_THREADS")) omp_set_num_threads(1);
    CpuState *s = callocCheck(1, sizeof *s);
    s->cfg = *c;
    s->max_batch = max_batch;
    size_t D = c->dim, H = c->hidden_dim, L = c->n_layers, hd = c->head_dim;
    size_t qd = c->n_heads * hd, kvd = c->n_kv_heads * hd, S = c->seq_len, Bm = max_batch;

    /* weights: sized by a dry pass, then carved from one allocation */
    s->layers = callocCheck(L, sizeof(CpuLayer));
    size_t n_w = carve_weights(s, m, NULL);
    s->weights_mem = mallocCheck(n_w);
    carve_weights(s, m, s->weights_mem);

    /* run state: activations for max_batch rows, the full KV cache, the RoPE tables */
    s->n_threads = omp_get_max_threads();
    s->max_in = (int)(D > qd ? (D > H ? D : H) : (qd > H ? qd : H));
    size_t n_wide = (size_t)s->n_threads * 4 * s->max_in;
    size_t n_s = Bm * D * 3 + Bm * qd * 2 + Bm * H * 2 + Bm * c->n_heads * S + 2 * L * S * kvd + S * hd + n_wide;
    s->state_mem = callocCheck(n_s, sizeof(float));
    float *p = s->state_mem;
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
    s->wide = p; p += n_wide;
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
