#define _POSIX_C_SOURCE 200809L
#include "progress.h"

#include <stdio.h>
#include <unistd.h>

#include "check.h"

#define PLAIN_LINE_SECONDS 10.0
#define BAR_WIDTH 30

void progress_init(Progress *p, int total) {
    p->total = total;
    p->done = 0;
    p->every = total / 20 > 1 ? total / 20 : 1;
    p->tty = isatty(2);
    p->t_start = p->t_last_line = now_seconds();
}

static void format_duration(double s, char *out, size_t n) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(out, n, "%ldh%02ldm", t / 3600, t % 3600 / 60);
    else if (t >= 60) snprintf(out, n, "%ldm%02lds", t / 60, t % 60);
    else snprintf(out, n, "%lds", t);
}

void progress_step(Progress *p, const char *label) {
    p->done++;
    double now = now_seconds(), elapsed = now - p->t_start;
    char eta[32], spent[32];
    format_duration(elapsed / p->done * (p->total - p->done), eta, sizeof eta);
    format_duration(elapsed, spent, sizeof spent);
    if (p->tty) {
        int fill = p->total ? BAR_WIDTH * p->done / p->total : BAR_WIDTH;
        char bar[BAR_WIDTH + 1];
        for (int i = 0; i < BAR_WIDTH; i++) bar[i] = i < fill ? '#' : '.';
        bar[BAR_WIDTH] = '\0';
        /* \033[K clears what a longer previous label left behind. */
        fprintf(stderr, "\r[%s] %d/%d  %s elapsed  ETA %s  %.40s\033[K", bar, p->done, p->total, spent, eta, label);
        fflush(stderr);
        return;
    }
    if (p->done % p->every == 0 || p->done == p->total || now - p->t_last_line >= PLAIN_LINE_SECONDS) {
        fprintf(stderr, "specdec run: %d/%d runs (%.0f%%), %s elapsed, ETA %s, last: %s\n", p->done, p->total,
                p->total ? 100.0 * p->done / p->total : 100.0, spent, eta, label);
        p->t_last_line = now;
    }
}

void progress_finish(Progress *p) {
    if (p->tty && p->done > 0) fputc('\n', stderr);
}
