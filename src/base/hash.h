/* hash.h - SHA-256 and HMAC-SHA256 over OpenSSL 3, plus hex output.
 *
 * A hash_ctx keeps fetched algorithms and live contexts so hot paths (SigV4
 * signing) do not pay OpenSSL's per-call fetch and allocation. A context is
 * not thread-safe: one per thread or event loop. Every function also takes
 * NULL for the context and then uses OpenSSL's one-shot calls (slower).
 * OpenSSL failures here can only mean memory exhaustion, so they abort like
 * xmalloc does.
 */
#ifndef MIGHOST_HASH_H
#define MIGHOST_HASH_H

#include <stddef.h>

#define HASH_SHA256_LEN 32

typedef struct hash_ctx hash_ctx;

hash_ctx *hash_ctx_new(void);
void hash_ctx_free(hash_ctx *h);

void hash_sha256(hash_ctx *h, const void *data, size_t len,
                 unsigned char out[HASH_SHA256_LEN]);
void hash_hmac_sha256(hash_ctx *h, const void *key, size_t key_len,
                      const void *data, size_t len,
                      unsigned char out[HASH_SHA256_LEN]);

/* Lowercase hex SHA-256 of data (65 bytes with the NUL); NULL data is "". */
void hash_sha256_hex(const void *data, size_t len, char out[2 * HASH_SHA256_LEN + 1]);

/* Lowercase hex of len bytes into out (2 * len + 1 bytes, NUL-terminated). */
void hash_hex(const unsigned char *in, size_t len, char *out);

/* Overwrite secrets in memory in a way the compiler cannot drop. */
void hash_wipe(void *p, size_t len);

#endif
