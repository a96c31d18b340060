/* specdec bench: how fast one target (and drafter) runs on a device, against what the device can
 * do, measured in the same run:
 *   - single-token decode latency and tok/s at a given context length;
 *   - the bytes one decode step must read (weights as the backend stores them, plus the KV cache)
 *     as GB/s and as a percentage of the copy bandwidth measured here;
 *   - the verification cost T(k) / T(1), k = 1..16, one forward of k rows each;
 *   - the draft cost ratio c: a model drafter's single-token step over T(gamma + 1), and from
 *     end-to-end runs c as DESIGN.md defines it;
 *   - end to end (--prompts, or by default when a drafter is given): greedy autoregressive and
 *     speculative decoding over a prompt set, wall-clock speedup, tau and alpha per gamma.
 * Results go to results/bench/<name>.json. `specdec bench --tokenizer FILE` measures a tokenizer
 * instead (bench_tokenizer.c). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "cli.h"
#include "commands.h"
#include "datasets.h"
#include "drafters.h"
#include "generate.h"
#include "target.h"
#include "tokenizer.h"
#ifdef SPECDEC_HAVE_CUDA
#include "cuda_bench.h"
#endif

int bench_tokenizer(const char *tokenizer_path, const char *out_json_path);

extern char **environ;

/* Every SPECDEC_* variable of the environment (the backends' tuning knobs among them), so that a
 * result says what it was measured under. */
static cJSON *environment_settings(void) {
    cJSON *o = cJSON_CreateObject();
    for (char **e = environ; *e; e++) {
        const char *eq = strchr(*e, '=');
        if (strncmp(*e, "SPECDEC_", 8) || !eq) continue;
        char name[128];
        snprintf(name, sizeof name, "%.*s", (int)(eq - *e), *e);
        cJSON_AddStringToObject(o, name, eq + 1);
    }
    return o;
}

#define BENCH_K_MAX 16
#define BENCH_MAX_GAMMAS 16

typedef struct {
    const char *target, *drafter, *device, *prompts, *format, *out, *name;
    int context, gamma, iters, n_prompts, max_new_tokens, draft_ahead;
    int gammas[BENCH_MAX_GAMMAS], n_gammas;
} BenchArgs;

static void usage(void) {
    printf("usage: specdec bench --target PATH [--drafter SPEC] [--device cpu|cuda] [--context N] [--gamma G]\n"
           "                     [--iters N] [--prompts FILE [--format F] [--n-prompts N] [--max-new-tokens N]\n"
           "                     [--gammas G1,G2,..] [--draft-ahead C]] [--name NAME] [--out FILE.json]\n"
           "       specdec bench --tokenizer FILE [--out FILE.json]\n"
           "  --context N        KV positions behind the timed decode step (default 128)\n"
           "  --gamma G          gamma of the verification the draft cost ratio c divides by (default 4)\n"
           "  --prompts FILE     end-to-end runs over this prompt set (default with a drafter: humaneval.jsonl)\n"
           "  --draft-ahead C    the speculative runs draft C steps ahead beside each verification (CUDA, model drafter)\n");
}

/* Seconds per forward of k rows at position t->len, logits included. */
static double forward_seconds(Target *t, int k, int iters, float *logits) {
#ifdef SPECDEC_HAVE_CUDA
    if (!strcmp(t->backend, "cuda")) return cuda_forward_seconds(t, k, iters);
#endif
    int pos = t->len, tokens[BENCH_K_MAX + 1];
    for (int i = 0; i < k; i++) tokens[i] = (i * 7919 + 1) % t->cfg->vocab_size;
    t->forward(t, tokens, k, pos, logits, k); /* warm-up */
    t->truncate(t, pos);
    double best = INFINITY;
    for (int r = 0; r < 3; r++) { /* the best of three batches: the CPU has no device queue to fill */
        double t0 = now_seconds();
        for (int i = 0; i < iters; i++) {
            t->forward(t, tokens, k, pos, logits, k);
            t->truncate(t, pos);
        }
        double s = (now_seconds() - t0) / iters;
        best = s < best ? s : best;
    }
    return best;
}

