/* Internals shared by the Hugging Face tokenizer.json files (tokenizer_hf*.c); not a public API.
 *
 *   tokenizer_hf.c         loading tokenizer.json, added tokens, the encode/decode pipelines
 *   tokenizer_hf_text.c    UTF-8, growable buffers, patterns (PCRE2), normalizers, pre-tokenizers
 *   tokenizer_hf_bpe.c     the BPE model: vocabulary, ranked merges, word cache
 *   tokenizer_hf_decode.c  decoders
 *
 * Text flows as HfPieces: one byte buffer and a list of spans into it. Every stage reads one
 * HfPieces and writes another, so a pipeline is a ping-pong between two of them. */
#ifndef SPECDEC_TOKENIZER_HF_INTERNAL_H
#define SPECDEC_TOKENIZER_HF_INTERNAL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <pcre2.h>
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>

/* ------------------------------------------------------------------ buffers */

typedef struct {
    char *data;
    size_t len, cap;
} HfBuf;

typedef struct {
    int *data;
    int len, cap;
} HfInts;

typedef struct {
    size_t off, len; /* bytes in HfPieces.text */
    int first;       /* begins at offset 0 of the original text (Metaspace prepend_scheme "first") */
} HfSpan;

typedef struct {
    HfBuf text;
    HfSpan *spans; /* (n) */
    int n, cap;
} HfPieces;

void hf_buf_reserve(HfBuf *b, size_t extra);
void hf_buf_append(HfBuf *b, const char *s, size_t n);
void hf_ints_push(HfInts *v, int x);
void hf_pieces_clear(HfPieces *p);
/* Appends a piece holding a copy of s[0..n) (s must not point into p->text). */
void hf_pieces_add(HfPieces *p, const char *s, size_t n, int first);
/* Appends a piece made of the bytes written to p->text since byte `from`. */
void hf_pieces_close(HfPieces *p, size_t from, int first);
void hf_pieces_free(HfPieces *p);

/* ------------------------------------------------------------------ UTF-8 */

/* Byte length of the code point starting at s (valid UTF-8), never more than n. */
size_t hf_utf8_len(const char *s, size_t n);
/* Byte length of the code point ending just before s[i] (valid UTF-8, i > 0). */
size_t hf_utf8_len_back(const char *s, size_t i);
/* Decodes one code point of s[0..n); an invalid or truncated sequence gives 0xFFFFFFFF with
 * *len = 1, so that callers step over bad bytes one at a time and never read past n. */
uint32_t hf_utf8_decode(const char *s, size_t n, size_t *len);
int hf_utf8_encode(uint32_t cp, char out[4]);
/* Returns s when it is valid UTF-8; otherwise a malloc'd copy (*owned) in which each maximal
 * invalid subpart became U+FFFD, the way Python's bytes.decode("utf-8", "replace") does. */
const char *hf_utf8_sanitize(const char *s, size_t n, size_t *out_n, char **owned);

/* ------------------------------------------------------------------ patterns */

typedef struct {
    size_t start, end;
    int is_match;
} HfMatch;

typedef struct {
    HfMatch *m; /* (n) */
    int n, cap;
} HfMatches;

/* A tokenizers pattern: {"String": s} (a literal) or {"Regex": r} (PCRE2, see hf_pattern_regex). */
typedef struct {
    char *literal; /* used when re is NULL */
    size_t literal_len;
    pcre2_code *re;
    pcre2_match_data *md;
} HfPattern;

void hf_pattern_from_json(HfPattern *p, const cJSON *obj, const char *file, const char *where);
void hf_pattern_regex(HfPattern *p, const char *regex, const char *file, const char *where);
void hf_pattern_free(HfPattern *p);
/* The splits of s[0..n) as tokenizers' find_matches gives them: contiguous, in order, covering s;
 * one (0, 0, no match) split for the empty string. */
void hf_pattern_find(HfPattern *p, const char *s, size_t n, HfMatches *out);
/* 1 when the regex matches at s[off] (anchored); for single_word / lstrip / rstrip. */
int hf_pattern_match_at(HfPattern *p, const char *s, size_t n, size_t off);

