#define _POSIX_C_SOURCE 200809L
#include "exp_config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "drafters.h"
#include "generate.h"
#include "sha256.h"

/* ---- typed access to config values: every mistake names the key and what was expected ---- */

static const char *json_type_name(const cJSON *v) {
    if (cJSON_IsString(v)) return "a string";
    if (cJSON_IsNumber(v)) return "a number";
    if (cJSON_IsBool(v)) return "a boolean";
    if (cJSON_IsArray(v)) return "an array";
    if (cJSON_IsObject(v)) return "an object";
    if (cJSON_IsNull(v)) return "null";
    return "an invalid value";
}

/* Refuses unknown and repeated keys; `allowed` ends with NULL. */
static void check_keys(const cJSON *obj, const char *const *allowed, const char *where) {
    for (const cJSON *it = obj->child; it; it = it->next) {
        int known = 0;
        for (int i = 0; allowed[i] && !known; i++) known = strcmp(it->string, allowed[i]) == 0;
        if (!known) {
            char list[1024];
            size_t used = 0;
            for (int i = 0; allowed[i]; i++)
                used += snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "", allowed[i]);
            fatal("%s: unknown key \"%s\" (allowed: %s)", where, it->string, list);
        }
        for (const cJSON *jt = obj->child; jt != it; jt = jt->next)
            if (strcmp(jt->string, it->string) == 0) fatal("%s: key \"%s\" appears twice", where, it->string);
    }
}

static int as_int(const cJSON *v, const char *where, const char *key, int lo, int hi) {
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble))
        fatal("%s: \"%s\" must be an integer, got %s", where, key, cJSON_IsNumber(v) ? "a fraction" : json_type_name(v));
    if (v->valuedouble < lo || v->valuedouble > hi)
        fatal("%s: \"%s\" must be in [%d, %d], got %.17g", where, key, lo, hi, v->valuedouble);
    return (int)v->valuedouble;
}

static int get_int(const cJSON *obj, const char *key, int dflt, int lo, int hi, const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    return v ? as_int(v, where, key, lo, hi) : dflt;
}

static double get_number(const cJSON *obj, const char *key, double dflt, const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return dflt;
    if (!cJSON_IsNumber(v)) fatal("%s: \"%s\" must be a number, got %s", where, key, json_type_name(v));
    return v->valuedouble;
}

static int get_bool(const cJSON *obj, const char *key, const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return 0;
    if (!cJSON_IsBool(v)) fatal("%s: \"%s\" must be true or false, got %s", where, key, json_type_name(v));
    return cJSON_IsTrue(v);
}

static const char *get_string(const cJSON *obj, const char *key, const char *dflt, const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v) return dflt;
    if (!cJSON_IsString(v)) fatal("%s: \"%s\" must be a string, got %s", where, key, json_type_name(v));
    return v->valuestring;
}

static void copy_string(char *dst, size_t size, const char *src, const char *where, const char *key) {
    if (strlen(src) >= size) fatal("%s: \"%s\" is longer than %zu characters", where, key, size - 1);
    memcpy(dst, src, strlen(src) + 1);
}

/* A list of strings: an array of strings, or (when one_allowed) a single string. */
static char **get_string_list(const cJSON *obj, const char *key, int one_allowed, int *n, const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    *n = 0;
    if (!v) return NULL;
    if (one_allowed && cJSON_IsString(v)) {
        char **out = mallocCheck(sizeof(char *));
        out[0] = strdupCheck(v->valuestring);
        *n = 1;
        return out;
    }
    if (!cJSON_IsArray(v))
        fatal("%s: \"%s\" must be %s, got %s", where, key,
              one_allowed ? "a string or an array of strings" : "an array of strings", json_type_name(v));
    int count = cJSON_GetArraySize(v);
    char **out = mallocCheck((size_t)(count ? count : 1) * sizeof(char *));
    int i = 0;
    for (const cJSON *it = v->child; it; it = it->next, i++) {
        if (!cJSON_IsString(it) || !it->valuestring[0])
            fatal("%s: \"%s\"[%d] must be a non-empty string, got %s", where, key, i,
                  cJSON_IsString(it) ? "\"\"" : json_type_name(it));
        for (int j = 0; j < i; j++)
            if (strcmp(out[j], it->valuestring) == 0)
                fatal("%s: \"%s\"[%d] repeats \"%s\"", where, key, i, it->valuestring);
        out[i] = strdupCheck(it->valuestring);
    }
    *n = count;
    return out;
}

