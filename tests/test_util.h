/* Small helpers shared by the C tests: expectations that count failures, the models directory
 * and the HumanEval prompt ids fixture (tests/fixtures/models/humaneval40_pycode_ids.json). */
#ifndef SPECDEC_TEST_UTIL_H
#define SPECDEC_TEST_UTIL_H

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
