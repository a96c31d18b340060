/* Parsing a drafter spec: none | model:PATH[@bf16] | ngram:N | ngram1:N | lookup:MAX[:MIN] */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "drafters.h"

static int parse_positive(const char *s, const char *spec, const char *what) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < 1 || v > 64) fatal("--drafter '%s': %s must be an integer in 1..64", spec, what);
    return (int)v;
}

int drafter_spec_is_model(const char *spec) { return !strncmp(spec, "model:", 6) && spec[6]; }

int drafter_model_spec(const char *spec, char *path, size_t path_size, int *bf16) {
    if (!drafter_spec_is_model(spec)) return 0;
    char name[4096];
    snprintf(name, sizeof name, "%s", spec + 6);
    size_t len = strlen(name);
    int rounded = len > 5 && !strcmp(name + len - 5, "@bf16");
    if (rounded) name[len - 5] = '\0';
    if (bf16) *bf16 = rounded;
    resolve_model_path(name, path, path_size);
    return 1;
}

int drafter_from_spec(Drafter *d, const char *spec, const ModelConfig *target_cfg, const DrafterOptions *o) {
    memset(d, 0, sizeof *d);
    if (!strcmp(spec, "none")) return 0;
    char path[4096];
    int bf16;
    if (drafter_model_spec(spec, path, sizeof path, &bf16)) {
        *d = drafter_model_build(path, bf16, target_cfg, o);
    } else if (!strncmp(spec, "ngram:", 6)) {
        int n = parse_positive(spec + 6, spec, "N");
        if (n < 2) fatal("--drafter '%s': N must be at least 2 (contexts of 1..N-1 tokens)", spec);
        *d = drafter_ngram_build(n, target_cfg->vocab_size, 0, o->filler_top_k, o->stop_if_unknown);
    } else if (!strncmp(spec, "ngram1:", 7)) {
        int n = parse_positive(spec + 7, spec, "N");
        if (n < 2) fatal("--drafter '%s': N must be at least 2", spec);
        *d = drafter_ngram_build(n, target_cfg->vocab_size, 1, o->filler_top_k, o->stop_if_unknown);
    } else if (!strncmp(spec, "lookup:", 7)) {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", spec + 7);
        char *colon = strchr(buf, ':');
        if (colon) *colon = '\0';
        int mx = parse_positive(buf, spec, "MAX");
        int mn = colon ? parse_positive(colon + 1, spec, "MIN") : 1;
        if (mn > mx) fatal("--drafter '%s': MIN must not exceed MAX", spec);
        *d = drafter_lookup_build(mx, mn);
    } else {
        fatal("--drafter: unknown drafter spec '%s' (expected none, model:PATH[@bf16], ngram:N, ngram1:N or lookup:MAX[:MIN])", spec);
    }
    CHECK(d->ops && d->ops->version == DRAFTER_OPS_VERSION, "drafter ops version");
    return 1;
}

void drafter_free(Drafter *d) {
    if (d->ops) d->ops->free(d->st);
    memset(d, 0, sizeof *d);
}
