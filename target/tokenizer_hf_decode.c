/* tokenizer.json decoders: each one rewrites the list of token strings, as tokenizers'
 * decode_chain does, and the final text is their concatenation.
 *
 * One deliberate difference: tokenizers turns bytes that are not valid UTF-8 into U+FFFD
 * (ByteLevel through from_utf8_lossy, ByteFallback one U+FFFD per byte token). Here the bytes are
 * kept as they are, because the caller asked for bytes (tokenizer.h): a streaming printer must see
 * the first half of a character split across two tokens. On any id sequence whose text is valid
 * UTF-8 (every encode() result) the two agree. */
#include <string.h>

#include "check.h"
#include "tokenizer_hf_internal.h"

void hf_decoder_parse(HfDecoder *d, const cJSON *obj, const char *file, const char *where) {
    memset(d, 0, sizeof *d);
    const char *type = hf_json_type(obj, file, where);
    char sub[256];
    if (!strcmp(type, "ByteLevel")) {
        d->type = HF_DEC_BYTELEVEL;
        uint16_t cp_of_byte[256];
        hf_bytelevel_tables(cp_of_byte, d->byte_of_cp);
    } else if (!strcmp(type, "Metaspace")) {
        d->type = HF_DEC_METASPACE;
        d->replacement_len = hf_json_char(obj, "replacement", d->replacement, file, where);
        d->prepend_scheme = hf_json_prepend_scheme(obj, file, where);
    } else if (!strcmp(type, "Replace")) {
        d->type = HF_DEC_REPLACE;
        hf_where(sub, sizeof sub, where, "pattern", -1);
        hf_pattern_from_json(&d->pattern, cJSON_GetObjectItemCaseSensitive(obj, "pattern"), file, sub);
        d->content = strdupCheck(hf_json_string(obj, "content", 0, file, where));
        d->content_len = strlen(d->content);
        if (d->pattern.re && strchr(d->content, '$'))
            fatal("%s: %s.content: group references ($1) in a Replace decoder are not supported", file, where);
    } else if (!strcmp(type, "ByteFallback")) {
        d->type = HF_DEC_BYTEFALLBACK;
    } else if (!strcmp(type, "Fuse")) {
        d->type = HF_DEC_FUSE;
    } else if (!strcmp(type, "Strip")) {
        d->type = HF_DEC_STRIP;
        char c[4];
        int n = hf_json_char(obj, "content", c, file, where);
        size_t len;
        d->strip_cp = hf_utf8_decode(c, (size_t)n, &len);
        const cJSON *start = cJSON_GetObjectItemCaseSensitive(obj, "start");
        const cJSON *stop = cJSON_GetObjectItemCaseSensitive(obj, "stop");
        if (!cJSON_IsNumber(start) || start->valueint < 0 || !cJSON_IsNumber(stop) || stop->valueint < 0)
            fatal("%s: %s: Strip needs non-negative integers \"start\" and \"stop\"", file, where);
        d->strip_start = start->valueint;
        d->strip_stop = stop->valueint;
    } else if (!strcmp(type, "Sequence")) {
        d->type = HF_DEC_SEQUENCE;
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(obj, "decoders");
        if (!cJSON_IsArray(list)) fatal("%s: %s.decoders: expected an array", file, where);
        d->n_children = cJSON_GetArraySize(list);
        d->children = callocCheck((size_t)d->n_children, sizeof(HfDecoder));
        int i = 0;
        for (const cJSON *c = list->child; c; c = c->next, i++) {
            hf_where(sub, sizeof sub, where, "decoders", i);
            hf_decoder_parse(&d->children[i], c, file, sub);
        }
    } else {
        fatal("%s: %s: decoder type \"%s\" is not supported (supported: ByteLevel, Metaspace, Replace, "
              "ByteFallback, Fuse, Strip, Sequence)",
              file, where, type);
    }
}

void hf_decoder_free(HfDecoder *d) {
    for (int i = 0; i < d->n_children; i++) hf_decoder_free(&d->children[i]);
    free(d->children);
    free(d->content);
    hf_pattern_free(&d->pattern);
}

/* Every token mapped back to bytes through the byte-level alphabet; a token with a character
 * outside it stays as it is. All of it becomes one token. */
static void bytelevel(const HfDecoder *d, const HfPieces *in, HfPieces *out) {
    size_t from = out->text.len;
    for (int k = 0; k < in->n; k++) {
        const char *s = in->text.data + in->spans[k].off;
        size_t n = in->spans[k].len, at = out->text.len, i = 0;
        while (i < n) {
            size_t l;
            uint32_t cp = hf_utf8_decode(s + i, n - i, &l);
            if (cp >= 512 || d->byte_of_cp[cp] < 0) break;
            char b = (char)d->byte_of_cp[cp];
            hf_buf_append(&out->text, &b, 1);
            i += l;
        }
        if (i < n) {
            out->text.len = at;
            hf_buf_append(&out->text, s, n);
        }
    }
    hf_pieces_close(out, from, 0);
}

