/* SHA-256 (FIPS 180-4), for provenance: config hashes, model file hashes and run ids. */
#ifndef SPECDEC_SHA256_H
#define SPECDEC_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t h[8];        /* the chaining state */
    uint64_t n_bytes;     /* message length so far */
    uint8_t block[64];    /* the partial block */
    size_t n_block;       /* bytes held in block */
} Sha256;

void sha256_init(Sha256 *s);
void sha256_update(Sha256 *s, const void *data, size_t n);
void sha256_final(Sha256 *s, uint8_t digest[32]);

/* Lowercase hex digest (64 characters and a NUL) of a buffer, or of a whole file (fatal() when
 * it cannot be read). */
void sha256_hex(const void *data, size_t n, char hex[65]);
void sha256_file_hex(const char *path, char hex[65]);

#endif
