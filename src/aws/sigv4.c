/* sigv4.c - AWS Signature Version 4 (header and presigned-query forms).
 *
 * Everything one signature needs is built in a single output block (the
 * strings of sigv4_result point into it) plus scratch space that the key
 * cache keeps between calls, so a cached signature costs one allocation.
 * The canonical pieces themselves are built in sigv4_canonical.c.
 */
#include "sigv4.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "sigv4_int.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define CACHE_SLOTS 8
#define CACHE_ID_MAX 192      /* "akid\0date\0region\0service": longer is not cached */
#define MAX_EXPIRES 604800    /* AWS refuses presigned URLs valid over 7 days */
#define MAX_KEY_ID 128        /* AWS access key ids are at most 128 characters */

/* ---- key cache ---------------------------------------------------------- */

typedef struct cached_key {
    char id[CACHE_ID_MAX];
    size_t id_len;            /* 0: slot unused */
    unsigned char secret_digest[HASH_SHA256_LEN];  /* never the secret itself */
    unsigned char key[HASH_SHA256_LEN];
    unsigned long last_used;
} cached_key;

struct sigv4_key_cache {
    hash_ctx *hash;
    cached_key slots[CACHE_SLOTS];
    unsigned long clock;
    scratch work;
};

sigv4_key_cache *sigv4_key_cache_new(void)
{
    sigv4_key_cache *c = xcalloc(1, sizeof *c);
    c->hash = hash_ctx_new();
    return c;
}

void sigv4_key_cache_free(sigv4_key_cache *c)
{
    if (!c) return;
    hash_ctx_free(c->hash);
    sigv4_scratch_free(&c->work);
    hash_wipe(c->slots, sizeof c->slots);
    free(c);
}

static void derive_key(hash_ctx *h, const char *secret, const char *date,
                       const char *region, const char *service,
                       unsigned char key[HASH_SHA256_LEN])
{
    size_t secret_len = strlen(secret);
    char stack_seed[4 + 128];
    char *seed = secret_len <= 128 ? stack_seed : xmalloc(4 + secret_len);
    memcpy(seed, "AWS4", 4);
    memcpy(seed + 4, secret, secret_len);

    unsigned char k[HASH_SHA256_LEN];
    hash_hmac_sha256(h, seed, 4 + secret_len, date, strlen(date), k);
    hash_hmac_sha256(h, k, sizeof k, region, strlen(region), k);
    hash_hmac_sha256(h, k, sizeof k, service, strlen(service), k);
    hash_hmac_sha256(h, k, sizeof k, "aws4_request", 12, key);

    hash_wipe(seed, 4 + secret_len);
    hash_wipe(k, sizeof k);
    if (seed != stack_seed) free(seed);
}

/* Writes "a\0b\0c\0d" into id; 0 if it does not fit. */
static size_t cache_id(char id[CACHE_ID_MAX], const char *akid, const char *date,
                       const char *region, const char *service)
{
    const char *parts[] = {akid, date, region, service};
    size_t len = 0;
    for (size_t i = 0; i < 4; i++) {
        size_t n = strlen(parts[i]) + 1;
        if (len + n > CACHE_ID_MAX) return 0;
        memcpy(id + len, parts[i], n);
        len += n;
    }
    return len;
}

int sigv4_signing_key(sigv4_key_cache *cache, const sigv4_credentials *creds,
                      const char *date, const char *region, const char *service,
                      unsigned char key[32])
{
    char id[CACHE_ID_MAX];
    size_t id_len = cache ? cache_id(id, creds->access_key_id, date, region, service) : 0;
    if (!id_len) {
        derive_key(cache ? cache->hash : NULL, creds->secret_access_key, date,
                   region, service, key);
        return 0;
    }

    unsigned char digest[HASH_SHA256_LEN];
    const char *secret = creds->secret_access_key;
    hash_sha256(cache->hash, secret, strlen(secret), digest);

    cached_key *victim = &cache->slots[0];
    for (size_t i = 0; i < CACHE_SLOTS; i++) {
        cached_key *s = &cache->slots[i];
        if (s->id_len == id_len && !memcmp(s->id, id, id_len)
            && !memcmp(s->secret_digest, digest, sizeof digest)) {
            s->last_used = ++cache->clock;
            memcpy(key, s->key, HASH_SHA256_LEN);
            return 1;
        }
        if (s->last_used < victim->last_used) victim = s;
    }
    derive_key(cache->hash, secret, date, region, service, key);
    memcpy(victim->id, id, id_len);
    victim->id_len = id_len;
    memcpy(victim->secret_digest, digest, sizeof digest);
    memcpy(victim->key, key, HASH_SHA256_LEN);
    victim->last_used = ++cache->clock;
    return 0;
}

