/* Text machinery for tokenizer.json: buffers, UTF-8, patterns, normalizers and pre-tokenizers.
 *
 * Patterns follow tokenizers, whose regexes run on Oniguruma (Ruby syntax). PCRE2 runs them here,
 * in UTF + UCP mode, after one rewrite: \s and \w (and \S, \W outside classes) become the explicit
 * Unicode classes Oniguruma uses, because PCRE2's own differ (PCRE2 10.42's \s also matches
 * U+180E, and its \w lacks marks and connector punctuation). The classes are Unicode properties
 * that PCRE2 resolves from its own tables; nothing here lists code points by hand. */
#include <string.h>

#include "check.h"
#include "tokenizer_hf_internal.h"

/* ------------------------------------------------------------------ buffers */

void hf_buf_reserve(HfBuf *b, size_t extra) {
    if (b->len + extra <= b->cap) return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    b->data = reallocCheck(b->data, cap);
    b->cap = cap;
}

void hf_buf_append(HfBuf *b, const char *s, size_t n) {
    hf_buf_reserve(b, n);
    if (n) memcpy(b->data + b->len, s, n);
    b->len += n;
}

void hf_ints_push(HfInts *v, int x) {
    if (v->len == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 64;
        v->data = reallocCheck(v->data, sizeof(int) * (size_t)v->cap);
    }
    v->data[v->len++] = x;
}

void hf_pieces_clear(HfPieces *p) {
    p->text.len = 0;
    p->n = 0;
}

void hf_pieces_close(HfPieces *p, size_t from, int first) {
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->spans = reallocCheck(p->spans, sizeof(HfSpan) * (size_t)p->cap);
    }
    p->spans[p->n++] = (HfSpan){from, p->text.len - from, first};
}

void hf_pieces_add(HfPieces *p, const char *s, size_t n, int first) {
    size_t from = p->text.len;
    hf_buf_append(&p->text, s, n);
    hf_pieces_close(p, from, first);
}

void hf_pieces_free(HfPieces *p) {
    free(p->text.data);
    free(p->spans);
    memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------------ UTF-8 */

size_t hf_utf8_len(const char *s, size_t n) {
    unsigned char c = (unsigned char)s[0];
    size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    return len < n ? len : n;
}

size_t hf_utf8_len_back(const char *s, size_t i) {
    size_t l = 1;
    while (l < 4 && l < i && ((unsigned char)s[i - l] & 0xC0) == 0x80) l++;
    return l;
}

/* Length of the valid sequence at s, or 0 with *bad = the maximal invalid subpart's length. */
static size_t utf8_valid_len(const unsigned char *s, size_t n, size_t *bad) {
    unsigned char c = s[0];
    if (c < 0x80) return 1;
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else {
        *bad = 1;
        return 0;
    }
    size_t i = 1;
    for (; i < need && i < n; i++) {
        unsigned char x = s[i];
        unsigned char l = i == 1 ? lo : 0x80, h = i == 1 ? hi : 0xBF;
        if (x < l || x > h) break;
    }
    if (i == need) return need;
    *bad = i;
    return 0;
}

uint32_t hf_utf8_decode(const char *s, size_t n, size_t *len) {
    const unsigned char *u = (const unsigned char *)s;
    size_t bad = 0, l = utf8_valid_len(u, n, &bad);
    if (!l) {
        *len = 1;
        return 0xFFFFFFFFu;
    }
    *len = l;
    if (l == 1) return u[0];
    if (l == 2) return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    if (l == 3) return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) | ((uint32_t)(u[2] & 0x3F) << 6) |
           (u[3] & 0x3F);
}

int hf_utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

const char *hf_utf8_sanitize(const char *s, size_t n, size_t *out_n, char **owned) {
    const unsigned char *u = (const unsigned char *)s;
    *owned = NULL;
    size_t i = 0, bad = 0;
    while (i < n) { /* fast path: most text is ASCII or valid */
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t l = utf8_valid_len(u + i, n - i, &bad);
        if (!l) break;
        i += l;
    }
    if (i == n) {
        *out_n = n;
        return s;
    }
    HfBuf b = {0};
    hf_buf_append(&b, s, i);
    while (i < n) {
        size_t l = utf8_valid_len(u + i, n - i, &bad);
        if (l) {
            hf_buf_append(&b, s + i, l);
            i += l;
        } else {
            hf_buf_append(&b, "\xEF\xBF\xBD", 3);
            i += bad;
        }
    }
    *owned = b.data;
    *out_n = b.len;
    return b.data;
}