/* GB/s of a large memory copy, counting bytes read plus bytes written. */
static double copy_bandwidth(const char *device) {
#ifdef SPECDEC_HAVE_CUDA
    if (!strcmp(device, "cuda")) return cuda_copy_bandwidth((size_t)1 << 30, 20);
#endif
    size_t n = (size_t)256 << 20;
    char *a = mallocCheck(n), *b = mallocCheck(n);
    memset(a, 1, n);
    memset(b, 2, n);
    double best = INFINITY;
    for (int r = 0; r < 5; r++) {
        double t0 = now_seconds();
        memcpy(r % 2 ? a : b, r % 2 ? b : a, n);
        double s = now_seconds() - t0;
        best = s < best ? s : best;
    }
    volatile char sink = a[n / 2] + b[n / 3]; /* the copies must happen */
    (void)sink;
    free(a);
    free(b);
    return 2.0 * (double)n / best / 1e9;
}

static int64_t numel(const TensorView *v) { return v->rows * v->cols; }

/* Bytes per element of a weight matrix in the backend's storage: as stored on cuda; on cpu bf16 as
 * stored, anything else widened to fp32. */
static double stored_size(const TensorView *v, int cuda) {
    return cuda || v->dtype == DTYPE_BF16 ? (double)dtype_size(v->dtype) : 4.0;
}

/* Bytes one decode step reads: every projection, the classifier and the norms (fp32 in both
 * backends) once, one embedding row, plus keys and values (fp32 in both backends) of `context` + 1
 * positions. */
static void step_bytes(const Model *m, const char *backend, int context, double *weights, double *kv) {
    const ModelConfig *c = &m->cfg;
    int cuda = !strcmp(backend, "cuda");
    double w = 0.0;
#define B(view, norm) ((double)numel(&(view)) * ((norm) ? 4.0 : stored_size(&(view), cuda)))
    for (int l = 0; l < c->n_layers; l++) {
        const LayerTensors *L = &m->layers[l];
        w += B(L->wq, 0) + B(L->wk, 0) + B(L->wv, 0) + B(L->wo, 0) + B(L->w_gate, 0) + B(L->w_up, 0) + B(L->w_down, 0);
        w += B(L->attn_norm, 1) + B(L->ffn_norm, 1);
    }
    w += B(m->lm_head, 0) + B(m->final_norm, 1);
    w += (double)c->dim * stored_size(&m->tok_embed, cuda);
#undef B
    *weights = w;
    *kv = 2.0 * c->n_layers * (double)(context + 1) * c->n_kv_heads * c->head_dim * 4.0;
}

/* Fills the cache with `context` positions so the timed steps attend over them. */
static void prefill(Target *t, int context) {
    int *ids = mallocCheck(sizeof(int) * (size_t)(context > 0 ? context : 1));
    for (int i = 0; i < context; i++) ids[i] = (i * 31 + 7) % t->cfg->vocab_size;
    t->truncate(t, 0);
    if (context > 0) t->forward(t, ids, context, 0, NULL, 0);
    free(ids);
}

typedef struct {
    double wall_s, decode_s;
    long tokens, target_calls, drafted, accepted;
    double drafter_s, target_s;
    long drafter_tokens, verify_calls, ahead_rounds, ahead_kept;
} Totals;

static void add_result(Totals *a, const GenResult *r) {
    a->wall_s += r->prefill_s + r->decode_s;
    a->decode_s += r->decode_s;
    a->tokens += r->n_tokens;
    a->target_calls += r->target_calls;
    a->drafted += r->drafted;
    a->accepted += r->accepted;
    a->drafter_s += r->drafter_s;
    a->target_s += r->target_s;
    a->drafter_tokens += r->drafter_tokens;
    a->verify_calls += r->verify_calls;
    a->ahead_rounds += r->ahead_rounds;
    a->ahead_kept += r->ahead_kept;
}

/* Greedy autoregressive, then speculative at each gamma, over the same prompts. Untimed passes
 * first keep one-time costs out of the numbers: every prompt once autoregressively (cuBLAS sets up
 * each new prefill shape on its first call: on the H200, warming with one prompt only left the 20
 * prompts' autoregressive prefill at 35 ms against 12 ms warm, and every speedup about 7% larger
 * than it is), every prompt once speculatively at the first gamma (the drafter's prefill shapes),
 * and one generation at each later gamma (its graphs). */
