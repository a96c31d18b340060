/* tokenizer.json parity with Hugging Face tokenizers 0.23.2 (transformers 5.17 gives the same ids
 * on every corpus text), against fixtures written on the device machine by
 * tools/reference/tokenizer_fixtures.py (see it for the fixture format):
 *   - every corpus text of ../shared/data (2420 texts), for the pycode and Llama-2 tokenizers: the
 *     id count and hash, full ids for every 50th text, ids with special tokens, and
 *     decode(encode(x)) == x where the reference round-trips (the decoded hash where it does not);
 *   - edge cases (whitespace runs, emoji, CJK, combining marks, digits, long words, special tokens
 *     inside text, NUL, invalid UTF-8 replaced as Python's errors="replace" does);
 *   - large texts made by a rule (1 MB of letters without whitespace, 200k spaces, ...);
 *   - variants of the two files with other components (Metaspace, Split behaviors and invert,
 *     Replace/Prepend normalizers, ByteLevel with the GPT-2 regex, added-token options,
 *     TemplateProcessing with a suffix, Strip/Replace/Metaspace decoders, no decoder);
 * plus the regex classes (Oniguruma's, which the corpus does not tell apart from PCRE2's),
 * tokenize_prompt, bos/eos, tokenizer_load and tokenizer_find_for_model. */
#define _POSIX_C_SOURCE 200809L
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "datasets.h"
#include "test_util.h"
#include "tokenizer.h"
#include "tokenizer_hf_internal.h"

#define FIXTURES SPECDEC_SOURCE_DIR "/tests/fixtures/tokenizer"

enum { N_TOK = 2, MAX_TEXTS = 4096, SAMPLE_EVERY = 50 };
static const char *TOK_NAMES[N_TOK] = {"pycode", "llama2"};
static const char *TOK_FILES[N_TOK] = {"pycode/pycode-19m/tokenizer.json",
                                       "tinystories-llama2c/llama2-tokenizer/tokenizer.json"};

