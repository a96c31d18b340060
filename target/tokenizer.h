/* Tokenizers: one interface, two implementations.
 *  - tokenizer_llama2c.c: llama2.c tokenizer.bin (score-ranked BPE over pieces, <0xNN> bytes);
 *  - tokenizer_hf.c: Hugging Face tokenizer.json (BPE, pre-tokenizers, normalizers, decoders). */
#ifndef SPECDEC_TOKENIZER_H
#define SPECDEC_TOKENIZER_H

#include <stddef.h>

typedef struct Tokenizer Tokenizer;
struct Tokenizer {
    int vocab_size;
    int bos_id;   /* -1 when the tokenizer names none */
    int eos_id;   /* -1 when the tokenizer names none */
    /* Encodes UTF-8 text (len bytes, not necessarily NUL-terminated). With add_special, the
     * tokenizer adds its own special tokens (the tokenizer.json post-processor; BOS for llama2.c).
     * Returns the count; *ids is malloc'd and owned by the caller. */
    int (*encode)(const Tokenizer *t, const char *text, size_t len, int add_special, int **ids);
    /* Decodes ids to bytes through the decoder pipeline. Returns a malloc'd NUL-terminated buffer;
     * *out_len gets its length (the bytes may hold NULs or incomplete UTF-8). */
    char *(*decode)(const Tokenizer *t, const int *ids, int n, size_t *out_len);
    void (*free)(Tokenizer *t);
    void *state;
};

/* Loads by file name: *.json is Hugging Face, anything else llama2.c tokenizer.bin.
 * vocab_size is the model's vocabulary for llama2.c files (0 when no model is loaded). */
Tokenizer *tokenizer_load(const char *path, int vocab_size);
Tokenizer *tokenizer_llama2c_load(const char *path, int vocab_size);
Tokenizer *tokenizer_hf_load(const char *path);

/* The tokenizer next to a model: <dir>/tokenizer.json for Hugging Face directories, tokenizer.bin
 * (or tok*.bin) beside a llama2.c file. Writes the path to out, fatal() when none is found. */
void tokenizer_find_for_model(const char *model_path, char *out, size_t out_size);

/* Prompt ids as the model expects them: encode(text) with special tokens, then BOS prepended when
 * bos_id >= 0 and the tokenizer did not already add it (pycode: [0] + encode(text)). */
int tokenize_prompt(const Tokenizer *t, const char *text, size_t len, int bos_id, int add_bos, int **ids);

static inline void tokenizer_free(Tokenizer *t) { if (t) t->free(t); }

#endif
