#define _POSIX_C_SOURCE 200809L
#include "stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

/* ---- numbers ---- */

/* Continued fraction for the regularised incomplete beta function, evaluated with the modified
 * Lentz method (Press et al., Numerical Recipes, 3rd ed., section 6.4). */
static double beta_continued_fraction(double a, double b, double x) {
    const double tiny = 1e-300;
    double c = 1.0, d = 1.0 - (a + b) * x / (a + 1.0);
    if (fabs(d) < tiny) d = tiny;
    d = 1.0 / d;
    double h = d;
    for (int m = 1; m <= 1000; m++) {
        double m2 = 2.0 * m;
        double num = m * (b - m) * x / ((a + m2 - 1.0) * (a + m2));
        d = 1.0 + num * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + num / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        h *= d * c;
        num = -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0));
        d = 1.0 + num * d;
        if (fabs(d) < tiny) d = tiny;
        c = 1.0 + num / c;
        if (fabs(c) < tiny) c = tiny;
        d = 1.0 / d;
        double delta = d * c;
        h *= delta;
        if (fabs(delta - 1.0) < 1e-15) break;
    }
    return h;
}

/* I_x(a, b), the regularised incomplete beta function. */
static double incomplete_beta(double a, double b, double x) {
    if (x <= 0.0) return 0.0;
    if (x >= 1.0) return 1.0;
    double front = exp(lgamma(a + b) - lgamma(a) - lgamma(b) + a * log(x) + b * log1p(-x));
    /* The fraction converges fast only below the mean; use the symmetry I_x(a,b) = 1 - I_{1-x}(b,a). */
    if (x < (a + 1.0) / (a + b + 2.0)) return front * beta_continued_fraction(a, b, x) / a;
    return 1.0 - front * beta_continued_fraction(b, a, 1.0 - x) / b;
}

double student_t_upper_tail(double t, int df) {
    double upper = 0.5 * incomplete_beta(0.5 * df, 0.5, df / (df + t * t));
    return t >= 0 ? upper : 1.0 - upper;
}

double student_t_quantile_975(int df) {
    CHECK(df >= 1, "t quantile needs df >= 1, got %d", df);
    /* The upper tail falls monotonically in t; bisect P(T > t) = 0.025 (t_{0.975,1} = 12.71). */
    double lo = 0.0, hi = 64.0;
    for (int i = 0; i < 200 && hi - lo > 1e-13; i++) {
        double mid = 0.5 * (lo + hi);
        if (student_t_upper_tail(mid, df) > 0.025) lo = mid;
        else hi = mid;
    }
    return 0.5 * (lo + hi);
}

MeanCI mean_ci95(const double *x, int n) {
    MeanCI r = {0, NAN, NAN};
    double sum = 0.0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) {
            sum += x[i];
            r.n++;
        }
    if (r.n == 0) return r;
    r.mean = sum / r.n;
    if (r.n < 2) return r;
    double ss = 0.0;
    for (int i = 0; i < n; i++)
        if (isfinite(x[i])) ss += (x[i] - r.mean) * (x[i] - r.mean);
    double sd = sqrt(ss / (r.n - 1));
    r.half_width = student_t_quantile_975(r.n - 1) * sd / sqrt((double)r.n);
    return r;
}

/* ---- the summary of a results file ---- */

double run_metric(const cJSON *run, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "metrics"), key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

const char *run_setting(const cJSON *run, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "settings"), key);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static double setting_number(const cJSON *run, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "settings"), key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* (target, sampler, prompt, seed, repeat): what a speculative run and its baseline share. */
static char *pair_key(const cJSON *run) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s\x1f%s\x1f%s\x1f%.0f\x1f%.0f", run_setting(run, "target"),
             run_setting(run, "sampler_label"), run_setting(run, "prompt_id"), setting_number(run, "seed"),
             setting_number(run, "repeat"));
    return strdupCheck(buf);
}

typedef struct {
    char *key;
    const cJSON *run;
} Keyed;

static int keyed_cmp(const void *a, const void *b) { return strcmp(((const Keyed *)a)->key, ((const Keyed *)b)->key); }

typedef struct {
    int row;
    const char *prompt_id;
    double v[SM_COUNT];
} RunValues;

static int run_values_cmp(const void *a, const void *b) {
    const RunValues *x = a, *y = b;
    if (x->row != y->row) return x->row < y->row ? -1 : 1;
    return strcmp(x->prompt_id, y->prompt_id);
}