static const cJSON *get_array(const cJSON *obj, const char *key, const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (v && !cJSON_IsArray(v)) fatal("%s: \"%s\" must be an array, got %s", where, key, json_type_name(v));
    return v;
}

static cJSON *string_array_json(char **items, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateString(items[i]));
    return a;
}

/* ---- canonical JSON ---- */

static int key_cmp(const void *a, const void *b) {
    return strcmp((*(cJSON *const *)a)->string, (*(cJSON *const *)b)->string);
}

void json_sort_keys(cJSON *item) {
    for (cJSON *it = item->child; it; it = it->next) json_sort_keys(it);
    if (!cJSON_IsObject(item) || !item->child) return;
    int n = 0;
    for (cJSON *it = item->child; it; it = it->next) n++;
    cJSON **kids = mallocCheck((size_t)n * sizeof(cJSON *));
    n = 0;
    for (cJSON *it = item->child; it; it = it->next) kids[n++] = it;
    qsort(kids, (size_t)n, sizeof(cJSON *), key_cmp);
    for (int i = 0; i < n; i++) {
        kids[i]->prev = i ? kids[i - 1] : kids[n - 1]; /* cJSON: the head's prev is the tail */
        kids[i]->next = i + 1 < n ? kids[i + 1] : NULL;
    }
    item->child = kids[0];
    free(kids);
}

void json_canonical_hash(const cJSON *item, char hex[65]) {
    cJSON *copy = cJSON_Duplicate(item, 1);
    CHECK(copy, "cJSON_Duplicate failed");
    json_sort_keys(copy);
    char *text = cJSON_PrintUnformatted(copy);
    CHECK(text, "cJSON_PrintUnformatted failed");
    sha256_hex(text, strlen(text), hex);
    cJSON_free(text);
    cJSON_Delete(copy);
}

/* ---- the sections ---- */

void sampler_label(const SamplerConfig *s, char *out, size_t out_size) {
    size_t used = 0;
    if (sampler_is_greedy(s)) {
        used += snprintf(out, out_size, "greedy");
    } else {
        used += snprintf(out, out_size, "T%g", s->temperature);
        if (s->top_k > 0) used += snprintf(out + used, out_size - used, "-k%d", s->top_k);
        if (s->top_p < 1.0f) used += snprintf(out + used, out_size - used, "-p%g", s->top_p);
    }
    if (s->repetition_penalty != 1.0f && used < out_size) {
        used += snprintf(out + used, out_size - used, "-rp%g", s->repetition_penalty);
        if (s->repetition_window > 0 && used < out_size)
            snprintf(out + used, out_size - used, "-w%d", s->repetition_window);
    }
}