static cJSON *end_to_end(const BenchArgs *a, Target *t, const Model *m, const char *device) {
    DatasetSpec ds;
    memset(&ds, 0, sizeof ds);
    snprintf(ds.name, sizeof ds.name, "%s", a->prompts);
    snprintf(ds.format, sizeof ds.format, "%s", a->format);
    dataset_spec_apply_format(&ds, "bench --format");
    resolve_data_path(ds.name, ds.path, sizeof ds.path);
    PromptSet ps;
    dataset_load(&ps, &ds, a->n_prompts, "bench --prompts");
    char tok_path[4096];
    tokenizer_find_for_model(m->path, tok_path, sizeof tok_path);
    Tokenizer *tok = tokenizer_load(tok_path, m->cfg.vocab_size);
    int **ids = mallocCheck(sizeof(int *) * (size_t)ps.n), *len = mallocCheck(sizeof(int) * (size_t)ps.n);
    for (int p = 0; p < ps.n; p++)
        len[p] = tokenize_prompt(tok, ps.prompts[p].text, strlen(ps.prompts[p].text), m->cfg.bos_id, 1, &ids[p]);
    tokenizer_free(tok);

    GenConfig g = gen_config_default();
    g.max_new_tokens = a->max_new_tokens;
    GenResult r, *ar = mallocCheck(sizeof(GenResult) * (size_t)ps.n);
    for (int p = 0; p < ps.n; p++) {
        autoregressive_generate(t, ids[p], len[p], &g, &r);
        gen_result_free(&r);
    }
    Totals art = {0};
    for (int p = 0; p < ps.n; p++) {
        autoregressive_generate(t, ids[p], len[p], &g, &ar[p]);
        add_result(&art, &ar[p]);
    }
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "prompts", a->prompts);
    cJSON_AddNumberToObject(e, "n_prompts", ps.n);
    cJSON_AddNumberToObject(e, "max_new_tokens", a->max_new_tokens);
    cJSON_AddStringToObject(e, "sampler", "greedy");
    cJSON *jar = cJSON_AddObjectToObject(e, "autoregressive");
    cJSON_AddNumberToObject(jar, "tokens", (double)art.tokens);
    cJSON_AddNumberToObject(jar, "wall_s", art.wall_s);
    cJSON_AddNumberToObject(jar, "tokens_per_s", (double)art.tokens / art.decode_s);
    printf("end to end: %d prompts x %d new tokens, greedy\n", ps.n, a->max_new_tokens);
    printf("  autoregressive        %8.0f tok/s  (%ld tokens, wall %.3f s)\n", (double)art.tokens / art.decode_s,
           art.tokens, art.wall_s);

    if (a->drafter) {
        DrafterOptions o = {.filler_top_k = 0, .stop_if_unknown = 0, .device = device, .sampler = g.sampler};
        Drafter d;
        drafter_from_spec(&d, a->drafter, &m->cfg, &o);
        cJSON *runs = cJSON_AddArrayToObject(e, "speculative");
        cJSON_AddStringToObject(e, "drafter", a->drafter);
        g.draft_ahead = a->draft_ahead;
        if (a->draft_ahead) cJSON_AddNumberToObject(e, "draft_ahead", a->draft_ahead);
        for (int gi = 0; gi < a->n_gammas; gi++) {
            g.gamma = a->gammas[gi];
            for (int p = 0; p < (gi == 0 ? ps.n : 1); p++) {
                speculative_generate(t, &d, ids[p], len[p], &g, &r);
                gen_result_free(&r);
            }
            Totals st = {0};
            int differ = 0;
            for (int p = 0; p < ps.n; p++) {
                speculative_generate(t, &d, ids[p], len[p], &g, &r);
                add_result(&st, &r);
                /* greedy speculative decoding must reproduce the autoregressive text */
                differ += r.n_tokens != ar[p].n_tokens || memcmp(r.tokens, ar[p].tokens, sizeof(int) * (size_t)r.n_tokens);
                gen_result_free(&r);
            }
            GenResult sum;
            memset(&sum, 0, sizeof sum);
            sum.drafter_s = st.drafter_s;
            sum.drafter_tokens = st.drafter_tokens;
            sum.target_s = st.target_s;
            sum.verify_calls = st.verify_calls;
            double alpha = st.drafted ? (double)st.accepted / st.drafted : NAN, c = metric_cost_ratio(&sum);
            double tau = (double)st.tokens / st.target_calls, speedup = art.wall_s / st.wall_s;
            char kept[48] = "";
            if (st.ahead_rounds) snprintf(kept, sizeof kept, "  ahead kept %.0f%%", 100.0 * st.ahead_kept / st.ahead_rounds);
            printf("  gamma %2d              %8.0f tok/s  speedup %.2fx  tau %.2f  alpha %.3f  c %.3f  predicted %.2fx%s%s\n",
                   g.gamma, (double)st.tokens / st.decode_s, speedup, tau, alpha, c, predicted_speedup(alpha, g.gamma, c),
                   kept, differ ? "  TEXT DIFFERS FROM AUTOREGRESSIVE" : "");
            cJSON *j = cJSON_CreateObject();
            cJSON_AddNumberToObject(j, "gamma", g.gamma);
            cJSON_AddNumberToObject(j, "tokens_per_s", (double)st.tokens / st.decode_s);
            cJSON_AddNumberToObject(j, "wall_s", st.wall_s);
            cJSON_AddNumberToObject(j, "speedup", speedup);
            cJSON_AddNumberToObject(j, "mean_accepted_length", tau);
            cJSON_AddItemToObject(j, "acceptance_rate", isnan(alpha) ? cJSON_CreateNull() : cJSON_CreateNumber(alpha));
            cJSON_AddItemToObject(j, "cost_ratio", isnan(c) ? cJSON_CreateNull() : cJSON_CreateNumber(c));
            cJSON_AddNumberToObject(j, "prompts_differing_from_autoregressive", differ);
            if (st.ahead_rounds) cJSON_AddNumberToObject(j, "draft_ahead_kept_fraction", (double)st.ahead_kept / st.ahead_rounds);
            cJSON_AddItemToArray(runs, j);
        }
        drafter_free(&d);
    }
    for (int p = 0; p < ps.n; p++) {
        free(ids[p]);
        gen_result_free(&ar[p]);
    }
    free(ids);
    free(len);
    free(ar);
    prompt_set_free(&ps);
    return e;
}

