/* specdec run: every run of an experiment's grid, one results line each, resumable and shardable.
 *
 * Order of work: parse and validate the config, load the dataset, open every model and build every
 * drafter once (so a bad spec or a vocabulary mismatch stops us before the first run), tokenize
 * every prompt, expand the grid, then run what this shard owns and the file does not hold yet.
 * Speedups are computed from the file when the summary is printed (stats.h says why). */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "cli.h"
#include "commands.h"
#include "drafters.h"
#include "exp_config.h"
#include "generate.h"
#include "metrics_json.h"
#include "progress.h"
#include "results.h"
#include "sha256.h"
#include "stats.h"
#include "tokenizer.h"

static const char *USAGE =
    "usage: specdec run CONFIG.json [--out FILE] [--resume] [--shard I/N] [--device cpu|cuda] [--plot]\n"
    "       specdec run --summary-only RESULTS.jsonl\n"
    "  --out FILE      results file (default results/<name>.jsonl, or results/<name>.shard-I-of-N.jsonl)\n"
    "  --resume        continue FILE: skip the runs it holds, drop an incomplete last line\n"
    "  --shard I/N     run groups g with g % N == I (0 <= I < N); join the files with specdec merge\n"
    "  --device        cpu or cuda (default: the config's \"device\", else cuda when available)\n"
    "  --plot          then run specdec plot on FILE (figures in <FILE's folder>/plots/<name>)\n";

typedef struct {
    char path[4096];      /* resolved */
    Model model;
    Target *target;       /* built at its first run */
    int **prompt_ids;     /* (n_prompts) tokenized prompts, BOS included */
    int *prompt_len;      /* (n_prompts) */
} TargetSlot;

/* A built drafter: a model drafter processes q with the run's sampler, so that is part of the key;
 * the seed is not (the generation loop resets the drafter with the run's seed). */
typedef struct {
    int target, drafter, sampler;
    Drafter d;
} DrafterSlot;

typedef struct {
    DrafterSlot *slots;   /* (n) */
    int n;
} DrafterCache;

static DrafterOptions drafter_options(const ExpConfig *c, const char *device, int sampler) {
    return (DrafterOptions){.filler_top_k = c->filler_top_k, .stop_if_unknown = c->stop_if_unknown,
                            .device = device, .sampler = c->samplers[sampler]};
}

static Drafter *drafter_for(DrafterCache *dc, const ExpConfig *c, const TargetSlot *ts, const RunSpec *r,
                            const char *device) {
    for (int i = 0; i < dc->n; i++) {
        DrafterSlot *s = &dc->slots[i];
        if (s->target == r->target && s->drafter == r->drafter && s->sampler == r->sampler)
            return &s->d;
    }
    /* runs come target by target: drafters of an earlier target are done with */
    for (int i = 0; i < dc->n; i++)
        if (dc->slots[i].target != r->target) drafter_free(&dc->slots[i].d);
    int kept = 0;
    for (int i = 0; i < dc->n; i++)
        if (dc->slots[i].target == r->target) dc->slots[kept++] = dc->slots[i];
    dc->n = kept;
    dc->slots = reallocCheck(dc->slots, (size_t)(dc->n + 1) * sizeof(DrafterSlot));
    DrafterSlot *s = &dc->slots[dc->n++];
    *s = (DrafterSlot){.target = r->target, .drafter = r->drafter, .sampler = r->sampler};
    DrafterOptions o = drafter_options(c, device, r->sampler);
    drafter_from_spec(&s->d, c->drafters[r->drafter], &ts->model.cfg, &o);
    return &s->d;
}

static void drafter_cache_free(DrafterCache *dc) {
    for (int i = 0; i < dc->n; i++) drafter_free(&dc->slots[i].d);
    free(dc->slots);
    memset(dc, 0, sizeof *dc);
}

/* {"name", "files": [{"file", "sha256"}]}: base names only, so that the header compares equal on
 * machines that keep the models in different folders. */
static cJSON *model_provenance(const char *name, const Model *m) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", name);
    cJSON *files = cJSON_AddArrayToObject(o, "files");
    for (int i = 0; i < m->n_files; i++) {
        char hex[65];
        sha256_file_hex(m->files[i], hex);
        const char *base = strrchr(m->files[i], '/');
        cJSON *f = cJSON_CreateObject();
        cJSON_AddStringToObject(f, "file", base ? base + 1 : m->files[i]);
        cJSON_AddStringToObject(f, "sha256", hex);
        cJSON_AddItemToArray(files, f);
    }
    return o;
}

