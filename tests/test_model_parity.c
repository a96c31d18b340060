/* Parity of the CPU target with Hugging Face transformers.
 *
 * tests/fixtures/models holds what tools/reference/model_fixtures.py wrote on the device machine
 * with transformers in fp32: for every model and prompt, the last position's logits of one forward
 * over the prompt, and the 64-token greedy continuation (EOS stopping off). Here every checkpoint
 * named there (both llama2.c headers of stories260K) is loaded, the prompt is scored in one
 * forward, and greedy decoding feeds one token per forward through the KV cache.
 * Passing means max |dlogit| <= 1e-3 and token-identical continuations. */
#include <math.h>

#include "target.h"
#include "test_util.h"
#include "tokenizer.h"

#define FIXTURES SPECDEC_SOURCE_DIR "/tests/fixtures/models"
#define LOGIT_TOL 1e-3f
/* Prefill chunks at 64 rows so the 124-token HumanEval prompt crosses a chunk boundary. */
#define MAX_BATCH 64

static const char *STORIES_EXPECTED =
    "Once upon a time, there was a little girl named Lily. She loved to play outside in the park.";

static cJSON *json_item(const cJSON *obj, const char *key) {
    cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    CHECK(v, "fixture index: missing '%s'", key);
    return v;
}

/* A JSON array of ints as a malloc'd array. */
static int *json_ids(const cJSON *arr, int *n) {
    CHECK(cJSON_IsArray(arr), "fixture index: expected an array of token ids");
    *n = cJSON_GetArraySize(arr);
    int *ids = mallocCheck(sizeof(int) * (size_t)(*n > 0 ? *n : 1));
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, arr) ids[i++] = e->valueint;
    return ids;
}

/* The .f32 fixtures are little-endian, like every host this builds for. */
static float *read_f32(const char *name, int count) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", FIXTURES, name);
    size_t size;
    char *data = read_file_all(path, &size);
    CHECK(size == sizeof(float) * (size_t)count, "%s: %zu bytes, expected %d floats", path, size, count);
    float *out = mallocCheck(size);
    memcpy(out, data, size);
    free(data);
    return out;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* Top-1 minus top-2 logit: how close the greedy choice was to a tie. */
static float top2_gap(const float *x, int n) {
    float a = -INFINITY, b = -INFINITY;
    for (int i = 0; i < n; i++) {
        if (x[i] > a) { b = a; a = x[i]; }
        else if (x[i] > b) b = x[i];
    }
    return a - b;
}

/* Scores one fixture prompt from an empty cache; returns our greedy continuation (malloc'd). */
static int *check_prompt(Target *t, const char *who, const cJSON *prompt) {
    const char *label = json_item(prompt, "label")->valuestring;
    int n, n_ref;
    int *ids = json_ids(json_item(prompt, "ids"), &n);
    int *ref = json_ids(json_item(prompt, "greedy"), &n_ref);
    const cJSON *gaps = json_item(prompt, "greedy_gaps");
    int V = t->cfg->vocab_size;
    float *ref_logits = read_f32(json_item(prompt, "logits_file")->valuestring, V);
    float *logits = mallocCheck(sizeof(float) * (size_t)V);

    t->truncate(t, 0);
    t->forward(t, ids, n, 0, logits, 1);
    float worst = 0.0f;
    int worst_at = 0;
    for (int i = 0; i < V; i++) {
        float d = fabsf(logits[i] - ref_logits[i]);
        if (!(d <= worst)) { worst = d; worst_at = i; } /* NaN counts as worst */
    }
    printf("%s/%s: %d prompt ids, max |dlogit| %.3g at id %d (ours %.6f, HF %.6f)\n", who, label, n, worst, worst_at,
           logits[worst_at], ref_logits[worst_at]);
    EXPECT(worst <= LOGIT_TOL, "%s/%s: max |dlogit| %.3g exceeds %.0e", who, label, worst, LOGIT_TOL);

    int *ours = mallocCheck(sizeof(int) * (size_t)n_ref);
    int diverged = -1;
    for (int i = 0; i < n_ref; i++) {
        ours[i] = argmax(logits, V);
        if (ours[i] != ref[i] && diverged < 0) {
            diverged = i;
            EXPECT(0, "%s/%s: greedy diverges at step %d: ours %d (gap to 2nd %.4g), HF %d (HF gap %.4g)", who, label, i,
                   ours[i], top2_gap(logits, V), ref[i], cJSON_GetArrayItem(gaps, i)->valuedouble);
        }
        if (i + 1 < n_ref) t->forward(t, &ours[i], 1, n + i, logits, 1);
    }
    if (diverged < 0) printf("%s/%s: %d greedy tokens identical to HF\n", who, label, n_ref);
    free(ids);
    free(ref);
    free(ref_logits);
    free(logits);
    return ours;
}

