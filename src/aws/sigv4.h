/* sigv4.h - AWS Signature Version 4, as a pure function.
 *
 * Request in, signed headers (or a presigned query string) out. No I/O, no
 * clock: the caller passes the time, so the official test vectors can be
 * checked step by step and a clock-skew correction is just a different
 * `when`.
 */
#ifndef MIGHOST_SIGV4_H
#define MIGHOST_SIGV4_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

typedef struct sigv4_header {
    const char *name;
    const char *value;
} sigv4_header;

typedef struct sigv4_request {
    const char *method;          /* "GET", "POST", ... */
    const char *path;            /* path as sent on the wire (already percent-encoded once;
                                  * raw bytes such as spaces or UTF-8 get encoded too) */
    const char *query;           /* query string as sent, without '?'; NULL or "" if none.
                                  * Names and values are decoded then re-encoded (RFC 3986)
                                  * for the canonical form; '+' counts as a literal plus. */
    const sigv4_header *headers; /* as sent, must include Host; duplicates allowed, values
                                  * may be folded ("a\n  b"). Authorization and hop-by-hop
                                  * headers (Connection, Expect, Transfer-Encoding,
                                  * User-Agent, X-Amzn-Trace-Id, ...) are not signed. */
    size_t nheaders;
    const void *body;
    size_t body_len;
    const char *payload_hash;    /* hex SHA-256 of the body, or NULL to compute it;
                                  * "UNSIGNED-PAYLOAD" also works (S3) */
} sigv4_request;

typedef struct sigv4_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token;   /* NULL (or "") when not temporary */
} sigv4_credentials;

typedef struct sigv4_params {
    const sigv4_credentials *creds;
    const char *region;
    const char *service;         /* signing name, e.g. "dynamodb", "lambda" */
    time_t when;                 /* UTC seconds */
    int normalize_path;          /* remove dot segments and duplicate slashes (all but S3) */
    int double_encode_path;      /* encode the path again (all but S3): the wire path
                                  * "/a%3Ab" is signed as "/a%253Ab". Without it (S3) the
                                  * path is signed as sent, with bytes that still need it
                                  * encoded and existing %xx escapes kept. */
    int sign_body;               /* header form: add and sign x-amz-content-sha256 */
    int omit_session_token;      /* add the token after signing (not in SignedHeaders,
                                  * nor in the canonical query of the presigned form) */
    long expires;                /* presigned form: X-Amz-Expires in seconds, 1..604800 */
} sigv4_params;

/* A small cache of derived signing keys, keyed by (date, region, service,
 * access key id, SHA-256 of the secret; the secret itself is not kept), 8
 * entries, least recently used goes first. It also holds reusable hashing
 * contexts and scratch space, so signing with a cache allocates once.
 * One per event loop; not shared between threads. */
typedef struct sigv4_key_cache sigv4_key_cache;
sigv4_key_cache *sigv4_key_cache_new(void);
void sigv4_key_cache_free(sigv4_key_cache *c);

/* kSigning for (creds, date "YYYYMMDD", region, service), from `cache` when
 * it has it (cache may be NULL). Returns 1 on a cache hit, 0 otherwise. */
int sigv4_signing_key(sigv4_key_cache *cache, const sigv4_credentials *creds,
                      const char *date, const char *region, const char *service,
                      unsigned char key[32]);

/* Every intermediate form, so tests can say which step is wrong. All strings
 * live in one allocation owned by the result: never free or keep a field on
 * its own; copy what must outlive sigv4_result_free. */
typedef struct sigv4_result {
    char *canonical_request;
    char *string_to_sign;
    char signature[65];          /* lowercase hex */
    char amz_date[17];           /* YYYYMMDDTHHMMSSZ */
    char *signed_headers;        /* "host;x-amz-date" */
    char payload_hash[65];
    /* Header form: headers the caller adds to the request. */
    char *authorization;         /* value of Authorization */
    /* Presigned form: the complete query string to send (without '?'). */
    char *presigned_query;
} sigv4_result;

/* Sign with an Authorization header. The caller then sends X-Amz-Date:
 * amz_date, X-Amz-Security-Token when a token is present, and
 * x-amz-content-sha256 when sign_body is set (the request's own headers
 * need not contain them: they are added to the canonical form here, and
 * request headers of those names are ignored). `cache` may be NULL.
 * Returns 0, or -1 if the request is malformed (no Host, a header name
 * that is not an HTTP token, a line break that is not a fold, a path not
 * starting with '/', missing credentials/region/service). */
int sigv4_sign_header(const sigv4_request *req, const sigv4_params *p,
                      sigv4_key_cache *cache, sigv4_result *out);

/* Presign: the signature goes in the query string. presigned_query is the
 * request's query as given, then X-Amz-Algorithm, -Credential, -Date,
 * -SignedHeaders, -Expires, -Security-Token (if any), -Signature. The
 * payload hash is the body's (or req->payload_hash); sign_body is ignored.
 * Returns 0, or -1 if the request is malformed or expires is out of range. */
int sigv4_sign_query(const sigv4_request *req, const sigv4_params *p,
                     sigv4_key_cache *cache, sigv4_result *out);

void sigv4_result_free(sigv4_result *r);

/* Helpers shared with the rest of the engine. */
/* RFC 3986 encoding: unreserved characters kept, everything else %XX
 * (uppercase). With keep_slash, '/' is kept (for paths). */
void sigv4_uri_encode(buf *out, const char *s, size_t len, int keep_slash);
/* "20150830T123600Z" for t. */
void sigv4_format_date(time_t t, char out[17]);

#endif