/* ---- signing ------------------------------------------------------------ */

#define NAME_IS(h, literal) sigv4_names_equal((h), literal, sizeof literal - 1)

typedef struct signing {
    const sigv4_request *req;
    const sigv4_params *p;
    scratch *s;
    hash_ctx *hash;           /* the cache's, or one for this call */
    int presign;
    const char *token;        /* session token, NULL if none */
    int sign_token;           /* token is part of what is signed */
    char scope[128];          /* date/region/service/aws4_request */
    char credential[MAX_KEY_ID + 1 + 128];   /* akid/scope */
    char expires[24];         /* presigned form: X-Amz-Expires in decimal */
} signing;

/* Collects, filters and sorts the headers to sign. -1 if malformed. */
static int collect_headers(signing *g, const sigv4_result *out, size_t *count)
{
    const sigv4_request *req = g->req;
    size_t n = 0;
    int have_host = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const sigv4_header *src = &req->headers[i];
        if (!sigv4_valid_header(src->name, src->value)) return -1;
        n = sigv4_add_header(g->s, n, src->name, src->value);
        header_ref *h = &g->s->headers[n - 1];
        have_host |= NAME_IS(h, "host");
        /* Drop what this signer adds itself, and what must not be signed. */
        if (sigv4_unsignable(h)
            || (g->token && NAME_IS(h, "x-amz-security-token"))
            || (!g->presign && NAME_IS(h, "x-amz-date"))
            || (!g->presign && g->p->sign_body && NAME_IS(h, "x-amz-content-sha256")))
            n--;
    }
    if (!have_host) return -1;
    if (!g->presign) {
        n = sigv4_add_header(g->s, n, "x-amz-date", out->amz_date);
        if (g->sign_token) n = sigv4_add_header(g->s, n, "x-amz-security-token", g->token);
        if (g->p->sign_body) n = sigv4_add_header(g->s, n, "x-amz-content-sha256", out->payload_hash);
    }
    qsort(g->s->headers, n, sizeof *g->s->headers, sigv4_compare_headers);
    *count = n;
    return 0;
}

typedef struct amz_param {
    const char *name, *value;
} amz_param;

/* The X-Amz-* parameters of the presigned form, in the order AWS SDKs send
 * them (the signature follows). The token is last: it may go unsigned. */
static size_t presign_params(const signing *g, const sigv4_result *r, amz_param out[6])
{
    size_t n = 0;
    out[n++] = (amz_param){"X-Amz-Algorithm", ALGORITHM};
    out[n++] = (amz_param){"X-Amz-Credential", g->credential};
    out[n++] = (amz_param){"X-Amz-Date", r->amz_date};
    out[n++] = (amz_param){"X-Amz-SignedHeaders", g->s->signed_headers.data};
    out[n++] = (amz_param){"X-Amz-Expires", g->expires};
    if (g->token) out[n++] = (amz_param){"X-Amz-Security-Token", g->token};
    return n;
}

