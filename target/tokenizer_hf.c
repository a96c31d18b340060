/* Hugging Face tokenizer.json: BPE models with their normalizers, pre-tokenizers, added tokens,
 * post-processor and decoders, giving the ids that `tokenizers` (and so transformers) gives.
 *
 * encode(text), as tokenizers' TokenizerImpl::encode does it:
 *   1. added tokens with normalized=false are matched on the raw text (leftmost, longest first);
 *   2. every other stretch is normalized, then added tokens with normalized=true are matched in it;
 *   3. every remaining stretch goes through the pre-tokenizer, and each word through BPE;
 *   4. with add_special, the post-processor's single template puts its special tokens around.
 *
 * Supported: model BPE (ranked merges, byte_fallback, unk_token/fuse_unk, subword prefix/suffix,
 * ignore_merges); normalizers Prepend, Replace, Sequence; pre-tokenizers Split (all behaviors,
 * invert), ByteLevel (with or without the GPT-2 regex), Metaspace, Sequence; post-processors
 * TemplateProcessing, ByteLevel (offsets only: no ids), Sequence; decoders ByteLevel, Metaspace,
 * Replace, ByteFallback, Fuse, Strip, Sequence. Anything else is refused at load with a message
 * naming the component. "truncation" and "padding" are ignored, as transformers ignores them.
 *
 * Invalid UTF-8: tokenizers only accepts text (a Python str). The reference
 * (tools/reference/tokenizer_fixtures.py) turns bytes into str with
 * bytes.decode("utf-8", errors="replace"), which replaces each maximal invalid subpart with one
 * U+FFFD; encode() here makes exactly that replacement before tokenizing, so the ids agree (the
 * test's invalid_* edge cases). Such text cannot round-trip: decode gives U+FFFD back.
 *
 * Metaspace's prepend_scheme "first" asks whether a piece starts at offset 0 of the original
 * text. We track that per piece without tokenizers' full alignment table, which differs only when
 * a normalizer inserts characters in front of the text and a pre-tokenizer then splits right
 * after them.
 *
 * A Tokenizer keeps scratch buffers and a word cache in its state: one Tokenizer must not be
 * used from two threads at once. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "tokenizer.h"
#include "tokenizer_hf_internal.h"

enum { MAX_ADDED_ID = 1 << 24 };

typedef struct {
    char *content;
    size_t len;
    int id;
    int normalized, single_word, lstrip, rstrip;
} HfAddedToken;

/* The text an added token is found by (its content, or normalize(content) for normalized ones). */
typedef struct {
    char *text;
    size_t len;
    int added; /* index into HfState.added */
} HfAddedPattern;

/* Added tokens matched against one kind of text, sorted by first byte, then longest first. */
typedef struct {
    HfAddedPattern *p; /* (n) */
    int n;
    int start[257];    /* p[start[b]..start[b+1]) begin with byte b */
} HfAddedSet;

/* A stretch of text: an added token (id >= 0) or text to tokenize (id -1). */
typedef struct {
    size_t start, end;
    int id;
} Segment;

typedef struct {
    Segment *s; /* (n) */
    int n, cap;
} Segments;

typedef struct {
    HfBpe bpe;
    HfNormalizer *normalizer;        /* NULL when none */
    HfPreTokenizer *pre;             /* NULL when none */
    HfDecoder *decoder;              /* NULL: tokens are joined with spaces */
    HfAddedToken *added;             /* (n_added) */
    int n_added;
    HfAddedSet raw_set, norm_set;    /* normalized=false / normalized=true tokens */
    HfPattern word_char, space_char; /* single_word, lstrip, rstrip */
    const char **token_of_id;        /* (vocab_size) added tokens over the model vocabulary */
    int *token_len;                  /* (vocab_size) */
    int *prefix, *suffix;            /* (n_prefix), (n_suffix): special ids around the text */
    int n_prefix, n_suffix;
    /* scratch, reused by every call */
    HfPieces pieces[2];
    HfScratch scratch;
    HfBuf norm;
    Segments raw_segs, norm_segs;
} HfState;

/* ------------------------------------------------------------------ added tokens */