/* llama2.c's run.c story: the text of BOS + greedy tokens through the model's own tokenizer. */
static void check_stories_text(const Model *m, const char *tokenizer_rel, const int *greedy, int n) {
    char path[4096];
    test_model_path(tokenizer_rel, path, sizeof path);
    Tokenizer *tok = tokenizer_llama2c_load(path, m->cfg.vocab_size);
    int *ids = mallocCheck(sizeof(int) * (size_t)(n + 1));
    ids[0] = tok->bos_id;
    memcpy(ids + 1, greedy, sizeof(int) * (size_t)n);
    size_t len;
    char *text = tok->decode(tok, ids, n + 1, &len);
    printf("%s: greedy from BOS reads \"%.100s\"\n", m->path, text);
    EXPECT(!strncmp(text, STORIES_EXPECTED, strlen(STORIES_EXPECTED)), "%s: the story does not start \"%s\"", m->path,
           STORIES_EXPECTED);
    free(text);
    free(ids);
    tokenizer_free(tok);
}

int main(void) {
    size_t size;
    char *text = read_file_all(FIXTURES "/index.json", &size);
    cJSON *index = cJSON_Parse(text);
    CHECK(index, "%s/index.json is not JSON", FIXTURES);
    int n_checkpoints = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, json_item(index, "models")) {
        const char *name = json_item(entry, "name")->valuestring;
        const cJSON *rel;
        cJSON_ArrayForEach(rel, json_item(entry, "paths")) {
            char path[4096];
            test_model_path(rel->valuestring, path, sizeof path);
            Model m;
            model_load(&m, path);
            CHECK(m.cfg.vocab_size == json_item(entry, "vocab_size")->valueint, "%s: vocab %d", path, m.cfg.vocab_size);
            Target *t = target_cpu_build(&m, MAX_BATCH);
            char who[256];
            snprintf(who, sizeof who, "%s (%s)", name, rel->valuestring);
            const cJSON *prompt;
            cJSON_ArrayForEach(prompt, json_item(entry, "prompts")) {
                int *ours = check_prompt(t, who, prompt);
                int n_ids = cJSON_GetArraySize(json_item(prompt, "ids"));
                if (!strcmp(name, "stories260K") && n_ids == 1)
                    check_stories_text(&m, json_item(entry, "tokenizer")->valuestring, ours,
                                       cJSON_GetArraySize(json_item(prompt, "greedy")));
                free(ours);
            }
            target_free(t);
            model_free(&m);
            n_checkpoints++;
        }
    }
    /* Every checkpoint the reference covers: 3 pycode dirs, stories260K twice, aidreams, babyllama. */
    EXPECT(n_checkpoints == 7, "expected 7 checkpoints in the fixture index, found %d", n_checkpoints);
    printf("%d checkpoints compared with transformers %s\n", n_checkpoints,
           cJSON_GetObjectItem(json_item(index, "versions"), "transformers")->valuestring);
    cJSON_Delete(index);
    free(text);
    return test_summary("test_model_parity");
}