/* ------------------------------------------------------------------ JSON helpers */

void hf_where(char *out, size_t size, const char *where, const char *key, int index) {
    if (index >= 0) snprintf(out, size, "%s.%s[%d]", where, key, index);
    else snprintf(out, size, "%s.%s", where, key);
}

const char *hf_json_type(const cJSON *obj, const char *file, const char *where) {
    if (!cJSON_IsObject(obj)) fatal("%s: %s: expected an object", file, where);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "type");
    if (!cJSON_IsString(t)) fatal("%s: %s: missing \"type\"", file, where);
    return t->valuestring;
}

int hf_json_bool(const cJSON *obj, const char *key, int dflt, const char *file, const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return dflt;
    if (!cJSON_IsBool(v)) fatal("%s: %s.%s: expected true or false", file, where, key);
    return cJSON_IsTrue(v);
}

const char *hf_json_string(const cJSON *obj, const char *key, int optional, const char *file, const char *where) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if ((!v || cJSON_IsNull(v)) && optional) return NULL;
    if (!cJSON_IsString(v)) fatal("%s: %s.%s: expected a string", file, where, key);
    return v->valuestring;
}

int hf_json_char(const cJSON *obj, const char *key, char out[4], const char *file, const char *where) {
    const char *s = hf_json_string(obj, key, 0, file, where);
    size_t n = strlen(s), l = 0;
    if (n == 0 || hf_utf8_decode(s, n, &l) == 0xFFFFFFFFu || l != n)
        fatal("%s: %s.%s: expected exactly one character, got \"%s\"", file, where, key, s);
    memcpy(out, s, n);
    return (int)n;
}

HfPrependScheme hf_json_prepend_scheme(const cJSON *obj, const char *file, const char *where) {
    /* Older files say add_prefix_space instead of prepend_scheme. */
    const char *s = hf_json_string(obj, "prepend_scheme", 1, file, where);
    if (!s) return hf_json_bool(obj, "add_prefix_space", 1, file, where) ? HF_PREPEND_ALWAYS : HF_PREPEND_NEVER;
    if (!strcmp(s, "always")) return HF_PREPEND_ALWAYS;
    if (!strcmp(s, "first")) return HF_PREPEND_FIRST;
    if (!strcmp(s, "never")) return HF_PREPEND_NEVER;
    fatal("%s: %s.prepend_scheme: expected \"always\", \"first\" or \"never\", got \"%s\"", file, where, s);
}

/* ------------------------------------------------------------------ patterns */

/* Oniguruma's \s (White_Space) and \w (Letter, Mark, Number, Connector_Punctuation). */
#define ONIG_SPACE "\\t-\\r\\x{85}\\p{Z}"
#define ONIG_WORD "\\p{L}\\p{M}\\p{N}\\p{Pc}"

static char *onig_to_pcre2(const char *re) {
    HfBuf b = {0};
    int in_class = 0;
    for (const char *p = re; *p; p++) {
        if (*p == '\\' && p[1]) {
            char c = p[1];
            const char *rep = NULL;
            if (c == 's') rep = in_class ? ONIG_SPACE : "[" ONIG_SPACE "]";
            else if (c == 'w') rep = in_class ? ONIG_WORD : "[" ONIG_WORD "]";
            else if (c == 'S' && !in_class) rep = "[^" ONIG_SPACE "]";
            else if (c == 'W' && !in_class) rep = "[^" ONIG_WORD "]";
            if (rep) hf_buf_append(&b, rep, strlen(rep));
            else hf_buf_append(&b, p, 2);
            p++;
            continue;
        }
        if (!in_class && *p == '[') {
            in_class = 1;
            hf_buf_append(&b, p, 1);
            if (p[1] == '^') hf_buf_append(&b, ++p, 1);
            if (p[1] == ']') hf_buf_append(&b, ++p, 1); /* a leading ] is literal */
            continue;
        }
        if (in_class && *p == '[' && p[1] == ':') { /* POSIX class [:alpha:] */
            const char *end = strstr(p + 2, ":]");
            if (end) {
                hf_buf_append(&b, p, (size_t)(end + 2 - p));
                p = end + 1;
                continue;
            }
        }
        if (in_class && *p == ']') in_class = 0;
        hf_buf_append(&b, p, 1);
    }
    hf_buf_append(&b, "", 1);
    return b.data;
}