static int cmp_pattern(const void *a, const void *b) {
    const HfAddedPattern *x = a, *y = b;
    unsigned char cx = (unsigned char)x->text[0], cy = (unsigned char)y->text[0];
    if (cx != cy) return cx < cy ? -1 : 1;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->added - y->added;
}

static void normalize_into(HfState *st, const char *s, size_t n, HfBuf *out) {
    HfPieces *cur = &st->pieces[0], *tmp = &st->pieces[1];
    hf_pieces_clear(cur);
    hf_pieces_add(cur, s, n, 1);
    hf_normalize(st->normalizer, &cur, &tmp, &st->scratch);
    out->len = 0;
    hf_buf_append(out, cur->text.data + cur->spans[0].off, cur->spans[0].len);
}

static void build_added_set(HfState *st, HfAddedSet *set, int normalized) {
    set->p = callocCheck((size_t)st->n_added + 1, sizeof(HfAddedPattern));
    for (int i = 0; i < st->n_added; i++) {
        const HfAddedToken *t = &st->added[i];
        if (t->normalized != normalized) continue;
        HfBuf b = {0};
        if (normalized && st->normalizer) normalize_into(st, t->content, t->len, &b);
        else hf_buf_append(&b, t->content, t->len);
        if (b.len == 0) {
            free(b.data);
            continue;
        }
        set->p[set->n++] = (HfAddedPattern){b.data, b.len, i};
    }
    qsort(set->p, (size_t)set->n, sizeof(HfAddedPattern), cmp_pattern);
    memset(set->start, 0, sizeof set->start);
    for (int k = 0; k < set->n; k++) set->start[(unsigned char)set->p[k].text[0] + 1]++;
    for (int b = 0; b < 256; b++) set->start[b + 1] += set->start[b];
}

static void free_added_set(HfAddedSet *set) {
    for (int k = 0; k < set->n; k++) free(set->p[k].text);
    free(set->p);
}

static void push_segment(Segments *v, size_t start, size_t end, int id) {
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 16;
        v->s = reallocCheck(v->s, sizeof(Segment) * (size_t)v->cap);
    }
    v->s[v->n++] = (Segment){start, end, id};
}

/* Splits s on the set's added tokens as tokenizers' AddedVocabulary::find_matches does:
 * leftmost-longest matches, then single_word / lstrip / rstrip. */
static void find_added(HfState *st, const HfAddedSet *set, const char *s, size_t n, Segments *out) {
    out->n = 0;
    size_t from = 0, i = 0;
    while (i < n && set->n) {
        unsigned char b = (unsigned char)s[i];
        const HfAddedPattern *hit = NULL;
        for (int k = set->start[b]; k < set->start[b + 1] && !hit; k++)
            if (set->p[k].len <= n - i && !memcmp(s + i, set->p[k].text, set->p[k].len)) hit = &set->p[k];
        if (!hit) {
            i++;
            continue;
        }
        const HfAddedToken *t = &st->added[hit->added];
        size_t start = i, stop = i + hit->len;
        i = stop; /* the search goes on after the match, kept or not */
        if (t->single_word) {
            int word_before = start > 0 && hf_pattern_match_at(&st->word_char, s, n, start - hf_utf8_len_back(s, start));
            int word_after = stop < n && hf_pattern_match_at(&st->word_char, s, n, stop);
            if (word_before || word_after) continue;
        }
        while (t->lstrip && start > from) {
            size_t l = hf_utf8_len_back(s, start);
            if (!hf_pattern_match_at(&st->space_char, s, n, start - l)) break;
            start -= l;
        }
        while (t->rstrip && stop < n && hf_pattern_match_at(&st->space_char, s, n, stop))
            stop += hf_utf8_len(s + stop, n - stop);
        i = stop;
        if (from < start) push_segment(out, from, start, -1);
        push_segment(out, start, stop, t->id);
        from = stop;
    }
    if (from < n) push_segment(out, from, n, -1);
}

/* ------------------------------------------------------------------ encode, decode */

