/* The tokenizer.json BPE model: vocabulary, ranked merges, byte fallback, unknown tokens and a
 * bounded word cache.
 *
 * A word starts as one symbol per character and the pair of adjacent symbols with the lowest merge
 * rank is merged, leftmost first among equal ranks, until no pair has a merge. The candidates sit
 * in a binary heap keyed on (rank, position) and the symbols in a doubly linked list, so a word of
 * n characters costs O(n log n): a 1 MB word without whitespace is fine. Stale heap entries are
 * recognised, as in tokenizers, by the pair no longer producing the entry's token. */
#include <string.h>

#include "check.h"
#include "tokenizer_hf_internal.h"

enum {
    MAX_TOKEN_ID = 1 << 24,
    CACHE_SLOTS = 1 << 17,          /* at most half of them used */
    CACHE_MAX_WORD = 256,           /* longer words are rare and not worth keeping */
};

int hf_bpe_token_id(const HfBpe *m, const char *s, size_t n) {
    HfVocabEntry *e = NULL;
    HASH_FIND(hh, m->vocab, s, n, e);
    return e ? e->id : -1;
}

static const HfMerge *find_merge(const HfBpe *m, int a, int b) {
    uint64_t key = ((uint64_t)(uint32_t)a << 32) | (uint32_t)b;
    HfMerge *e = NULL;
    HASH_FIND(hh, m->merge_table, &key, sizeof key, e);
    return e;
}

static void parse_vocab(HfBpe *m, const cJSON *vocab, const char *file) {
    if (!cJSON_IsObject(vocab)) fatal("%s: model.vocab: expected an object of token -> id", file);
    size_t arena = 0;
    int max_id = -1;
    for (const cJSON *v = vocab->child; v; v = v->next) {
        if (!cJSON_IsNumber(v) || v->valuedouble != (double)v->valueint || v->valueint < 0 || v->valueint >= MAX_TOKEN_ID)
            fatal("%s: model.vocab[\"%s\"]: expected an integer id in 0..%d", file, v->string, MAX_TOKEN_ID - 1);
        arena += (sizeof(HfVocabEntry) + strlen(v->string) + 7) & ~(size_t)7;
        if (v->valueint > max_id) max_id = v->valueint;
    }
    m->vocab_arena = mallocCheck(arena);
    m->n_ids = max_id + 1;
    m->id_token = callocCheck((size_t)m->n_ids, sizeof(char *));
    m->id_token_len = callocCheck((size_t)m->n_ids, sizeof(int));
    char *w = m->vocab_arena;
    for (const cJSON *v = vocab->child; v; v = v->next) {
        size_t len = strlen(v->string);
        HfVocabEntry *e = (HfVocabEntry *)w, *old = NULL;
        w += (sizeof(HfVocabEntry) + len + 7) & ~(size_t)7;
        memset(e, 0, sizeof *e);
        e->id = v->valueint;
        e->len = (int)len;
        memcpy(e->key, v->string, len);
        /* A repeated token keeps its last id, as a JSON map read into a hash map does. */
        HASH_FIND(hh, m->vocab, e->key, len, old);
        if (old) HASH_DELETE(hh, m->vocab, old);
        HASH_ADD_KEYPTR(hh, m->vocab, e->key, len, e);
        m->id_token[e->id] = e->key;
        m->id_token_len[e->id] = e->len;
    }
}

static int vocab_required(const HfBpe *m, const char *s, size_t n, const char *file, int i) {
    int id = hf_bpe_token_id(m, s, n);
    if (id < 0) fatal("%s: model.merges[%d]: \"%.*s\" is not in the vocabulary", file, i, (int)n, s);
    return id;
}