static void parse_samplers(ExpConfig *c, const cJSON *root, cJSON *canon, const char *where) {
    static const char *const keys[] = {"temperature", "top_k", "top_p", "repetition_penalty",
                                       "repetition_window", NULL};
    const cJSON *arr = get_array(root, "samplers", where);
    cJSON *out = cJSON_AddArrayToObject(canon, "samplers");
    SamplerConfig dflt = sampler_config_default();
    if (!arr) {
        c->n_samplers = 1;
        c->samplers = mallocCheck(sizeof(SamplerConfig));
        c->samplers[0] = dflt;
    } else {
        c->n_samplers = cJSON_GetArraySize(arr);
        c->samplers = mallocCheck((size_t)(c->n_samplers ? c->n_samplers : 1) * sizeof(SamplerConfig));
    }
    for (int i = 0; i < c->n_samplers; i++) {
        const cJSON *s = arr ? cJSON_GetArrayItem(arr, i) : NULL;
        char w[1200];
        snprintf(w, sizeof w, "%s: samplers[%d]", where, i);
        if (s && !cJSON_IsObject(s)) fatal("%s must be an object, got %s", w, json_type_name(s));
        if (s) check_keys(s, keys, w);
        double t = s ? get_number(s, "temperature", dflt.temperature, w) : dflt.temperature;
        double p = s ? get_number(s, "top_p", dflt.top_p, w) : dflt.top_p;
        double rp = s ? get_number(s, "repetition_penalty", dflt.repetition_penalty, w) : dflt.repetition_penalty;
        SamplerConfig sc = dflt;
        sc.temperature = (float)t;
        sc.top_p = (float)p;
        sc.repetition_penalty = (float)rp;
        sc.top_k = s ? get_int(s, "top_k", dflt.top_k, -1000000000, 1000000000, w) : dflt.top_k;
        sc.repetition_window = s ? get_int(s, "repetition_window", dflt.repetition_window, -1000000000, 1000000000, w)
                                 : dflt.repetition_window;
        sampler_config_validate(&sc, w);
        c->samplers[i] = sc;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "temperature", t);
        cJSON_AddNumberToObject(o, "top_k", sc.top_k);
        cJSON_AddNumberToObject(o, "top_p", p);
        cJSON_AddNumberToObject(o, "repetition_penalty", rp);
        cJSON_AddNumberToObject(o, "repetition_window", sc.repetition_window);
        for (int j = 0; j < i; j++)
            if (cJSON_Compare(cJSON_GetArrayItem(out, j), o, 1))
                fatal("%s repeats samplers[%d]", w, j);
        cJSON_AddItemToArray(out, o);
    }
}

static void parse_gammas(ExpConfig *c, const cJSON *root, cJSON *canon, const char *where) {
    static const char *const keys[] = {"gamma_min", "gamma_max", "beta", NULL};
    const cJSON *fixed = get_array(root, "gammas", where);
    const cJSON *egag = get_array(root, "egag", where);
    int n_fixed = fixed ? cJSON_GetArraySize(fixed) : 0, n_egag = egag ? cJSON_GetArraySize(egag) : 0;
    c->n_gammas = n_fixed + n_egag;
    c->gammas = callocCheck((size_t)(c->n_gammas ? c->n_gammas : 1), sizeof(GammaSetting));
    cJSON *cf = cJSON_AddArrayToObject(canon, "gammas");
    cJSON *ce = cJSON_AddArrayToObject(canon, "egag");
    for (int i = 0; i < n_fixed; i++) {
        char key[32];
        snprintf(key, sizeof key, "gammas[%d]", i);
        GammaSetting *g = &c->gammas[i];
        g->gamma = as_int(cJSON_GetArrayItem(fixed, i), where, key, 1, GAMMA_MAX_LIMIT);
        for (int j = 0; j < i; j++)
            if (c->gammas[j].gamma == g->gamma) fatal("%s: \"%s\" repeats gamma %d", where, key, g->gamma);
        snprintf(g->label, sizeof g->label, "%d", g->gamma);
        cJSON_AddItemToArray(cf, cJSON_CreateNumber(g->gamma));
    }
    for (int i = 0; i < n_egag; i++) {
        const cJSON *e = cJSON_GetArrayItem(egag, i);
        char w[1200];
        snprintf(w, sizeof w, "%s: egag[%d]", where, i);
        if (!cJSON_IsObject(e)) fatal("%s must be an object, got %s", w, json_type_name(e));
        check_keys(e, keys, w);
        GammaSetting *g = &c->gammas[n_fixed + i];
        g->is_egag = 1;
        g->gamma_min = get_int(e, "gamma_min", 1, 1, GAMMA_MAX_LIMIT, w);
        g->gamma_max = get_int(e, "gamma_max", 8, 1, GAMMA_MAX_LIMIT, w);
        if (g->gamma_min > g->gamma_max)
            fatal("%s: gamma_min (%d) must not exceed gamma_max (%d)", w, g->gamma_min, g->gamma_max);
        double beta = get_number(e, "beta", 0.5, w);
        if (!(beta >= 0.0 && beta < 1.0)) fatal("%s: \"beta\" must be in [0, 1), got %g", w, beta);
        g->beta = beta;
        snprintf(g->label, sizeof g->label, "egag:%d-%d:%g", g->gamma_min, g->gamma_max, beta);
        for (int j = n_fixed; j < n_fixed + i; j++)
            if (strcmp(c->gammas[j].label, g->label) == 0) fatal("%s repeats egag[%d]", w, j - n_fixed);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "gamma_min", g->gamma_min);
        cJSON_AddNumberToObject(o, "gamma_max", g->gamma_max);
        cJSON_AddNumberToObject(o, "beta", beta);
        cJSON_AddItemToArray(ce, o);
    }
}

