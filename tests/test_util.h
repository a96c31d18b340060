/* Small helpers shared by the C tests: expectations that count failures, the models directory
 * and the HumanEval prompt ids fixture (tests/fixtures/models/humaneval40_pycode_ids.json). */
#ifndef SPECDEC_TEST_UTIL_H
#define SPECDEC_TEST_UTIL_H

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "model.h"

static int test_failures = 0;

#define EXPECT(cond, ...)                                                   \
    do {                                                                    \
        if (!(cond)) {                                                      \
            test_failures++;                                                \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);           \
            fprintf(stderr, __VA_ARGS__);                                   \
            fputc('\n', stderr);                                            \
        }                                                                   \
    } while (0)

static inline int test_summary(const char *name) {
    printf("%s: %s (%d failure%s)\n", name, test_failures ? "FAILED" : "ok", test_failures, test_failures == 1 ? "" : "s");
    return test_failures ? 1 : 0;
}

/* Runs fn(arg) in a child process (where a fatal() may exit) and captures its stderr in buf.
 * Returns the child's exit status, or -1 when it did not exit normally. */
static inline int test_run_captured(void (*fn)(void *), void *arg, char *buf, size_t cap) {
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe");
    fflush(NULL);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        fn(arg);
        _exit(0);
    }
    close(fds[1]);
    size_t len = 0;
    ssize_t n;
    while (len + 1 < cap && (n = read(fds[0], buf + len, cap - 1 - len)) > 0) len += (size_t)n;
    buf[len] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs fn(arg) in a child and expects what fatal() does: exit status 2 and exactly one stderr
 * line, containing `needle`. */
static inline void test_expect_fatal(const char *what, void (*fn)(void *), void *arg, const char *needle) {
    char buf[4096];
    int status = test_run_captured(fn, arg, buf, sizeof buf);
    int lines = 0;
    for (const char *c = buf; *c; c++) lines += *c == '\n';
    EXPECT(status == 2, "%s: exit status %d, want 2", what, status);
    EXPECT(lines == 1, "%s: %d stderr lines, want 1: %s", what, lines, buf);
    EXPECT(strstr(buf, needle) != NULL, "%s: message lacks '%s': %s", what, needle, buf);
}

/* The upper quantile of chi-square with df degrees of freedom at standard-normal quantile z, by the
 * Wilson-Hilferty (1931) cube-root approximation: df (1 - 2/(9 df) + z sqrt(2/(9 df)))^3.
 * z = 3.0902 for 1e-3, 4.7534 for 1e-6. */
static inline double test_chi2_critical(int df, double z) {
    double a = 2.0 / (9.0 * df);
    return df * pow(1.0 - a + z * sqrt(a), 3.0);
}

/* Under the sanitizer preset (SPECDEC_SANITIZED=1) the heavy tests run a smaller sample: the
 * release run checks the full requirement, the sanitized one looks for memory errors. */
static inline int test_sanitized(void) {
    const char *s = getenv("SPECDEC_SANITIZED");
    return s && *s == '1';
}

static inline void test_model_path(const char *name, char *out, size_t n) {
    snprintf(out, n, "%s/%s", models_dir(), name);
}

/* Prompt i of the fixture; returns its length, *ids malloc'd. */
static inline int test_humaneval_prompt(int i, int **ids) {
    char *text = read_file_all(SPECDEC_SOURCE_DIR "/tests/fixtures/models/humaneval40_pycode_ids.json", NULL);
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "prompts"), i);
    CHECK(cJSON_IsArray(p), "humaneval fixture prompt %d", i);
    int n = cJSON_GetArraySize(p);
    *ids = mallocCheck(sizeof(int) * (size_t)n);
    for (int k = 0; k < n; k++) (*ids)[k] = cJSON_GetArrayItem(p, k)->valueint;
    cJSON_Delete(root);
    return n;
}

#endif
