/* specdec plot: every figure of an experiment, from its results file alone.
 *
 * For each (target, sampler) panel it writes <figure>_<panel>.dat, a gnuplot script made of a few
 * variables and the template experiments/plots/<figure>.gp, and runs gnuplot as a process, which
 * writes <figure>_<panel>.png (pngcairo) and .svg. Neither the data nor the scripts hold times or
 * absolute paths, so plotting twice gives byte-identical files. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "cli.h"
#include "commands.h"
#include "results.h"
#include "stats.h"

static const char *USAGE = "usage: specdec plot RESULTS.jsonl [--outdir DIR]\n"
                           "  DIR defaults to plots/<experiment name> beside RESULTS.jsonl (results/plots/<name>)\n";

#define TEMPLATE_DIR SPECDEC_SOURCE_DIR "/experiments/plots"
#define MAX_SERIES 64
#define MIN_BIN_DRAFTS 20   /* entropy bins with fewer drafted tokens say nothing: left out */

typedef struct {
    const char *target, *sampler;
    char slug[160];        /* file-name suffix */
    char caption[512];     /* for titles */
} Panel;

typedef struct {
    const ResultsFile *rf;
    const Summary *sum;       /* one row per (target, drafter, gamma, sampler) */
    const Summary *by_cat;    /* the same, split by category */
    const char *outdir;
    char **scripts;           /* (n_scripts) written, for gnuplot */
    int n_scripts;
} Plotter;

/* ---- small helpers ---- */

static void mkdir_p(const char *path) {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char c = *p;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST) fatal("%s: cannot create (%s)", buf, strerror(errno));
        *p = c;
        if (!c) break;
    }
}

static FILE *open_in(const Plotter *pl, const char *name) {
    char path[4600];
    snprintf(path, sizeof path, "%s/%s", pl->outdir, name);
    FILE *f = fopen(path, "w");
    if (!f) fatal("%s: cannot write (%s)", path, strerror(errno));
    return f;
}

static void close_checked(FILE *f, const char *name) {
    if (ferror(f) | fclose(f)) fatal("%s: write failed", name);
}

/* A gnuplot string expression: single quotes (where '' stands for '), newlines joined in. */
static void gp_quoted(FILE *f, const char *s) {
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\n') fputs("' . \"\\n\" . '", f);
        else fputc(*s, f);
        if (*s == '\'') fputc('\'', f);
    }
    fputc('\'', f);
}

/* A data-file title in double quotes; gnuplot's columnheader takes it whole. */
static void dat_title(FILE *f, const char *s) {
    fputc('"', f);
    for (; *s; s++) fputc(*s == '"' ? '\'' : *s, f);
    fputc('"', f);
}

static void slug_append(char *out, size_t size, const char *s) {
    size_t n = strlen(out);
    for (; *s && n + 1 < size; s++)
        out[n++] = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '.' ||
                   *s == '-' ? *s : '_';
    out[n] = '\0';
}

/* The script for one figure: its variables, then the template, once for PNG and once for SVG. */
static void write_script(Plotter *pl, const char *figure, const Panel *p, const char *title, int n_series,
                         int with_theory) {
    char stem[512], name[600];
    snprintf(stem, sizeof stem, "%s_%s", figure, p->slug);
    snprintf(name, sizeof name, "%s.gp", stem);
    char tpl_path[4096];
    snprintf(tpl_path, sizeof tpl_path, "%s/%s.gp", TEMPLATE_DIR, figure);
    char *tpl = read_file_all(tpl_path, NULL);
    FILE *f = open_in(pl, name);
    fprintf(f, "# written by specdec plot from experiments/plots/%s.gp; edit the template, not this file\n", figure);
    fprintf(f, "set encoding utf8\ndat = '%s.dat'\n", stem);
    if (with_theory) fprintf(f, "theory = '%s_theory.dat'\n", stem);
    fprintf(f, "n_series = %d\nplot_title = ", n_series);
    char full_title[1200];
    snprintf(full_title, sizeof full_title, "%s\n%s", title, p->caption);
    gp_quoted(f, full_title);
    fprintf(f, "\nset terminal pngcairo size 1200,680 noenhanced font 'DejaVu Sans,11'\nset output '%s.png'\n", stem);
    fputs(tpl, f);
    fprintf(f, "\nset terminal svg size 1200,680 noenhanced font 'DejaVu Sans,11'\nset output '%s.svg'\nreplot\n", stem);
    close_checked(f, name);
    free(tpl);
    pl->scripts = reallocCheck(pl->scripts, (size_t)(pl->n_scripts + 1) * sizeof(char *));
    pl->scripts[pl->n_scripts++] = strdupCheck(name);
}