static void parse_dataset(ExpConfig *c, const cJSON *root, cJSON *canon, const char *where) {
    static const char *const keys[] = {"path", "format", "field", "id_field", "category_field",
                                       "category", "prefix_words", NULL};
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(root, "dataset");
    if (!d) fatal("%s: missing \"dataset\" (an object with \"path\" and \"format\")", where);
    char w[1200];
    snprintf(w, sizeof w, "%s: dataset", where);
    if (!cJSON_IsObject(d)) fatal("%s must be an object, got %s", w, json_type_name(d));
    check_keys(d, keys, w);
    DatasetSpec *ds = &c->dataset;
    const char *path = get_string(d, "path", NULL, w);
    if (!path || !path[0]) fatal("%s: missing \"path\" (a dataset file, e.g. \"humaneval.jsonl\")", w);
    copy_string(ds->name, sizeof ds->name, path, w, "path");
    const char *format = get_string(d, "format", NULL, w);
    if (!format) fatal("%s: missing \"format\" (humaneval, spec_bench, mt_bench, gsm8k, jsonl or text)", w);
    copy_string(ds->format, sizeof ds->format, format, w, "format");
    copy_string(ds->field, sizeof ds->field, get_string(d, "field", "", w), w, "field");
    copy_string(ds->id_field, sizeof ds->id_field, get_string(d, "id_field", "", w), w, "id_field");
    copy_string(ds->category_field, sizeof ds->category_field, get_string(d, "category_field", "", w), w,
                "category_field");
    dataset_spec_apply_format(ds, w);
    int n_cat;
    char **cats = get_string_list(d, "category", 1, &n_cat, w);
    if (n_cat > DATASET_MAX_CATEGORIES) fatal("%s: at most %d categories", w, DATASET_MAX_CATEGORIES);
    if (n_cat > 0 && !ds->category_field[0])
        fatal("%s: \"category\" filters need a dataset with categories (format spec_bench, mt_bench, or "
              "jsonl with \"category_field\")", w);
    for (int i = 0; i < n_cat; i++) {
        copy_string(ds->categories[i], sizeof ds->categories[i], cats[i], w, "category");
        free(cats[i]);
    }
    free(cats);
    ds->n_categories = n_cat;
    ds->prefix_words = get_int(d, "prefix_words", 0, 0, 1000000, w);

    cJSON *o = cJSON_AddObjectToObject(canon, "dataset");
    cJSON_AddStringToObject(o, "path", ds->name);
    cJSON_AddStringToObject(o, "format", ds->format);
    cJSON_AddStringToObject(o, "field", ds->field);
    cJSON_AddStringToObject(o, "id_field", ds->id_field);
    cJSON_AddStringToObject(o, "category_field", ds->category_field);
    cJSON *ca = cJSON_AddArrayToObject(o, "category");
    for (int i = 0; i < n_cat; i++) cJSON_AddItemToArray(ca, cJSON_CreateString(ds->categories[i]));
    cJSON_AddNumberToObject(o, "prefix_words", ds->prefix_words);
}

/* draft_ahead: refused where some run it would apply to could not use it, rather than dropped. */
static void parse_draft_ahead(ExpConfig *c, const cJSON *root, cJSON *canon, const char *where) {
    c->draft_ahead = get_int(root, "draft_ahead", 0, 0, GAMMA_MAX_LIMIT + 1, where);
    if (!c->draft_ahead) return; /* absent from the canonical text, so older configs keep their hash */
    int models = 0;
    for (int i = 0; i < c->n_drafters; i++) models += drafter_spec_is_model(c->drafters[i]);
    if (!models) fatal("%s: \"draft_ahead\" needs a model drafter in \"drafters\"", where);
    for (int i = 0; i < c->n_gammas; i++) {
        const GammaSetting *g = &c->gammas[i];
        if (g->is_egag) fatal("%s: \"draft_ahead\" needs fixed gammas, but \"egag\" is set", where);
        if (c->draft_ahead > g->gamma + 1)
            fatal("%s: \"draft_ahead\" %d exceeds gamma + 1 for gamma %d", where, c->draft_ahead, g->gamma);
    }
    for (int i = 0; i < c->n_samplers; i++)
        if (!sampler_is_greedy(&c->samplers[i]) || c->samplers[i].repetition_penalty != 1.0f)
            fatal("%s: \"draft_ahead\" needs greedy samplers without a repetition penalty; \"samplers\"[%d] is not", where, i);
    cJSON_AddNumberToObject(canon, "draft_ahead", c->draft_ahead);
}

