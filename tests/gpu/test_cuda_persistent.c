/* The persistent forward (target/cuda_forward_persistent.cu) against the layered one: one target,
 * the same forwards through each (a chunked prefill, a 9-row verification block over the cache,
 * single-token steps, 2-row steps, 16 rows at once, a forward keeping only the last row's logits),
 * and every logit must be bit-identical. Both sum each output in the same order by construction;
 * this checks it, and with it that the persistent forward writes the same keys and values to the
 * cache (every later step reads them). Also: a second target cannot take the persistent forward
 * while the first holds it, and can once it is released.
 *
 * argv: model names under $SPECDEC_MODELS, or absolute paths (the random-weight Llama-3.2-1B shape
 * that tests/gpu/run.sh writes); pycode-19m and pycode-3m when none is given. */
#include <string.h>

#include "target.h"
#include "test_util.h"

#define MAX_BATCH 64

/* Prompt tokens: HumanEval/0 for pycode, else a fixed pseudo-random walk of 100. */
static int test_tokens(const ModelConfig *c, int pycode, int **ids) {
    if (pycode) return test_humaneval_prompt(0, ids);
    int n = 100;
    *ids = mallocCheck(sizeof(int) * n);
    uint32_t s = 12345;
    for (int i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        (*ids)[i] = (int)((s >> 8) % (uint32_t)c->vocab_size);
    }
    return n;
}

/* The forwards, every logit row they return appended to out; returns the rows. */
static int run_forwards(Target *t, const int *ids, int n, float *out, int V) {
    int rows = 0;
    t->truncate(t, 0);
    t->forward(t, ids, n - 20, 0, out, 1); /* prefill (cuBLAS beyond 16 rows): the same in both */
    rows += 1;
    const int base = n - 20;
    t->forward(t, ids + base, 9, base, out + (size_t)rows * V, 9);
    rows += 9;
    for (int p = base + 9; p < base + 13; p++, rows++) t->forward(t, ids + p, 1, p, out + (size_t)rows * V, 1);
    t->truncate(t, base + 9);
    for (int p = base + 9; p + 2 <= base + 13; p += 2, rows += 2) t->forward(t, ids + p, 2, p, out + (size_t)rows * V, 2);
    t->truncate(t, base + 2);
    t->forward(t, ids + base + 2, 16, base + 2, out + (size_t)rows * V, 16);
    rows += 16;
    t->forward(t, ids + base + 18, 2, base + 18, out + (size_t)rows * V, 1);
    rows += 1;
    return rows;
}

static void check_model(const char *name) {
    char path[4096];
    if (name[0] == '/') snprintf(path, sizeof path, "%s", name);
    else test_model_path(name, path, sizeof path);
    Model m;
    model_load(&m, path);
    const int V = m.cfg.vocab_size;
    int *ids, n = test_tokens(&m.cfg, strstr(name, "pycode") != NULL, &ids);
    Target *t = target_build(&m, "cuda", MAX_BATCH);
    float *layered = mallocCheck(sizeof(float) * 64 * V), *persistent = mallocCheck(sizeof(float) * 64 * V);

    EXPECT(!cuda_target_use_persistent(t, 0), "%s: the persistent forward stays on", name);
    const int rows = run_forwards(t, ids, n, layered, V);
    EXPECT(cuda_target_use_persistent(t, 1), "%s: the persistent forward does not take this model", name);
    Target *other = target_build(&m, "cuda", MAX_BATCH);
    EXPECT(!cuda_target_use_persistent(other, 1), "%s: a second target took the persistent forward", name);
    run_forwards(t, ids, n, persistent, V);

    long differ = 0;
    double max_abs = 0.0;
    for (size_t i = 0; i < (size_t)rows * V; i++) {
        if (memcmp(layered + i, persistent + i, sizeof(float))) differ++;
        double d = fabs((double)layered[i] - persistent[i]);
        max_abs = d > max_abs ? d : max_abs;
    }
    printf("%-40s rows %d  logits %ld  bitwise different %ld  max|d| %.3g\n", name, rows, (long)rows * V, differ, max_abs);
    EXPECT(differ == 0, "%s: %ld logits differ between the persistent and the layered forward (max |d| %.3g)", name,
           differ, max_abs);

    cuda_target_use_persistent(t, 0);
    EXPECT(cuda_target_use_persistent(other, 1), "%s: the released persistent forward cannot be taken", name);
    free(ids);
    free(layered);
    free(persistent);
    target_free(other);
    target_free(t);
    model_free(&m);
}

int main(int argc, char **argv) {
    static const char *all[] = {"pycode/pycode-19m", "pycode/pycode-3m"};
    int n = argc > 1 ? argc - 1 : (int)(sizeof all / sizeof all[0]);
    for (int i = 0; i < n; i++) check_model(argc > 1 ? argv[1 + i] : all[i]);
    return test_summary("test_cuda_persistent");
}
