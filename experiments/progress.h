/* Progress of a long experiment on stderr, with an ETA from this session's pace.
 * On a terminal: one bar redrawn in place. Otherwise (logs, Slurm): a plain line every
 * `every` runs or every 10 seconds, whichever comes first. */
#ifndef SPECDEC_PROGRESS_H
#define SPECDEC_PROGRESS_H

typedef struct {
    int total;          /* runs this process must do */
    int done;
    int every;          /* plain mode: a line every `every` runs */
    int tty;
    double t_start, t_last_line;
} Progress;

void progress_init(Progress *p, int total);
/* One more run finished; label says which (e.g. "ngram:3 gamma 4 HumanEval/3"). */
void progress_step(Progress *p, const char *label);
void progress_finish(Progress *p);

#endif