void exp_config_parse(ExpConfig *c, const char *json_text, const char *where) {
    static const char *const keys[] = {
        "name", "description", "target", "drafters", "gammas", "egag", "samplers", "dataset",
        "n_prompts", "max_new_tokens", "seeds", "repeats", "filler_top_k", "stop_if_unknown",
        "first_target", "skip_sample_adjustment", "device", "draft_ahead", NULL};
    memset(c, 0, sizeof *c);
    cJSON *root = cJSON_Parse(json_text);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        int line = 1;
        for (const char *p = json_text; at && p < at; p++) line += *p == '\n';
        fatal("%s: not valid JSON (near line %d)", where, line);
    }
    if (!cJSON_IsObject(root)) fatal("%s: the config must be a JSON object, got %s", where, json_type_name(root));
    check_keys(root, keys, where);
    cJSON *canon = cJSON_CreateObject();

    copy_string(c->name, sizeof c->name, get_string(root, "name", "", where), where, "name");
    cJSON_AddStringToObject(canon, "description", get_string(root, "description", "", where));

    c->targets = get_string_list(root, "target", 1, &c->n_targets, where);
    if (!cJSON_GetObjectItemCaseSensitive(root, "target"))
        fatal("%s: missing \"target\" (a model path or name, e.g. \"pycode/pycode-19m\")", where);
    if (c->n_targets == 0) fatal("%s: \"target\" is empty: the grid would have no runs", where);
    cJSON_AddItemToObject(canon, "target", string_array_json(c->targets, c->n_targets));

    c->drafters = get_string_list(root, "drafters", 0, &c->n_drafters, where);
    if (!cJSON_GetObjectItemCaseSensitive(root, "drafters"))
        fatal("%s: missing \"drafters\" (e.g. [\"ngram:3\", \"lookup:3\"])", where);
    if (c->n_drafters == 0) fatal("%s: \"drafters\" is empty: the grid would have no speculative runs", where);
    for (int i = 0; i < c->n_drafters; i++)
        if (strcmp(c->drafters[i], "none") == 0)
            fatal("%s: \"drafters\"[%d] is \"none\"; leave it out: every prompt gets an autoregressive "
                  "baseline anyway", where, i);
    cJSON_AddItemToObject(canon, "drafters", string_array_json(c->drafters, c->n_drafters));

    parse_gammas(c, root, canon, where);
    if (c->n_gammas == 0)
        fatal("%s: \"gammas\" and \"egag\" are both empty or missing: the grid would have no speculative runs", where);
    parse_samplers(c, root, canon, where);
    if (c->n_samplers == 0) fatal("%s: \"samplers\" is empty: the grid would have no runs", where);
    parse_dataset(c, root, canon, where);

    c->n_prompts = get_int(root, "n_prompts", 0, 0, 100000000, where);
    c->max_new_tokens = get_int(root, "max_new_tokens", 128, 1, 100000000, where);
    c->repeats = get_int(root, "repeats", 1, 0, 1000000, where);
    if (c->repeats == 0) fatal("%s: \"repeats\" is 0: the grid would have no runs", where);
    const cJSON *seeds = get_array(root, "seeds", where);
    c->n_seeds = seeds ? cJSON_GetArraySize(seeds) : 1;
    if (c->n_seeds == 0) fatal("%s: \"seeds\" is empty: the grid would have no runs", where);
    c->seeds = mallocCheck((size_t)c->n_seeds * sizeof(uint64_t));
    c->seeds[0] = 0;
    cJSON *cs = cJSON_CreateArray();
    for (int i = 0; seeds && i < c->n_seeds; i++) {
        const cJSON *s = cJSON_GetArrayItem(seeds, i);
        /* JSON numbers are doubles: integers are exact up to 2^53. */
        if (!cJSON_IsNumber(s) || s->valuedouble != floor(s->valuedouble) || s->valuedouble < 0 ||
            s->valuedouble > 9007199254740992.0)
            fatal("%s: \"seeds\"[%d] must be an integer in [0, 2^53], got %s", where, i,
                  cJSON_IsNumber(s) ? "another number" : json_type_name(s));
        c->seeds[i] = (uint64_t)s->valuedouble;
        for (int j = 0; j < i; j++)
            if (c->seeds[j] == c->seeds[i]) fatal("%s: \"seeds\"[%d] repeats seed %.0f", where, i, s->valuedouble);
    }
    for (int i = 0; i < c->n_seeds; i++) cJSON_AddItemToArray(cs, cJSON_CreateNumber((double)c->seeds[i]));
    cJSON_AddItemToObject(canon, "seeds", cs);

    c->filler_top_k = get_int(root, "filler_top_k", 0, 0, 1000000, where);
    c->stop_if_unknown = get_bool(root, "stop_if_unknown", where);
    c->first_target = get_bool(root, "first_target", where);
    c->skip_sample_adjustment = get_bool(root, "skip_sample_adjustment", where);
    const char *device = get_string(root, "device", "", where);
    if (device[0] && strcmp(device, "cpu") != 0 && strcmp(device, "cuda") != 0)
        fatal("%s: \"device\" must be \"cpu\" or \"cuda\", got \"%s\"", where, device);
    snprintf(c->device, sizeof c->device, "%s", device);
    parse_draft_ahead(c, root, canon, where);

    cJSON_AddNumberToObject(canon, "n_prompts", c->n_prompts);
    cJSON_AddNumberToObject(canon, "max_new_tokens", c->max_new_tokens);
    cJSON_AddNumberToObject(canon, "repeats", c->repeats);
    cJSON_AddNumberToObject(canon, "filler_top_k", c->filler_top_k);
    cJSON_AddBoolToObject(canon, "stop_if_unknown", c->stop_if_unknown);
    cJSON_AddBoolToObject(canon, "first_target", c->first_target);
    cJSON_AddBoolToObject(canon, "skip_sample_adjustment", c->skip_sample_adjustment);
    cJSON_AddStringToObject(canon, "device", c->device);
    cJSON_AddStringToObject(canon, "name", c->name);
    json_sort_keys(canon);
    c->canonical = canon;
    json_canonical_hash(canon, c->hash);
    cJSON_Delete(root);
}

