/* Statistics over results: means with 95% confidence intervals, and the per-(drafter, gamma,
 * sampler) summary of a results file.
 *
 * Method: each run's value is first averaged over the seeds and repeats of its prompt; the
 * interval is then taken over prompts, mean +- t_{0.975, n-1} * s / sqrt(n), with s the sample
 * standard deviation and t the Student t quantile (no interval when n < 2). Null metrics (an
 * acceptance rate with nothing drafted) are left out of their mean.
 *
 * Speedup is computed here, not while running: baseline wall time / speculative wall time for
 * the same (target, sampler, prompt, seed, repeat), the wall times being the metrics' wall_ms
 * (prefill + decode). Doing it from the file keeps it right across --resume, shards and merges. */
#ifndef SPECDEC_STATS_H
#define SPECDEC_STATS_H

#include <stdio.h>

#include "results.h"

typedef struct {
    int n;              /* finite values used */
    double mean;        /* NAN when n == 0 */
    double half_width;  /* of the 95% interval; NAN when n < 2 */
} MeanCI;

/* P(T > t) for Student's t with df degrees of freedom. */
double student_t_upper_tail(double t, int df);
/* t_{0.975, df}: the two-sided 95% quantile. */
double student_t_quantile_975(int df);
/* Mean and 95% interval of the finite values among x[0..n). */
MeanCI mean_ci95(const double *x, int n);

typedef enum {
    SM_ALPHA, SM_TAU, SM_SPEEDUP, SM_TOK_S, SM_PREDICTED, SM_COST_RATIO, SM_EXPECTED_ALPHA, SM_ENTROPY,
    SM_COUNT
} SummaryMetric;

typedef struct {
    /* the key; the strings point into the records of the ResultsFile */
    const char *target, *drafter, *gamma_label, *sampler_label;
    const char *category;  /* NULL unless grouped by category */
    int gamma;             /* the fixed gamma; 0 for EGAG settings and the baseline */
    int is_egag, is_baseline;
    int first_index;       /* the smallest grid index among its runs: the row order */
    int n_runs, n_prompts;
    MeanCI m[SM_COUNT];    /* over prompts */
} SummaryRow;

typedef struct {
    SummaryRow *rows;      /* (n_rows) in grid order */
    int n_rows;
    int n_runs, n_baselines, n_prompts;
    int greedy_compared, greedy_identical; /* greedy speculative runs whose baseline is present */
} Summary;

/* by_category: one row per category as well. */
void summary_build(Summary *s, const ResultsFile *rf, int by_category);
void summary_free(Summary *s);
void summary_print(FILE *f, const Summary *s, const char *title);

/* A number from a run record's "metrics" object; NAN when missing or null. */
double run_metric(const cJSON *run, const char *key);
/* A string from a run record's "settings"; "" when missing. */
const char *run_setting(const cJSON *run, const char *key);

#endif