static void encode_stretch(HfState *st, const char *s, size_t n, int first, HfInts *out) {
    HfPieces *cur = &st->pieces[0], *tmp = &st->pieces[1];
    hf_pieces_clear(cur);
    hf_pieces_add(cur, s, n, first);
    if (st->pre) hf_pretokenize(st->pre, &cur, &tmp, &st->scratch);
    for (int k = 0; k < cur->n; k++) hf_bpe_encode_word(&st->bpe, cur->text.data + cur->spans[k].off, cur->spans[k].len, out);
}

static int hf_encode(const Tokenizer *t, const char *text, size_t len, int add_special, int **ids) {
    HfState *st = t->state;
    char *owned;
    size_t n;
    const char *s = hf_utf8_sanitize(text, len, &n, &owned);
    HfInts out = {0};
    if (add_special)
        for (int i = 0; i < st->n_prefix; i++) hf_ints_push(&out, st->prefix[i]);
    find_added(st, &st->raw_set, s, n, &st->raw_segs);
    for (int r = 0; r < st->raw_segs.n; r++) {
        const Segment *seg = &st->raw_segs.s[r];
        if (seg->id >= 0) {
            hf_ints_push(&out, seg->id);
            continue;
        }
        const char *norm = s + seg->start;
        size_t norm_len = seg->end - seg->start;
        if (st->normalizer) {
            normalize_into(st, norm, norm_len, &st->norm);
            norm = st->norm.data;
            norm_len = st->norm.len;
        }
        find_added(st, &st->norm_set, norm, norm_len, &st->norm_segs);
        for (int k = 0; k < st->norm_segs.n; k++) {
            const Segment *sub = &st->norm_segs.s[k];
            if (sub->id >= 0) hf_ints_push(&out, sub->id);
            else encode_stretch(st, norm + sub->start, sub->end - sub->start, seg->start == 0 && sub->start == 0, &out);
        }
    }
    if (add_special)
        for (int i = 0; i < st->n_suffix; i++) hf_ints_push(&out, st->suffix[i]);
    free(owned);
    *ids = out.data ? out.data : mallocCheck(sizeof(int));
    return out.len;
}

static char *hf_decode(const Tokenizer *t, const int *ids, int n, size_t *out_len) {
    HfState *st = t->state;
    HfPieces *cur = &st->pieces[0], *tmp = &st->pieces[1];
    hf_pieces_clear(cur);
    for (int i = 0; i < n; i++) /* ids without a token are skipped, as tokenizers does */
        if (ids[i] >= 0 && ids[i] < t->vocab_size && st->token_of_id[ids[i]])
            hf_pieces_add(cur, st->token_of_id[ids[i]], (size_t)st->token_len[ids[i]], 0);
    if (st->decoder) hf_decode_tokens(st->decoder, &cur, &tmp, &st->scratch);
    HfBuf b = {0};
    for (int k = 0; k < cur->n; k++) {
        if (!st->decoder && k > 0) hf_buf_append(&b, " ", 1);
        hf_buf_append(&b, cur->text.data + cur->spans[k].off, cur->spans[k].len);
    }
    hf_buf_append(&b, "", 1);
    *out_len = b.len - 1;
    return b.data;
}

static void hf_free(Tokenizer *t) {
    HfState *st = t->state;
    hf_bpe_free(&st->bpe);
    if (st->normalizer) hf_normalizer_free(st->normalizer);
    if (st->pre) hf_pretokenizer_free(st->pre);
    if (st->decoder) hf_decoder_free(st->decoder);
    free(st->normalizer);
    free(st->pre);
    free(st->decoder);
    for (int i = 0; i < st->n_added; i++) free(st->added[i].content);
    free(st->added);
    free_added_set(&st->raw_set);
    free_added_set(&st->norm_set);
    hf_pattern_free(&st->word_char);
    hf_pattern_free(&st->space_char);
    free(st->token_of_id);
    free(st->token_len);
    free(st->prefix);
    free(st->suffix);
    hf_pieces_free(&st->pieces[0]);
    hf_pieces_free(&st->pieces[1]);
    hf_pieces_free(&st->scratch.mid);
    free(st->scratch.matches.m);
    free(st->norm.data);
    free(st->raw_segs.s);
    free(st->norm_segs.s);
    free(st);
    free(t);
}