/* Scratch space of one tokenizer, reused by every call (so a Tokenizer is not thread-safe). */
typedef struct {
    HfMatches matches;
    HfPieces mid; /* a third buffer for stages that both rewrite and split */
} HfScratch;

/* ------------------------------------------------------------------ normalizers, pre-tokenizers */

typedef enum { HF_PREPEND_ALWAYS, HF_PREPEND_FIRST, HF_PREPEND_NEVER } HfPrependScheme;

typedef enum { HF_NORM_PREPEND, HF_NORM_REPLACE, HF_NORM_SEQUENCE } HfNormType;

typedef struct HfNormalizer {
    HfNormType type;
    char *str; /* Prepend: the prefix; Replace: the content */
    size_t str_len;
    HfPattern pattern;              /* Replace */
    struct HfNormalizer *children;  /* (n_children) Sequence */
    int n_children;
} HfNormalizer;

typedef enum {
    HF_SPLIT_REMOVED,
    HF_SPLIT_ISOLATED,
    HF_SPLIT_MERGED_WITH_PREVIOUS,
    HF_SPLIT_MERGED_WITH_NEXT,
    HF_SPLIT_CONTIGUOUS
} HfSplitBehavior;

typedef enum { HF_PRE_SPLIT, HF_PRE_BYTELEVEL, HF_PRE_METASPACE, HF_PRE_SEQUENCE } HfPreType;

typedef struct HfPreTokenizer {
    HfPreType type;
    HfPattern pattern;        /* Split; ByteLevel with use_regex: the GPT-2 pattern */
    HfSplitBehavior behavior; /* Split */
    int invert;               /* Split */
    int add_prefix_space;     /* ByteLevel */
    int use_regex;            /* ByteLevel */
    char replacement[4];      /* Metaspace: one code point, UTF-8 */
    int replacement_len;
    HfPrependScheme prepend_scheme; /* Metaspace */
    int split;                      /* Metaspace */
    char bl_enc[256][2];            /* ByteLevel: byte -> UTF-8 of its stand-in character */
    unsigned char bl_len[256];      /* ByteLevel: length of bl_enc[b] */
    struct HfPreTokenizer *children; /* (n_children) Sequence */
    int n_children;
} HfPreTokenizer;

void hf_normalizer_parse(HfNormalizer *nz, const cJSON *obj, const char *file, const char *where);
void hf_normalizer_free(HfNormalizer *nz);
/* Normalizes (*cur)'s single piece into *tmp and swaps them. */
void hf_normalize(HfNormalizer *nz, HfPieces **cur, HfPieces **tmp, HfScratch *sc);

void hf_pretokenizer_parse(HfPreTokenizer *pt, const cJSON *obj, const char *file, const char *where);
void hf_pretokenizer_free(HfPreTokenizer *pt);
/* Splits (and rewrites) every piece of *cur into *tmp and swaps them. */
void hf_pretokenize(HfPreTokenizer *pt, HfPieces **cur, HfPieces **tmp, HfScratch *sc);

extern const char *const HF_GPT2_PATTERN;
/* GPT-2's byte-level alphabet: byte b stands as code point cp_of_byte[b]; byte_of_cp inverts it
 * (-1 for code points that stand for no byte). */
void hf_bytelevel_tables(uint16_t cp_of_byte[256], int16_t byte_of_cp[512]);

/* ------------------------------------------------------------------ BPE */

typedef struct HfVocabEntry {
    UT_hash_handle hh;
    int id;
    int len;
    char key[]; /* (len) token bytes */
} HfVocabEntry;

typedef struct {
    uint64_t pair; /* (left id << 32) | right id */
    int rank;
    int new_id;
    UT_hash_handle hh;
} HfMerge;

/* word -> ids, open addressing with linear probing over entries packed in one arena. A hit costs
 * two memory accesses (uthash's chained buckets cost one per chain link), and the cache sits on
 * the path of every word. Full: emptied at once. */
typedef struct {
    uint32_t *hash;   /* (cap) slot's hash with the top bit set; 0 = empty */
    uint32_t *offset; /* (cap) slot's entry in arena, in ints: {n_ids, key_len, ids..., key bytes...} */
    int32_t *arena;
    size_t arena_len, arena_cap; /* in ints */
    int count, cap;
} HfWordCache;

