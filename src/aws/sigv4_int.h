/* sigv4_int.h - what the SigV4 signer and its canonical-form builder share
 * (not a public API).
 *
 * sigv4_canonical.c turns a request into the pieces of the canonical
 * request (path, sorted query, sorted headers, signed-header list) using
 * scratch space that the key cache keeps between calls; sigv4.c signs.
 */
#ifndef MIGHOST_SIGV4_INT_H
#define MIGHOST_SIGV4_INT_H

#include <stddef.h>

#include "buf.h"
#include "sigv4.h"

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

void sigv4_scratch_free(scratch *s);

/* ---- canonical pieces (sigv4_canonical.c) -------------------------------- */

/* The canonical URI of path, per p->normalize_path and p->double_encode_path. */
void sigv4_put_canonical_path(buf *out, scratch *s, const char *path,
                              const sigv4_params *p);

/* Adds one query parameter (the n-th) to s, encoded; decode_first: name and
 * value are already percent-encoded. Returns the new count. */
size_t sigv4_add_param(scratch *s, size_t n, const char *name, size_t name_len,
                       const char *value, size_t value_len, int decode_first);
/* Adds the parameters of a query string as sent; returns their count. */
size_t sigv4_add_request_query(scratch *s, const char *query);
/* Sorts the n parameters collected in s and writes "a=1&b=2". */
void sigv4_put_canonical_query(buf *out, scratch *s, size_t n);

/* A header name must be an HTTP token; a value may hold line breaks only as
 * folding (followed by a space or tab). */
int sigv4_valid_header(const char *name, const char *value);
/* h's name, compared ASCII case-insensitively with lower (already lowercase). */
int sigv4_names_equal(const header_ref *h, const char *lower, size_t n);
/* Rewritten by proxies and HTTP stacks, so never signed. */
int sigv4_unsignable(const header_ref *h);
/* Adds header n to s; returns the new count. */
size_t sigv4_add_header(scratch *s, size_t n, const char *name, const char *value);
/* qsort comparator for header_ref: by lowercase name, then order as sent. */
int sigv4_compare_headers(const void *pa, const void *pb);
/* "name:v1,v2\n" for each distinct name of the sorted h, in order. */
void sigv4_put_canonical_headers(buf *out, const header_ref *h, size_t n);
/* "a;b;c" (lowercase, distinct) into out, which is reset first. */
void sigv4_put_signed_headers(buf *out, const header_ref *h, size_t n);

#endif