/* ------------------------------------------------------------------ loading */

/* Added tokens get their ids as tokenizers gives them when it loads the file: the model's id when
 * the content is in the vocabulary, else the next free id after the vocabulary. The "id" written
 * in the file is only what the writer expected (tokenizers warns when they differ). */
static void parse_added(HfState *st, const cJSON *list, const char *file) {
    if (!list || cJSON_IsNull(list)) return;
    if (!cJSON_IsArray(list)) fatal("%s: added_tokens: expected an array", file);
    st->added = callocCheck((size_t)cJSON_GetArraySize(list) + 1, sizeof(HfAddedToken));
    int i = 0, max_id = -1, n_vocab = (int)HASH_COUNT(st->bpe.vocab);
    for (const cJSON *a = list->child; a; a = a->next, i++) {
        char where[64];
        snprintf(where, sizeof where, "added_tokens[%d]", i);
        if (!cJSON_IsObject(a)) fatal("%s: %s: expected an object", file, where);
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(a, "id");
        if (!cJSON_IsNumber(id) || id->valuedouble != (double)id->valueint || id->valueint < 0)
            fatal("%s: %s.id: expected a non-negative integer", file, where);
        const char *content = hf_json_string(a, "content", 0, file, where);
        if (!*content) continue; /* tokenizers ignores empty added tokens */
        HfAddedToken *t = NULL;
        for (int k = 0; k < st->n_added && !t; k++) /* the same content again: it takes the new options */
            if (!strcmp(st->added[k].content, content)) t = &st->added[k];
        if (!t) {
            t = &st->added[st->n_added++];
            t->content = strdupCheck(content);
            t->len = strlen(content);
            t->id = hf_bpe_token_id(&st->bpe, content, t->len);
            if (t->id < 0) t->id = max_id < 0 ? n_vocab : max_id >= n_vocab ? max_id + 1 : n_vocab;
            if (t->id > max_id) max_id = t->id;
            if (t->id >= MAX_ADDED_ID) fatal("%s: %s: too many added tokens", file, where);
        }
        int special = hf_json_bool(a, "special", 0, file, where);
        t->normalized = hf_json_bool(a, "normalized", !special, file, where);
        t->single_word = hf_json_bool(a, "single_word", 0, file, where);
        t->lstrip = hf_json_bool(a, "lstrip", 0, file, where);
        t->rstrip = hf_json_bool(a, "rstrip", 0, file, where);
    }
}

static void append_ids(int **v, int *n, const int *ids, int k) {
    *v = reallocCheck(*v, sizeof(int) * (size_t)(*n + k + 1));
    if (k) memcpy(*v + *n, ids, sizeof(int) * (size_t)k);
    *n += k;
}

/* Adds a template's special ids around the current prefix/suffix (a later processor wraps the
 * output of an earlier one). */
static void parse_template(HfState *st, const cJSON *obj, const char *file, const char *where) {
    const cJSON *single = cJSON_GetObjectItemCaseSensitive(obj, "single");
    const cJSON *specials = cJSON_GetObjectItemCaseSensitive(obj, "special_tokens");
    if (!cJSON_IsArray(single)) fatal("%s: %s.single: expected an array", file, where);
    int *pre = NULL, *post = NULL, n_pre = 0, n_post = 0, seen_a = 0, i = 0;
    for (const cJSON *it = single->child; it; it = it->next, i++) {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(it, "SpecialToken");
        const cJSON *seq = cJSON_GetObjectItemCaseSensitive(it, "Sequence");
        if (seq) {
            const char *which = hf_json_string(seq, "id", 0, file, where);
            if (strcmp(which, "A")) fatal("%s: %s.single[%d]: the single template can only hold sequence A", file, where, i);
            seen_a++;
            continue;
        }
        if (!sp) fatal("%s: %s.single[%d]: expected {\"SpecialToken\": ...} or {\"Sequence\": ...}", file, where, i);
        const char *name = hf_json_string(sp, "id", 0, file, where);
        const cJSON *tok = cJSON_GetObjectItemCaseSensitive(specials, name);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(tok, "ids");
        if (!cJSON_IsArray(ids)) fatal("%s: %s.special_tokens: \"%s\" is missing or has no \"ids\"", file, where, name);
        for (const cJSON *x = ids->child; x; x = x->next) {
            if (!cJSON_IsNumber(x) || x->valueint < 0) fatal("%s: %s.special_tokens[\"%s\"].ids: expected token ids", file, where, name);
            if (seen_a) append_ids(&post, &n_post, &x->valueint, 1);
            else append_ids(&pre, &n_pre, &x->valueint, 1);
        }
    }
    if (seen_a != 1) fatal("%s: %s.single: expected sequence A exactly once", file, where);
    append_ids(&pre, &n_pre, st->prefix, st->n_prefix);
    append_ids(&st->suffix, &st->n_suffix, post, n_post);
    free(st->prefix);
    free(post);
    st->prefix = pre;
    st->n_prefix = n_pre;
}

