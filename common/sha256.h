/* sha256.h -- SHA-256 (FIPS 180-4), for model checksums and data provenance. */
#ifndef DIGITS_SHA256_H
#define DIGITS_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state[8];
    uint64_t total_bytes;
    uint8_t block[64];
    size_t block_len;
} sha256_ctx;

void sha256_init(sha256_ctx *ctx);
void sha256_update(sha256_ctx *ctx, const void *data, size_t len);
void sha256_final(sha256_ctx *ctx, uint8_t digest[32]);

/* One-shot digest of a buffer. */
void sha256(const void *data, size_t len, uint8_t digest[32]);
/* 64 lowercase hex characters and a NUL into hex[65]. */
void sha256_hex(const uint8_t digest[32], char hex[65]);

#endif