static uint64_t fnv1a(const void *p, size_t n) {
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* The ids as little-endian int32, hashed (the reference's ids_bytes). */
static uint64_t ids_fnv(const int *ids, int n) {
    unsigned char *b = mallocCheck(4 * (size_t)n + 1);
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 4; k++) b[4 * i + k] = (unsigned char)((uint32_t)ids[i] >> (8 * k));
    uint64_t h = fnv1a(b, 4 * (size_t)n);
    free(b);
    return h;
}

typedef struct {
    char *data;
    size_t len;
} Bytes;

/* ------------------------------------------------------------------ the corpus */

typedef struct {
    char key[8], file[64], field[32];
    char *buf;        /* the whole file */
    size_t len;
    size_t *line_off; /* (n_lines + 1) start of each line, then len + 1 */
    int n_lines;
} Source;

typedef struct {
    int n_ids;
    uint64_t ids_fnv, decoded_fnv;
    int roundtrip;
} Expect;

typedef struct {
    Bytes text;
    char where[96];
    Expect want[N_TOK];
} CorpusText;

static Source sources[8];
static int n_sources;
static CorpusText corpus[MAX_TEXTS];
static int n_corpus;

static Source *source(const char *key) {
    for (int i = 0; i < n_sources; i++)
        if (!strcmp(sources[i].key, key)) return &sources[i];
    CHECK(0, "corpus.tsv: unknown source %s", key);
    return NULL;
}

static void load_source(Source *s) {
    char path[4096];
    resolve_data_path(s->file, path, sizeof path);
    s->buf = read_file_all(path, &s->len);
    s->n_lines = 1;
    for (size_t i = 0; i < s->len; i++) s->n_lines += s->buf[i] == '\n';
    s->line_off = mallocCheck(sizeof(size_t) * ((size_t)s->n_lines + 1));
    int k = 0;
    s->line_off[k++] = 0;
    for (size_t i = 0; i < s->len; i++)
        if (s->buf[i] == '\n') s->line_off[k++] = i + 1;
    s->line_off[k] = s->len + 1;
}

/* The text a corpus.tsv row names, extracted the way the reference script does. */
static Bytes extract(Source *s, int line, int turn) {
    CHECK(line >= 0 && line < s->n_lines, "%s: line %d out of range", s->file, line);
    Bytes b;
    if (!strcmp(s->field, "lines")) { /* tinystories: `turn` lines from `line`, joined with \n */
        CHECK(line + turn <= s->n_lines, "%s: lines %d+%d out of range", s->file, line, turn);
        size_t a = s->line_off[line], e = s->line_off[line + turn] - 1;
        b.len = e - a;
        b.data = mallocCheck(b.len + 1);
        memcpy(b.data, s->buf + a, b.len);
        return b;
    }
    size_t a = s->line_off[line], e = s->line_off[line + 1] - 1;
    cJSON *rec = cJSON_ParseWithLength(s->buf + a, e - a);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(rec, s->field);
    if (turn >= 0) v = cJSON_GetArrayItem(v, turn);
    CHECK(cJSON_IsString(v), "%s:%d: field %s turn %d is not a string", s->file, line, s->field, turn);
    b.len = strlen(v->valuestring);
    b.data = strdupCheck(v->valuestring);
    cJSON_Delete(rec);
    return b;
}

static void load_corpus(void) {
    size_t len;
    char *tsv = read_file_all(FIXTURES "/corpus.tsv", &len);
    for (char *line = strtok(tsv, "\n"); line; line = strtok(NULL, "\n")) {
        if (!strncmp(line, "# source ", 9)) {
            Source *s = &sources[n_sources++];
            CHECK(sscanf(line + 9, "%7s %63s %31s", s->key, s->file, s->field) == 3, "corpus.tsv: bad source line");
            load_source(s);
            continue;
        }
        if (line[0] == '#') continue;
        CHECK(n_corpus < MAX_TEXTS, "corpus.tsv: too many rows");
        CorpusText *c = &corpus[n_corpus];
        char key[8], dec[N_TOK][24];
        int ln, turn;
        unsigned long long text_fnv, h[N_TOK];
        int got = sscanf(line, "%7s %d %d %llx %d %llx %d %23s %d %llx %d %23s", key, &ln, &turn, &text_fnv,
                         &c->want[0].n_ids, &h[0], &c->want[0].roundtrip, dec[0], &c->want[1].n_ids, &h[1],
                         &c->want[1].roundtrip, dec[1]);
        CHECK(got == 12, "corpus.tsv: bad row %d", n_corpus);
        for (int t = 0; t < N_TOK; t++) {
            c->want[t].ids_fnv = h[t];
            c->want[t].decoded_fnv = c->want[t].roundtrip ? 0 : strtoull(dec[t], NULL, 16);
        }
        c->text = extract(source(key), ln, turn);
        snprintf(c->where, sizeof c->where, "text %d (%s line %d turn %d)", n_corpus, key, ln, turn);
        EXPECT(fnv1a(c->text.data, c->text.len) == text_fnv, "%s: extracted text differs from the reference's", c->where);
        n_corpus++;
    }
    free(tsv);
}

/* ------------------------------------------------------------------ checks */

static cJSON *fixture;
static Tokenizer *toks[N_TOK];
static int special_prefix[N_TOK][4], n_special_prefix[N_TOK];

static void report_ids_diff(const char *what, const int *got, int n_got, const cJSON *want) {
    int n_want = cJSON_GetArraySize(want), i = 0;
    const cJSON *w = want->child;
    for (; i < n_got && w && got[i] == w->valueint; i++) w = w->next;
    if (i == n_got && i == n_want) return;
    EXPECT(0, "%s: %d ids, reference %d; first difference at %d: %d vs %d", what, n_got, n_want, i,
           i < n_got ? got[i] : -1, w ? w->valueint : -1);
}

static void check_special(int t, const char *what, const char *text, size_t len, const int *ids, int n) {
    int *sp;
    int m = toks[t]->encode(toks[t], text, len, 1, &sp);
    int ok = m == n + n_special_prefix[t] && !memcmp(sp, special_prefix[t], sizeof(int) * (size_t)n_special_prefix[t]) &&
             !memcmp(sp + n_special_prefix[t], ids, sizeof(int) * (size_t)n);
    EXPECT(ok, "%s: encode with special tokens is not the template's prefix + ids", what);
    free(sp);
}

static void check_corpus(int t) {
    const cJSON *samples = cJSON_GetObjectItemCaseSensitive(fixture, "corpus_samples");
    int same = 0, roundtrips = 0;
    for (int i = 0; i < n_corpus; i++) {
        const CorpusText *c = &corpus[i];
        const Expect *w = &c->want[t];
        int *ids;
        int n = toks[t]->encode(toks[t], c->text.data, c->text.len, 0, &ids);
        int ok = n == w->n_ids && ids_fnv(ids, n) == w->ids_fnv;
        same += ok;
        EXPECT(ok, "%s %s: %d ids (reference %d), hash differs", TOK_NAMES[t], c->where, n, w->n_ids);
        if (i % SAMPLE_EVERY == 0) {
            const cJSON *s = cJSON_GetArrayItem(samples, i / SAMPLE_EVERY);
            CHECK(cJSON_GetObjectItemCaseSensitive(s, "index")->valueint == i, "samples.json: index %d", i);
            char what[160];
            snprintf(what, sizeof what, "%s %s", TOK_NAMES[t], c->where);
            report_ids_diff(what, ids, n, cJSON_GetObjectItemCaseSensitive(s, TOK_NAMES[t]));
        }
        check_special(t, c->where, c->text.data, c->text.len, ids, n);
        size_t dl;
        char *dec = toks[t]->decode(toks[t], ids, n, &dl);
        if (w->roundtrip) {
            int rt = dl == c->text.len && !memcmp(dec, c->text.data, dl);
            roundtrips += rt;
            EXPECT(rt, "%s %s: decode(encode(x)) != x", TOK_NAMES[t], c->where);
        } else {
            EXPECT(fnv1a(dec, dl) == w->decoded_fnv, "%s %s: decoded text differs from the reference's", TOK_NAMES[t], c->where);
        }
        free(dec);
        free(ids);
    }
    printf("%s: %d/%d corpus texts give the reference ids; %d round-trip\n", TOK_NAMES[t], same, n_corpus, roundtrips);
}

static Bytes hex_bytes(const char *hex) {
    Bytes b = {mallocCheck(strlen(hex) / 2 + 1), strlen(hex) / 2};
    for (size_t i = 0; i < b.len; i++) {
        unsigned v;
        CHECK(sscanf(hex + 2 * i, "%2x", &v) == 1, "bad hex");
        b.data[i] = (char)v;
    }
    return b;
}

static Bytes edge_text(const cJSON *e) {
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(e, "text");
    if (cJSON_IsString(text)) return (Bytes){strdupCheck(text->valuestring), strlen(text->valuestring)};
    return hex_bytes(cJSON_GetObjectItemCaseSensitive(e, "hex")->valuestring);
}

static void check_edges(int t) {
    const cJSON *e;
    int n_cases = 0;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(fixture, "edge_cases")) {
        const char *name = cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring;
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(e, TOK_NAMES[t]);
        Bytes x = edge_text(e);
        char what[128];
        snprintf(what, sizeof what, "%s edge case %s", TOK_NAMES[t], name);
        int *ids;
        int n = toks[t]->encode(toks[t], x.data, x.len, 0, &ids);
        report_ids_diff(what, ids, n, cJSON_GetObjectItemCaseSensitive(want, "ids"));
        check_special(t, what, x.data, x.len, ids, n);
        /* decoded_hex is there when the reference's decode differs from the input */
        const cJSON *dh = cJSON_GetObjectItemCaseSensitive(want, "decoded_hex");
        Bytes expect = dh ? hex_bytes(dh->valuestring) : x;
        size_t dl;
        char *dec = toks[t]->decode(toks[t], ids, n, &dl);
        EXPECT(dl == expect.len && !memcmp(dec, expect.data, dl), "%s: decoded text differs from the reference's", what);
        free(dec);
        if (dh) free(expect.data);
        free(ids);
        free(x.data);
        n_cases++;
    }
    printf("%s: %d edge cases checked\n", TOK_NAMES[t], n_cases);
}

