/* Choosing and loading a tokenizer, and the prompt ids a model expects. */
#define _POSIX_C_SOURCE 200809L
#include <glob.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "tokenizer.h"

Tokenizer *tokenizer_load(const char *path, int vocab_size) {
    size_t n = strlen(path);
    if (n >= 5 && !strcmp(path + n - 5, ".json")) return tokenizer_hf_load(path);
    return tokenizer_llama2c_load(path, vocab_size);
}

static int is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

void tokenizer_find_for_model(const char *model_path, char *out, size_t out_size) {
    struct stat sb;
    if (stat(model_path, &sb) != 0) fatal("%s: model not found, so no tokenizer beside it either", model_path);
    if (S_ISDIR(sb.st_mode)) {
        snprintf(out, out_size, "%s/tokenizer.json", model_path);
        if (!is_file(out)) fatal("%s: no tokenizer.json in this model directory (looked for %s); pass --tokenizer FILE", model_path, out);
        return;
    }
    const char *slash = strrchr(model_path, '/');
    char dir[4096];
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - model_path) : 1, slash ? model_path : ".");
    snprintf(out, out_size, "%s/tokenizer.bin", dir);
    if (is_file(out)) return;
    char pattern[4200];
    /* then tok*.bin, then a SentencePiece *.vocab (sorted: the first name wins) */
    const char *patterns[] = {"tok*.bin", "*.vocab"};
    for (int p = 0; p < 2; p++) {
        snprintf(pattern, sizeof pattern, "%s/%s", dir, patterns[p]);
        glob_t g;
        int found = glob(pattern, 0, NULL, &g) == 0 && g.gl_pathc > 0;
        if (found) snprintf(out, out_size, "%s", g.gl_pathv[0]);
        globfree(&g);
        if (found) return;
    }
    fatal("%s: no tokenizer beside this llama2.c model (looked for tokenizer.bin, tok*.bin and *.vocab in %s); pass "
          "--tokenizer FILE", model_path, dir);
}

int tokenize_prompt(const Tokenizer *t, const char *text, size_t len, int bos_id, int add_bos, int **ids) {
    if (!add_bos) return t->encode(t, text, len, 0, ids);
    int n = t->encode(t, text, len, 1, ids);
    if (bos_id < 0) return n;
    /* Does the tokenizer add BOS itself? Its special tokens around the empty text tell. */
    int *probe;
    int m = t->encode(t, "", 0, 1, &probe);
    int adds_bos = m > 0 && probe[0] == bos_id;
    free(probe);
    if (adds_bos) return n;
    int *with = mallocCheck(sizeof(int) * (size_t)(n + 1));
    with[0] = bos_id;
    memcpy(with + 1, *ids, sizeof(int) * (size_t)n);
    free(*ids);
    *ids = with;
    return n + 1;
}