static void parse_merges(HfBpe *m, const cJSON *merges, const char *file) {
    if (!cJSON_IsArray(merges)) fatal("%s: model.merges: expected an array", file);
    m->n_merges = cJSON_GetArraySize(merges);
    m->merges = callocCheck((size_t)m->n_merges, sizeof(HfMerge));
    HfBuf joined = {0};
    int i = 0;
    for (const cJSON *mg = merges->child; mg; mg = mg->next, i++) {
        const char *a, *b;
        size_t la, lb;
        if (cJSON_IsString(mg)) { /* older files: "left right" */
            const char *sp = strchr(mg->valuestring, ' ');
            if (!sp) fatal("%s: model.merges[%d]: expected \"left right\", got \"%s\"", file, i, mg->valuestring);
            a = mg->valuestring;
            la = (size_t)(sp - a);
            b = sp + 1;
            lb = strlen(b);
        } else if (cJSON_IsArray(mg) && cJSON_GetArraySize(mg) == 2 && cJSON_IsString(mg->child) &&
                   cJSON_IsString(mg->child->next)) {
            a = mg->child->valuestring;
            la = strlen(a);
            b = mg->child->next->valuestring;
            lb = strlen(b);
        } else {
            fatal("%s: model.merges[%d]: expected \"left right\" or [\"left\", \"right\"]", file, i);
        }
        joined.len = 0;
        hf_buf_append(&joined, a, la);
        hf_buf_append(&joined, b, lb);
        HfMerge *e = &m->merges[i], *old = NULL;
        e->pair = ((uint64_t)(uint32_t)vocab_required(m, a, la, file, i) << 32) |
                  (uint32_t)vocab_required(m, b, lb, file, i);
        e->rank = i;
        e->new_id = vocab_required(m, joined.data, joined.len, file, i);
        /* A repeated pair keeps its last rank, as tokenizers' hash map does. */
        HASH_FIND(hh, m->merge_table, &e->pair, sizeof e->pair, old);
        if (old) HASH_DELETE(hh, m->merge_table, old);
        HASH_ADD(hh, m->merge_table, pair, sizeof e->pair, e);
    }
    free(joined.data);
}

static char *optional_string(const cJSON *model, const char *key, size_t *len, const char *file) {
    const char *s = hf_json_string(model, key, 1, file, "model");
    if (!s) return NULL;
    *len = strlen(s);
    return strdupCheck(s);
}

void hf_bpe_parse(HfBpe *m, const cJSON *model, const char *file) {
    memset(m, 0, sizeof *m);
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
    if (dropout && !cJSON_IsNull(dropout) && !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0.0))
        fatal("%s: model.dropout: BPE dropout is not supported (it makes encoding random); expected null", file);
    parse_vocab(m, cJSON_GetObjectItemCaseSensitive(model, "vocab"), file);
    parse_merges(m, cJSON_GetObjectItemCaseSensitive(model, "merges"), file);
    m->fuse_unk = hf_json_bool(model, "fuse_unk", 0, file, "model");
    m->byte_fallback = hf_json_bool(model, "byte_fallback", 0, file, "model");
    m->ignore_merges = hf_json_bool(model, "ignore_merges", 0, file, "model");
    m->prefix = optional_string(model, "continuing_subword_prefix", &m->prefix_len, file);
    m->suffix = optional_string(model, "end_of_word_suffix", &m->suffix_len, file);
    const char *unk = hf_json_string(model, "unk_token", 1, file, "model");
    m->unk_id = unk ? hf_bpe_token_id(m, unk, strlen(unk)) : -1;
    if (unk && m->unk_id < 0) fatal("%s: model.unk_token: \"%s\" is not in the vocabulary", file, unk);
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        m->byte_ids[b] = hf_bpe_token_id(m, name, 6);
    }
    for (uint32_t cp = 0; cp < 0x800; cp++) {
        char u[4];
        m->char_ids[cp] = hf_bpe_token_id(m, u, (size_t)hf_utf8_encode(cp, u));
    }
    m->cache.cap = CACHE_SLOTS;
    m->cache.hash = callocCheck(CACHE_SLOTS, sizeof(uint32_t));
    m->cache.offset = mallocCheck(CACHE_SLOTS * sizeof(uint32_t));
}