static Bytes generate(const cJSON *g) {
    const char *kind = cJSON_GetObjectItemCaseSensitive(g, "kind")->valuestring;
    size_t n = (size_t)cJSON_GetObjectItemCaseSensitive(g, "n")->valuedouble;
    const cJSON *arg = cJSON_GetObjectItemCaseSensitive(g, "arg");
    Bytes b = {NULL, 0};
    if (!strcmp(kind, "lcg_letters")) {
        static const char LETTERS[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
        b.data = mallocCheck(n);
        uint64_t x = (uint64_t)arg->valuedouble;
        for (size_t i = 0; i < n; i++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            b.data[i] = LETTERS[(x >> 33) % 52];
        }
        b.len = n;
    } else {
        size_t u = strlen(arg->valuestring);
        b.data = mallocCheck(n * u + 1);
        for (size_t i = 0; i < n; i++) memcpy(b.data + i * u, arg->valuestring, u);
        b.len = n * u;
    }
    return b;
}

static void check_generated(int t) {
    const cJSON *g;
    cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(fixture, "generated")) {
        Bytes x = generate(g);
        int *ids, want_n;
        unsigned long long want_h;
        CHECK(sscanf(cJSON_GetObjectItemCaseSensitive(g, TOK_NAMES[t])->valuestring, "%d %llx", &want_n, &want_h) == 2,
              "samples.json: generated");
        int n = toks[t]->encode(toks[t], x.data, x.len, 0, &ids);
        EXPECT(n == want_n && ids_fnv(ids, n) == want_h, "%s %s: %d ids (reference %d), hash differs", TOK_NAMES[t],
               cJSON_GetObjectItemCaseSensitive(g, "name")->valuestring, n, want_n);
        free(ids);
        free(x.data);
    }
}