static void run_gnuplot(const Plotter *pl) {
    for (int i = 0; i < pl->n_scripts; i++) {
        fflush(NULL);
        pid_t pid = fork();
        if (pid < 0) fatal("cannot start gnuplot (%s)", strerror(errno));
        if (pid == 0) {
            if (chdir(pl->outdir) != 0) _exit(126);
            execlp("gnuplot", "gnuplot", pl->scripts[i], (char *)NULL);
            _exit(127);
        }
        int status;
        if (waitpid(pid, &status, 0) < 0) fatal("waiting for gnuplot failed (%s)", strerror(errno));
        if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
            fatal("gnuplot not found; install it (Debian: apt-get install gnuplot-nox)");
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            fatal("gnuplot failed on %s/%s (status %d)", pl->outdir, pl->scripts[i], status);
    }
}

static int in_panel(const SummaryRow *w, const Panel *p) {
    return !strcmp(w->target, p->target) && !strcmp(w->sampler_label, p->sampler);
}

static int run_in_panel(const cJSON *run, const Panel *p) {
    return !strcmp(run_setting(run, "target"), p->target) && !strcmp(run_setting(run, "sampler_label"), p->sampler);
}

/* The distinct drafters of a panel's fixed-gamma rows, in grid order. */
static int panel_drafters(const Plotter *pl, const Panel *p, const char **out) {
    int n = 0;
    for (int r = 0; r < pl->sum->n_rows; r++) {
        const SummaryRow *w = &pl->sum->rows[r];
        if (!in_panel(w, p) || w->is_baseline || w->is_egag) continue;
        int seen = 0;
        for (int i = 0; i < n && !seen; i++) seen = !strcmp(out[i], w->drafter);
        if (!seen && n < MAX_SERIES) out[n++] = w->drafter;
    }
    return n;
}

