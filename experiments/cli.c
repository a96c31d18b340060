#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

const char *cli_value(int argc, char **argv, int *i) {
    if (*i + 1 >= argc) fatal("%s needs a value", argv[*i]);
    return argv[++*i];
}

long cli_int(const char *flag, const char *v, long lo, long hi) {
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (end == v || *end || errno) fatal("%s expects an integer, got '%s'", flag, v);
    if (x < lo || x > hi) fatal("%s must be in %ld..%ld, got %ld", flag, lo, hi, x);
    return x;
}

double cli_float(const char *flag, const char *v, double lo, double hi) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || *end || errno || !isfinite(x)) fatal("%s expects a number, got '%s'", flag, v);
    if (x < lo || x > hi) fatal("%s must be in [%g, %g], got %g", flag, lo, hi, x);
    return x;
}

int cli_int_list(const char *flag, const char *v, int **out) {
    int n = 0, cap = 16;
    int *ids = mallocCheck(sizeof(int) * (size_t)cap);
    const char *p = v;
    while (*p) {
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || x < 0 || x > 0x7fffffff) fatal("%s expects comma-separated non-negative integers, got '%s'", flag, v);
        if (n == cap) ids = reallocCheck(ids, sizeof(int) * (size_t)(cap *= 2));
        ids[n++] = (int)x;
        p = end;
        while (*p == ' ') p++;
        if (*p == ',') p++;
        else if (*p) fatal("%s expects comma-separated non-negative integers, got '%s'", flag, v);
    }
    if (n == 0) fatal("%s is empty", flag);
    *out = ids;
    return n;
}