void hf_bpe_free(HfBpe *m) {
    free(m->cache.hash);
    free(m->cache.offset);
    free(m->cache.arena);
    HASH_CLEAR(hh, m->vocab);
    HASH_CLEAR(hh, m->merge_table);
    free(m->vocab_arena);
    free(m->id_token);
    free(m->id_token_len);
    free(m->merges);
    free(m->prefix);
    free(m->suffix);
    free(m->sym);
    free(m->heap);
    free(m->key.data);
    memset(m, 0, sizeof *m);
}

/* ------------------------------------------------------------------ the merge loop */

static int heap_less(const HfHeapItem *a, const HfHeapItem *b) {
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(HfBpe *m, int *n, HfHeapItem it) {
    if (*n == m->heap_cap) {
        m->heap_cap = m->heap_cap ? 2 * m->heap_cap : 256;
        m->heap = reallocCheck(m->heap, sizeof(HfHeapItem) * (size_t)m->heap_cap);
    }
    HfHeapItem *h = m->heap;
    int i = (*n)++;
    while (i > 0 && heap_less(&it, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = it;
}

static HfHeapItem heap_pop(HfBpe *m, int *n) {
    HfHeapItem *h = m->heap, top = h[0], last = h[--*n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &last)) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = last;
    return top;
}

static void push_pair(HfBpe *m, int *n_heap, int pos) {
    const HfSymbol *s = m->sym;
    const HfMerge *mg = find_merge(m, s[pos].id, s[s[pos].next].id);
    if (mg) heap_push(m, n_heap, (HfHeapItem){mg->rank, pos, mg->new_id});
}

static void add_symbol(HfBpe *m, int *n, int id) {
    if (*n == m->sym_cap) {
        m->sym_cap = m->sym_cap ? 2 * m->sym_cap : 256;
        m->sym = reallocCheck(m->sym, sizeof(HfSymbol) * (size_t)m->sym_cap);
    }
    m->sym[*n] = (HfSymbol){id, *n - 1, *n + 1, 1};
    (*n)++;
}

/* One symbol per character (with the subword prefix / word suffix where configured), <0xNN>
 * tokens for characters outside the vocabulary under byte_fallback, else the unknown token. */
static int split_word(HfBpe *m, const char *w, size_t n) {
    int n_sym = 0, pending_unk = 0;
    for (size_t i = 0; i < n;) {
        size_t cl = hf_utf8_len(w + i, n - i);
        const char *key = w + i;
        size_t key_len = cl;
        if ((m->prefix && i > 0) || (m->suffix && i + cl == n)) {
            m->key.len = 0;
            if (m->prefix && i > 0) hf_buf_append(&m->key, m->prefix, m->prefix_len);
            hf_buf_append(&m->key, w + i, cl);
            if (m->suffix && i + cl == n) hf_buf_append(&m->key, m->suffix, m->suffix_len);
            key = m->key.data;
            key_len = m->key.len;
        }
        i += cl;
        int id = -2;
        if (key_len <= 2) { /* most characters: a table instead of a hash lookup */
            size_t l;
            uint32_t cp = hf_utf8_decode(key, key_len, &l);
            if (cp < 0x800 && l == key_len) id = m->char_ids[cp];
        }
        if (id == -2) id = hf_bpe_token_id(m, key, key_len);
        if (id >= 0) {
            if (pending_unk) add_symbol(m, &n_sym, m->unk_id);
            pending_unk = 0;
            add_symbol(m, &n_sym, id);
            continue;
        }
        if (m->byte_fallback) {
            size_t k = 0;
            while (k < key_len && m->byte_ids[(unsigned char)key[k]] >= 0) k++;
            if (k == key_len) {
                /* tokenizers adds the bytes before a pending unknown token; so do we */
                for (k = 0; k < key_len; k++) add_symbol(m, &n_sym, m->byte_ids[(unsigned char)key[k]]);
                continue;
            }
        }
        if (m->unk_id < 0) continue; /* no unk_token: the character is dropped */
        if (pending_unk && !m->fuse_unk) add_symbol(m, &n_sym, m->unk_id);
        pending_unk = 1;
    }
    if (pending_unk) add_symbol(m, &n_sym, m->unk_id);
    if (n_sym) m->sym[n_sym - 1].next = -1;
    return n_sym;
}

static void merge_all(HfBpe *m, int n_sym) {
    int n_heap = 0;
    for (int i = 0; i + 1 < n_sym; i++) push_pair(m, &n_heap, i);
    HfSymbol *s = m->sym;
    while (n_heap > 0) {
        HfHeapItem top = heap_pop(m, &n_heap);
        HfSymbol *left = &s[top.pos];
        if (!left->alive || left->next < 0) continue;
        const HfMerge *mg = find_merge(m, left->id, s[left->next].id);
        if (!mg || mg->new_id != top.new_id) continue; /* stale entry */
        HfSymbol *right = &s[left->next];
        left->id = top.new_id;
        right->alive = 0;
        left->next = right->next;
        if (right->next >= 0) s[right->next].prev = top.pos;
        if (left->prev >= 0) push_pair(m, &n_heap, left->prev);
        if (left->next >= 0) push_pair(m, &n_heap, top.pos);
    }
}

static uint32_t word_hash(const char *w, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)w[i]) * 16777619u;
    return h | 0x80000000u;
}

