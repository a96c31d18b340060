/* The CUDA target: weights uploaded as stored into one device allocation, all run state and the
 * full KV cache in a second one, both sized before the first token. A forward of n rows is, per
 * layer, 5 launches for n <= GEMV_ROWS_MAX (norm + QKV, attention, O + residual, norm + gate/up +
 * SwiGLU, down + residual: cuda_gemv.cu) and 8 otherwise (norm, QKV GEMM, attention, O GEMM +
 * residual, norm, gate/up GEMM, SwiGLU, down GEMM + residual); then the final norm and the
 * classifier. For n <= CUDA_GRAPH_ROWS_MAX the forward is captured once into a CUDA graph and
 * replayed, reading its tokens and position from the device. */
#include <math.h>
#include <string.h>

#include <stdlib.h>

#include "cuda_gemv.h"
#include "cuda_kernels.h"
#include "cuda_target.h"

#define CUBLAS_WORKSPACE_BYTES (32u << 20)
#define ATT_EARLY_QKV_BYTES (4u << 20)

/* y (n, out) fp32 = W (out, in) @ x (n, in)^T [+ y when accumulate]: row-major operands seen by
 * column-major cuBLAS as y^T = W^T^T x^T; fp32 accumulation, no TF32. */
static void gemm(CudaTarget *ct, const void *W, const void *x, float *y, int n, int in, int out, int accumulate) {
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    cudaDataType t = cuda_dtype(ct->wdt);
    cublasCheck(cublasGemmEx(ct->cublas, CUBLAS_OP_T, CUBLAS_OP_N, out, n, in, &alpha, W, t, in, x, t, in, &beta,
                             y, CUDA_R_32F, out, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

/* flags: GemvArgs.flags */
static void fused_gemv(CudaTarget *ct, const void *W, const float *a, const float *norm, float *y, int n, int in,
                       int out, GemvEpilogue ep, int flags) {
    GemvArgs g = {W, ct->wdt, a, norm, ct->cfg.norm_eps, y, n, in, out, ep, flags};
    launch_gemv(&g, ct->stream);
}

static void forward_launches(CudaTarget *ct, int n, int n_logits) {
    const ModelConfig *c = &ct->cfg;
    int D = c->dim, H = c->hidden_dim, hd = c->head_dim, qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    int fused = n <= ct->fused_rows;
    size_t cache_stride = (size_t)c->seq_len * kvd;
    cudaStream_t st = ct->stream;
    AttentionArgs att;
    att.qkv = ct->qkv;
    att.qkv_dim = ct->qkv_dim;
    att.rope_cos = ct->rope_cos;
    att.rope_sin = ct->rope_sin;
    att.out = ct->att;
    att.odt = fused ? DTYPE_F32 : ct->wdt;
    att.pos = ct->pos;
    att.n = n;
    att.n_heads = c->n_heads;
    att.n_kv_heads = c->n_kv_heads;
    att.head_dim = hd;
    att.rope_interleaved = c->rope_interleaved;
    /* early reads rely on the QKV launch before attention triggering late */
    att.early = fused && ct->att_early && !(ct->skip_launches & SKIP_QKV);
    const int qkv_flags = att.early ? GEMV_LATE_TRIGGER : 0;
    if (fused) launch_embed(ct->x, ct->tokens, ct->tok_embed, ct->edt, n, D, st);
    for (int l = 0; l < c->n_layers; l++) {
        const CudaLayer *L = &ct->layers[l];
        att.kc = ct->key_cache + l * cache_stride;
        att.vc = ct->value_cache + l * cache_stride;
        if (fused) {
            const int skip = ct->skip_launches;
            if (!(skip & SKIP_QKV))
                fused_gemv(ct, L->wqkv, ct->x, L->attn_norm, ct->qkv, n, D, ct->qkv_dim, GEMV_STORE, qkv_flags);
            if (!(skip & SKIP_ATTENTION)) launch_attention(&att, st);
            if (!(skip & SKIP_O)) fused_gemv(ct, L->wo, (const float *)ct->att, NULL, ct->x, n, qd, D, GEMV_RESIDUAL, 0);
            if (!(skip & SKIP_GATE_UP))
                fused_gemv(ct, L->w_gate_up, ct->x, L->ffn_norm, (float *)ct->hb, n, D, 2 * H, GEMV_SWIGLU, 0);
            if (!(skip & SKIP_DOWN)) fused_gemv(ct, L->w_down, (const float *)ct->hb, NULL, ct->x, n, H, D, GEMV_RESIDUAL, 0);
            continue;
        }
        launch_rmsnorm(ct->x, ct->xn, ct->wdt, L->attn_norm, n, D, c->norm_eps, l == 0 ? ct->tokens : NULL,
                       ct->tok_embed, ct->edt, st);
        gemm(ct, L->wqkv, ct->xn, ct->qkv, n, D, ct->qkv_dim, 0);
        launch_attention(&att, st);
        gemm(ct, L->wo, ct->att, ct->x, n, qd, D, 1);
        launch_rmsnorm(ct->x, ct->xn, ct->wdt, L->ffn_norm, n, D, c->norm_eps, NULL, NULL, ct->edt, st);
        gemm(ct, L->w_gate_up, ct->xn, ct->gu, n, D, 2 * H, 0);
        launch_swiglu(ct->gu, ct->hb, ct->wdt, n, H, st);
        gemm(ct, L->w_down, ct->hb, ct->x, n, H, D, 1);
    }
    if (n_logits == 0) return;
    const float *last = ct->x + (size_t)(n - n_logits) * D;
    if (fused) {
        if (!(ct->skip_launches & SKIP_CLASSIFIER))
            fused_gemv(ct, ct->lm_head, last, ct->final_norm, ct->logits, n_logits, D, c->vocab_size, GEMV_STORE, 0);
        return;
    }
    launch_rmsnorm((float *)last, ct->xn, ct->wdt, ct->final_norm, n_logits, D, c->norm_eps, NULL, NULL, ct->edt, st);
    gemm(ct, ct->lm_head, ct->xn, ct->logits, n_logits, D, c->vocab_size, 0);
}

void cuda_forward_enqueue(CudaTarget *ct, int n, int n_logits, int use_graph) {
    CHECK(n >= 1 && n <= ct->max_batch && n_logits >= 0 && n_logits <= n, "forward of %d rows (%d logits)", n, n_logits);
    if (!use_graph || (n_logits != n && n_logits != 1) || n > CUDA_GRAPH_ROWS_MAX) {
        forward_launches(ct, n, n_logits);
        return;
    }
    cudaGraphExec_t *exec = &ct->graphs[n][n_logits == n ? 0 : 1];
    if (!*exec) {
        cudaGraph_t g;
        cudaCheck(cudaStreamBeginCapture(ct->stream, cudaStreamCaptureModeThreadLocal));
        forward_launches(ct, n, n_logits);
        cudaCheck(cudaStreamEndCapture(ct->stream, &g));
        cudaCheck(cudaGraphInstantiate(exec, g, 0));
        cudaCheck(cudaGraphDestroy(g));
    }
    cudaCheck(cudaGraphLaunch(*exec, ct->stream));
}

/* fatal() unless tokens[0..n) at positions [pos, pos + n) fit the model: one clear error line
 * before any kernel could read past the embedding or write past the cache. */
static void check_input(const CudaTarget *ct, const int *tokens, int n, int pos) {
    const ModelConfig *c = &ct->cfg;
    if (pos + n > c->seq_len) fatal("%d positions exceed the model's context length %d", pos + n, c->seq_len);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= c->vocab_size)
            fatal("token id %d is outside the vocabulary (0..%d)", tokens[i], c->vocab_size - 1);
}

void cuda_prefill_enqueue(CudaTarget *ct, const int *d_tokens, const int *tokens, int n, int pos) {
    check_input(ct, tokens, n, pos);
    for (int start = 0; start < n; start += ct->max_batch) {
        int B = n - start < ct->max_batch ? n - start : ct->max_batch;
        launch_set_input(ct->pos, d_tokens + start, B, pos + start, ct->stream);
        cuda_forward_enqueue(ct, B, 0, 0);
    }
}

void cuda_target_set_stream(CudaTarget *ct, cudaStream_t s) {
    ct->stream = s;
    cublasCheck(cublasSetStream(ct->cublas, s));
}

/* ---------------------------------------------------------------- the Target vtable */

static void cuda_forward(Target *t, const int *tokens, int n, int pos, float *logits, int n_logits) {
    CudaTarget *ct = cuda_target_of(t);
    const ModelConfig *c = &ct->cfg;
    CHECK(n >= 1 && pos >= 0 && pos <= t->len, "forward at pos %d with %d cached positions", pos, t->len);
    CHECK(n_logits >= 0 && n_logits <= n, "n_logits %d for %d tokens", n_logits, n);
    check_input(ct, tokens, n, pos);
    int first_logit_row = n - n_logits;
    for (int start = 0; start < n; start += ct->max_batch) {
        int B = n - start < ct->max_batch ? n - start : ct->max_batch;
        int lo = first_logit_row > start ? first_logit_row : start;
        int rows = start + B - lo > 0 ? start + B - lo : 0;
        ct->h_io[0] = pos + start;
        memcpy(ct->h_io + 1, tokens + start, sizeof(int) * (size_t)B);
        cudaCheck(cudaMemcpyAsync(ct->pos, ct->h_io, sizeof(int) * (size_t)(B + 1), cudaMemcpyHostToDevice, ct->stream));
        cuda_forward_enqueue(ct, B, rows, 1);
        if (rows)
            cudaCheck(cudaMemcpyAsync(logits + (size_t)(lo - first_logit_row) * c->vocab_size, ct->logits,
                                      sizeof(float) * (size_t)rows * c->vocab_size, cudaMemcpyDeviceToHost, ct->stream));
        /* the pinned staging buffers are reused by the next chunk */
        cudaCheck(cudaStreamSynchronize(ct->stream));
    }
    t->len = pos + n;
}

static void cuda_truncate(Target *t, int len) {
    CHECK(len >= 0 && len <= t->len, "truncate to %d with %d cached positions", len, t->len);
    t->len = len; /* positions >= len are never read again before they are rewritten */
}

static void cuda_copy_cache(Target *t, const Target *src) {
    CudaTarget *d = cuda_target_of(t);
    const CudaTarget *s = (const CudaTarget *)src->state;
    size_t kvd = (size_t)d->cfg.n_kv_heads * d->cfg.head_dim, S = d->cfg.seq_len, bytes = sizeof(float) * (size_t)src->len * kvd;
    for (int l = 0; l < d->cfg.n_layers; l++) {
        cudaCheck(cudaMemcpyAsync(d->key_cache + l * S * kvd, s->key_cache + l * S * kvd, bytes, cudaMemcpyDeviceToDevice, d->stream));
        cudaCheck(cudaMemcpyAsync(d->value_cache + l * S * kvd, s->value_cache + l * S * kvd, bytes, cudaMemcpyDeviceToDevice, d->stream));
    }
    cudaCheck(cudaStreamSynchronize(d->stream));
    t->len = src->len;
}

static void cuda_free(Target *t) {
    CudaTarget *ct = cuda_target_of(t);
    if (ct->loop) ct->loop_free(ct->loop);
    for (int n = 0; n <= CUDA_GRAPH_ROWS_MAX; n++)
        for (int w = 0; w < 2; w++)
            if (ct->graphs[n][w]) cudaCheck(cudaGraphExecDestroy(ct->graphs[n][w]));
    cublasCheck(cublasDestroy(ct->cublas));
    cudaCheck(cudaStreamDestroy(ct->own_stream));
    cudaCheck(cudaFree(ct->weights_mem));
    cudaCheck(cudaFree(ct->state_mem));
    cudaCheck(cudaFreeHost(ct->h_io));
    free(ct->layers);
    free(ct);
    free(t);
}

/* ---------------------------------------------------------------- building */

/* Hands out 256-byte aligned pieces of one allocation; with base == NULL it only counts. */
typedef struct {
    char *base;
    size_t used;
} Carver;

static void *carve(Carver *cv, size_t bytes) {
    void *p = cv->base ? cv->base + cv->used : NULL;
    cv->used += (bytes + 255) & ~(size_t)255;
    return p;
}

/* Copies tensors as stored, stacking several of one dtype into consecutive rows. */
static const void *upload_stacked(Carver *cv, const TensorView *const *views, int n_views) {
    size_t total = 0;
    for (int i = 0; i < n_views; i++) total += (size_t)views[i]->rows * views[i]->cols * dtype_size(views[i]->dtype);
    char *dst = (char *)carve(cv, total);
    if (cv->base) {
        size_t off = 0;
        for (int i = 0; i < n_views; i++) {
            size_t b = (size_t)views[i]->rows * views[i]->cols * dtype_size(views[i]->dtype);
            cudaCheck(cudaMemcpy(dst + off, views[i]->data, b, cudaMemcpyHostToDevice));
            off += b;
        }
    }
    return dst;
}

static const void *upload(Carver *cv, const TensorView *v) { return upload_stacked(cv, &v, 1); }

/* Norm weights are tiny: widened to fp32 so the kernels read one type. */
static const float *upload_f32(Carver *cv, const TensorView *v) {
    size_t n = (size_t)v->rows * v->cols;
    float *dst = (float *)carve(cv, n * sizeof(float));
    if (cv->base) {
        float *tmp = (float *)mallocCheck(n * sizeof(float));
        tensor_to_f32(tmp, v->data, v->dtype, (int64_t)n);
        cudaCheck(cudaMemcpy(dst, tmp, n * sizeof(float), cudaMemcpyHostToDevice));
        free(tmp);
    }
    return dst;
}

/* Lays out (base == NULL: measures) every weight; the same code does both so they cannot drift. */
static void place_weights(CudaTarget *ct, const Model *m, Carver *cv) {
    const ModelConfig *c = &ct->cfg;
    ct->tok_embed = upload(cv, &m->tok_embed);
    for (int l = 0; l < c->n_layers; l++) {
        const LayerTensors *src = &m->layers[l];
        CudaLayer *dst = &ct->layers[l];
        const TensorView *qkv[3] = {&src->wq, &src->wk, &src->wv}, *gate_up[2] = {&src->w_gate, &src->w_up};
        dst->attn_norm = upload_f32(cv, &src->attn_norm);
        dst->wqkv = upload_stacked(cv, qkv, 3);
        dst->wo = upload(cv, &src->wo);
        dst->ffn_norm = upload_f32(cv, &src->ffn_norm);
        dst->w_gate_up = upload_stacked(cv, gate_up, 2);
        dst->w_down = upload(cv, &src->w_down);
    }
    ct->final_norm = upload_f32(cv, &m->final_norm);
    ct->lm_head = c->tied_embeddings ? ct->tok_embed : upload(cv, &m->lm_head);
}

/* Every projection shares one dtype: the GEMM input activations are rounded to it. */
static DType projection_dtype(const Model *m) {
    DType dt = m->lm_head.dtype;
    for (int l = 0; l < m->cfg.n_layers; l++) {
        const LayerTensors *L = &m->layers[l];
        const TensorView *v[7] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->w_gate, &L->w_down, &L->w_up};
        for (int i = 0; i < 7; i++)
            if (v[i]->dtype != dt)
                fatal("%s: the CUDA backend needs every projection in one dtype, but layer %d mixes %s and %s",
                      m->path, l, dtype_name(v[i]->dtype), dtype_name(dt));
    }
    return dt;
}

static void place_state(CudaTarget *ct, Carver *cv) {
    const ModelConfig *c = &ct->cfg;
    size_t B = ct->max_batch, D = c->dim, H = c->hidden_dim, V = c->vocab_size, hd = c->head_dim;
    size_t qd = (size_t)c->n_heads * hd, kvd = (size_t)c->n_kv_heads * hd, S = c->seq_len, ws = dtype_size(ct->wdt);
    ct->x = (float *)carve(cv, B * D * sizeof(float));
    ct->xn = carve(cv, B * D * ws);
    ct->qkv = (float *)carve(cv, B * ct->qkv_dim * sizeof(float));
    ct->att = carve(cv, B * qd * sizeof(float)); /* fp32 or wdt, by path */
    ct->gu = (float *)carve(cv, B * 2 * H * sizeof(float));
    ct->hb = carve(cv, B * H * sizeof(float));
    ct->logits = (float *)carve(cv, B * V * sizeof(float));
    ct->key_cache = (float *)carve(cv, (size_t)c->n_layers * S * kvd * sizeof(float));
    ct->value_cache = (float *)carve(cv, (size_t)c->n_layers * S * kvd * sizeof(float));
    ct->rope_cos = (float *)carve(cv, S * (hd / 2) * sizeof(float));
    ct->rope_sin = (float *)carve(cv, S * (hd / 2) * sizeof(float));
    ct->pos = (int *)carve(cv, (1 + B) * sizeof(int));
    ct->tokens = ct->pos ? ct->pos + 1 : NULL;
    ct->cublas_ws = carve(cv, CUBLAS_WORKSPACE_BYTES);
}

/* The shared RoPE tables (model.h), so both backends rotate by bit-identical factors. */
static void upload_rope(CudaTarget *ct) {
    const ModelConfig *c = &ct->cfg;
    size_t half = c->head_dim / 2, S = c->seq_len;
    float *cs = (float *)mallocCheck(S * half * sizeof(float)), *sn = (float *)mallocCheck(S * half * sizeof(float));
    rope_tables(c, cs, sn);
    cudaCheck(cudaMemcpy(ct->rope_cos, cs, S * half * sizeof(float), cudaMemcpyHostToDevice));
    cudaCheck(cudaMemcpy(ct->rope_sin, sn, S * half * sizeof(float), cudaMemcpyHostToDevice));
    free(cs);
    free(sn);
}

int cuda_device_available(void) {
    int n = 0;
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError(); /* no driver or no device: clear the sticky error */
        return 0;
    }
    return n > 0;
}

