/* Error handling shared by every layer.
 *
 * Two kinds of failure, two macros:
 *  - CHECK(cond, ...): an internal invariant broke. Reports file:line and stops (exit 3).
 *  - fatal(...): the user's input is wrong. One line "specdec: error: ..." naming the file,
 *    the field and what was expected, then exit 2. Never a crash, never a silent default. */
#ifndef SPECDEC_CHECK_H
#define SPECDEC_CHECK_H

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK(cond, ...)                                                                    \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "specdec: internal error at %s:%d: ", __FILE__, __LINE__);     \
            fprintf(stderr, __VA_ARGS__);                                                   \
            fputc('\n', stderr);                                                            \
            exit(3);                                                                        \
        }                                                                                   \
    } while (0)

/* Prints "specdec: error: <message>" on one line and exits with status 2. */
void fatal(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

void *malloc_check(size_t size, const char *file, int line);
void *calloc_check(size_t count, size_t size, const char *file, int line);
void *realloc_check(void *ptr, size_t size, const char *file, int line);
char *strdup_check(const char *s, const char *file, int line);
/* fopen for user-named paths: failure is a user error (fatal), not an internal one. */
FILE *fopen_check(const char *path, const char *mode, const char *file, int line);

#define mallocCheck(n) malloc_check((n), __FILE__, __LINE__)
#define callocCheck(c, n) calloc_check((c), (n), __FILE__, __LINE__)
#define reallocCheck(p, n) realloc_check((p), (n), __FILE__, __LINE__)
#define strdupCheck(s) strdup_check((s), __FILE__, __LINE__)
#define fopenCheck(p, m) fopen_check((p), (m), __FILE__, __LINE__)

/* The integer in environment variable `name`, from lo to hi; `fallback` when it is unset. An
 * empty value, a non-number or one out of range is fatal(). */
int env_int(const char *name, int lo, int hi, int fallback);

/* Monotonic wall clock in seconds. */
double now_seconds(void);

/* Reads a whole file into a NUL-terminated malloc'd buffer; fatal() when it cannot. */
char *read_file_all(const char *path, size_t *len);

#endif