void exp_config_load(ExpConfig *c, const char *path) {
    char *text = read_file_all(path, NULL);
    exp_config_parse(c, text, path);
    free(text);
    if (!c->name[0]) {   /* the default name: the file's base name without .json */
        const char *base = strrchr(path, '/');
        base = base ? base + 1 : path;
        size_t n = strlen(base);
        if (n > 5 && strcmp(base + n - 5, ".json") == 0) n -= 5;
        if (n >= sizeof c->name) n = sizeof c->name - 1;
        memcpy(c->name, base, n);
        c->name[n] = '\0';
        cJSON_ReplaceItemInObjectCaseSensitive(c->canonical, "name", cJSON_CreateString(c->name));
        json_sort_keys(c->canonical);
        json_canonical_hash(c->canonical, c->hash);
    }
}

void exp_config_free(ExpConfig *c) {
    for (int i = 0; i < c->n_targets; i++) free(c->targets[i]);
    for (int i = 0; i < c->n_drafters; i++) free(c->drafters[i]);
    free(c->targets);
    free(c->drafters);
    free(c->gammas);
    free(c->samplers);
    free(c->seeds);
    cJSON_Delete(c->canonical);
    memset(c, 0, sizeof *c);
}

/* ---- the grid ---- */

int exp_run_draft_ahead(const ExpConfig *c, const RunSpec *r) {
    return r->drafter >= 0 && drafter_spec_is_model(c->drafters[r->drafter]) ? c->draft_ahead : 0;
}

