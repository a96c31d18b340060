/* Score-ranked BPE over pieces, as llama2.c and SentencePiece BPE models encode. Two file formats:
 *  - llama2.c tokenizer.bin: int32 max_token_length, then per token {float score, int32 len, bytes};
 *  - SentencePiece .vocab: one "piece<TAB>score" line per token, "\u2581" standing for a space
 *    (the babyllama tok105 tokenizer ships this beside its .model).
 * Encoding starts from code points, then repeatedly merges the adjacent pair whose concatenation
 * is a piece with the highest score. An unknown code point becomes its <0xNN> byte tokens (id
 * byte + 3) when the vocabulary has them, else <unk> (id 0). */
#include <stdint.h>
#include <string.h>
#include <uthash.h>

#include "check.h"
#include "tokenizer.h"

typedef struct {
    char *piece; /* key, NUL-terminated (pieces hold no NUL) */
    int id;
    UT_hash_handle hh;
} PieceEntry;

typedef struct {
    char **pieces;        /* (vocab) */
    int *piece_len;       /* (vocab) */
    float *scores;        /* (vocab) */
    PieceEntry *entries;  /* (vocab) storage for the lookup table */
    PieceEntry *lookup;   /* uthash head: piece -> id */
    int max_token_length;
    int byte_fallback;    /* <0x00>..<0xFF> sit at ids 3..258 */
} L2cState;

static int piece_id(const L2cState *s, const char *str, size_t len) {
    PieceEntry *e = NULL;
    HASH_FIND(hh, s->lookup, str, len, e);
    return e ? e->id : -1;
}

static size_t utf8_len(unsigned char c) {
    if (c < 0x80) return 1;
    if ((c & 0xE0) == 0xC0) return 2;
    if ((c & 0xF0) == 0xE0) return 3;
    if ((c & 0xF8) == 0xF0) return 4;
    return 1; /* stray continuation or invalid lead byte: one byte on its own */
}

static int l2c_encode(const Tokenizer *t, const char *text, size_t len, int add_special, int **out) {
    const L2cState *s = t->state;
    int *ids = mallocCheck(sizeof(int) * (len + 3));
    int n = 0;
    if (add_special && t->bos_id >= 0) ids[n++] = t->bos_id;
    int first = n;
    if (len > 0) { /* SentencePiece's dummy prefix */
        int sp = piece_id(s, " ", 1);
        if (sp >= 0) ids[n++] = sp;
    }
    for (size_t i = 0; i < len;) {
        size_t cl = utf8_len((unsigned char)text[i]);
        if (i + cl > len) cl = len - i;
        int id = piece_id(s, text + i, cl);
        if (id >= 0) {
            ids[n++] = id;
        } else if (s->byte_fallback) {
            for (size_t k = 0; k < cl; k++) ids[n++] = (unsigned char)text[i + k] + 3;
        } else {
            ids[n++] = 0; /* <unk> */
        }
        i += cl;
    }
    /* Greedy merges by score. Quadratic in the worst case, like the reference; prompts are short. */
    char *buf = mallocCheck((size_t)s->max_token_length * 2 + 2);
    for (;;) {
        float best = -1e30f;
        int best_id = -1, best_at = -1;
        for (int i = first; i + 1 < n; i++) {
            int a = ids[i], b = ids[i + 1];
            if (s->piece_len[a] + s->piece_len[b] > s->max_token_length) continue;
            memcpy(buf, s->pieces[a], s->piece_len[a]);
            memcpy(buf + s->piece_len[a], s->pieces[b], s->piece_len[b]);
            int id = piece_id(s, buf, (size_t)(s->piece_len[a] + s->piece_len[b]));
            if (id >= 0 && s->scores[id] > best) {
                best = s->scores[id];
                best_id = id;
                best_at = i;
            }
        }
        if (best_at < 0) break;
        ids[best_at] = best_id;
        memmove(ids + best_at + 1, ids + best_at + 2, sizeof(int) * (size_t)(n - best_at - 2));
        n--;
    }
    free(buf);
    *out = ids;
    return n;
}