static void parse_post_processor(HfState *st, const cJSON *obj, const char *file, const char *where) {
    const char *type = hf_json_type(obj, file, where);
    if (!strcmp(type, "TemplateProcessing")) {
        parse_template(st, obj, file, where);
    } else if (!strcmp(type, "ByteLevel")) {
        /* it only trims offsets; the ids stay */
    } else if (!strcmp(type, "Sequence")) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, "processors");
        if (!cJSON_IsArray(list)) fatal("%s: %s.processors: expected an array", file, where);
        int i = 0;
        for (const cJSON *c = list->child; c; c = c->next, i++) {
            char sub[256];
            hf_where(sub, sizeof sub, where, "processors", i);
            parse_post_processor(st, c, file, sub);
        }
    } else {
        fatal("%s: %s: post-processor type \"%s\" is not supported (supported: TemplateProcessing, ByteLevel, "
              "Sequence)",
              file, where, type);
    }
}

/* The component at root[key] when present and not null. */
static const cJSON *component(const cJSON *root, const char *key) {
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, key);
    return c && !cJSON_IsNull(c) ? c : NULL;
}

static int token_id(const HfState *st, const char *s) {
    for (int i = 0; i < st->n_added; i++)
        if (!strcmp(st->added[i].content, s)) return st->added[i].id;
    return hf_bpe_token_id(&st->bpe, s, strlen(s));
}

/* bos_token / eos_token of tokenizer_config.json: the id, -1 when the file or the field is absent
 * or null. */
static int config_token(const HfState *st, const char *file, const cJSON *cfg, const char *cfg_path, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content"); /* AddedToken form */
    if (!v || cJSON_IsNull(v)) return -1;
    if (!cJSON_IsString(v)) fatal("%s: %s: expected a token string", cfg_path, key);
    int id = token_id(st, v->valuestring);
    if (id < 0) fatal("%s: %s \"%s\" is not a token of %s", cfg_path, key, v->valuestring, file);
    return id;
}

static void set_bos_eos(Tokenizer *t, const HfState *st, const char *file) {
    t->bos_id = st->n_prefix ? st->prefix[0] : -1;
    t->eos_id = st->n_suffix ? st->suffix[st->n_suffix - 1] : -1;
    char cfg_path[4096];
    const char *slash = strrchr(file, '/');
    int dir_len = slash ? (int)(slash - file) : 1;
    snprintf(cfg_path, sizeof cfg_path, "%.*s/tokenizer_config.json", dir_len, slash ? file : ".");
    struct stat sb;
    if (stat(cfg_path, &sb) != 0) return;
    size_t len;
    char *json = read_file_all(cfg_path, &len);
    cJSON *cfg = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(cfg)) fatal("%s: not a JSON object", cfg_path);
    int bos = config_token(st, file, cfg, cfg_path, "bos_token");
    int eos = config_token(st, file, cfg, cfg_path, "eos_token");
    if (bos >= 0) t->bos_id = bos;
    if (eos >= 0) t->eos_id = eos;
    cJSON_Delete(cfg);
    free(json);
}