typedef struct {
    int id, prev, next, alive;
} HfSymbol;

typedef struct {
    int rank, pos, new_id;
} HfHeapItem;

typedef struct {
    HfVocabEntry *vocab;      /* uthash head: token bytes -> id */
    char *vocab_arena;        /* one allocation holding every HfVocabEntry */
    const char **id_token;    /* (n_ids) token bytes by id, NULL for unused ids */
    int *id_token_len;        /* (n_ids) */
    int n_ids;                /* 1 + the largest id in the vocabulary */
    HfMerge *merges;          /* (n_merges) one allocation */
    HfMerge *merge_table;     /* uthash head: pair -> merge */
    int n_merges;
    int unk_id;               /* -1 when the model has no unk_token */
    int fuse_unk, byte_fallback, ignore_merges;
    char *prefix, *suffix;    /* continuing_subword_prefix, end_of_word_suffix (NULL when unset) */
    size_t prefix_len, suffix_len;
    int byte_ids[256];        /* ids of the <0xNN> tokens, -1 when absent */
    int char_ids[0x800];      /* ids of the one-character tokens below U+0800, -1 when absent */
    HfWordCache cache;
    HfSymbol *sym;            /* scratch (sym_cap) */
    HfHeapItem *heap;         /* scratch (heap_cap) */
    int sym_cap, heap_cap;
    HfBuf key;                /* scratch for prefix + char + suffix */
} HfBpe;

void hf_bpe_parse(HfBpe *m, const cJSON *model, const char *file);
void hf_bpe_free(HfBpe *m);
int hf_bpe_token_id(const HfBpe *m, const char *s, size_t n); /* -1 when absent */
/* Appends the ids of one pre-tokenized word. */
void hf_bpe_encode_word(HfBpe *m, const char *w, size_t n, HfInts *out);

/* ------------------------------------------------------------------ decoders */

typedef enum {
    HF_DEC_BYTELEVEL,
    HF_DEC_METASPACE,
    HF_DEC_REPLACE,
    HF_DEC_BYTEFALLBACK,
    HF_DEC_FUSE,
    HF_DEC_STRIP,
    HF_DEC_SEQUENCE
} HfDecType;

typedef struct HfDecoder {
    HfDecType type;
    HfPattern pattern;              /* Replace */
    char *content;                  /* Replace */
    size_t content_len;
    char replacement[4];            /* Metaspace */
    int replacement_len;
    HfPrependScheme prepend_scheme; /* Metaspace */
    int16_t byte_of_cp[512];        /* ByteLevel */
    uint32_t strip_cp;              /* Strip */
    int strip_start, strip_stop;    /* Strip */
    struct HfDecoder *children;     /* (n_children) Sequence */
    int n_children;
} HfDecoder;

void hf_decoder_parse(HfDecoder *d, const cJSON *obj, const char *file, const char *where);
void hf_decoder_free(HfDecoder *d);
/* Runs the decoder over the token strings in *cur (result in *cur; *tmp is scratch). */
void hf_decode_tokens(HfDecoder *d, HfPieces **cur, HfPieces **tmp, HfScratch *sc);

/* ------------------------------------------------------------------ JSON helpers */

/* The component's "type" string; fatal() when missing. */
const char *hf_json_type(const cJSON *obj, const char *file, const char *where);
/* A boolean field, dflt when absent or null; fatal() when it is not a boolean. */
int hf_json_bool(const cJSON *obj, const char *key, int dflt, const char *file, const char *where);
/* A string field (NULL when absent or null, if optional); fatal() when it is not a string. */
const char *hf_json_string(const cJSON *obj, const char *key, int optional, const char *file, const char *where);
/* Exactly one code point, UTF-8 encoded into out; returns its length. */
int hf_json_char(const cJSON *obj, const char *key, char out[4], const char *file, const char *where);
HfPrependScheme hf_json_prepend_scheme(const cJSON *obj, const char *file, const char *where);
/* "where.key[i]" for nested error messages. */
void hf_where(char *out, size_t size, const char *where, const char *key, int index);

#endif