/* The drafter's fixed-gamma rows of the panel, sorted by gamma. */
static int drafter_rows(const Plotter *pl, const Panel *p, const char *drafter, const SummaryRow **out) {
    int n = 0;
    for (int r = 0; r < pl->sum->n_rows; r++) {
        const SummaryRow *w = &pl->sum->rows[r];
        if (in_panel(w, p) && !w->is_baseline && !w->is_egag && !strcmp(w->drafter, drafter)) out[n++] = w;
    }
    for (int i = 1; i < n; i++)   /* insertion sort: a handful of rows */
        for (int j = i; j > 0 && out[j - 1]->gamma > out[j]->gamma; j--) {
            const SummaryRow *t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

static double finite_or_zero(double x) { return isfinite(x) ? x : 0.0; }

/* ---- the figures ---- */

/* Acceptance and speedup against gamma, with the theoretical speedup curve. */
static void fig_gamma_curves(Plotter *pl, const Panel *p) {
    const char *drafters[MAX_SERIES];
    int nd = panel_drafters(pl, p, drafters);
    if (nd == 0) return;
    const SummaryRow **rows = mallocCheck((size_t)pl->sum->n_rows * sizeof(SummaryRow *));
    char name[600];
    static const SummaryMetric metric[2] = {SM_ALPHA, SM_SPEEDUP};
    static const char *const figure[2] = {"acceptance_vs_gamma", "speedup_vs_gamma"};
    for (int k = 0; k < 2; k++) {
        snprintf(name, sizeof name, "%s_%s.dat", figure[k], p->slug);
        FILE *f = open_in(pl, name);
        for (int d = 0; d < nd; d++) {
            int n = drafter_rows(pl, p, drafters[d], rows);
            fputs(d ? "\n\n" : "", f);
            dat_title(f, drafters[d]);
            fputc('\n', f);
            for (int i = 0; i < n; i++) {
                MeanCI m = rows[i]->m[metric[k]];
                if (isfinite(m.mean)) fprintf(f, "%d %.6g %.6g\n", rows[i]->gamma, m.mean, finite_or_zero(m.half_width));
            }
        }
        close_checked(f, name);
    }
    /* theory: (1 - a^(g+1)) / ((1 - a)(g c + 1)) from the drafter's alpha and c, averaged over its gammas */
    snprintf(name, sizeof name, "speedup_vs_gamma_%s_theory.dat", p->slug);
    FILE *f = open_in(pl, name);
    for (int d = 0; d < nd; d++) {
        int n = drafter_rows(pl, p, drafters[d], rows);
        double a = 0, c = 0;
        int na = 0, nc = 0;
        for (int i = 0; i < n; i++) {
            if (isfinite(rows[i]->m[SM_ALPHA].mean)) { a += rows[i]->m[SM_ALPHA].mean; na++; }
            if (isfinite(rows[i]->m[SM_COST_RATIO].mean)) { c += rows[i]->m[SM_COST_RATIO].mean; nc++; }
        }
        char title[512];
        a = na ? a / na : NAN;
        c = nc ? c / nc : NAN;
        snprintf(title, sizeof title, "%s theory (α=%.2f, c=%.3f)", drafters[d], a, c);
        fputs(d ? "\n\n" : "", f);
        dat_title(f, title);
        fputc('\n', f);
        if (!isfinite(a) || !isfinite(c) || n == 0) continue;
        for (int step = 0; rows[0]->gamma + 0.1 * step <= rows[n - 1]->gamma + 1e-9; step++) {
            double g = rows[0]->gamma + 0.1 * step;
            double num = a < 1.0 ? (1.0 - pow(a, g + 1.0)) / (1.0 - a) : g + 1.0;
            fprintf(f, "%.6g %.6g\n", g, num / (g * c + 1.0));
        }
    }
    close_checked(f, name);
    free(rows);
    write_script(pl, "acceptance_vs_gamma", p, "Acceptance rate vs draft length (mean ± 95% CI over prompts)", nd, 0);
    write_script(pl, "speedup_vs_gamma", p,
                 "Speedup vs draft length (mean ± 95% CI over prompts)\n"
                 "dashed: Leviathan et al. (1 - α^(γ+1)) / ((1 - α)(γc + 1)) from the measured α and c", nd, 1);
}

/* Sums a run's metrics array `key` into acc[0..cap); returns its length. */
static int add_counts(const cJSON *run, const char *key, double *acc, int cap) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "metrics"), key);
    int n = 0;
    for (const cJSON *it = a ? a->child : NULL; it && n < cap; it = it->next, n++)
        if (cJSON_IsNumber(it)) acc[n] += it->valuedouble;
    return n;
}