void hf_pattern_regex(HfPattern *p, const char *regex, const char *file, const char *where) {
    memset(p, 0, sizeof *p);
    char *pat = onig_to_pcre2(regex);
    int err;
    PCRE2_SIZE off;
    /* Ruby syntax: ^ and $ match at line boundaries. */
    p->re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | PCRE2_MULTILINE, &err, &off,
                          NULL);
    free(pat);
    if (!p->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        fatal("%s: %s: regex \"%s\" does not compile: %s", file, where, regex, (const char *)msg);
    }
    pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter when JIT is missing */
    p->md = pcre2_match_data_create_from_pattern(p->re, NULL);
}

void hf_pattern_from_json(HfPattern *p, const cJSON *obj, const char *file, const char *where) {
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(obj, "String");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(obj, "Regex");
    if (cJSON_IsString(r)) {
        hf_pattern_regex(p, r->valuestring, file, where);
    } else if (cJSON_IsString(s)) {
        memset(p, 0, sizeof *p);
        p->literal_len = strlen(s->valuestring);
        p->literal = strdupCheck(s->valuestring);
    } else {
        fatal("%s: %s: expected {\"String\": ...} or {\"Regex\": ...}", file, where);
    }
}

void hf_pattern_free(HfPattern *p) {
    free(p->literal);
    if (p->md) pcre2_match_data_free(p->md);
    if (p->re) pcre2_code_free(p->re);
    memset(p, 0, sizeof *p);
}

static void push_match(HfMatches *out, size_t s, size_t e, int is_match) {
    if (out->n == out->cap) {
        out->cap = out->cap ? 2 * out->cap : 64;
        out->m = reallocCheck(out->m, sizeof(HfMatch) * (size_t)out->cap);
    }
    out->m[out->n++] = (HfMatch){s, e, is_match};
}

