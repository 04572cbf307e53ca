/* hash.c - SHA-256 / HMAC-SHA256 with reusable OpenSSL 3 contexts. */
#include "hash.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "buf.h"

struct hash_ctx {
    EVP_MD *sha256;       /* explicitly fetched: no lookup per call */
    EVP_MD_CTX *md;
    EVP_MAC *hmac;
    EVP_MAC_CTX *mac;     /* digest set once; only the key changes per call */
};

static void openssl_failed(const char *what)
{
    fprintf(stderr, "mighost: OpenSSL %s failed\n", what);
    abort();
}

hash_ctx *hash_ctx_new(void)
{
    hash_ctx *h = xcalloc(1, sizeof *h);
    h->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    h->md = EVP_MD_CTX_new();
    h->hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    h->mac = h->hmac ? EVP_MAC_CTX_new(h->hmac) : NULL;
    if (!h->sha256 || !h->md || !h->mac) openssl_failed("context setup");

    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, "SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (!EVP_MAC_CTX_set_params(h->mac, params)) openssl_failed("HMAC setup");
    return h;
}

void hash_ctx_free(hash_ctx *h)
{
    if (!h) return;
    EVP_MAC_CTX_free(h->mac);
    EVP_MAC_free(h->hmac);
    EVP_MD_CTX_free(h->md);
    EVP_MD_free(h->sha256);
    free(h);
}

void hash_sha256(hash_ctx *h, const void *data, size_t len,
                 unsigned char out[HASH_SHA256_LEN])
{
    if (!h) {
        if (!EVP_Digest(data, len, out, NULL, EVP_sha256(), NULL))
            openssl_failed("SHA-256");
        return;
    }
    if (!EVP_DigestInit_ex2(h->md, h->sha256, NULL)
        || !EVP_DigestUpdate(h->md, data, len)
        || !EVP_DigestFinal_ex(h->md, out, NULL))
        openssl_failed("SHA-256");
}

void hash_hmac_sha256(hash_ctx *h, const void *key, size_t key_len,
                      const void *data, size_t len,
                      unsigned char out[HASH_SHA256_LEN])
{
    if (!h) {
        if (key_len > (size_t)INT_MAX || !HMAC(EVP_sha256(), key, (int)key_len,
                                                   data, len, out, NULL))
            openssl_failed("HMAC-SHA256");
        return;
    }
    size_t out_len = 0;
    if (!EVP_MAC_init(h->mac, key, key_len, NULL)
        || !EVP_MAC_update(h->mac, data, len)
        || !EVP_MAC_final(h->mac, out, &out_len, HASH_SHA256_LEN)
        || out_len != HASH_SHA256_LEN)
        openssl_failed("HMAC-SHA256");
}

void hash_hex(const unsigned char *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * len] = '\0';
}

void hash_wipe(void *p, size_t len)
{
    OPENSSL_cleanse(p, len);
}

void hash_sha256_hex(const void *data, size_t len, char out[2 * HASH_SHA256_LEN + 1])
{
    unsigned char digest[HASH_SHA256_LEN];
    hash_sha256(NULL, data ? data : "", len, digest);
    hash_hex(digest, sizeof digest, out);
}