static cJSON *build_header(const ExpConfig *c, const TargetSlot *targets, const char *device, int shard_i,
                           int shard_n, int grid_runs, int shard_runs) {
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "type", "header");
    cJSON_AddStringToObject(h, "format", RESULTS_FORMAT);
    char commit[128];
    int dirty;
    git_commit_of(SPECDEC_SOURCE_DIR, commit, sizeof commit, &dirty);
    cJSON_AddStringToObject(h, "git_commit", commit);
    cJSON_AddBoolToObject(h, "git_dirty", dirty);
    cJSON_AddStringToObject(h, "config_hash", c->hash);
    cJSON_AddItemToObject(h, "config", cJSON_Duplicate(c->canonical, 1));
    cJSON *models = cJSON_AddArrayToObject(h, "models");
    for (int t = 0; t < c->n_targets; t++) cJSON_AddItemToArray(models, model_provenance(c->targets[t], &targets[t].model));
    for (int d = 0; d < c->n_drafters; d++) {
        char path[4096];
        if (!drafter_model_spec(c->drafters[d], path, sizeof path, NULL)) continue;
        Model m;
        model_load(&m, path); /* provenance of the files, as stored */
        cJSON_AddItemToArray(models, model_provenance(c->drafters[d] + 6, &m));
        model_free(&m);
    }
    cJSON_AddItemToObject(h, "machine", machine_json());
    cJSON_AddStringToObject(h, "device", device);
    if (shard_n > 1) {
        cJSON *s = cJSON_AddObjectToObject(h, "shard");
        cJSON_AddNumberToObject(s, "index", shard_i);
        cJSON_AddNumberToObject(s, "count", shard_n);
    } else {
        cJSON_AddNullToObject(h, "shard");
    }
    cJSON_AddNumberToObject(h, "grid_runs", grid_runs);
    cJSON_AddNumberToObject(h, "shard_runs", shard_runs);
    return h;
}

/* First 16 hex digits of the sha256 of the ids written "1,2,3": equal outputs, equal hashes. */
static void output_hash(const int *tokens, int n, char out[17]) {
    size_t cap = (size_t)n * 12 + 1, used = 0;
    char *text = mallocCheck(cap);
    text[0] = '\0';
    for (int i = 0; i < n; i++) used += (size_t)snprintf(text + used, cap - used, "%s%d", i ? "," : "", tokens[i]);
    char hex[65];
    sha256_hex(text, used, hex);
    memcpy(out, hex, 16);
    out[16] = '\0';
    free(text);
}

static cJSON *run_one(const ExpConfig *c, const PromptSet *ps, TargetSlot *ts, DrafterCache *dc, const RunSpec *r,
                      const char *device) {
    if (!ts->target) ts->target = target_build(&ts->model, device, 128);
    const GammaSetting *gs = r->gamma >= 0 ? &c->gammas[r->gamma] : NULL;
    GenConfig g = gen_config_default();
    g.sampler = c->samplers[r->sampler];
    g.max_new_tokens = c->max_new_tokens;
    g.seed = r->seed;
    g.first_target = c->first_target;
    g.skip_sample_adjustment = c->skip_sample_adjustment;
    g.draft_ahead = exp_run_draft_ahead(c, r);
    if (gs && gs->is_egag) {
        g.use_egag = 1;
        g.gamma_min = gs->gamma_min;
        g.gamma_max = gs->gamma_max;
        g.egag_beta = (float)gs->beta;
    } else if (gs) {
        g.gamma = gs->gamma;
    }
    const int *prompt = ts->prompt_ids[r->prompt];
    int n_prompt = ts->prompt_len[r->prompt];
    GenResult res;
    if (r->drafter < 0) autoregressive_generate(ts->target, prompt, n_prompt, &g, &res);
    else speculative_generate(ts->target, drafter_for(dc, c, ts, r, device), prompt, n_prompt, &g, &res);

    cJSON *rec = cJSON_CreateObject();
    cJSON_AddStringToObject(rec, "type", "run");
    cJSON_AddStringToObject(rec, "run_id", r->id);
    cJSON_AddNumberToObject(rec, "index", r->index);
    cJSON_AddNumberToObject(rec, "group", r->group);
    cJSON_AddItemToObject(rec, "settings", run_settings_json(c, ps, r));
    cJSON_AddNumberToObject(rec, "prompt_tokens", n_prompt);
    char hash[17];
    output_hash(res.tokens, res.n_tokens, hash);
    cJSON_AddStringToObject(rec, "output_hash", hash);
    /* predicted speedup needs one gamma: none for the baseline and for EGAG */
    cJSON_AddItemToObject(rec, "metrics", metrics_to_json(&res, gs && !gs->is_egag ? gs->gamma : 0));
    gen_result_free(&res);
    return rec;
}

