/* N-gram storages: counts of the tokens that followed each context, for the ngram drafters.
 *
 * NGramStorage (n) keeps every context length from 1 to n-1 ("levels"): ngram:3 counts what
 * followed each pair and each single token. next_token() answers from the longest context it
 * knows and backs off to shorter ones. OneLevelNGramStorage (n) is the same structure keeping
 * only level n-1: a context of exactly n-1 tokens, no backoff. Both also keep level 0, the empty
 * context, which counts every observation: the most frequent token seen overall.
 *
 * Contexts are keys of NGRAM_MAX_N - 1 tokens padded with -1 (llama.cpp style), so one uthash
 * table holds every level. Each context keeps its continuations and its current best, so a
 * lookup is one hash probe per level.
 *
 * The most frequent continuation wins; ties go to the smaller token id, so a prediction depends
 * only on the counts, never on the order they arrived in.
 *
 * Mirrors NGramStorage / OneLevelNGramStorage of the reference Python harness (next_token,
 * has_gram, update, initialize, reset), with three differences: its multi-level storage skipped
 * level 1, ours keeps it as DESIGN.md says; an unknown context gives -1, not a random token; and
 * its ties went to whichever token reached the count first. */
#ifndef SPECDEC_NGRAM_STORAGE_H
#define SPECDEC_NGRAM_STORAGE_H

#define NGRAM_MAX_N 8 /* contexts of at most 7 tokens */

typedef struct NGramEntry NGramEntry;

typedef struct {
    int n;                        /* grams of up to n tokens: contexts of up to n-1 */
    int lowest;                   /* shortest context kept besides level 0: 1, or n-1 (one level) */
    int vocab;                    /* tokens lie in [0, vocab) */
    NGramEntry *table;            /* uthash head: every context of every level */
    long n_contexts[NGRAM_MAX_N]; /* (NGRAM_MAX_N) distinct contexts per level */
} NGramStorage;

/* fatal() unless 2 <= n <= NGRAM_MAX_N and vocab >= 1. */
NGramStorage *ngram_storage_build(int n, int vocab);
NGramStorage *ngram1_storage_build(int n, int vocab); /* OneLevelNGramStorage */
void ngram_storage_free(NGramStorage *s);
/* Forgets every count; the storage stays usable. */
void ngram_storage_reset(NGramStorage *s);

/* One observation: next_token followed ctx[0..ctx_len). Counted once at level 0 and once at every
 * kept level j <= ctx_len, with the context ctx[ctx_len-j .. ctx_len). */
void ngram_storage_update(NGramStorage *s, const int *ctx, int ctx_len, int next_token);
/* Counts every token of a sequence (e.g. the prompt) after the tokens before it:
 * update(tokens, i, tokens[i]) for i in [0, n_tokens). */
void ngram_storage_initialize(NGramStorage *s, const int *tokens, int n_tokens);

/* The most frequent continuation of the longest kept context that is a known suffix of
 * ctx[0..ctx_len), or -1 when no level knows it. *level (may be NULL) gets the context length
 * used, 0 when none. */
int ngram_storage_next_token(const NGramStorage *s, const int *ctx, int ctx_len, int *level);
/* The most frequent token over all observations (level 0), -1 when there were none. */
int ngram_storage_most_frequent(const NGramStorage *s);
/* How often token followed exactly ctx[0..ctx_len); 0 for a level the storage does not keep. */
int ngram_storage_count(const NGramStorage *s, const int *ctx, int ctx_len, int token);
/* Whether gram[len-1] was seen after exactly gram[0..len-1): count(gram, len - 1, gram[len-1]) > 0;
 * 0 for len < 1. */
int ngram_storage_has_gram(const NGramStorage *s, const int *gram, int len);

#endif
