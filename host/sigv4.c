/* sigv4.c - AWS Signature Version 4 (header and presigned-query forms).
 *
 * Everything one signature needs is built in a single output block (the
 * strings of sigv4_result point into it) plus scratch space that the key
 * cache keeps between calls, so a cached signature costs one allocation.
 */
#include "sigv4.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define ALGORITHM "AWS4-HMAC-SHA256"
#define CACHE_SLOTS 8
#define CACHE_ID_MAX 192      /* "akid\0date\0region\0service": longer is not cached */
#define MAX_EXPIRES 604800    /* AWS refuses presigned URLs valid over 7 days */
#define MAX_KEY_ID 128        /* AWS access key ids are at most 128 characters */

/* ---- scratch space ------------------------------------------------------ */

typedef struct header_ref {
    const char *name, *value;
    size_t name_len, value_len;
    size_t order;             /* position as sent: duplicates keep it */
} header_ref;

typedef struct query_param {
    size_t name_off, name_len, value_off, value_len;  /* into scratch.text */
    const char *base;                                 /* scratch.text.data */
} query_param;

typedef struct scratch {
    buf text;                 /* encoded query names and values */
    buf path;                 /* normalized path */
    buf signed_headers;
    header_ref *headers;
    size_t headers_cap;
    query_param *params;
    size_t params_cap;
} scratch;

static void *reserve_array(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    *cap = n;
    return xrealloc(p, n * elem);
}

static void scratch_free(scratch *s)
{
    buf_free(&s->text);
    buf_free(&s->path);
    buf_free(&s->signed_headers);
    free(s->headers);
    free(s->params);
}

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
    scratch_free(&c->work);
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

/* ---- encoding ----------------------------------------------------------- */

static const char HEX_UPPER[] = "0123456789ABCDEF";

static int is_unreserved(unsigned char c)
{
    /* One bit per ASCII byte: A-Z a-z 0-9 - . _ ~ */
    static const uint32_t bits[8] = {
        0, 0x03ff6000, 0x87fffffe, 0x47fffffe, 0, 0, 0, 0,
    };
    return (bits[c >> 5] >> (c & 31)) & 1;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int is_escape(const char *s, size_t len, size_t i)
{
    return s[i] == '%' && i + 2 < len
        && hex_value((unsigned char)s[i + 1]) >= 0
        && hex_value((unsigned char)s[i + 2]) >= 0;
}

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* Room for n more bytes, the buffer kept a valid (terminated) string. */
static void reserve_str(buf *b, size_t n)
{
    buf_reserve(b, n);
    b->data[b->len] = '\0';
}

/* Appends byte c, percent-encoded unless unreserved (or '/' with keep_slash).
 * The caller has reserved 3 bytes. */
static void put_encoded(buf *out, unsigned char c, int keep_slash)
{
    char *d = out->data + out->len;
    if (is_unreserved(c) || (keep_slash && c == '/')) {
        d[0] = (char)c;
        out->len += 1;
    } else {
        d[0] = '%';
        d[1] = HEX_UPPER[c >> 4];
        d[2] = HEX_UPPER[c & 15];
        out->len += 3;
    }
    out->data[out->len] = '\0';
}

void sigv4_uri_encode(buf *out, const char *s, size_t len, int keep_slash)
{
    reserve_str(out, 3 * len);
    for (size_t i = 0; i < len; i++)
        put_encoded(out, (unsigned char)s[i], keep_slash);
}

/* For text already percent-encoded by someone else. Query parts (decode):
 * %XX is decoded, then everything is encoded the RFC 3986 way, so any
 * encoding style gives one canonical form; '+' stays a literal plus (%2B).
 * S3 paths (!decode): %XX escapes are kept (hex uppercased), '/' too, and
 * only what still needs it is encoded. */
static void reencode(buf *out, const char *s, size_t len, int decode)
{
    reserve_str(out, 3 * len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_escape(s, len, i)) {
            c = (unsigned char)(hex_value((unsigned char)s[i + 1]) << 4
                                | hex_value((unsigned char)s[i + 2]));
            i += 2;
            if (!decode) {
                char *d = out->data + out->len;
                d[0] = '%', d[1] = HEX_UPPER[c >> 4], d[2] = HEX_UPPER[c & 15];
                out->len += 3;
                continue;
            }
        }
        put_encoded(out, c, !decode);
    }
    out->data[out->len] = '\0';
}

/* ---- canonical pieces --------------------------------------------------- */