static void parse_shard(const char *v, int *i, int *n) {
    char *end;
    errno = 0;
    long a = strtol(v, &end, 10);
    if (end == v || *end != '/' || errno) fatal("--shard expects I/N (e.g. 0/4), got '%s'", v);
    const char *rest = end + 1;
    long b = strtol(rest, &end, 10);
    if (end == rest || *end || errno || b < 1 || b > 1000000 || a < 0 || a >= b)
        fatal("--shard expects I/N with 0 <= I < N, got '%s'", v);
    *i = (int)a;
    *n = (int)b;
}

static int print_summary_of(const char *path) {
    ResultsFile rf;
    results_read(&rf, path);
    Summary s;
    summary_build(&s, &rf, 0);
    summary_print(stdout, &s, path);
    summary_free(&s);
    results_file_free(&rf);
    return 0;
}

static int id_done(char **done, int n_done, const char *id) {
    int lo = 0, hi = n_done - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, cmp = strcmp(done[mid], id);
        if (cmp == 0) return 1;
        if (cmp < 0) lo = mid + 1;
        else hi = mid - 1;
    }
    return 0;
}

int cmd_run(int argc, char **argv) {
    const char *config_path = NULL, *out_arg = NULL, *device_arg = NULL, *summary_only = NULL;
    int resume = 0, shard_i = 0, shard_n = 1, plot = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--out")) out_arg = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--resume")) resume = 1;
        else if (!strcmp(a, "--plot")) plot = 1;
        else if (!strcmp(a, "--shard")) parse_shard(cli_value(argc, argv, &i), &shard_i, &shard_n);
        else if (!strcmp(a, "--device")) device_arg = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--summary-only")) summary_only = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) { fputs(USAGE, stdout); return 0; }
        else if (a[0] == '-') fatal("run: unknown option '%s' (see specdec run --help)", a);
        else if (config_path) fatal("run: one config at a time (got '%s' and '%s')", config_path, a);
        else config_path = a;
    }
    if (summary_only) {
        if (config_path) fatal("run: --summary-only reads a results file and takes no config");
        return print_summary_of(summary_only);
    }
    if (!config_path) fatal("run: missing CONFIG.json (see specdec run --help)");

    ExpConfig c;
    exp_config_load(&c, config_path);
    const char *device = device_arg ? device_arg : c.device[0] ? c.device : default_device();
    if (strcmp(device, "cpu") != 0 && strcmp(device, "cuda") != 0)
        fatal("--device must be cpu or cuda, got '%s'", device);
    if (c.draft_ahead && strcmp(device, "cuda") != 0) fatal("%s: \"draft_ahead\" needs the cuda device, not %s", config_path, device);

    char where[4200];
    snprintf(where, sizeof where, "%s: dataset", config_path);
    resolve_data_path(c.dataset.name, c.dataset.path, sizeof c.dataset.path);
    PromptSet ps;
    dataset_load(&ps, &c.dataset, c.n_prompts, where);

    TargetSlot *targets = callocCheck((size_t)c.n_targets, sizeof(TargetSlot));
    for (int t = 0; t < c.n_targets; t++) {
        TargetSlot *ts = &targets[t];
        resolve_model_path(c.targets[t], ts->path, sizeof ts->path);
        model_load(&ts->model, ts->path);
        const ModelConfig *mc = &ts->model.cfg;
        char tok_path[4096];
        tokenizer_find_for_model(ts->path, tok_path, sizeof tok_path);
        Tokenizer *tok = tokenizer_load(tok_path, mc->vocab_size);
        ts->prompt_ids = mallocCheck((size_t)ps.n * sizeof(int *));
        ts->prompt_len = mallocCheck((size_t)ps.n * sizeof(int));
        for (int p = 0; p < ps.n; p++) {
            const char *text = ps.prompts[p].text;
            ts->prompt_len[p] = tokenize_prompt(tok, text, strlen(text), mc->bos_id, 1, &ts->prompt_ids[p]);
            if (ts->prompt_len[p] >= mc->seq_len)
                fatal("%s: prompt %s has %d tokens, but the context length of %s is %d", config_path,
                      ps.prompts[p].id, ts->prompt_len[p], c.targets[t], mc->seq_len);
        }
        tokenizer_free(tok);
        /* every drafter once, now: a bad spec or a vocabulary mismatch must stop us before any run */
        for (int d = 0; d < c.n_drafters; d++) {
            Drafter dr;
            DrafterOptions o = drafter_options(&c, device, 0);
            drafter_from_spec(&dr, c.drafters[d], mc, &o);
            drafter_free(&dr);
        }
    }

    int n_runs, n_groups;
    RunSpec *runs = exp_grid_expand(&c, &ps, &n_runs, &n_groups);
    int n_mine = 0;
    for (int i = 0; i < n_runs; i++)
        if (runs[i].group % shard_n == shard_i) runs[n_mine++] = runs[i];

    char out_path[4096];
    if (out_arg) {
        snprintf(out_path, sizeof out_path, "%s", out_arg);
    } else {
        if (mkdir("results", 0755) != 0 && errno != EEXIST) fatal("results/: cannot create (%s)", strerror(errno));
        if (shard_n > 1) snprintf(out_path, sizeof out_path, "results/%s.shard-%d-of-%d.jsonl", c.name, shard_i, shard_n);
        else snprintf(out_path, sizeof out_path, "results/%s.jsonl", c.name);
    }
    cJSON *header = build_header(&c, targets, device, shard_i, shard_n, n_runs, n_mine);
    ResultsWriter w;
    int n_done = 0;
    char **done = NULL;
    if (resume) done = results_resume(&w, out_path, header, &n_done);
    else results_create(&w, out_path, header);
    cJSON_Delete(header);

    int todo = 0;
    for (int i = 0; i < n_mine; i++) todo += !id_done(done, n_done, runs[i].id);
    fprintf(stderr, "specdec run: %s: %d runs in the grid (%d groups)%s; %d here, %d already in %s, %d to do on %s\n",
            c.name, n_runs, n_groups, shard_n > 1 ? ", sharded" : "", n_mine, n_mine - todo, out_path, todo, device);
    Progress pg;
    progress_init(&pg, todo);
    DrafterCache dc = {0};
    for (int i = 0; i < n_mine; i++) {
        const RunSpec *r = &runs[i];
        if (id_done(done, n_done, r->id)) continue;
        cJSON *rec = run_one(&c, &ps, &targets[r->target], &dc, r, device);
        results_append(&w, rec);
        cJSON_Delete(rec);
        char label[256];
        snprintf(label, sizeof label, "%s gamma %s prompt %s", r->drafter < 0 ? "baseline" : c.drafters[r->drafter],
                 r->gamma < 0 ? "-" : c.gammas[r->gamma].label, ps.prompts[r->prompt].id);
        progress_step(&pg, label);
    }
    progress_finish(&pg);
    results_close(&w);

    drafter_cache_free(&dc);
    for (int i = 0; i < n_done; i++) free(done[i]);
    free(done);
    free(runs);
    for (int t = 0; t < c.n_targets; t++) {
        TargetSlot *ts = &targets[t];
        target_free(ts->target);
        model_free(&ts->model);
        for (int p = 0; p < ps.n; p++) free(ts->prompt_ids[p]);
        free(ts->prompt_ids);
        free(ts->prompt_len);
    }
    free(targets);
    prompt_set_free(&ps);
    exp_config_free(&c);
    printf("results: %s\n", out_path);
    print_summary_of(out_path);
    if (!plot) return 0;
    char *plot_argv[] = {"plot", out_path, NULL};
    return cmd_plot(2, plot_argv);
}