/* ------------------------------------------------------------------ variants */

/* The base tokenizer.json with the variant's top-level keys replaced, written to a temp file. */
static Tokenizer *load_variant(const cJSON *v) {
    const char *base = cJSON_GetObjectItemCaseSensitive(v, "base")->valuestring;
    char path[4096];
    test_model_path(TOK_FILES[strcmp(base, "pycode") ? 1 : 0], path, sizeof path);
    char *json = read_file_all(path, NULL);
    cJSON *root = cJSON_Parse(json);
    free(json);
    const cJSON *p;
    cJSON_ArrayForEach(p, cJSON_GetObjectItemCaseSensitive(v, "patch")) {
        if (!strcmp(p->string, "added_tokens_extra")) {
            cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
            const cJSON *a;
            cJSON_ArrayForEach(a, p) cJSON_AddItemToArray(added, cJSON_Duplicate(a, 1));
        } else {
            cJSON_DeleteItemFromObjectCaseSensitive(root, p->string);
            cJSON_AddItemToObject(root, p->string, cJSON_Duplicate(p, 1));
        }
    }
    char tmp[] = "/tmp/specdec_tok_variantXXXXXX";
    int fd = mkstemp(tmp);
    CHECK(fd >= 0, "mkstemp");
    char *out = cJSON_PrintUnformatted(root);
    FILE *f = fdopen(fd, "w");
    fputs(out, f);
    fclose(f);
    free(out);
    cJSON_Delete(root);
    Tokenizer *tok = tokenizer_hf_load(tmp);
    unlink(tmp);
    return tok;
}

static int check_variant_text(Tokenizer *tok, const char *what, const Bytes *x, const char *row) {
    int want_n;
    unsigned long long h, hs, hd;
    CHECK(sscanf(row, "%d %llx %llx %llx", &want_n, &h, &hs, &hd) == 4, "samples.json: variant row");
    int *ids, *sp;
    int n = tok->encode(tok, x->data, x->len, 0, &ids);
    int m = tok->encode(tok, x->data, x->len, 1, &sp);
    size_t dl;
    char *dec = tok->decode(tok, ids, n, &dl);
    int ok = n == want_n && ids_fnv(ids, n) == h;
    EXPECT(ok, "%s: %d ids (reference %d), hash differs", what, n, want_n);
    EXPECT(ids_fnv(sp, m) == hs, "%s: ids with special tokens differ", what);
    EXPECT(fnv1a(dec, dl) == hd, "%s: decoded text differs", what);
    free(ids);
    free(sp);
    free(dec);
    return ok;
}