static void fig_per_position(Plotter *pl, const Panel *p) {
    const char *drafters[MAX_SERIES];
    int nd = panel_drafters(pl, p, drafters);
    if (nd == 0) return;
    const SummaryRow **rows = mallocCheck((size_t)pl->sum->n_rows * sizeof(SummaryRow *));
    char name[600];
    snprintf(name, sizeof name, "per_position_acceptance_%s.dat", p->slug);
    FILE *f = open_in(pl, name);
    for (int d = 0; d < nd; d++) {
        int n = drafter_rows(pl, p, drafters[d], rows);
        int gmax = rows[n - 1]->gamma;
        double reached[64] = {0}, accepted[64] = {0};
        int len = 0;
        for (int i = 0; i < pl->rf->n_runs; i++) {
            const cJSON *run = pl->rf->runs[i];
            const cJSON *g = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "settings"), "gamma");
            if (!run_in_panel(run, p) || strcmp(run_setting(run, "drafter"), drafters[d]) || !cJSON_IsNumber(g) ||
                (int)g->valuedouble != gmax)
                continue;
            int a = add_counts(run, "per_position_reached", reached, 64);
            add_counts(run, "per_position_accepted", accepted, 64);
            if (a > len) len = a;
        }
        char title[512];
        snprintf(title, sizeof title, "%s (γ=%d)", drafters[d], gmax);
        fputs(d ? "\n\n" : "", f);
        dat_title(f, title);
        fputc('\n', f);
        for (int i = 0; i < len; i++)
            if (reached[i] > 0) fprintf(f, "%d %.6g %.0f\n", i + 1, accepted[i] / reached[i], reached[i]);
    }
    close_checked(f, name);
    free(rows);
    write_script(pl, "per_position_acceptance", p, "Acceptance by draft position, each drafter at its largest γ (pooled over runs)",
                 nd, 0);
}

static void fig_egag(Plotter *pl, const Panel *p) {
    const SummaryRow *series[MAX_SERIES];
    int ns = 0;
    for (int r = 0; r < pl->sum->n_rows && ns < MAX_SERIES; r++)
        if (in_panel(&pl->sum->rows[r], p) && pl->sum->rows[r].is_egag) series[ns++] = &pl->sum->rows[r];
    if (ns == 0) return;
    enum { HIST = 65, BINS = 64 };
    double (*hist)[HIST] = callocCheck((size_t)ns, sizeof *hist);
    double (*drafted)[BINS] = callocCheck((size_t)ns, sizeof *drafted);
    double (*accepted)[BINS] = callocCheck((size_t)ns, sizeof *accepted);
    int n_bins = 0;
    for (int i = 0; i < pl->rf->n_runs; i++) {
        const cJSON *run = pl->rf->runs[i];
        if (!run_in_panel(run, p)) continue;
        for (int s = 0; s < ns; s++) {
            if (strcmp(run_setting(run, "drafter"), series[s]->drafter) ||
                strcmp(run_setting(run, "gamma_label"), series[s]->gamma_label))
                continue;
            add_counts(run, "gamma_histogram", hist[s], HIST);
            int nb = add_counts(run, "entropy_bin_drafted", drafted[s], BINS);
            add_counts(run, "entropy_bin_accepted", accepted[s], BINS);
            if (nb > n_bins) n_bins = nb;
        }
    }
    int lo = HIST, hi = -1;
    for (int s = 0; s < ns; s++)
        for (int g = 0; g < HIST; g++)
            if (hist[s][g] > 0) {
                if (g < lo) lo = g;
                if (g > hi) hi = g;
            }
    char name[600], title[512];
    snprintf(name, sizeof name, "egag_gamma_histogram_%s.dat", p->slug);
    FILE *f = open_in(pl, name);
    fputs("gamma", f);
    for (int s = 0; s < ns; s++) {
        snprintf(title, sizeof title, "%s %s", series[s]->drafter, series[s]->gamma_label);
        fputc(' ', f);
        dat_title(f, title);
    }
    fputc('\n', f);
    for (int g = lo; g <= hi; g++) {
        fprintf(f, "%d", g);
        for (int s = 0; s < ns; s++) {
            double total = 0;
            for (int k = 0; k < HIST; k++) total += hist[s][k];
            fprintf(f, " %.6g", total > 0 ? hist[s][g] / total : 0.0);
        }
        fputc('\n', f);
    }
    close_checked(f, name);
    snprintf(name, sizeof name, "egag_acceptance_vs_entropy_%s.dat", p->slug);
    f = open_in(pl, name);
    for (int s = 0; s < ns; s++) {
        snprintf(title, sizeof title, "%s %s", series[s]->drafter, series[s]->gamma_label);
        fputs(s ? "\n\n" : "", f);
        dat_title(f, title);
        fputc('\n', f);
        for (int b = 0; b < n_bins; b++)
            if (drafted[s][b] >= MIN_BIN_DRAFTS)
                fprintf(f, "%.6g %.6g %.0f\n", (b + 0.5) / n_bins, accepted[s][b] / drafted[s][b], drafted[s][b]);
    }
    close_checked(f, name);
    free(hist);
    free(drafted);
    free(accepted);
    write_script(pl, "egag_gamma_histogram", p, "EGAG: distribution of the chosen γ (fraction of rounds)", ns, 0);
    write_script(pl, "egag_acceptance_vs_entropy", p, "EGAG: acceptance vs drafter entropy (pooled over runs; bins with at least 20 drafted tokens)", ns, 0);
}