static int check_inputs(const sigv4_request *req, const sigv4_params *p, int presign)
{
    if (!req || !p || !p->creds || !req->method || !*req->method || !req->path
        || req->path[0] != '/' || (req->nheaders && !req->headers)
        || (req->body_len && !req->body)
        || (req->payload_hash && strlen(req->payload_hash) > 64)
        || (presign && (p->expires < 1 || p->expires > MAX_EXPIRES)))
        return -1;
    const sigv4_credentials *c = p->creds;
    if (!c->access_key_id || !*c->access_key_id || strlen(c->access_key_id) > MAX_KEY_ID
        || !c->secret_access_key || !p->region || !*p->region || !p->service
        || !*p->service)
        return -1;
    struct tm tm;
    if (!gmtime_r(&p->when, &tm) || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
        return -1;
    return 0;
}

/* Everything before the canonical request: date, scope, payload hash,
 * headers and query parameters (in g->s). -1 if the request is malformed. */
static int prepare(signing *g, sigv4_result *out, size_t *nheaders, size_t *nparams)
{
    const sigv4_params *p = g->p;
    sigv4_format_date(p->when, out->amz_date);
    int n = snprintf(g->scope, sizeof g->scope, "%.8s/%s/%s/aws4_request",
                     out->amz_date, p->region, p->service);
    if (n < 0 || (size_t)n >= sizeof g->scope) return -1;
    snprintf(g->credential, sizeof g->credential, "%s/%s", p->creds->access_key_id,
             g->scope);
    snprintf(g->expires, sizeof g->expires, "%ld", p->expires);

    if (g->req->payload_hash) {
        strcpy(out->payload_hash, g->req->payload_hash);
    } else {
        unsigned char digest[HASH_SHA256_LEN];
        hash_sha256(g->hash, g->req->body ? g->req->body : "", g->req->body_len, digest);
        hash_hex(digest, sizeof digest, out->payload_hash);
    }

    if (collect_headers(g, out, nheaders)) return -1;
    sigv4_put_signed_headers(&g->s->signed_headers, g->s->headers, *nheaders);

    buf_reset(&g->s->text);
    *nparams = sigv4_add_request_query(g->s, g->req->query);
    if (g->presign) {
        amz_param amz[6];
        size_t count = presign_params(g, out, amz);
        for (size_t i = 0; i < count; i++) {
            if (amz[i].value == g->token && !g->sign_token) continue;
            *nparams = sigv4_add_param(g->s, *nparams, amz[i].name, strlen(amz[i].name),
                                 amz[i].value, strlen(amz[i].value), 0);
        }
    }
    return 0;
}

static void put_canonical_request(buf *w, const signing *g, const sigv4_result *out,
                                  size_t nheaders, size_t nparams)
{
    buf_puts(w, g->req->method);
    buf_putc(w, '\n');
    sigv4_put_canonical_path(w, g->s, g->req->path, g->p);
    buf_putc(w, '\n');
    sigv4_put_canonical_query(w, g->s, nparams);
    buf_putc(w, '\n');
    sigv4_put_canonical_headers(w, g->s->headers, nheaders);
    buf_putc(w, '\n');
    buf_append(w, g->s->signed_headers.data, g->s->signed_headers.len);
    buf_putc(w, '\n');
    buf_puts(w, out->payload_hash);
}

/* The Authorization value, or the query string to send. */
static void put_final(buf *w, const signing *g, const sigv4_result *out)
{
    if (g->presign) {
        const char *query = g->req->query;
        if (query && *query) {
            buf_puts(w, query);
            buf_putc(w, '&');
        }
        amz_param amz[6];
        size_t count = presign_params(g, out, amz);
        for (size_t i = 0; i < count; i++) {
            buf_puts(w, amz[i].name);
            buf_putc(w, '=');
            sigv4_uri_encode(w, amz[i].value, strlen(amz[i].value), 0);
            buf_putc(w, '&');
        }
        buf_puts(w, "X-Amz-Signature=");
    } else {
        buf_puts(w, ALGORITHM " Credential=");
        buf_puts(w, g->credential);
        buf_puts(w, ", SignedHeaders=");
        buf_append(w, g->s->signed_headers.data, g->s->signed_headers.len);
        buf_puts(w, ", Signature=");
    }
    buf_append(w, out->signature, 2 * HASH_SHA256_LEN);
}

static int sign(const sigv4_request *req, const sigv4_params *p,
                sigv4_key_cache *cache, sigv4_result *out, int presign)
{
    memset(out, 0, sizeof *out);
    if (check_inputs(req, p, presign)) return -1;

    /* Without a cache, contexts live for this call only (still cheaper than
     * OpenSSL's one-shot calls, which fetch the algorithm every time). */
    scratch local = {BUF_INIT, BUF_INIT, BUF_INIT, NULL, 0, NULL, 0};
    hash_ctx *own_hash = cache ? NULL : hash_ctx_new();
    signing g = {
        .req = req, .p = p, .presign = presign,
        .s = cache ? &cache->work : &local, .hash = cache ? cache->hash : own_hash,
        .token = p->creds->session_token && *p->creds->session_token
                 ? p->creds->session_token : NULL,
    };
    g.sign_token = g.token && !p->omit_session_token;
    size_t nheaders, nparams;
    if (prepare(&g, out, &nheaders, &nparams)) {
        sigv4_scratch_free(&local);
        hash_ctx_free(own_hash);
        memset(out, 0, sizeof *out);
        return -1;
    }

    /* One block holds every string of the result, NUL-separated. */
    buf w = BUF_INIT;
    buf_reserve(&w, 1024 + 3 * (strlen(req->path) + g.s->text.len)
                + (req->query ? strlen(req->query) : 0) + 2 * g.s->signed_headers.len);
    put_canonical_request(&w, &g, out, nheaders, nparams);
    unsigned char digest[HASH_SHA256_LEN];
    char digest_hex[2 * HASH_SHA256_LEN + 1];
    hash_sha256(g.hash, w.data, w.len, digest);
    hash_hex(digest, sizeof digest, digest_hex);

    size_t sts_off = w.len + 1;
    buf_putc(&w, '\0');
    buf_puts(&w, ALGORITHM "\n");
    buf_append(&w, out->amz_date, 16);
    buf_putc(&w, '\n');
    buf_puts(&w, g.scope);
    buf_putc(&w, '\n');
    buf_append(&w, digest_hex, 2 * HASH_SHA256_LEN);

    unsigned char key[HASH_SHA256_LEN];
    char date[9] = {0};
    memcpy(date, out->amz_date, 8);
    if (cache) sigv4_signing_key(cache, p->creds, date, p->region, p->service, key);
    else derive_key(g.hash, p->creds->secret_access_key, date, p->region, p->service, key);
    hash_hmac_sha256(g.hash, key, sizeof key, w.data + sts_off, w.len - sts_off, digest);
    hash_wipe(key, sizeof key);
    hash_hex(digest, sizeof digest, out->signature);

    size_t signed_headers_off = w.len + 1;
    buf_putc(&w, '\0');
    buf_append(&w, g.s->signed_headers.data, g.s->signed_headers.len);
    size_t final_off = w.len + 1;
    buf_putc(&w, '\0');
    put_final(&w, &g, out);

    char *block = buf_detach(&w);
    out->canonical_request = block;
    out->string_to_sign = block + sts_off;
    out->signed_headers = block + signed_headers_off;
    if (presign) out->presigned_query = block + final_off;
    else out->authorization = block + final_off;
    sigv4_scratch_free(&local);
    hash_ctx_free(own_hash);
    return 0;
}

int sigv4_sign_header(const sigv4_request *req, const sigv4_params *p,
                      sigv4_key_cache *cache, sigv4_result *out)
{
    return sign(req, p, cache, out, 0);
}

int sigv4_sign_query(const sigv4_request *req, const sigv4_params *p,
                     sigv4_key_cache *cache, sigv4_result *out)
{
    return sign(req, p, cache, out, 1);
}

void sigv4_result_free(sigv4_result *r)
{
    if (!r) return;
    free(r->canonical_request);   /* the block every string points into */
    memset(r, 0, sizeof *r);
}

void sigv4_format_date(time_t t, char out[17])
{
    struct tm tm;
    /* Years past 9999 do not fit; sign() refuses them. */
    if (!gmtime_r(&t, &tm) || !strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm))
        memcpy(out, "00000000T000000Z", 17);
}