static void parse_args(BenchArgs *a, int argc, char **argv, const char **tokenizer) {
    memset(a, 0, sizeof *a);
    a->context = 128;
    a->gamma = 4;
    a->iters = 200;
    a->n_prompts = 20;
    a->max_new_tokens = 128;
    a->format = "humaneval";
    int default_gammas[] = {1, 2, 3, 4, 6, 8};
    a->n_gammas = 6;
    memcpy(a->gammas, default_gammas, sizeof default_gammas);
    for (int i = 1; i < argc; i++) {
        const char *f = argv[i];
#define FLAG(s) !strcmp(f, s)
#define VALUE cli_value(argc, argv, &i)
        if (FLAG("--target")) a->target = VALUE;
        else if (FLAG("--drafter")) a->drafter = VALUE;
        else if (FLAG("--device")) a->device = VALUE;
        else if (FLAG("--tokenizer")) *tokenizer = VALUE;
        else if (FLAG("--context")) a->context = (int)cli_int(f, VALUE, 0, 1 << 24);
        else if (FLAG("--gamma")) a->gamma = (int)cli_int(f, VALUE, 1, BENCH_K_MAX - 1);
        else if (FLAG("--iters")) a->iters = (int)cli_int(f, VALUE, 1, 1 << 20);
        else if (FLAG("--prompts")) a->prompts = VALUE;
        else if (FLAG("--format")) a->format = VALUE;
        else if (FLAG("--n-prompts")) a->n_prompts = (int)cli_int(f, VALUE, 1, 1 << 20);
        else if (FLAG("--max-new-tokens")) a->max_new_tokens = (int)cli_int(f, VALUE, 1, 1 << 20);
        else if (FLAG("--name")) a->name = VALUE;
        else if (FLAG("--out")) a->out = VALUE;
        else if (FLAG("--draft-ahead")) a->draft_ahead = (int)cli_int(f, VALUE, 0, GAMMA_MAX_LIMIT + 1);
        else if (FLAG("--gammas")) {
            const char *v = VALUE;
            int *list, n = cli_int_list(f, v, &list);
            if (n < 1 || n > BENCH_MAX_GAMMAS) fatal("--gammas: expected 1 to %d values, got %d", BENCH_MAX_GAMMAS, n);
            for (int k = 0; k < n; k++) {
                if (list[k] < 1 || list[k] > GAMMA_MAX_LIMIT) fatal("--gammas: %d is outside 1..%d", list[k], GAMMA_MAX_LIMIT);
                a->gammas[k] = list[k];
            }
            a->n_gammas = n;
            free(list);
        } else if (FLAG("--help") || FLAG("-h")) {
            usage();
            exit(0);
        } else fatal("bench: unknown option '%s' (see specdec bench --help)", f);
#undef FLAG
#undef VALUE
    }
    if (a->drafter && !a->prompts) a->prompts = "humaneval.jsonl";
    if (a->draft_ahead && !a->drafter) fatal("--draft-ahead needs --drafter model:PATH");
    for (int k = 0; k < a->n_gammas && a->draft_ahead; k++)
        if (a->draft_ahead > a->gammas[k] + 1)
            fatal("--draft-ahead %d exceeds gamma + 1 for gamma %d (in --gammas)", a->draft_ahead, a->gammas[k]);
}