/* A piece "<0xNN>" stands for the raw byte NN. */
static int byte_piece(const char *p, int len) {
    unsigned v;
    if (len == 6 && p[0] == '<' && p[1] == '0' && p[2] == 'x' && p[5] == '>' && sscanf(p + 3, "%2x", &v) == 1)
        return (int)v;
    return -1;
}

static char *l2c_decode(const Tokenizer *t, const int *ids, int n, size_t *out_len) {
    const L2cState *s = t->state;
    size_t cap = 16, len = 0;
    for (int i = 0; i < n; i++) cap += (ids[i] >= 0 && ids[i] < t->vocab_size) ? (size_t)s->piece_len[ids[i]] : 0;
    char *out = mallocCheck(cap);
    int prev = -1;
    for (int i = 0; i < n; i++) {
        int id = ids[i];
        if (id < 0 || id >= t->vocab_size) fatal("token id %d is outside the tokenizer's vocabulary (%d)", id, t->vocab_size);
        if (id == t->bos_id || id == t->eos_id) { prev = id; continue; } /* special tokens print nothing */
        const char *p = s->pieces[id];
        int pl = s->piece_len[id];
        if (prev == t->bos_id && pl > 0 && p[0] == ' ') { p++; pl--; } /* SentencePiece drops the dummy prefix after BOS */
        int byte = byte_piece(p, pl);
        if (byte >= 0) out[len++] = (char)byte;
        else { memcpy(out + len, p, (size_t)pl); len += (size_t)pl; }
        prev = id;
    }
    out[len] = '\0';
    if (out_len) *out_len = len;
    return out;
}

static void l2c_free(Tokenizer *t) {
    L2cState *s = t->state;
    HASH_CLEAR(hh, s->lookup);
    for (int i = 0; i < t->vocab_size; i++) free(s->pieces[i]);
    free(s->pieces);
    free(s->piece_len);
    free(s->scores);
    free(s->entries);
    free(s);
    free(t);
}

/* Takes ownership of pieces (V of them, NUL-terminated), lens and scores. */
static Tokenizer *build_tokenizer(char **pieces, int *lens, float *scores, int V, int max_token_length) {
    L2cState *s = callocCheck(1, sizeof *s);
    s->pieces = pieces;
    s->piece_len = lens;
    s->scores = scores;
    s->max_token_length = max_token_length;
    s->entries = callocCheck((size_t)V, sizeof(PieceEntry));
    for (int i = 0; i < V; i++) {
        PieceEntry *dup = NULL;
        HASH_FIND(hh, s->lookup, pieces[i], (size_t)lens[i], dup);
        if (dup) continue; /* the first id wins, as in the reference's sorted lookup */
        s->entries[i].piece = pieces[i];
        s->entries[i].id = i;
        HASH_ADD_KEYPTR(hh, s->lookup, s->entries[i].piece, (size_t)lens[i], &s->entries[i]);
    }
    s->byte_fallback = V > 258 && !strcmp(pieces[3], "<0x00>") && !strcmp(pieces[258], "<0xFF>");
    Tokenizer *t = callocCheck(1, sizeof *t);
    t->vocab_size = V;
    t->bos_id = V > 1 ? 1 : -1;
    t->eos_id = V > 2 ? 2 : -1;
    t->encode = l2c_encode;
    t->decode = l2c_decode;
    t->free = l2c_free;
    t->state = s;
    return t;
}