static int row_cmp(const void *a, const void *b) {
    const SummaryRow *x = a, *y = b;
    if (x->first_index != y->first_index) return x->first_index < y->first_index ? -1 : 1;
    if (!x->category || !y->category) return 0;
    return strcmp(x->category, y->category);
}

static int same(const char *a, const char *b) { return (!a && !b) || (a && b && strcmp(a, b) == 0); }

void summary_build(Summary *s, const ResultsFile *rf, int by_category) {
    memset(s, 0, sizeof *s);
    int n = rf->n_runs;
    s->n_runs = n;
    /* the baselines, sorted by their pair key */
    Keyed *base = mallocCheck((size_t)(n ? n : 1) * sizeof(Keyed));
    int nb = 0;
    for (int i = 0; i < n; i++)
        if (strcmp(run_setting(rf->runs[i], "drafter"), "none") == 0) base[nb++] = (Keyed){pair_key(rf->runs[i]), rf->runs[i]};
    qsort(base, (size_t)nb, sizeof(Keyed), keyed_cmp);
    s->n_baselines = nb;

    RunValues *vals = mallocCheck((size_t)(n ? n : 1) * sizeof(RunValues));
    int cap = 0;
    for (int i = 0; i < n; i++) {
        const cJSON *run = rf->runs[i];
        const char *drafter = run_setting(run, "drafter"), *gl = run_setting(run, "gamma_label");
        const char *target = run_setting(run, "target"), *sl = run_setting(run, "sampler_label");
        const char *cat = by_category ? run_setting(run, "category") : NULL;
        int row = -1;
        for (int r = 0; r < s->n_rows && row < 0; r++) {
            SummaryRow *w = &s->rows[r];
            if (same(w->target, target) && same(w->drafter, drafter) && same(w->gamma_label, gl) &&
                same(w->sampler_label, sl) && same(w->category, cat))
                row = r;
        }
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(run, "index");
        int index = cJSON_IsNumber(idx) ? (int)idx->valuedouble : i;
        if (row < 0) {
            if (s->n_rows == cap) s->rows = reallocCheck(s->rows, (size_t)(cap = cap ? 2 * cap : 16) * sizeof(SummaryRow));
            row = s->n_rows++;
            SummaryRow *w = &s->rows[row];
            memset(w, 0, sizeof *w);
            *w = (SummaryRow){.target = target, .drafter = drafter, .gamma_label = gl, .sampler_label = sl,
                              .category = cat, .first_index = index};
            double g = setting_number(run, "gamma");
            w->gamma = isfinite(g) ? (int)g : 0;
            w->is_egag = cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "settings"), "egag"));
            w->is_baseline = strcmp(drafter, "none") == 0;
        }
        SummaryRow *w = &s->rows[row];
        if (index < w->first_index) w->first_index = index;
        w->n_runs++;

        RunValues *rv = &vals[i];
        rv->row = row;
        rv->prompt_id = run_setting(run, "prompt_id");
        rv->v[SM_ALPHA] = run_metric(run, "acceptance_rate");
        rv->v[SM_TAU] = run_metric(run, "mean_accepted_length");
        rv->v[SM_TOK_S] = run_metric(run, "tokens_per_s");
        rv->v[SM_PREDICTED] = run_metric(run, "predicted_speedup");
        rv->v[SM_COST_RATIO] = run_metric(run, "cost_ratio");
        rv->v[SM_EXPECTED_ALPHA] = run_metric(run, "expected_acceptance");
        rv->v[SM_ENTROPY] = run_metric(run, "mean_entropy");
        rv->v[SM_SPEEDUP] = NAN;
        if (w->is_baseline) {
            rv->v[SM_SPEEDUP] = 1.0;
            continue;
        }
        Keyed probe = {pair_key(run), NULL};
        const Keyed *b = nb ? bsearch(&probe, base, (size_t)nb, sizeof(Keyed), keyed_cmp) : NULL;
        free(probe.key);
        if (!b) continue;   /* its baseline is in another shard's file */
        rv->v[SM_SPEEDUP] = run_metric(b->run, "wall_ms") / run_metric(run, "wall_ms");
        if (strcmp(sl, "greedy") == 0) {
            const cJSON *h1 = cJSON_GetObjectItemCaseSensitive(run, "output_hash");
            const cJSON *h2 = cJSON_GetObjectItemCaseSensitive(b->run, "output_hash");
            s->greedy_compared++;
            s->greedy_identical += cJSON_IsString(h1) && cJSON_IsString(h2) && !strcmp(h1->valuestring, h2->valuestring);
        }
    }

    /* per row: average each prompt over its seeds and repeats, then the interval over prompts */
    qsort(vals, (size_t)n, sizeof(RunValues), run_values_cmp);
    double *per_prompt[SM_COUNT];
    for (int m = 0; m < SM_COUNT; m++) per_prompt[m] = mallocCheck((size_t)(n ? n : 1) * sizeof(double));
    for (int i = 0; i < n;) {
        int row = vals[i].row, np = 0;
        while (i < n && vals[i].row == row) {
            int j = i;
            double sum[SM_COUNT] = {0};
            int cnt[SM_COUNT] = {0};
            for (; j < n && vals[j].row == row && !strcmp(vals[j].prompt_id, vals[i].prompt_id); j++)
                for (int m = 0; m < SM_COUNT; m++)
                    if (isfinite(vals[j].v[m])) {
                        sum[m] += vals[j].v[m];
                        cnt[m]++;
                    }
            for (int m = 0; m < SM_COUNT; m++) per_prompt[m][np] = cnt[m] ? sum[m] / cnt[m] : NAN;
            np++;
            i = j;
        }
        SummaryRow *w = &s->rows[row];
        w->n_prompts = np;
        if (np > s->n_prompts) s->n_prompts = np;
        for (int m = 0; m < SM_COUNT; m++) w->m[m] = mean_ci95(per_prompt[m], np);
    }
    for (int m = 0; m < SM_COUNT; m++) free(per_prompt[m]);
    free(vals);
    for (int i = 0; i < nb; i++) free(base[i].key);
    free(base);
    qsort(s->rows, (size_t)s->n_rows, sizeof(SummaryRow), row_cmp);
}

