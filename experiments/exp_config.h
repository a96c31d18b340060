/* Experiment configs: parsing, validation and grid expansion.
 *
 * A config is one JSON object (the shipped ones are in experiments/configs/):
 *   name             string, default: the file name without .json; names the results file
 *   description      string, for people
 *   target           string or array of strings: model paths or names under models_dir()
 *   drafters         array of drafter specs (model:PATH[@bf16] | ngram:N | ngram1:N | lookup:MAX[:MIN])
 *   gammas           array of fixed gammas, 1..64
 *   egag             array of {gamma_min, gamma_max, beta}: EGAG settings, each one more point
 *                    on the gamma axis beside the fixed gammas
 *   samplers         array of {temperature, top_k, top_p, repetition_penalty, repetition_window};
 *                    default: one greedy sampler
 *   dataset          {path, format, field, id_field, category_field, category, prefix_words}
 *   n_prompts        how many prompts (0: all), default 0
 *   max_new_tokens   default 128
 *   seeds            array of seeds, default [0]
 *   repeats          runs per setting, default 1
 *   filler_top_k, stop_if_unknown   ngram drafters (defaults 0, false)
 *   first_target, skip_sample_adjustment   speculative loop switches (defaults false)
 *   device           "cpu" or "cuda"; --device overrides it
 *   draft_ahead      C > 0: model drafters continue C greedy steps beside each verification
 *                    (--draft-ahead; needs cuda, greedy samplers without a repetition penalty and
 *                    fixed gammas >= C - 1, no egag); n-gram drafters run without it. Default 0
 * Unknown keys and wrong types are fatal(), naming the key and what is allowed.
 *
 * The grid: targets x samplers x prompts x seeds x repeats form the groups; each group holds one
 * autoregressive baseline and one run per drafter x gamma setting. The group is the unit of
 * sharding, so a baseline always runs on the same machine as the speculative runs it is compared
 * with. */
#ifndef SPECDEC_EXP_CONFIG_H
#define SPECDEC_EXP_CONFIG_H

#include <stdint.h>

#include <cjson/cJSON.h>

#include "datasets.h"
#include "sampler.h"

typedef struct {
    int is_egag;
    int gamma;                  /* fixed gamma; 0 when is_egag */
    int gamma_min, gamma_max;   /* EGAG */
    double beta;                /* EGAG smoothing, as the config wrote it */
    char label[48];             /* "4" or "egag:1-8:b0.5" */
} GammaSetting;

typedef struct {
    char name[128];
    char **targets;             /* (n_targets) as written in the config */
    int n_targets;
    char **drafters;            /* (n_drafters) specs */
    int n_drafters;
    GammaSetting *gammas;       /* (n_gammas) fixed ones first, then EGAG ones */
    int n_gammas;
    SamplerConfig *samplers;    /* (n_samplers) */
    int n_samplers;
    DatasetSpec dataset;
    int n_prompts, max_new_tokens;
    uint64_t *seeds;            /* (n_seeds) */
    int n_seeds;
    int repeats;
    int filler_top_k, stop_if_unknown, first_target, skip_sample_adjustment;
    char device[16];            /* "" when the config names none */
    int draft_ahead;            /* continuation length for model drafters; 0: off */
    cJSON *canonical;           /* every setting with defaults filled in, keys sorted */
    char hash[65];              /* sha256 of canonical, printed unformatted */
} ExpConfig;

/* Parses and validates a config; `where` (the file name) prefixes every error. Opens nothing. */
void exp_config_parse(ExpConfig *c, const char *json_text, const char *where);
/* Reads CONFIG.json and parses it; the default name is the file's base name without .json. */
void exp_config_load(ExpConfig *c, const char *path);
void exp_config_free(ExpConfig *c);

/* "greedy", or the non-default settings, e.g. "T0.8-p0.95" */
void sampler_label(const SamplerConfig *s, char *out, size_t out_size);

/* Sorts every object's keys, recursively, so that printing gives one canonical text. */
void json_sort_keys(cJSON *item);
/* sha256 hex of the canonical unformatted text of `item` (sorted keys). */
void json_canonical_hash(const cJSON *item, char hex[65]);

typedef struct {
    int index;          /* position in the whole grid */
    int group;          /* (target, sampler, prompt, seed, repeat) group: sharding unit */
    int target;         /* index into targets */
    int drafter;        /* index into drafters; -1: the autoregressive baseline */
    int gamma;          /* index into gammas; -1 for the baseline */
    int sampler;
    int prompt;         /* index into the PromptSet */
    uint64_t seed;
    int repeat;
    char id[17];        /* first 16 hex digits of the sha256 of run_settings_json() */
} RunSpec;

/* The whole grid in run order: within each group the baseline comes first. *n_runs may be 0 only
 * when some list is empty, which exp_config_parse() already refuses. */
RunSpec *exp_grid_expand(const ExpConfig *c, const PromptSet *ps, int *n_runs, int *n_groups);

/* The continuation length run r's model drafter drafts ahead with (0: none). */
int exp_run_draft_ahead(const ExpConfig *c, const RunSpec *r);

/* The expanded settings of one run, as stored in its results line (and hashed into its id). */
cJSON *run_settings_json(const ExpConfig *c, const PromptSet *ps, const RunSpec *r);

#endif
