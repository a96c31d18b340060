/* Results files: JSON lines, a header record first, then one line per run.
 *
 * Header: {"type": "header", "format": "specdec-results-1", "git_commit", "git_dirty",
 *          "config_hash", "config" (canonical), "models": [{"name", "path", "files": [{"path",
 *          "sha256"}]}], "machine": {"uname", "cpu", "cpus_online", "omp_threads"}, "device", "shard": {"index", "count"} or null,
 *          "grid_runs", "shard_runs"}
 * Run:    {"type": "run", "run_id", "index", "group", "settings", "prompt_tokens", "n_tokens",
 *          "output_hash", "wall_s", "metrics"}
 *
 * Durability: a line goes out in one write() of the whole line and its newline, then fsync(). A
 * line is complete iff it ends with a newline; a kill can leave at most one incomplete line at the
 * end, which resuming truncates away and readers ignore (with a warning). */
#ifndef SPECDEC_RESULTS_H
#define SPECDEC_RESULTS_H

#include <cjson/cJSON.h>

#define RESULTS_FORMAT "specdec-results-1"

typedef struct {
    cJSON *header;   /* the header record */
    cJSON **runs;    /* (n_runs) run records, in file order */
    int n_runs;
} ResultsFile;

/* Reads a whole results file. fatal() when it is missing, has no header, or holds a complete line
 * that is not a JSON object; an incomplete last line is skipped with a warning on stderr. */
void results_read(ResultsFile *rf, const char *path);
void results_file_free(ResultsFile *rf);

typedef struct {
    int fd;              /* opened O_APPEND */
    char path[4096];
} ResultsWriter;

/* Creates `path` with `header` as its first line; fatal() when it exists already. */
void results_create(ResultsWriter *w, const char *path, const cJSON *header);
/* Continues `path` (or creates it when missing): truncates an incomplete last line away, refuses a
 * header that differs from `header` in config_hash, device, shard or model hashes, and returns
 * the run ids already present (malloc'd strings, *n_done of them), sorted with strcmp. */
char **results_resume(ResultsWriter *w, const char *path, const cJSON *header, int *n_done);
/* Appends one record as one line: one write(), then fsync(). */
void results_append(ResultsWriter *w, const cJSON *record);
void results_close(ResultsWriter *w);

/* Provenance for the header. */
void git_commit_of(const char *source_dir, char *out, size_t out_size, int *dirty);
cJSON *machine_json(void);

/* Header field access for the readers (plot, merge, summary). */
const char *header_string(const cJSON *header, const char *key);

#endif