void summary_free(Summary *s) {
    free(s->rows);
    memset(s, 0, sizeof *s);
}

/* "0.412 ± 0.031", "0.412" when there is no interval, "-" when there is no value. */
static void format_ci(char *out, size_t size, MeanCI c, int decimals) {
    if (!isfinite(c.mean)) snprintf(out, size, "-");
    else if (!isfinite(c.half_width)) snprintf(out, size, "%.*f", decimals, c.mean);
    else snprintf(out, size, "%.*f ± %.*f", decimals, c.mean, decimals, c.half_width);
}

/* s, then spaces up to `width` columns; UTF-8 continuation bytes take no column. */
static void print_padded(FILE *f, const char *s, int width) {
    int cols = 0;
    for (const char *p = s; *p; p++) cols += ((unsigned char)*p & 0xC0) != 0x80;
    fputs(s, f);
    for (; cols < width; cols++) fputc(' ', f);
}

void summary_print(FILE *f, const Summary *s, const char *title) {
    fprintf(f, "%s: %d runs (%d autoregressive baselines), up to %d prompts per row\n", title, s->n_runs,
            s->n_baselines, s->n_prompts);
    fprintf(f, "each cell: mean ± 95%% CI over prompts (Student t, n-1 df; runs of one prompt averaged first)\n");
    const char *last_target = NULL, *last_sampler = NULL;
    for (int r = 0; r < s->n_rows; r++) {
        const SummaryRow *w = &s->rows[r];
        if (!same(w->target, last_target) || !same(w->sampler_label, last_sampler)) {
            fprintf(f, "\ntarget %s, sampler %s\n", w->target, w->sampler_label);
            fprintf(f, "%-28s %-14s %5s  %-16s %-16s %-16s %-18s %s\n", "drafter", "gamma", "n", "alpha",
                    "tau", "speedup", "tok/s", "predicted");
            last_target = w->target;
            last_sampler = w->sampler_label;
        }
        char cells[5][48];
        static const int decimals[5] = {3, 2, 2, 0, 2}, widths[5] = {17, 17, 17, 19, 17};
        static const SummaryMetric metric[5] = {SM_ALPHA, SM_TAU, SM_SPEEDUP, SM_TOK_S, SM_PREDICTED};
        fprintf(f, "%-28s %-14s %5d  ", w->is_baseline ? "none (autoregressive)" : w->drafter,
                w->is_baseline ? "-" : w->gamma_label, w->n_prompts);
        for (int k = 0; k < 5; k++) {
            format_ci(cells[k], sizeof cells[k], w->m[metric[k]], decimals[k]);
            print_padded(f, cells[k], k < 4 ? widths[k] : 0);
        }
        fputc('\n', f);
    }
    if (s->greedy_compared)
        fprintf(f, "\ngreedy: %d of %d speculative runs reproduce their autoregressive baseline token for token\n",
                s->greedy_identical, s->greedy_compared);
}