static void fig_categories(Plotter *pl, const Panel *p) {
    const char *cats[256];
    int nc = 0;
    for (int i = 0; i < pl->rf->n_runs && nc < 256; i++) {
        const char *c = run_setting(pl->rf->runs[i], "category");
        int seen = !c[0];
        for (int k = 0; k < nc && !seen; k++) seen = !strcmp(cats[k], c);
        if (!seen) cats[nc++] = c;
    }
    if (nc < 2) return;
    const char *drafters[MAX_SERIES];
    int nd = panel_drafters(pl, p, drafters);
    if (nd == 0) return;
    /* each drafter at its best gamma: the one with the highest mean speedup (else the largest) */
    int best[MAX_SERIES];
    const SummaryRow **rows = mallocCheck((size_t)pl->sum->n_rows * sizeof(SummaryRow *));
    for (int d = 0; d < nd; d++) {
        int n = drafter_rows(pl, p, drafters[d], rows);
        best[d] = rows[n - 1]->gamma;
        double top = -INFINITY;
        for (int i = 0; i < n; i++)
            if (isfinite(rows[i]->m[SM_SPEEDUP].mean) && rows[i]->m[SM_SPEEDUP].mean > top) {
                top = rows[i]->m[SM_SPEEDUP].mean;
                best[d] = rows[i]->gamma;
            }
    }
    free(rows);
    char name[600], title[512];
    snprintf(name, sizeof name, "acceptance_by_category_%s.dat", p->slug);
    FILE *f = open_in(pl, name);
    fputs("category", f);
    for (int d = 0; d < nd; d++) {
        snprintf(title, sizeof title, "%s (γ=%d)", drafters[d], best[d]);
        fputc(' ', f);
        dat_title(f, title);
        fputs(" ci95", f);
    }
    fputc('\n', f);
    for (int k = 0; k < nc; k++) {
        dat_title(f, cats[k]);
        for (int d = 0; d < nd; d++) {
            MeanCI m = {0, NAN, NAN};
            for (int r = 0; r < pl->by_cat->n_rows; r++) {
                const SummaryRow *w = &pl->by_cat->rows[r];
                if (in_panel(w, p) && !w->is_baseline && !w->is_egag && !strcmp(w->drafter, drafters[d]) &&
                    w->gamma == best[d] && !strcmp(w->category, cats[k]))
                    m = w->m[SM_ALPHA];
            }
            fprintf(f, " %.6g %.6g", isfinite(m.mean) ? m.mean : NAN, finite_or_zero(m.half_width));
        }
        fputc('\n', f);
    }
    close_checked(f, name);
    write_script(pl, "acceptance_by_category", p, "Acceptance rate per dataset category (mean ± 95% CI over prompts)", nd, 0);
}

