#define _POSIX_C_SOURCE 200809L
#include "check.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

void fatal(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fflush(stdout);
    fputs("specdec: error: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

void *malloc_check(size_t size, const char *file, int line) {
    void *p = malloc(size ? size : 1);
    if (!p) {
        fprintf(stderr, "specdec: out of memory allocating %zu bytes at %s:%d\n", size, file, line);
        exit(3);
    }
    return p;
}

void *calloc_check(size_t count, size_t size, const char *file, int line) {
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "specdec: out of memory allocating %zu x %zu bytes at %s:%d\n", count, size, file, line);
        exit(3);
    }
    return p;
}

void *realloc_check(void *ptr, size_t size, const char *file, int line) {
    void *p = realloc(ptr, size ? size : 1);
    if (!p) {
        fprintf(stderr, "specdec: out of memory reallocating %zu bytes at %s:%d\n", size, file, line);
        exit(3);
    }
    return p;
}

char *strdup_check(const char *s, const char *file, int line) {
    size_t n = strlen(s) + 1;
    char *p = malloc_check(n, file, line);
    memcpy(p, s, n);
    return p;
}

FILE *fopen_check(const char *path, const char *mode, const char *file, int line) {
    FILE *f = fopen(path, mode);
    if (!f) {
        (void)file;
        (void)line;
        fatal("%s: cannot open (%s)", path, strerror(errno));
    }
    return f;
}

int env_int(const char *name, int lo, int hi, int fallback) {
    const char *v = getenv(name);
    if (!v) return fallback;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < lo || x > hi) fatal("%s is '%s': expected an integer from %d to %d", name, v, lo, hi);
    return (int)x;
}

double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

char *read_file_all(const char *path, size_t *len) {
    FILE *f = fopenCheck(path, "rb");
    size_t cap = 1 << 16, n = 0;
    char *buf = mallocCheck(cap);
    for (;;) {
        if (n + 1 >= cap) buf = reallocCheck(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (got == 0) break;
        n += got;
    }
    if (ferror(f)) fatal("%s: read error", path);
    fclose(f);
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}
