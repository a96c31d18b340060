/* Prompt sets for experiments.
 *
 * Formats (DatasetSpec.format):
 *   jsonl       one JSON object per line; `field` names the prompt (a string, or an array of
 *               strings whose first element is taken); `id_field` and `category_field` optional
 *   humaneval   jsonl with field "prompt", id "task_id"
 *   spec_bench  jsonl with field "turns" (first turn), id "question_id", category "category"
 *   mt_bench    the same shape as spec_bench
 *   gsm8k       jsonl with field "question"
 *   text        plain text, one prompt per blank-line-separated block
 * A record without an id is named "#<n>", n its 0-based position among the file's records. */
#ifndef SPECDEC_DATASETS_H
#define SPECDEC_DATASETS_H

#include <stddef.h>

#define DATASET_MAX_CATEGORIES 32

typedef struct {
    char name[1024];            /* as the config wrote it */
    char path[4096];            /* resolved by resolve_data_path() */
    char format[16];
    char field[64];             /* jsonl: the prompt field */
    char id_field[64];          /* "" when records have no id */
    char category_field[64];    /* "" when records have no category */
    char categories[DATASET_MAX_CATEGORIES][64]; /* keep only these categories; none: keep all */
    int n_categories;
    int prefix_words;           /* > 0: the prompt is the first prefix_words words of the text */
} DatasetSpec;

typedef struct {
    char *id;        /* the record's id, or "#<n>" */
    char *category;  /* "" when the dataset has no categories */
    char *text;      /* the prompt, UTF-8 */
} Prompt;

typedef struct {
    Prompt *prompts; /* (n) in file order */
    int n;
} PromptSet;

/* Fills field, id_field and category_field for the known formats; fatal() on an unknown format.
 * `where` prefixes error messages (e.g. "exp.json: dataset"). */
void dataset_spec_apply_format(DatasetSpec *d, const char *where);

/* Loads the first n_prompts prompts that pass the category filter (n_prompts 0: all of them).
 * fatal() when the file is missing, unreadable, malformed, or yields no prompt, or when fewer
 * than n_prompts prompts are available. */
void dataset_load(PromptSet *ps, const DatasetSpec *d, int n_prompts, const char *where);
void prompt_set_free(PromptSet *ps);

/* Where datasets are found: `name` itself when it exists, else <dir>/<name> for dir in
 * $SPECDEC_DATA, then ../shared/data beside the source tree. fatal() lists the places tried. */
void resolve_data_path(const char *name, char *out, size_t out_size);

#endif