/* RFC 3986 remove_dot_segments, plus empty segments dropped ("//" -> "/"). */
static void normalize_path(buf *out, const char *path)
{
    size_t n = strlen(path);
    int trailing_slash = n > 0 && path[n - 1] == '/';
    buf_reset(out);
    reserve_str(out, n + 1);
    for (size_t i = 0; i < n;) {
        while (i < n && path[i] == '/') i++;
        size_t start = i;
        while (i < n && path[i] != '/') i++;
        size_t len = i - start;
        if (len == 0) break;
        int is_dot = len == 1 && path[start] == '.';
        int is_dotdot = len == 2 && path[start] == '.' && path[start + 1] == '.';
        if (i == n) trailing_slash = trailing_slash || is_dot || is_dotdot;
        if (is_dot) continue;
        if (is_dotdot) {
            while (out->len > 0 && out->data[out->len - 1] != '/') out->len--;
            if (out->len > 0) out->len--;
            out->data[out->len] = '\0';
            continue;
        }
        buf_putc(out, '/');
        buf_append(out, path + start, len);
    }
    if (out->len == 0 || trailing_slash) buf_putc(out, '/');
}

static void put_canonical_path(buf *out, scratch *s, const char *path,
                               const sigv4_params *p)
{
    if (p->normalize_path) {
        normalize_path(&s->path, path);
        path = s->path.data;
    }
    if (p->double_encode_path)
        sigv4_uri_encode(out, path, strlen(path), 1);
    else
        reencode(out, path, strlen(path), 0);
}

static size_t add_param(scratch *s, size_t n, const char *name, size_t name_len,
                        const char *value, size_t value_len, int decode_first)
{
    s->params = reserve_array(s->params, &s->params_cap, n + 1, sizeof *s->params);
    query_param *q = &s->params[n];
    q->name_off = s->text.len;
    if (decode_first) reencode(&s->text, name, name_len, 1);
    else sigv4_uri_encode(&s->text, name, name_len, 0);
    q->name_len = s->text.len - q->name_off;
    q->value_off = s->text.len;
    if (decode_first) reencode(&s->text, value, value_len, 1);
    else sigv4_uri_encode(&s->text, value, value_len, 0);
    q->value_len = s->text.len - q->value_off;
    return n + 1;
}

static int compare_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

static int compare_params(const void *pa, const void *pb)
{
    const query_param *a = pa, *b = pb;
    int c = compare_bytes(a->base + a->name_off, a->name_len,
                          b->base + b->name_off, b->name_len);
    if (c) return c;
    return compare_bytes(a->base + a->value_off, a->value_len,
                         b->base + b->value_off, b->value_len);
}

/* Sorts the n parameters collected in s and writes "a=1&b=2". */
static void put_canonical_query(buf *out, scratch *s, size_t n)
{
    if (n == 0) return;
    for (size_t i = 0; i < n; i++) s->params[i].base = s->text.data;
    qsort(s->params, n, sizeof *s->params, compare_params);
    for (size_t i = 0; i < n; i++) {
        const query_param *q = &s->params[i];
        if (i) buf_putc(out, '&');
        buf_append(out, q->base + q->name_off, q->name_len);
        buf_putc(out, '=');
        buf_append(out, q->base + q->value_off, q->value_len);
    }
}

static size_t add_request_query(scratch *s, const char *query)
{
    size_t n = 0;
    if (!query) return 0;
    while (*query) {
        size_t len = strcspn(query, "&");
        if (len) {
            const char *eq = memchr(query, '=', len);
            size_t name_len = eq ? (size_t)(eq - query) : len;
            const char *value = eq ? eq + 1 : query + len;
            n = add_param(s, n, query, name_len, value, len - name_len - (eq != NULL), 1);
        }
        query += len;
        if (*query == '&') query++;
    }
    return n;
}

static int is_token_char(unsigned char c)
{
    return is_unreserved(c) || (c && strchr("!#$%&'*+^`|", c));
}

/* A header name must be an HTTP token; a value may hold line breaks only as
 * folding (followed by a space or tab). */
static int valid_header(const char *name, const char *value)
{
    if (!name || !*name || !value) return 0;
    for (const char *c = name; *c; c++)
        if (!is_token_char((unsigned char)*c)) return 0;
    for (const char *c = value; *c; c++) {
        if (*c == '\r' && c[1] != '\n') return 0;
        if (*c == '\n' && c[1] != ' ' && c[1] != '\t') return 0;
    }
    return 1;
}

static int names_equal(const header_ref *h, const char *lower, size_t n)
{
    if (h->name_len != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower(h->name[i]) != lower[i]) return 0;
    return 1;
}

#define NAME_IS(h, literal) names_equal((h), literal, sizeof literal - 1)

/* Rewritten by proxies and HTTP stacks, so never signed. */
static int unsignable(const header_ref *h)
{
#define NAME(literal) {literal, sizeof literal - 1}
    static const struct { const char *name; size_t len; } names[] = {
        NAME("authorization"), NAME("connection"), NAME("expect"),
        NAME("keep-alive"), NAME("te"), NAME("trailer"), NAME("transfer-encoding"),
        NAME("upgrade"), NAME("user-agent"), NAME("x-amzn-trace-id"),
    };
#undef NAME
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (names_equal(h, names[i].name, names[i].len)) return 1;
    return 0;
}

static int compare_names(const header_ref *a, const header_ref *b)
{
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)ascii_lower(a->name[i]);
        unsigned char y = (unsigned char)ascii_lower(b->name[i]);
        if (x != y) return x < y ? -1 : 1;
    }
    return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