/* A SentencePiece .vocab file: "piece<TAB>score" per line; U+2581 stands for a space. */
static Tokenizer *load_sentencepiece_vocab(const char *path, int vocab_size) {
    size_t size;
    char *data = read_file_all(path, &size);
    int cap = 256, V = 0, max_len = 1;
    char **pieces = mallocCheck(sizeof(char *) * (size_t)cap);
    int *lens = mallocCheck(sizeof(int) * (size_t)cap);
    float *scores = mallocCheck(sizeof(float) * (size_t)cap);
    for (char *line = data; *line;) {
        char *end = strchr(line, '\n');
        if (end) *end = '\0';
        char *tab = strchr(line, '\t');
        if (!tab) fatal("%s: line %d is not \"piece<TAB>score\"", path, V + 1);
        *tab = '\0';
        char *num_end;
        float score = strtof(tab + 1, &num_end);
        if (num_end == tab + 1) fatal("%s: line %d has no score", path, V + 1);
        if (V == cap) {
            cap *= 2;
            pieces = reallocCheck(pieces, sizeof(char *) * (size_t)cap);
            lens = reallocCheck(lens, sizeof(int) * (size_t)cap);
            scores = reallocCheck(scores, sizeof(float) * (size_t)cap);
        }
        char *piece = mallocCheck(strlen(line) + 1);
        int n = 0;
        for (const char *c = line; *c;) {
            if (!strncmp(c, "\xe2\x96\x81", 3)) { piece[n++] = ' '; c += 3; }
            else piece[n++] = *c++;
        }
        piece[n] = '\0';
        pieces[V] = piece;
        lens[V] = n;
        scores[V] = score;
        if (n > max_len) max_len = n;
        V++;
        line = end ? end + 1 : line + strlen(line);
    }
    free(data);
    if (vocab_size > 0 && V != vocab_size) fatal("%s: holds %d pieces but the model's vocabulary has %d", path, V, vocab_size);
    if (V < 3) fatal("%s: too few pieces (%d) for <unk>, <s>, </s>", path, V);
    return build_tokenizer(pieces, lens, scores, V, max_len);
}

Tokenizer *tokenizer_llama2c_load(const char *path, int vocab_size) {
    size_t size;
    char *data = read_file_all(path, &size);
    if (size < 4) fatal("%s: too short for a llama2.c tokenizer", path);
    size_t n = strlen(path);
    if (n >= 6 && !strcmp(path + n - 6, ".vocab")) {
        free(data);
        return load_sentencepiece_vocab(path, vocab_size);
    }
    int32_t max_token_length;
    memcpy(&max_token_length, data, 4);
    if (max_token_length <= 0 || max_token_length > 1024)
        fatal("%s: not a llama2.c tokenizer (max_token_length %d)", path, max_token_length);
    /* The file does not store its vocabulary size: count the records (and check the model's). */
    int count = 0;
    size_t off = 4;
    while (off < size) {
        int32_t len;
        if (off + 8 > size) fatal("%s: truncated record %d", path, count);
        memcpy(&len, data + off + 4, 4);
        if (len < 0 || len > max_token_length || off + 8 + (size_t)len > size)
            fatal("%s: record %d has an invalid length %d", path, count, len);
        off += 8 + (size_t)len;
        count++;
    }
    if (vocab_size > 0 && count < vocab_size)
        fatal("%s: holds %d tokens but the model's vocabulary has %d", path, count, vocab_size);
    int V = vocab_size > 0 ? vocab_size : count;
    char **pieces = callocCheck((size_t)V, sizeof(char *));
    int *lens = callocCheck((size_t)V, sizeof(int));
    float *scores = callocCheck((size_t)V, sizeof(float));
    off = 4;
    for (int i = 0; i < V; i++) {
        int32_t len;
        memcpy(&scores[i], data + off, 4);
        memcpy(&len, data + off + 4, 4);
        pieces[i] = mallocCheck((size_t)len + 1);
        memcpy(pieces[i], data + off + 8, (size_t)len);
        pieces[i][len] = '\0';
        lens[i] = len;
        off += 8 + (size_t)len;
    }
    free(data);
    return build_tokenizer(pieces, lens, scores, V, max_token_length);
}
