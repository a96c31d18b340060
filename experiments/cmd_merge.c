/* specdec merge: joins the results files of one experiment's shards into one file, in grid order.
 * Files from different configs (config hashes) or devices are refused; a run present in two
 * files is kept once. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#include "commands.h"
#include "results.h"

static const char *USAGE = "usage: specdec merge --out FILE SHARD.jsonl [SHARD.jsonl ...]\n";

static double number_of(const cJSON *o, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : -1.0;
}

static int by_index_then_id(const void *a, const void *b) {
    const cJSON *x = *(cJSON *const *)a, *y = *(cJSON *const *)b;
    double ix = number_of(x, "index"), iy = number_of(y, "index");
    if (ix != iy) return ix < iy ? -1 : 1;
    return strcmp(cJSON_GetObjectItemCaseSensitive(x, "run_id")->valuestring,
                  cJSON_GetObjectItemCaseSensitive(y, "run_id")->valuestring);
}

int cmd_merge(int argc, char **argv) {
    const char *out = NULL;
    const char **inputs = mallocCheck((size_t)argc * sizeof(char *));
    int n_in = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--out")) out = cli_value(argc, argv, &i);
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { fputs(USAGE, stdout); free(inputs); return 0; }
        else if (argv[i][0] == '-') fatal("merge: unknown option '%s' (see specdec merge --help)", argv[i]);
        else inputs[n_in++] = argv[i];
    }
    if (!out) fatal("merge: --out FILE is required");
    if (n_in == 0) fatal("merge: no input files");

    ResultsFile *files = callocCheck((size_t)n_in, sizeof(ResultsFile));
    int total = 0;
    char why[8192] = "";
    for (int k = 0; k < n_in && !why[0]; k++) {
        results_read(&files[k], inputs[k]);
        total += files[k].n_runs;
        const cJSON *h0 = files[0].header, *h = files[k].header;
        if (strcmp(header_string(h, "config_hash"), header_string(h0, "config_hash")) != 0)
            snprintf(why, sizeof why, "%s has config hash %.12s but %s has %.12s: they are not shards of one experiment",
                     inputs[k], header_string(h, "config_hash"), inputs[0], header_string(h0, "config_hash"));
        else if (strcmp(header_string(h, "device"), header_string(h0, "device")) != 0)
            snprintf(why, sizeof why, "%s ran on %s but %s on %s; timings from different devices do not mix", inputs[k],
                     header_string(h, "device"), inputs[0], header_string(h0, "device"));
        else if (!cJSON_Compare(cJSON_GetObjectItemCaseSensitive(h, "models"),
                                cJSON_GetObjectItemCaseSensitive(h0, "models"), 1))
            snprintf(why, sizeof why, "%s and %s used different model files (their sha256 differ)", inputs[k], inputs[0]);
    }
    if (why[0]) {   /* release everything first: the refusal is an ordinary outcome, not a leak */
        for (int k = 0; k < n_in; k++) results_file_free(&files[k]);
        free(files);
        free(inputs);
        fatal("merge: %s", why);
    }

    cJSON **runs = mallocCheck((size_t)(total ? total : 1) * sizeof(cJSON *));
    int n = 0;
    for (int k = 0; k < n_in; k++)
        for (int i = 0; i < files[k].n_runs; i++) runs[n++] = files[k].runs[i];
    qsort(runs, (size_t)n, sizeof(cJSON *), by_index_then_id);
    int kept = 0, dup = 0;
    for (int i = 0; i < n; i++) {
        if (kept && !strcmp(cJSON_GetObjectItemCaseSensitive(runs[kept - 1], "run_id")->valuestring,
                            cJSON_GetObjectItemCaseSensitive(runs[i], "run_id")->valuestring)) {
            dup++;
            continue;
        }
        runs[kept++] = runs[i];
    }

    cJSON *header = cJSON_Duplicate(files[0].header, 1);
    cJSON_ReplaceItemInObjectCaseSensitive(header, "shard", cJSON_CreateNull());
    cJSON_ReplaceItemInObjectCaseSensitive(header, "shard_runs", cJSON_CreateNumber(kept));
    /* where each part ran: the merged file keeps every shard's provenance */
    cJSON *from = cJSON_AddArrayToObject(header, "merged_from");
    static const char *const keep_keys[] = {"shard", "git_commit", "git_dirty", "machine", "shard_runs"};
    for (int k = 0; k < n_in; k++) {
        cJSON *part = cJSON_CreateObject();
        for (size_t j = 0; j < sizeof keep_keys / sizeof keep_keys[0]; j++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(files[k].header, keep_keys[j]);
            if (v) cJSON_AddItemToObject(part, keep_keys[j], cJSON_Duplicate(v, 1));
        }
        cJSON_AddItemToArray(from, part);
    }
    ResultsWriter w;
    results_create(&w, out, header);
    for (int i = 0; i < kept; i++) results_append(&w, runs[i]);
    results_close(&w);

    double grid = number_of(header, "grid_runs");
    fprintf(stderr, "specdec merge: %d runs from %d files into %s", kept, n_in, out);
    if (dup) fprintf(stderr, " (%d duplicate lines dropped)", dup);
    if (grid >= 0) fprintf(stderr, "; the grid has %.0f runs, %.0f missing", grid, grid - kept);
    fputc('\n', stderr);

    cJSON_Delete(header);
    free(runs);
    for (int k = 0; k < n_in; k++) results_file_free(&files[k]);
    free(files);
    free(inputs);
    return 0;
}