static int compare_headers(const void *pa, const void *pb)
{
    const header_ref *a = pa, *b = pb;
    int c = compare_names(a, b);
    if (c) return c;
    return a->order < b->order ? -1 : a->order > b->order;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trimmed, with every run of whitespace (folds included) made one space. */
static void put_header_value(buf *out, const char *v, size_t len)
{
    while (len && is_space(*v)) v++, len--;
    while (len && is_space(v[len - 1])) len--;
    buf_reserve(out, len);
    char *d = out->data + out->len;
    for (size_t i = 0; i < len; i++) {
        if (is_space(v[i])) {
            if (!is_space(v[i - 1])) *d++ = ' ';
        } else {
            *d++ = v[i];
        }
    }
    out->len = (size_t)(d - out->data);
    out->data[out->len] = '\0';
}

static void put_lower(buf *out, const char *s, size_t len)
{
    buf_reserve(out, len);
    for (size_t i = 0; i < len; i++) out->data[out->len + i] = ascii_lower(s[i]);
    out->len += len;
    out->data[out->len] = '\0';
}

/* "name:v1,v2\n" for each distinct name, in sorted order. */
static void put_canonical_headers(buf *out, const header_ref *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i && !compare_names(&h[i - 1], &h[i])) {
            buf_putc(out, ',');
        } else {
            if (i) buf_putc(out, '\n');
            put_lower(out, h[i].name, h[i].name_len);
            buf_putc(out, ':');
        }
        put_header_value(out, h[i].value, h[i].value_len);
    }
    buf_putc(out, '\n');
}

static void put_signed_headers(buf *out, const header_ref *h, size_t n)
{
    buf_reset(out);
    for (size_t i = 0; i < n; i++) {
        if (i && !compare_names(&h[i - 1], &h[i])) continue;
        if (i) buf_putc(out, ';');
        put_lower(out, h[i].name, h[i].name_len);
    }
}

/* ---- signing ------------------------------------------------------------ */

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

static size_t add_header(scratch *s, size_t n, const char *name, const char *value)
{
    s->headers = reserve_array(s->headers, &s->headers_cap, n + 1, sizeof *s->headers);
    s->headers[n] = (header_ref){name, value, strlen(name), strlen(value), n};
    return n + 1;
}

/* Collects, filters and sorts the headers to sign. -1 if malformed. */
static int collect_headers(signing *g, const sigv4_result *out, size_t *count)
{
    const sigv4_request *req = g->req;
    size_t n = 0;
    int have_host = 0;
    for (size_t i = 0; i < req->nheaders; i++) {
        const sigv4_header *src = &req->headers[i];
        if (!valid_header(src->name, src->value)) return -1;
        n = add_header(g->s, n, src->name, src->value);
        header_ref *h = &g->s->headers[n - 1];
        have_host |= NAME_IS(h, "host");
        /* Drop what this signer adds itself, and what must not be signed. */
        if (unsignable(h)
            || (g->token && NAME_IS(h, "x-amz-security-token"))
            || (!g->presign && NAME_IS(h, "x-amz-date"))
            || (!g->presign && g->p->sign_body && NAME_IS(h, "x-amz-content-sha256")))
            n--;
    }
    if (!have_host) return -1;
    if (!g->presign) {
        n = add_header(g->s, n, "x-amz-date", out->amz_date);
        if (g->sign_token) n = add_header(g->s, n, "x-amz-security-token", g->token);
        if (g->p->sign_body) n = add_header(g->s, n, "x-amz-content-sha256", out->payload_hash);
    }
    qsort(g->s->headers, n, sizeof *g->s->headers, compare_headers);
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
    put_signed_headers(&g->s->signed_headers, g->s->headers, *nheaders);

    buf_reset(&g->s->text);
    *nparams = add_request_query(g->s, g->req->query);
    if (g->presign) {
        amz_param amz[6];
        size_t count = presign_params(g, out, amz);
        for (size_t i = 0; i < count; i++) {
            if (amz[i].value == g->token && !g->sign_token) continue;
            *nparams = add_param(g->s, *nparams, amz[i].name, strlen(amz[i].name),
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
    put_canonical_path(w, g->s, g->req->path, g->p);
    buf_putc(w, '\n');
    put_canonical_query(w, g->s, nparams);
    buf_putc(w, '\n');
    put_canonical_headers(w, g->s->headers, nheaders);
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
        scratch_free(&local);
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
    scratch_free(&local);
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

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char digest[HASH_SHA256_LEN];
    hash_sha256(NULL, data ? data : "", len, digest);
    hash_hex(digest, sizeof digest, out);
}

void sigv4_format_date(time_t t, char out[17])
{
    struct tm tm;
    /* Years past 9999 do not fit; sign() refuses them. */
    if (!gmtime_r(&t, &tm) || !strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm))
        memcpy(out, "00000000T000000Z", 17);
}
