/* Tokenizer encoding speed, single-threaded: the prompts of ../shared/data encoded one by one,
 * over and over until at least 20 MB went through, and one 1 MB text without whitespace (one
 * word of a million letters for the BPE merge loop). */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "datasets.h"
#include "tokenizer.h"

enum { MIN_BYTES = 20 * 1000 * 1000, NO_WS_BYTES = 1000 * 1000 };

typedef struct {
    double bytes, tokens, seconds;
} Timing;

static void time_encode(const Tokenizer *tok, const char *text, size_t len, Timing *t) {
    int *ids;
    double t0 = now_seconds();
    int n = tok->encode(tok, text, len, 0, &ids);
    t->seconds += now_seconds() - t0;
    t->bytes += (double)len;
    t->tokens += n;
    free(ids);
}

static cJSON *timing_json(const Timing *t) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "bytes", t->bytes);
    cJSON_AddNumberToObject(o, "tokens", t->tokens);
    cJSON_AddNumberToObject(o, "seconds", t->seconds);
    cJSON_AddNumberToObject(o, "mb_per_s", t->bytes / 1e6 / t->seconds);
    return o;
}

static void load_prompts(PromptSet *all) {
    static const char *SETS[][2] = {{"humaneval.jsonl", "humaneval"}, {"spec_bench.jsonl", "spec_bench"},
                                    {"mt_bench.jsonl", "mt_bench"},   {"gsm8k_test.jsonl", "gsm8k"},
                                    {"tinystories_val.txt", "text"}};
    memset(all, 0, sizeof *all);
    for (size_t i = 0; i < sizeof SETS / sizeof SETS[0]; i++) {
        DatasetSpec d = {0};
        resolve_data_path(SETS[i][0], d.path, sizeof d.path);
        snprintf(d.name, sizeof d.name, "%s", SETS[i][0]);
        snprintf(d.format, sizeof d.format, "%s", SETS[i][1]);
        dataset_spec_apply_format(&d, "bench --tokenizer");
        PromptSet ps;
        dataset_load(&ps, &d, 0, "bench --tokenizer");
        all->prompts = reallocCheck(all->prompts, sizeof(Prompt) * (size_t)(all->n + ps.n));
        memcpy(all->prompts + all->n, ps.prompts, sizeof(Prompt) * (size_t)ps.n);
        all->n += ps.n;
        free(ps.prompts); /* the prompts themselves now belong to `all` */
    }
}

/* results/bench/tokenizer_<name of the tokenizer's directory>.json */
static void default_out_path(const char *tokenizer_path, char *out, size_t size) {
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tokenizer_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    const char *name = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    if (mkdir("results", 0755) != 0 && errno != EEXIST) fatal("results: cannot create (%s)", strerror(errno));
    if (mkdir("results/bench", 0755) != 0 && errno != EEXIST) fatal("results/bench: cannot create (%s)", strerror(errno));
    if (snprintf(out, size, "results/bench/tokenizer_%s.json", name) >= (int)size) fatal("%s: path too long", tokenizer_path);
}

int bench_tokenizer(const char *tokenizer_path, const char *out_json_path) {
    Tokenizer *tok = tokenizer_load(tokenizer_path, 0);
    PromptSet ps;
    load_prompts(&ps);

    /* The first pass starts with an empty word cache; the passes after it measure steady state. */
    Timing first = {0}, all = {0};
    int passes = 0;
    while (all.bytes < MIN_BYTES) {
        Timing *t = passes == 0 ? &first : &all;
        for (int i = 0; i < ps.n; i++) time_encode(tok, ps.prompts[i].text, strlen(ps.prompts[i].text), t);
        if (passes++ == 0) all = first;
    }

    char *word = mallocCheck(NO_WS_BYTES);
    uint64_t x = 12345;
    for (int i = 0; i < NO_WS_BYTES; i++) { /* pseudo-random letters: a single million-letter word */
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        word[i] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"[(x >> 33) % 52];
    }
    Timing no_ws = {0};
    time_encode(tok, word, NO_WS_BYTES, &no_ws);
    free(word);

    char out_path[4096];
    if (out_json_path) snprintf(out_path, sizeof out_path, "%s", out_json_path);
    else default_out_path(tokenizer_path, out_path, sizeof out_path);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "benchmark", "tokenizer encode");
    cJSON_AddStringToObject(o, "tokenizer", tokenizer_path);
    cJSON_AddNumberToObject(o, "vocab_size", tok->vocab_size);
    cJSON_AddNumberToObject(o, "threads", 1);
    cJSON_AddNumberToObject(o, "prompts", ps.n);
    cJSON_AddNumberToObject(o, "passes", passes);
    cJSON_AddItemToObject(o, "corpus", timing_json(&all));
    cJSON_AddItemToObject(o, "corpus_first_pass", timing_json(&first));
    cJSON_AddItemToObject(o, "no_whitespace_1mb", timing_json(&no_ws));
    char *s = cJSON_Print(o);
    FILE *f = fopenCheck(out_path, "w");
    fprintf(f, "%s\n", s);
    if (fclose(f) != 0) fatal("%s: cannot write (%s)", out_path, strerror(errno));
    printf("tokenizer %s: %.1f MB/s over %.1f MB of prompts (%d passes; first pass %.1f MB/s), "
           "%.1f MB/s on 1 MB without whitespace (%.0f tokens); wrote %s\n",
           tokenizer_path, all.bytes / 1e6 / all.seconds, all.bytes / 1e6, passes, first.bytes / 1e6 / first.seconds,
           no_ws.bytes / 1e6 / no_ws.seconds, no_ws.tokens, out_path);
    free(s);
    cJSON_Delete(o);
    prompt_set_free(&ps);
    tokenizer_free(tok);
    return 0;
}
