/* specdec tokenize: UTF-8 text on stdin to token ids on stdout, or (--decode) ids back to text. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli.h"
#include "commands.h"
#include "model.h"
#include "tokenizer.h"

static const char *USAGE =
    "usage: specdec tokenize (--target PATH [--tokenizer FILE] | --tokenizer FILE) [--no-bos] [--decode]\n"
    "  Reads UTF-8 text on stdin and prints its token ids on one line, space-separated, with BOS\n"
    "  first when the model expects one (the model's bos id with --target, else the tokenizer's),\n"
    "  unless --no-bos. With --decode, reads whitespace-separated ids and prints their text as is.\n";

static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = mallocCheck(cap);
    for (;;) {
        if (n + 1 >= cap) buf = reallocCheck(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, stdin);
        if (got == 0) break;
        n += got;
    }
    if (ferror(stdin)) fatal("tokenize: cannot read stdin (%s)", strerror(errno));
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void print_ids(const int *ids, int n) {
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    putchar('\n');
}

/* Whitespace-separated ids, each in [0, vocab). */
static int parse_ids(const char *text, int vocab, int **out) {
    int n = 0, cap = 64;
    int *ids = mallocCheck(sizeof(int) * (size_t)cap);
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (!*p) break;
        char *end;
        errno = 0;
        long x = strtol(p, &end, 10);
        if (end == p || errno || (*end && *end != ' ' && *end != '\t' && *end != '\n' && *end != '\r'))
            fatal("tokenize --decode: stdin: \"%.20s\" is not a token id", p);
        if (x < 0 || x >= vocab) fatal("tokenize --decode: stdin: id %ld is outside the vocabulary (0..%d)", x, vocab - 1);
        if (n == cap) ids = reallocCheck(ids, sizeof(int) * (size_t)(cap *= 2));
        ids[n++] = (int)x;
        p = end;
    }
    *out = ids;
    return n;
}

int cmd_tokenize(int argc, char **argv) {
    const char *target_arg = NULL, *tokenizer_arg = NULL;
    int no_bos = 0, decode = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--target")) target_arg = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--tokenizer")) tokenizer_arg = cli_value(argc, argv, &i);
        else if (!strcmp(a, "--no-bos")) no_bos = 1;
        else if (!strcmp(a, "--decode")) decode = 1;
        else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(USAGE, stdout);
            return 0;
        } else fatal("tokenize: unknown option '%s' (see specdec tokenize --help)", a);
    }
    if (!target_arg && !tokenizer_arg) fatal("tokenize: give --target PATH or --tokenizer FILE");

    int model_vocab = 0, bos_id = -1;
    char target_path[4096], tok_path[4096];
    if (target_arg) {
        resolve_model_path(target_arg, target_path, sizeof target_path);
        Model model;
        model_load(&model, target_path);
        model_vocab = model.cfg.vocab_size;
        bos_id = model.cfg.bos_id;
        model_free(&model);
    }
    if (tokenizer_arg) snprintf(tok_path, sizeof tok_path, "%s", tokenizer_arg);
    else tokenizer_find_for_model(target_path, tok_path, sizeof tok_path);
    Tokenizer *tok = tokenizer_load(tok_path, model_vocab);
    if (model_vocab && tok->vocab_size > model_vocab)
        fatal("%s: the tokenizer has %d tokens but %s only %d", tok_path, tok->vocab_size, target_path, model_vocab);
    if (!target_arg) bos_id = tok->bos_id;

    size_t len;
    char *text = read_stdin(&len);
    int *ids, n;
    if (decode) {
        n = parse_ids(text, model_vocab ? model_vocab : tok->vocab_size, &ids);
        size_t out_len;
        char *out = tok->decode(tok, ids, n, &out_len);
        fwrite(out, 1, out_len, stdout);
        free(out);
    } else {
        n = tokenize_prompt(tok, text, len, bos_id, !no_bos, &ids);
        print_ids(ids, n);
    }
    free(ids);
    free(text);
    tokenizer_free(tok);
    return 0;
}