static void metaspace(const HfDecoder *d, const HfPieces *in, HfPieces *out) {
    for (int k = 0; k < in->n; k++) {
        const char *s = in->text.data + in->spans[k].off;
        size_t n = in->spans[k].len, from = out->text.len, rl = (size_t)d->replacement_len;
        for (size_t i = 0; i < n;) {
            if (n - i >= rl && !memcmp(s + i, d->replacement, rl)) {
                /* the first token loses every replacement character, not only a leading one */
                if (k > 0 || d->prepend_scheme == HF_PREPEND_NEVER) hf_buf_append(&out->text, " ", 1);
                i += rl;
            } else {
                size_t l = hf_utf8_len(s + i, n - i);
                hf_buf_append(&out->text, s + i, l);
                i += l;
            }
        }
        hf_pieces_close(out, from, 0);
    }
}

static void replace(HfDecoder *d, const HfPieces *in, HfPieces *out, HfMatches *mm) {
    for (int k = 0; k < in->n; k++) {
        const char *s = in->text.data + in->spans[k].off;
        size_t from = out->text.len;
        hf_pattern_find(&d->pattern, s, in->spans[k].len, mm);
        for (int i = 0; i < mm->n; i++) {
            if (mm->m[i].is_match) hf_buf_append(&out->text, d->content, d->content_len);
            else hf_buf_append(&out->text, s + mm->m[i].start, mm->m[i].end - mm->m[i].start);
        }
        hf_pieces_close(out, from, 0);
    }
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* Runs of <0xNN> tokens become one token of those bytes. */
static void bytefallback(const HfPieces *in, HfPieces *out) {
    size_t run_from = 0;
    int in_run = 0;
    for (int k = 0; k < in->n; k++) {
        const char *s = in->text.data + in->spans[k].off;
        size_t n = in->spans[k].len;
        int hi = n == 6 ? hex_digit(s[3]) : -1, lo = n == 6 ? hex_digit(s[4]) : -1;
        if (n == 6 && !memcmp(s, "<0x", 3) && s[5] == '>' && hi >= 0 && lo >= 0) {
            if (!in_run) run_from = out->text.len;
            in_run = 1;
            char b = (char)(hi * 16 + lo);
            hf_buf_append(&out->text, &b, 1);
            continue;
        }
        if (in_run) hf_pieces_close(out, run_from, 0);
        in_run = 0;
        hf_pieces_add(out, s, n, 0);
    }
    if (in_run) hf_pieces_close(out, run_from, 0);
}

static void fuse(const HfPieces *in, HfPieces *out) {
    size_t from = out->text.len;
    for (int k = 0; k < in->n; k++) hf_buf_append(&out->text, in->text.data + in->spans[k].off, in->spans[k].len);
    hf_pieces_close(out, from, 0);
}

/* Up to strip_start leading and strip_stop trailing copies of one character, per token. */
static void strip(const HfDecoder *d, const HfPieces *in, HfPieces *out) {
    char c[4];
    size_t cl = (size_t)hf_utf8_encode(d->strip_cp, c);
    for (int k = 0; k < in->n; k++) {
        const char *s = in->text.data + in->spans[k].off;
        size_t a = 0, b = in->spans[k].len;
        for (int i = 0; i < d->strip_start && b - a >= cl && !memcmp(s + a, c, cl); i++) a += cl;
        for (int i = 0; i < d->strip_stop && b - a >= cl && !memcmp(s + b - cl, c, cl); i++) b -= cl;
        hf_pieces_add(out, s + a, b - a, 0);
    }
}

void hf_decode_tokens(HfDecoder *d, HfPieces **cur, HfPieces **tmp, HfScratch *sc) {
    if (d->type == HF_DEC_SEQUENCE) {
        for (int i = 0; i < d->n_children; i++) hf_decode_tokens(&d->children[i], cur, tmp, sc);
        return;
    }
    HfPieces *in = *cur, *out = *tmp;
    hf_pieces_clear(out);
    switch (d->type) {
    case HF_DEC_BYTELEVEL: bytelevel(d, in, out); break;
    case HF_DEC_METASPACE: metaspace(d, in, out); break;
    case HF_DEC_REPLACE: replace(d, in, out, &sc->matches); break;
    case HF_DEC_BYTEFALLBACK: bytefallback(in, out); break;
    case HF_DEC_FUSE: fuse(in, out); break;
    case HF_DEC_STRIP: strip(d, in, out); break;
    case HF_DEC_SEQUENCE: break;
    }
    *cur = out;
    *tmp = in;
}