/* Next match at or after pos: returns 0 when none, else its [*s, *e). */
static int next_match(HfPattern *p, const char *s, size_t n, size_t pos, size_t *ms, size_t *me) {
    if (!p->re) {
        if (p->literal_len == 0 || p->literal_len > n) return 0;
        for (size_t i = pos; i + p->literal_len <= n; i++) {
            const char *hit = memchr(s + i, p->literal[0], n - i - p->literal_len + 1);
            if (!hit) return 0;
            i = (size_t)(hit - s);
            if (!memcmp(hit, p->literal, p->literal_len)) {
                *ms = i;
                *me = i + p->literal_len;
                return 1;
            }
        }
        return 0;
    }
    /* The text was made valid UTF-8 on entry; checking it again on every call would make long
     * texts quadratic. */
    int rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, pos, PCRE2_NO_UTF_CHECK, p->md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        fatal("tokenizer regex failed on the input: %s", (const char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(p->md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}

void hf_pattern_find(HfPattern *p, const char *s, size_t n, HfMatches *out) {
    out->n = 0;
    if (n == 0) {
        push_match(out, 0, 0, 0);
        return;
    }
    size_t prev = 0, pos = 0, ms, me;
    /* Oniguruma's find_iter: after an empty match the search resumes one character later. Empty
     * matches produce no split. */
    while (pos <= n && next_match(p, s, n, pos, &ms, &me)) {
        if (me == ms) {
            if (ms >= n) break;
            pos = ms + hf_utf8_len(s + ms, n - ms);
            continue;
        }
        if (prev != ms) push_match(out, prev, ms, 0);
        push_match(out, ms, me, 1);
        prev = pos = me;
    }
    if (prev != n) push_match(out, prev, n, 0);
}

int hf_pattern_match_at(HfPattern *p, const char *s, size_t n, size_t off) {
    return pcre2_match(p->re, (PCRE2_SPTR)s, n, off, PCRE2_ANCHORED | PCRE2_NO_UTF_CHECK, p->md, NULL) > 0;
}

/* ------------------------------------------------------------------ normalizers */

void hf_normalizer_parse(HfNormalizer *nz, const cJSON *obj, const char *file, const char *where) {
    memset(nz, 0, sizeof *nz);
    const char *type = hf_json_type(obj, file, where);
    char sub[256];
    if (!strcmp(type, "Prepend")) {
        nz->type = HF_NORM_PREPEND;
        nz->str = strdupCheck(hf_json_string(obj, "prepend", 0, file, where));
        nz->str_len = strlen(nz->str);
    } else if (!strcmp(type, "Replace")) {
        nz->type = HF_NORM_REPLACE;
        hf_where(sub, sizeof sub, where, "pattern", -1);
        hf_pattern_from_json(&nz->pattern, cJSON_GetObjectItemCaseSensitive(obj, "pattern"), file, sub);
        nz->str = strdupCheck(hf_json_string(obj, "content", 0, file, where));
        nz->str_len = strlen(nz->str);
        if (nz->pattern.re && strchr(nz->str, '$'))
            fatal("%s: %s.content: group references ($1) in a Replace normalizer are not supported", file, where);
    } else if (!strcmp(type, "Sequence")) {
        nz->type = HF_NORM_SEQUENCE;
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, "normalizers");
        if (!cJSON_IsArray(list)) fatal("%s: %s.normalizers: expected an array", file, where);
        nz->n_children = cJSON_GetArraySize(list);
        nz->children = callocCheck((size_t)nz->n_children, sizeof(HfNormalizer));
        int i = 0;
        for (const cJSON *c = list->child; c; c = c->next, i++) {
            hf_where(sub, sizeof sub, where, "normalizers", i);
            hf_normalizer_parse(&nz->children[i], c, file, sub);
        }
    } else {
        fatal("%s: %s: normalizer type \"%s\" is not supported (supported: Prepend, Replace, Sequence)", file, where,
              type);
    }
}

void hf_normalizer_free(HfNormalizer *nz) {
    for (int i = 0; i < nz->n_children; i++) hf_normalizer_free(&nz->children[i]);
    free(nz->children);
    free(nz->str);
    hf_pattern_free(&nz->pattern);
}

static void swap_pieces(HfPieces **a, HfPieces **b) {
    HfPieces *t = *a;
    *a = *b;
    *b = t;
}

void hf_normalize(HfNormalizer *nz, HfPieces **cur, HfPieces **tmp, HfScratch *sc) {
    if (nz->type == HF_NORM_SEQUENCE) {
        for (int i = 0; i < nz->n_children; i++) hf_normalize(&nz->children[i], cur, tmp, sc);
        return;
    }
    HfPieces *in = *cur, *out = *tmp;
    hf_pieces_clear(out);
    const HfSpan *sp = &in->spans[0];
    const char *s = in->text.data + sp->off;
    if (nz->type == HF_NORM_PREPEND) {
        if (sp->len) hf_buf_append(&out->text, nz->str, nz->str_len);
        hf_buf_append(&out->text, s, sp->len);
    } else { /* Replace */
        hf_pattern_find(&nz->pattern, s, sp->len, &sc->matches);
        for (int i = 0; i < sc->matches.n; i++) {
            const HfMatch *m = &sc->matches.m[i];
            if (m->is_match) hf_buf_append(&out->text, nz->str, nz->str_len);
            else hf_buf_append(&out->text, s + m->start, m->end - m->start);
        }
    }
    hf_pieces_close(out, 0, sp->first);
    swap_pieces(cur, tmp);
}

/* ------------------------------------------------------------------ pre-tokenizers */

const char *const HF_GPT2_PATTERN =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

void hf_bytelevel_tables(uint16_t cp_of_byte[256], int16_t byte_of_cp[512]) {
    /* GPT-2: printable Latin-1 bytes stand for themselves; the others, in byte order, take the
     * code points from 256 up. */
    int n = 0;
    for (int b = 0; b < 256; b++) {
        int printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
        cp_of_byte[b] = (uint16_t)(printable ? b : 256 + n++);
    }
    for (int c = 0; c < 512; c++) byte_of_cp[c] = -1;
    for (int b = 0; b < 256; b++) byte_of_cp[cp_of_byte[b]] = (int16_t)b;
}

static HfSplitBehavior parse_behavior(const char *s, const char *file, const char *where) {
    if (!strcmp(s, "Removed")) return HF_SPLIT_REMOVED;
    if (!strcmp(s, "Isolated")) return HF_SPLIT_ISOLATED;
    if (!strcmp(s, "MergedWithPrevious")) return HF_SPLIT_MERGED_WITH_PREVIOUS;
    if (!strcmp(s, "MergedWithNext")) return HF_SPLIT_MERGED_WITH_NEXT;
    if (!strcmp(s, "Contiguous")) return HF_SPLIT_CONTIGUOUS;
    fatal("%s: %s.behavior: \"%s\" is not one of Removed, Isolated, MergedWithPrevious, MergedWithNext, "
          "Contiguous",
          file, where, s);
}

void hf_pretokenizer_parse(HfPreTokenizer *pt, const cJSON *obj, const char *file, const char *where) {
    memset(pt, 0, sizeof *pt);
    const char *type = hf_json_type(obj, file, where);
    char sub[256];
    if (!strcmp(type, "Split")) {
        pt->type = HF_PRE_SPLIT;
        hf_where(sub, sizeof sub, where, "pattern", -1);
        hf_pattern_from_json(&pt->pattern, cJSON_GetObjectItemCaseSensitive(obj, "pattern"), file, sub);
        pt->behavior = parse_behavior(hf_json_string(obj, "behavior", 0, file, where), file, where);
        pt->invert = hf_json_bool(obj, "invert", 0, file, where);
    } else if (!strcmp(type, "ByteLevel")) {
        pt->type = HF_PRE_BYTELEVEL;
        pt->add_prefix_space = hf_json_bool(obj, "add_prefix_space", 1, file, where);
        pt->use_regex = hf_json_bool(obj, "use_regex", 1, file, where);
        if (pt->use_regex) hf_pattern_regex(&pt->pattern, HF_GPT2_PATTERN, file, where);
        uint16_t cp_of_byte[256];
        int16_t byte_of_cp[512];
        hf_bytelevel_tables(cp_of_byte, byte_of_cp);
        for (int b = 0; b < 256; b++) pt->bl_len[b] = (unsigned char)hf_utf8_encode(cp_of_byte[b], pt->bl_enc[b]);
    } else if (!strcmp(type, "Metaspace")) {
        pt->type = HF_PRE_METASPACE;
        pt->replacement_len = hf_json_char(obj, "replacement", pt->replacement, file, where);
        pt->prepend_scheme = hf_json_prepend_scheme(obj, file, where);
        pt->split = hf_json_bool(obj, "split", 1, file, where);
    } else if (!strcmp(type, "Sequence")) {
        pt->type = HF_PRE_SEQUENCE;
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, "pretokenizers");
        if (!cJSON_IsArray(list)) fatal("%s: %s.pretokenizers: expected an array", file, where);
        pt->n_children = cJSON_GetArraySize(list);
        pt->children = callocCheck((size_t)pt->n_children, sizeof(HfPreTokenizer));
        int i = 0;
        for (const cJSON *c = list->child; c; c = c->next, i++) {
            hf_where(sub, sizeof sub, where, "pretokenizers", i);
            hf_pretokenizer_parse(&pt->children[i], c, file, sub);
        }
    } else {
        fatal("%s: %s: pre-tokenizer type \"%s\" is not supported (supported: Split, ByteLevel, Metaspace, "
              "Sequence)",
              file, where, type);
    }
}

void hf_pretokenizer_free(HfPreTokenizer *pt) {
    for (int i = 0; i < pt->n_children; i++) hf_pretokenizer_free(&pt->children[i]);
    free(pt->children);
    hf_pattern_free(&pt->pattern);
}

/* Cuts s by its pattern splits the way NormalizedString::split does for each behavior; the kept,
 * non-empty parts go to out. */
static void split_piece(const char *s, const HfSpan *sp, HfMatches *mm, HfSplitBehavior behavior, HfPieces *out) {
    const HfMatch *m = mm->m;
    int n = mm->n;
    for (int i = 0; i < n;) {
        size_t start = m[i].start, end = m[i].end;
        int j = i + 1, keep = 1;
        switch (behavior) {
        case HF_SPLIT_REMOVED: keep = !m[i].is_match; break;
        case HF_SPLIT_ISOLATED: break;
        case HF_SPLIT_CONTIGUOUS: /* runs of adjacent matches become one split */
            if (m[i].is_match)
                while (j < n && m[j].is_match) end = m[j++].end;
            break;
        case HF_SPLIT_MERGED_WITH_PREVIOUS: /* a match joins the non-match before it */
            if (!m[i].is_match && j < n && m[j].is_match) end = m[j++].end;
            break;
        case HF_SPLIT_MERGED_WITH_NEXT: /* a match joins the non-match after it */
            if (m[i].is_match && j < n && !m[j].is_match) end = m[j++].end;
            break;
        }
        if (keep && end > start) hf_pieces_add(out, s + start, end - start, sp->first && start == 0);
        i = j;
    }
}

static void split_by_pattern(HfPattern *pat, HfSplitBehavior behavior, int invert, HfPieces *in, HfPieces *out,
                             HfMatches *mm) {
    for (int k = 0; k < in->n; k++) {
        const HfSpan *sp = &in->spans[k];
        const char *s = in->text.data + sp->off;
        hf_pattern_find(pat, s, sp->len, mm);
        if (invert)
            for (int i = 0; i < mm->n; i++) mm->m[i].is_match = !mm->m[i].is_match;
        split_piece(s, sp, mm, behavior, out);
    }
}

static void bytelevel(HfPreTokenizer *pt, HfPieces *in, HfPieces *out, HfPieces *mid, HfMatches *mm) {
    HfPieces *src = in;
    if (pt->add_prefix_space || pt->use_regex) {
        hf_pieces_clear(mid);
        for (int k = 0; k < in->n; k++) {
            const HfSpan *sp = &in->spans[k];
            const char *s = in->text.data + sp->off;
            size_t from = mid->text.len;
            if (pt->add_prefix_space && (sp->len == 0 || s[0] != ' ')) hf_buf_append(&mid->text, " ", 1);
            hf_buf_append(&mid->text, s, sp->len);
            hf_pieces_close(mid, from, sp->first);
        }
        src = mid;
        if (pt->use_regex) {
            hf_pieces_clear(in);
            split_by_pattern(&pt->pattern, HF_SPLIT_ISOLATED, 0, mid, in, mm);
            src = in;
        }
    }
    hf_pieces_clear(out);
    for (int k = 0; k < src->n; k++) {
        const HfSpan *sp = &src->spans[k];
        const unsigned char *s = (const unsigned char *)src->text.data + sp->off;
        size_t from = out->text.len;
        hf_buf_reserve(&out->text, 2 * sp->len);
        char *w = out->text.data + out->text.len;
        for (size_t i = 0; i < sp->len; i++) {
            w[0] = pt->bl_enc[s[i]][0];
            w[1] = pt->bl_enc[s[i]][1];
            w += pt->bl_len[s[i]];
        }
        out->text.len = (size_t)(w - out->text.data);
        hf_pieces_close(out, from, sp->first);
    }
}

static void metaspace(HfPreTokenizer *pt, HfPieces *in, HfPieces *out, HfPieces *mid, HfMatches *mm) {
    HfPieces *dst = pt->split ? mid : out;
    hf_pieces_clear(dst);
    for (int k = 0; k < in->n; k++) {
        const HfSpan *sp = &in->spans[k];
        const char *s = in->text.data + sp->off;
        size_t from = dst->text.len;
        int starts_with_rep = sp->len >= (size_t)pt->replacement_len && !memcmp(s, pt->replacement, (size_t)pt->replacement_len);
        int prepend = !starts_with_rep && sp->len && s[0] != ' ' &&
                      (pt->prepend_scheme == HF_PREPEND_ALWAYS || (pt->prepend_scheme == HF_PREPEND_FIRST && sp->first));
        if (prepend) hf_buf_append(&dst->text, pt->replacement, (size_t)pt->replacement_len);
        for (size_t i = 0; i < sp->len; i++) {
            if (s[i] == ' ') hf_buf_append(&dst->text, pt->replacement, (size_t)pt->replacement_len);
            else hf_buf_append(&dst->text, s + i, 1);
        }
        hf_pieces_close(dst, from, sp->first);
    }
    if (pt->split) {
        HfPattern rep = {.literal = pt->replacement, .literal_len = (size_t)pt->replacement_len};
        hf_pieces_clear(out);
        split_by_pattern(&rep, HF_SPLIT_MERGED_WITH_NEXT, 0, mid, out, mm);
    }
}

void hf_pretokenize(HfPreTokenizer *pt, HfPieces **cur, HfPieces **tmp, HfScratch *sc) {
    switch (pt->type) {
    case HF_PRE_SEQUENCE:
        for (int i = 0; i < pt->n_children; i++) hf_pretokenize(&pt->children[i], cur, tmp, sc);
        return;
    case HF_PRE_SPLIT:
        hf_pieces_clear(*tmp);
        split_by_pattern(&pt->pattern, pt->behavior, pt->invert, *cur, *tmp, &sc->matches);
        break;
    case HF_PRE_BYTELEVEL: bytelevel(pt, *cur, *tmp, &sc->mid, &sc->matches); break;
    case HF_PRE_METASPACE: metaspace(pt, *cur, *tmp, &sc->mid, &sc->matches); break;
    }
    swap_pieces(cur, tmp);
}