cJSON *run_settings_json(const ExpConfig *c, const PromptSet *ps, const RunSpec *r) {
    cJSON *s = cJSON_CreateObject();
    cJSON_AddStringToObject(s, "target", c->targets[r->target]);
    cJSON_AddStringToObject(s, "drafter", r->drafter < 0 ? "none" : c->drafters[r->drafter]);
    const GammaSetting *g = r->gamma < 0 ? NULL : &c->gammas[r->gamma];
    if (g && !g->is_egag) cJSON_AddNumberToObject(s, "gamma", g->gamma);
    else cJSON_AddNullToObject(s, "gamma");
    if (g && g->is_egag) {
        cJSON *e = cJSON_AddObjectToObject(s, "egag");
        cJSON_AddNumberToObject(e, "gamma_min", g->gamma_min);
        cJSON_AddNumberToObject(e, "gamma_max", g->gamma_max);
        cJSON_AddNumberToObject(e, "beta", g->beta);
    }
    else cJSON_AddNullToObject(s, "egag");
    cJSON_AddStringToObject(s, "gamma_label", g ? g->label : "ar");
    cJSON_AddItemToObject(s, "sampler", cJSON_Duplicate(cJSON_GetArrayItem(
                                            cJSON_GetObjectItemCaseSensitive(c->canonical, "samplers"), r->sampler), 1));
    char label[128];
    sampler_label(&c->samplers[r->sampler], label, sizeof label);
    cJSON_AddStringToObject(s, "sampler_label", label);
    cJSON_AddStringToObject(s, "dataset", c->dataset.name);
    cJSON_AddStringToObject(s, "prompt_id", ps->prompts[r->prompt].id);
    cJSON_AddStringToObject(s, "category", ps->prompts[r->prompt].category);
    cJSON_AddNumberToObject(s, "seed", (double)r->seed);
    cJSON_AddNumberToObject(s, "repeat", r->repeat);
    cJSON_AddNumberToObject(s, "max_new_tokens", c->max_new_tokens);
    cJSON_AddNumberToObject(s, "filler_top_k", c->filler_top_k);
    cJSON_AddBoolToObject(s, "stop_if_unknown", c->stop_if_unknown);
    cJSON_AddBoolToObject(s, "first_target", c->first_target);
    cJSON_AddBoolToObject(s, "skip_sample_adjustment", c->skip_sample_adjustment);
    if (exp_run_draft_ahead(c, r)) cJSON_AddNumberToObject(s, "draft_ahead", c->draft_ahead); /* ids of others unchanged */
    json_sort_keys(s);
    return s;
}

RunSpec *exp_grid_expand(const ExpConfig *c, const PromptSet *ps, int *n_runs, int *n_groups) {
    int per_group = 1 + c->n_drafters * c->n_gammas;
    long groups = (long)c->n_targets * c->n_samplers * ps->n * c->n_seeds * c->repeats;
    if (groups * per_group > 100000000L)
        fatal("the grid has %ld runs; split the experiment (at most 100000000)", groups * per_group);
    RunSpec *runs = mallocCheck((size_t)(groups * per_group) * sizeof(RunSpec));
    int n = 0, group = 0;
    for (int t = 0; t < c->n_targets; t++)
        for (int s = 0; s < c->n_samplers; s++)
            for (int p = 0; p < ps->n; p++)
                for (int e = 0; e < c->n_seeds; e++)
                    for (int k = 0; k < c->repeats; k++, group++)
                        for (int j = -1; j < c->n_drafters * c->n_gammas; j++) {
                            RunSpec *r = &runs[n];
                            *r = (RunSpec){.index = n, .group = group, .target = t, .sampler = s, .prompt = p,
                                           .seed = c->seeds[e], .repeat = k,
                                           .drafter = j < 0 ? -1 : j / c->n_gammas,
                                           .gamma = j < 0 ? -1 : j % c->n_gammas};
                            cJSON *settings = run_settings_json(c, ps, r);
                            char hex[65];
                            json_canonical_hash(settings, hex);
                            memcpy(r->id, hex, 16);
                            r->id[16] = '\0';
                            cJSON_Delete(settings);
                            n++;
                        }
    *n_runs = n;
    *n_groups = group;
    return runs;
}