static void check_variants(void) {
    const cJSON *v;
    cJSON_ArrayForEach(v, cJSON_GetObjectItemCaseSensitive(fixture, "variants")) {
        const char *name = cJSON_GetObjectItemCaseSensitive(v, "name")->valuestring;
        int every = cJSON_GetObjectItemCaseSensitive(v, "corpus_every")->valueint, same = 0, total = 0;
        Tokenizer *tok = load_variant(v);
        const cJSON *row = cJSON_GetObjectItemCaseSensitive(v, "corpus")->child;
        for (int i = 0; i < n_corpus; i += every, row = row->next) {
            CHECK(row, "samples.json: variant %s has too few corpus rows", name);
            char what[192];
            snprintf(what, sizeof what, "variant %s %s", name, corpus[i].where);
            same += check_variant_text(tok, what, &corpus[i].text, row->valuestring);
            total++;
        }
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(fixture, "edge_cases")->child;
        cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(v, "edges")) {
            char what[192];
            snprintf(what, sizeof what, "variant %s edge case %s", name, cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring);
            Bytes x = edge_text(e);
            same += check_variant_text(tok, what, &x, row->valuestring);
            total++;
            free(x.data);
            e = e->next;
        }
        printf("variant %s: %d/%d texts give the reference ids\n", name, same, total);
        tokenizer_free(tok);
    }
}

/* ------------------------------------------------------------------ regexes */

/* 1 when pattern matches all of s. */
static int whole_match(HfPattern *p, const char *s) {
    HfMatches mm = {0};
    hf_pattern_find(p, s, strlen(s), &mm);
    int ok = mm.n == 1 && mm.m[0].is_match;
    free(mm.m);
    return ok;
}

/* tokenizers runs its regexes on Oniguruma, whose documentation (doc/RE) defines \s as
 * U+0009-U+000D, U+0085 and the separators (Zs, Zl, Zp), and \w as Letter | Mark | Number |
 * Connector_Punctuation. PCRE2's own \s also takes U+180E and its \w has no marks. */
static void check_regex_classes(void) {
    static const char *SPACE[] = {"\t", "\x0b", "\r", " ", "\xc2\x85", "\xc2\xa0", "\xe1\x9a\x80", "\xe2\x80\x8a",
                                  "\xe2\x80\xa8", "\xe2\x80\xa9", "\xe2\x80\xaf", "\xe3\x80\x80"};
    static const char *NOT_SPACE[] = {"\xe1\xa0\x8e" /* U+180E */, "\xe2\x80\x8b" /* U+200B */, "\xef\xbb\xbf", "\x1c", "x"};
    static const char *WORD[] = {"a", "_", "7", "\xcc\x81" /* U+0301 */, "\xe2\x80\xbf" /* U+203F */, "\xd9\xa3", "\xe4\xbd\xa0"};
    static const char *NOT_WORD[] = {"-", " ", "\xe2\x80\x8d" /* U+200D */, "\xf0\x9f\x98\x80"};
    HfPattern s, not_s, w, not_w, cls;
    hf_pattern_regex(&s, "\\s", "test", "regex");
    hf_pattern_regex(&not_s, "\\S", "test", "regex");
    hf_pattern_regex(&w, "\\w", "test", "regex");
    hf_pattern_regex(&not_w, "\\W", "test", "regex");
    hf_pattern_regex(&cls, "[^\\s\\p{L}]", "test", "regex");
    for (size_t i = 0; i < sizeof SPACE / sizeof *SPACE; i++)
        EXPECT(whole_match(&s, SPACE[i]) && !whole_match(&not_s, SPACE[i]) && !whole_match(&cls, SPACE[i]),
               "\\s should match space %zu", i);
    for (size_t i = 0; i < sizeof NOT_SPACE / sizeof *NOT_SPACE; i++)
        EXPECT(!whole_match(&s, NOT_SPACE[i]) && whole_match(&not_s, NOT_SPACE[i]), "\\s should not match non-space %zu", i);
    EXPECT(whole_match(&cls, "\xe1\xa0\x8e"), "[^\\s\\p{L}] should match U+180E");
    for (size_t i = 0; i < sizeof WORD / sizeof *WORD; i++)
        EXPECT(whole_match(&w, WORD[i]) && !whole_match(&not_w, WORD[i]), "\\w should match word character %zu", i);
    for (size_t i = 0; i < sizeof NOT_WORD / sizeof *NOT_WORD; i++)
        EXPECT(!whole_match(&w, NOT_WORD[i]) && whole_match(&not_w, NOT_WORD[i]), "\\w should not match %zu", i);
    hf_pattern_free(&s);
    hf_pattern_free(&not_s);
    hf_pattern_free(&w);
    hf_pattern_free(&not_w);
    hf_pattern_free(&cls);
}