Target *target_cuda_build(const Model *m, int max_batch) {
    const ModelConfig *c = &m->cfg;
    if (c->head_dim > CUDA_HEAD_DIM_MAX || c->head_dim % 4)
        fatal("%s: head_dim %d is not supported by the CUDA backend (a multiple of 4, at most %d)", m->path, c->head_dim,
              CUDA_HEAD_DIM_MAX);
    CHECK(max_batch >= 1, "max_batch %d", max_batch);
    static unsigned long built;
    if (!built) {
        gemv_init();
        attention_init();
        cuda_pdl = env_int("SPECDEC_CUDA_PDL", 0, 1, 1);
    }
    CudaTarget *ct = (CudaTarget *)callocCheck(1, sizeof *ct);
    ct->cfg = *c;
    ct->id = ++built;
    ct->max_batch = max_batch;
    ct->qkv_dim = (c->n_heads + 2 * c->n_kv_heads) * c->head_dim;
    ct->wdt = projection_dtype(m);
    ct->edt = m->tok_embed.dtype;
    ct->layers = (CudaLayer *)callocCheck((size_t)c->n_layers, sizeof(CudaLayer));

    const int rows_env = env_int("SPECDEC_CUDA_FUSED_ROWS", 0, GEMV_ROWS_MAX, -1); /* -1: unset */
    ct->skip_launches = env_int("SPECDEC_CUDA_SKIP", 0, SKIP_ALL, 0);
    if (ct->skip_launches)
        fprintf(stderr, "specdec: SPECDEC_CUDA_SKIP=%d leaves launches out of every fused forward: timing only, the outputs are wrong\n",
                ct->skip_launches);
    ct->fused_rows = rows_env < 0 ? GEMV_ROWS_MAX : rows_env;
    /* Attention reads the cache before its wait where QKV streams long enough after its own wait
     * (at least ATT_EARLY_QKV_BYTES) to hide attention's later launch; it gives the same results.
     * Measured on an H100, Llama-1B (QKV 12 MB) decode: 1.1300 ms against 1.1500; pycode-19m (QKV
     * 0.5 MB): 0.1270 against 0.1258-0.1266. SPECDEC_CUDA_ATT_EARLY=0|1 overrides. */
    const size_t qkv_bytes = (size_t)ct->qkv_dim * c->dim * dtype_size(ct->wdt);
    ct->att_early = env_int("SPECDEC_CUDA_ATT_EARLY", 0, 1, qkv_bytes >= ATT_EARLY_QKV_BYTES);
    if (!gemv_supported(ct->wdt, c->dim) || !gemv_supported(ct->wdt, c->n_heads * c->head_dim) ||
        !gemv_supported(ct->wdt, c->hidden_dim))
        ct->fused_rows = 0;

    Carver cv = {NULL, 0};
    place_weights(ct, m, &cv);
    ct->weight_bytes = cv.used;
    /* Large models are bandwidth-bound: verifying k tokens should cost about one decode step. On
     * the Llama-3.2-1B shape (H200) the tensor-core fused kernel (bf16) gives T(9)/T(1) = 1.44 with a
     * decode step 17% shorter than cuBLAS's (T(9)/T(1) = 1.09); the CUDA-core one gives 4.92. So
     * large models without the former use cuBLAS for every forward, which also keeps greedy
     * speculative output identical to autoregressive output. */
    const int ins[3] = {c->dim, c->n_heads * c->head_dim, c->hidden_dim};
    if (rows_env < 0 && ct->weight_bytes > ((size_t)256 << 20) && !gemv_mma_enabled(ct->wdt, ins, 3)) ct->fused_rows = 0;
    size_t free_b, total_b;
    cudaCheck(cudaMemGetInfo(&free_b, &total_b));
    if (cv.used > free_b) fatal("%s: %zu MB of weights do not fit in %zu MB of free GPU memory", m->path, cv.used >> 20, free_b >> 20);
    cudaCheck(cudaMalloc(&ct->weights_mem, cv.used));
    cv.base = (char *)ct->weights_mem;
    cv.used = 0;
    place_weights(ct, m, &cv);

    Carver sv = {NULL, 0};
    place_state(ct, &sv);
    cudaCheck(cudaMemGetInfo(&free_b, &total_b));
    if (sv.used > free_b)
        fatal("%s: the KV cache for %d positions and the run state (%zu MB) do not fit in %zu MB of free GPU memory",
              m->path, c->seq_len, sv.used >> 20, free_b >> 20);
    cudaCheck(cudaMalloc(&ct->state_mem, sv.used));
    cudaCheck(cudaMemset(ct->state_mem, 0, sv.used));
    sv.base = (char *)ct->state_mem;
    sv.used = 0;
    place_state(ct, &sv);
    upload_rope(ct);

    cudaCheck(cudaMallocHost((void **)&ct->h_io, sizeof(int) * (size_t)(1 + max_batch)));
    cudaCheck(cudaStreamCreateWithFlags(&ct->own_stream, cudaStreamNonBlocking));
    cublasCheck(cublasCreate(&ct->cublas));
    cublasCheck(cublasSetWorkspace(ct->cublas, ct->cublas_ws, CUBLAS_WORKSPACE_BYTES));
    cuda_target_set_stream(ct, ct->own_stream);

    Target *t = (Target *)callocCheck(1, sizeof *t);
    t->cfg = &ct->cfg;
    t->backend = "cuda";
    t->forward = cuda_forward;
    t->truncate = cuda_truncate;
    t->copy_cache = cuda_copy_cache;
    t->free = cuda_free;
    t->state = ct;
    return t;
}