/* A file name from the last component of a path: letters, digits, '-', '.' and '_' kept. */
static void path_stem(const char *path, char *out, size_t n) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/') start--;
    size_t k = 0;
    for (size_t i = start; i < len && k + 1 < n; i++) {
        char ch = path[i];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' || ch == '.';
        out[k++] = ok ? ch : '_';
    }
    out[k] = '\0';
}

int cmd_bench(int argc, char **argv) {
    BenchArgs a;
    const char *tokenizer = NULL;
    parse_args(&a, argc, argv, &tokenizer);
    if (tokenizer) {
        char out[4200], stem[256];
        path_stem(tokenizer, stem, sizeof stem);
        snprintf(out, sizeof out, "results/bench/tokenizer_%s.json", stem);
        return bench_tokenizer(tokenizer, a.out ? a.out : out);
    }
    if (!a.target) fatal("bench: --target PATH (or --tokenizer FILE) is required (see specdec bench --help)");
    const char *device = a.device ? a.device : default_device();
    char path[4096];
    resolve_model_path(a.target, path, sizeof path);
    Model m;
    model_load(&m, path);
    const ModelConfig *c = &m.cfg;
    if (a.context + BENCH_K_MAX > c->seq_len)
        fatal("--context %d leaves no room for %d rows in the context length %d", a.context, BENCH_K_MAX, c->seq_len);
    Target *t = target_build(&m, device, 128);
    char dev_name[256] = "cpu";
    int sms = 0, fused_rows = 0, skipped = 0;
#ifdef SPECDEC_HAVE_CUDA
    if (!strcmp(t->backend, "cuda")) {
        cuda_device_info(dev_name, sizeof dev_name, &sms);
        fused_rows = cuda_fused_rows(t);
        skipped = cuda_skipped_launches(t);
    }
#endif
    float *logits = mallocCheck(sizeof(float) * (size_t)BENCH_K_MAX * c->vocab_size);

    double bw = copy_bandwidth(t->backend);
    prefill(t, a.context);
    double tk[BENCH_K_MAX + 1];
    for (int k = 1; k <= BENCH_K_MAX; k++) tk[k] = forward_seconds(t, k, k == 1 ? a.iters : a.iters / 4 + 1, logits);
    double wbytes, kvbytes;
    step_bytes(&m, t->backend, a.context, &wbytes, &kvbytes);
    double gbs = (wbytes + kvbytes) / tk[1] / 1e9;

    printf("bench: %s on %s (%s", a.target, t->backend, dev_name);
    if (sms) printf(", %d SMs", sms);
    printf("), %s weights, context %d\n", dtype_name(m.lm_head.dtype), a.context);
    if (sms) printf("projections             fused for forwards of <= %d rows, cuBLAS above\n", fused_rows);
    printf("copy bandwidth          %8.1f GB/s (read + write)\n", bw);
    printf("decode latency          %8.4f ms   %8.0f tok/s\n", tk[1] * 1e3, 1.0 / tk[1]);
    printf("bytes per token         %8.2f MB weights + %.2f MB KV = %.1f GB/s, %.1f%% of copy bandwidth\n", wbytes / 1e6,
           kvbytes / 1e6, gbs, 100.0 * gbs / bw);
    if (skipped)
        printf("                        (SPECDEC_CUDA_SKIP=%d: launches left out read nothing, so this rate is not real)\n", skipped);
    printf("verification cost T(k)/T(1):");
    for (int k = 1; k <= BENCH_K_MAX; k++) printf(" %d:%.2f", k, tk[k] / tk[1]);
    printf("\n");

    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "target", a.target);
    cJSON_AddStringToObject(j, "device", t->backend);
    cJSON_AddStringToObject(j, "device_name", dev_name);
    cJSON_AddStringToObject(j, "weights_dtype", dtype_name(m.lm_head.dtype));
    cJSON_AddNumberToObject(j, "context", a.context);
    cJSON_AddItemToObject(j, "environment", environment_settings());
    if (sms) cJSON_AddNumberToObject(j, "fused_projection_rows", fused_rows);
    cJSON_AddNumberToObject(j, "copy_bandwidth_gbs", bw);
    cJSON *dec = cJSON_AddObjectToObject(j, "decode");
    cJSON_AddNumberToObject(dec, "latency_ms", tk[1] * 1e3);
    cJSON_AddNumberToObject(dec, "tokens_per_s", 1.0 / tk[1]);
    cJSON_AddNumberToObject(dec, "weight_bytes", wbytes);
    cJSON_AddNumberToObject(dec, "kv_bytes", kvbytes);
    cJSON_AddNumberToObject(dec, "gbs", gbs);
    cJSON_AddNumberToObject(dec, "percent_of_copy_bandwidth", 100.0 * gbs / bw);
    cJSON *vc = cJSON_AddArrayToObject(j, "verify_cost");
    for (int k = 1; k <= BENCH_K_MAX; k++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "k", k);
        cJSON_AddNumberToObject(e, "ms", tk[k] * 1e3);
        cJSON_AddNumberToObject(e, "ratio", tk[k] / tk[1]);
        cJSON_AddItemToArray(vc, e);
    }

    char dpath[4096];
    int dbf16;
    if (a.drafter && drafter_model_spec(a.drafter, dpath, sizeof dpath, &dbf16)) {
        Model dm;
        model_load(&dm, dpath);
        if (dbf16) model_round_to_bf16(&dm);
        Target *dt = target_build(&dm, device, 128);
        prefill(dt, a.context);
        double td = forward_seconds(dt, 1, a.iters, logits);
        double cr = td / tk[a.gamma + 1];
        printf("draft step              %8.4f ms   c = T_draft(1) / T(%d) = %.3f\n", td * 1e3, a.gamma + 1, cr);
        cJSON *jd = cJSON_AddObjectToObject(j, "drafter_step");
        cJSON_AddStringToObject(jd, "drafter", a.drafter);
        cJSON_AddNumberToObject(jd, "latency_ms", td * 1e3);
        cJSON_AddNumberToObject(jd, "gamma", a.gamma);
        cJSON_AddNumberToObject(jd, "cost_ratio", cr);
        target_free(dt);
        model_free(&dm);
    }
    if (a.prompts) cJSON_AddItemToObject(j, "end_to_end", end_to_end(&a, t, &m, t->backend));

    char out[4200], stem[256], dstem[256] = "";
    path_stem(a.name ? a.name : a.target, stem, sizeof stem);
    if (a.drafter && !a.name) path_stem(drafter_spec_is_model(a.drafter) ? a.drafter + 6 : a.drafter, dstem, sizeof dstem);
    snprintf(out, sizeof out, "results/bench/%s_%s%s%s.json", stem, t->backend, dstem[0] ? "_" : "", dstem);
    const char *out_path = a.out ? a.out : out;
    char *text = cJSON_Print(j);
    FILE *f = fopenCheck(out_path, "w");
    fputs(text, f);
    fputc('\n', f);
    if (fclose(f)) fatal("%s: write failed", out_path);
    printf("wrote %s\n", out_path);
    free(text);
    cJSON_Delete(j);
    free(logits);
    target_free(t);
    model_free(&m);
    return 0;
}