/* The slot holding w, or the empty slot where it belongs. */
static int cache_slot(const HfWordCache *c, const char *w, size_t n, uint32_t h) {
    int mask = c->cap - 1, i = (int)(h & (uint32_t)mask);
    for (; c->hash[i]; i = (i + 1) & mask) {
        if (c->hash[i] != h) continue;
        const int32_t *e = c->arena + c->offset[i];
        if ((size_t)e[1] == n && !memcmp(e + 2 + e[0], w, n)) break;
    }
    return i;
}

static void cache_put(HfWordCache *c, int slot, uint32_t h, const char *w, size_t n, const int *ids, int n_ids) {
    if (2 * c->count >= c->cap) { /* full: start over */
        memset(c->hash, 0, sizeof(uint32_t) * (size_t)c->cap);
        c->count = 0;
        c->arena_len = 0;
        slot = (int)(h & (uint32_t)(c->cap - 1));
    }
    size_t need = 2 + (size_t)n_ids + (n + 3) / 4;
    if (c->arena_len + need > c->arena_cap) {
        c->arena_cap = c->arena_cap ? 2 * c->arena_cap : 1 << 16;
        while (c->arena_len + need > c->arena_cap) c->arena_cap *= 2;
        c->arena = reallocCheck(c->arena, sizeof(int32_t) * c->arena_cap);
    }
    int32_t *e = c->arena + c->arena_len;
    e[0] = n_ids;
    e[1] = (int32_t)n;
    memcpy(e + 2, ids, sizeof(int) * (size_t)n_ids);
    memcpy(e + 2 + n_ids, w, n);
    c->hash[slot] = h;
    c->offset[slot] = (uint32_t)c->arena_len;
    c->arena_len += need;
    c->count++;
}

void hf_bpe_encode_word(HfBpe *m, const char *w, size_t n, HfInts *out) {
    if (n == 0) return;
    if (m->ignore_merges) {
        int id = hf_bpe_token_id(m, w, n);
        if (id >= 0) {
            hf_ints_push(out, id);
            return;
        }
    }
    uint32_t h = 0;
    int slot = -1;
    if (n < CACHE_MAX_WORD) {
        h = word_hash(w, n);
        slot = cache_slot(&m->cache, w, n, h);
        if (m->cache.hash[slot]) {
            const int32_t *e = m->cache.arena + m->cache.offset[slot];
            for (int i = 0; i < e[0]; i++) hf_ints_push(out, e[2 + i]);
            return;
        }
    }
    int n_sym = split_word(m, w, n), first = out->len;
    if (n_sym > 1) merge_all(m, n_sym);
    for (int i = 0; i < n_sym; i++)
        if (m->sym[i].alive) hf_ints_push(out, m->sym[i].id);
    if (slot >= 0) cache_put(&m->cache, slot, h, w, n, out->data + first, out->len - first);
}