static void build_id_table(Tokenizer *t, HfState *st, const char *file) {
    int vocab = st->bpe.n_ids;
    for (int i = 0; i < st->n_added; i++)
        if (st->added[i].id >= vocab) vocab = st->added[i].id + 1;
    for (int i = 0; i < st->n_prefix; i++)
        if (st->prefix[i] >= vocab) fatal("%s: post_processor: special id %d is outside the vocabulary (%d)", file, st->prefix[i], vocab);
    for (int i = 0; i < st->n_suffix; i++)
        if (st->suffix[i] >= vocab) fatal("%s: post_processor: special id %d is outside the vocabulary (%d)", file, st->suffix[i], vocab);
    t->vocab_size = vocab;
    st->token_of_id = callocCheck((size_t)vocab, sizeof(char *));
    st->token_len = callocCheck((size_t)vocab, sizeof(int));
    for (int i = 0; i < st->bpe.n_ids; i++) {
        st->token_of_id[i] = st->bpe.id_token[i];
        st->token_len[i] = st->bpe.id_token_len[i];
    }
    for (int i = 0; i < st->n_added; i++) {
        st->token_of_id[st->added[i].id] = st->added[i].content;
        st->token_len[st->added[i].id] = (int)st->added[i].len;
    }
}

Tokenizer *tokenizer_hf_load(const char *path) {
    size_t len;
    char *json = read_file_all(path, &len);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) fatal("%s: not valid JSON (error near byte %ld)", path, (long)(cJSON_GetErrorPtr() - json));
    if (!cJSON_IsObject(root)) fatal("%s: expected a tokenizer.json object", path);
    const cJSON *model = component(root, "model");
    if (!cJSON_IsObject(model)) fatal("%s: model: missing, or not an object", path);
    const char *mtype = hf_json_string(model, "type", 1, path, "model");
    if (mtype ? strcmp(mtype, "BPE") != 0 : !cJSON_GetObjectItemCaseSensitive(model, "merges"))
        fatal("%s: model: type \"%s\" is not supported (supported: BPE)", path, mtype ? mtype : "(none)");

    HfState *st = callocCheck(1, sizeof *st);
    hf_bpe_parse(&st->bpe, model, path);
    parse_added(st, cJSON_GetObjectItemCaseSensitive(root, "added_tokens"), path);
    const cJSON *c;
    if ((c = component(root, "normalizer"))) {
        st->normalizer = callocCheck(1, sizeof(HfNormalizer));
        hf_normalizer_parse(st->normalizer, c, path, "normalizer");
    }
    if ((c = component(root, "pre_tokenizer"))) {
        st->pre = callocCheck(1, sizeof(HfPreTokenizer));
        hf_pretokenizer_parse(st->pre, c, path, "pre_tokenizer");
    }
    if ((c = component(root, "decoder"))) {
        st->decoder = callocCheck(1, sizeof(HfDecoder));
        hf_decoder_parse(st->decoder, c, path, "decoder");
    }
    if ((c = component(root, "post_processor"))) parse_post_processor(st, c, path, "post_processor");
    build_added_set(st, &st->raw_set, 0);
    build_added_set(st, &st->norm_set, 1);
    for (int i = 0; i < st->n_added; i++) {
        if ((st->added[i].single_word || st->added[i].lstrip || st->added[i].rstrip) && !st->word_char.re) {
            /* the \w and \s of the Rust regex crate, which tokenizers uses for these */
            hf_pattern_regex(&st->word_char, "[\\p{L}\\p{Nl}\\p{M}\\p{Nd}\\p{Pc}\\x{200C}\\x{200D}]", path, "added_tokens");
            hf_pattern_regex(&st->space_char, "[\\t-\\r\\x{85}\\p{Z}]", path, "added_tokens");
        }
    }
    cJSON_Delete(root);
    free(json);

    Tokenizer *t = callocCheck(1, sizeof *t);
    build_id_table(t, st, path);
    set_bos_eos(t, st, path);
    t->encode = hf_encode;
    t->decode = hf_decode;
    t->free = hf_free;
    t->state = st;
    return t;
}