/* ------------------------------------------------------------------ the rest of tokenizer.h */

static int encode_str(const Tokenizer *t, const char *s, int special, int **ids) {
    return t->encode(t, s, strlen(s), special, ids);
}

static void check_prompt_and_specials(void) {
    Tokenizer *py = toks[0], *ll = toks[1];
    EXPECT(py->vocab_size == 8192 && py->bos_id == 0 && py->eos_id == 0, "pycode: vocab %d bos %d eos %d", py->vocab_size,
           py->bos_id, py->eos_id);
    EXPECT(ll->vocab_size == 32000 && ll->bos_id == 1 && ll->eos_id == -1, "llama2: vocab %d bos %d eos %d", ll->vocab_size,
           ll->bos_id, ll->eos_id);

    /* <|endoftext|> inside text is the special token, and it splits the text around it */
    int *a, *b, *ab;
    int na = encode_str(py, "def f(x):", 0, &a), nb = encode_str(py, " return x", 0, &b);
    int nab = encode_str(py, "def f(x):<|endoftext|> return x", 0, &ab);
    EXPECT(nab == na + 1 + nb && !memcmp(ab, a, sizeof(int) * (size_t)na) && ab[na] == 0 &&
               !memcmp(ab + na + 1, b, sizeof(int) * (size_t)nb),
           "pycode: <|endoftext|> inside text is not encode(left) + [0] + encode(right)");
    free(a);
    free(b);
    free(ab);

    /* tokenize_prompt: pycode's post-processor adds nothing, so BOS 0 is prepended, even when the
     * text itself starts with <|endoftext|>; Llama-2's adds <s> itself and it is not doubled. */
    const char *eot_x = "<|endoftext|>x", *hello = "Hello world";
    int *p, *plain;
    int np = tokenize_prompt(py, eot_x, strlen(eot_x), 0, 1, &p), nplain = encode_str(py, eot_x, 0, &plain);
    EXPECT(np == nplain + 1 && p[0] == 0 && !memcmp(p + 1, plain, sizeof(int) * (size_t)nplain), "pycode: tokenize_prompt is not [0] + ids");
    free(p);
    np = tokenize_prompt(py, eot_x, strlen(eot_x), 0, 0, &p);
    EXPECT(np == nplain && !memcmp(p, plain, sizeof(int) * (size_t)np), "pycode: tokenize_prompt without BOS is not the ids");
    free(p);
    free(plain);
    nplain = encode_str(ll, hello, 0, &plain);
    np = tokenize_prompt(ll, hello, strlen(hello), 1, 1, &p);
    EXPECT(np == nplain + 1 && p[0] == 1 && p[1] != 1, "llama2: tokenize_prompt should add BOS once");
    free(p);
    np = tokenize_prompt(ll, hello, strlen(hello), 1, 0, &p);
    EXPECT(np == nplain && p[0] != 1, "llama2: tokenize_prompt without BOS still has it");
    free(p);
    free(plain);

    /* decode gives bytes as they are: a prefix of a byte-fallback character is not U+FFFD */
    int *e;
    int ne = encode_str(ll, "\xF0\x9F\x98\x80", 0, &e); /* U+1F600: four <0xNN> tokens after the ▁ */
    size_t dl;
    char *d = ll->decode(ll, e, ne - 2, &dl);
    EXPECT(dl == 2 && !memcmp(d, "\xF0\x9F", 2), "llama2: decode of half a character should give its bytes (%zu bytes)", dl);
    free(d);
    free(e);
}