int cmd_plot(int argc, char **argv) {
    const char *in = NULL, *outdir_arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--outdir")) outdir_arg = cli_value(argc, argv, &i);
        else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { fputs(USAGE, stdout); return 0; }
        else if (argv[i][0] == '-') fatal("plot: unknown option '%s' (see specdec plot --help)", argv[i]);
        else if (in) fatal("plot: one results file at a time (got '%s' and '%s')", in, argv[i]);
        else in = argv[i];
    }
    if (!in) fatal("plot: missing RESULTS.jsonl (see specdec plot --help)");
    ResultsFile rf;
    results_read(&rf, in);
    if (rf.n_runs == 0) fatal("plot: %s holds no runs yet", in);
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(rf.header, "config");
    const char *exp_name = header_string(config, "name");
    char outdir[4096];
    if (outdir_arg) snprintf(outdir, sizeof outdir, "%s", outdir_arg);
    else {
        const char *slash = strrchr(in, '/');
        snprintf(outdir, sizeof outdir, "%.*s%splots/%s", slash ? (int)(slash - in) : 0, in, slash ? "/" : "",
                 exp_name[0] ? exp_name : "unnamed");
    }
    mkdir_p(outdir);

    Summary sum, by_cat;
    summary_build(&sum, &rf, 0);
    summary_build(&by_cat, &rf, 1);
    Plotter pl = {.rf = &rf, .sum = &sum, .by_cat = &by_cat, .outdir = outdir};

    /* panels: (target, sampler) pairs in grid order */
    Panel *panels = mallocCheck((size_t)sum.n_rows * sizeof(Panel));
    int np = 0, multi_target = 0;
    for (int r = 0; r < sum.n_rows; r++) multi_target |= strcmp(sum.rows[r].target, sum.rows[0].target) != 0;
    const cJSON *dataset = cJSON_GetObjectItemCaseSensitive(config, "dataset");
    const cJSON *mnt = cJSON_GetObjectItemCaseSensitive(config, "max_new_tokens");
    int max_new_tokens = cJSON_IsNumber(mnt) ? (int)mnt->valuedouble : 0;
    for (int r = 0; r < sum.n_rows; r++) {
        const SummaryRow *w = &sum.rows[r];
        int seen = 0;
        for (int k = 0; k < np && !seen; k++) seen = in_panel(w, &panels[k]);
        if (seen) continue;
        Panel *p = &panels[np++];
        *p = (Panel){.target = w->target, .sampler = w->sampler_label};
        p->slug[0] = '\0';
        if (multi_target) {
            const char *base = strrchr(w->target, '/');
            slug_append(p->slug, sizeof p->slug, base ? base + 1 : w->target);
            slug_append(p->slug, sizeof p->slug, "_");
        }
        slug_append(p->slug, sizeof p->slug, w->sampler_label);
        /* the last two parts of a long model path say enough */
        const char *shown = w->target;
        for (int parts = 0, i = (int)strlen(w->target) - 1; i > 0 && strlen(w->target) > 32; i--)
            if (w->target[i] == '/' && ++parts == 2) {
                shown = w->target + i + 1;
                break;
            }
        snprintf(p->caption, sizeof p->caption, "%s · %s · %s · %s, %d prompts, ≤ %d new tokens · %s", exp_name,
                 shown, w->sampler_label, header_string(dataset, "path"), sum.n_prompts, max_new_tokens,
                 header_string(rf.header, "device"));
    }
    for (int k = 0; k < np; k++) {
        fig_gamma_curves(&pl, &panels[k]);
        fig_per_position(&pl, &panels[k]);
        fig_egag(&pl, &panels[k]);
        fig_categories(&pl, &panels[k]);
    }
    run_gnuplot(&pl);
    printf("plots: %s (%d figures, PNG and SVG)\n", outdir, pl.n_scripts);
    for (int i = 0; i < pl.n_scripts; i++) {
        printf("  %s/%.*s.png\n", outdir, (int)strlen(pl.scripts[i]) - 3, pl.scripts[i]);
        free(pl.scripts[i]);
    }
    free(pl.scripts);
    free(panels);
    summary_free(&sum);
    summary_free(&by_cat);
    results_file_free(&rf);
    return 0;
}