static void touch(const char *path) {
    FILE *f = fopenCheck(path, "w");
    fclose(f);
}

static void check_find_and_load(void) {
    char dir[] = "/tmp/specdec_tok_findXXXXXX", path[4200], out[4200];
    CHECK(mkdtemp(dir), "mkdtemp");
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    touch(path);
    tokenizer_find_for_model(dir, out, sizeof out);
    EXPECT(!strcmp(out, path), "find_for_model(directory) gave %s", out);
    snprintf(path, sizeof path, "%s/tok512.bin", dir);
    touch(path);
    snprintf(path, sizeof path, "%s/model.bin", dir);
    touch(path);
    tokenizer_find_for_model(path, out, sizeof out);
    snprintf(path, sizeof path, "%s/tok512.bin", dir);
    EXPECT(!strcmp(out, path), "find_for_model(llama2.c file) gave %s, expected tok512.bin", out);
    snprintf(path, sizeof path, "%s/tokenizer.bin", dir);
    touch(path);
    snprintf(path, sizeof path, "%s/model.bin", dir);
    tokenizer_find_for_model(path, out, sizeof out);
    snprintf(path, sizeof path, "%s/tokenizer.bin", dir);
    EXPECT(!strcmp(out, path), "find_for_model(llama2.c file) gave %s, expected tokenizer.bin", out);
    const char *names[] = {"tokenizer.json", "tok512.bin", "model.bin", "tokenizer.bin"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);

    /* tokenizer_load: .json is Hugging Face, anything else llama2.c */
    test_model_path("tinystories-llama2c/llama2-tokenizer/tokenizer.bin", path, sizeof path);
    Tokenizer *bin = tokenizer_load(path, 32000);
    test_model_path(TOK_FILES[1], path, sizeof path);
    Tokenizer *json = tokenizer_load(path, 0);
    int *x, *y;
    int nx = encode_str(bin, "Hello world", 1, &x), ny = encode_str(json, "Hello world", 1, &y);
    EXPECT(nx == ny && !memcmp(x, y, sizeof(int) * (size_t)nx), "tokenizer.bin and tokenizer.json disagree on \"Hello world\"");
    free(x);
    free(y);
    tokenizer_free(bin);
    tokenizer_free(json);
}

int main(void) {
    char *json = read_file_all(FIXTURES "/samples.json", NULL);
    fixture = cJSON_Parse(json);
    free(json);
    CHECK(fixture, "samples.json does not parse");
    const cJSON *files = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(fixture, "meta"), "tokenizers_files");
    for (int t = 0; t < N_TOK; t++) {
        char path[4096];
        test_model_path(TOK_FILES[t], path, sizeof path);
        toks[t] = tokenizer_hf_load(path);
        const cJSON *pre = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(files, TOK_NAMES[t]), "special_prefix");
        const cJSON *id;
        cJSON_ArrayForEach(id, pre) special_prefix[t][n_special_prefix[t]++] = id->valueint;
    }
    load_corpus();
    for (int t = 0; t < N_TOK; t++) {
        check_corpus(t);
        check_edges(t);
        check_generated(t);
    }
    check_variants();
    check_regex_classes();
    check_prompt_and_specials();
    check_find_and_load();

    for (int t = 0; t < N_TOK; t++) tokenizer_free(toks[t]);
    for (int i = 0; i < n_corpus; i++) free(corpus[i].text.data);
    for (int i = 0; i < n_sources; i++) {
        free(sources[i].buf);
        free(sources[i].line_off);
    }
    cJSON_Delete(fixture);
    return test_summary("test_tokenizer_hf");
}
