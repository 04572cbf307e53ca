/* fetch.h - one blocking HTTP request, for credential endpoints.
 *
 * The event loop (http.h) is for the migration's traffic; credentials are
 * needed before that traffic can be signed, and their endpoints (IMDS, the
 * ECS agent, STS) answer in milliseconds, so a plain blocking request on a
 * libcurl easy handle keeps this code simple.
 *
 * Error messages name the method, the URL without query or user info, and
 * the transport error; never a header or a body, which may hold secrets.
 */
#ifndef MIGHOST_FETCH_H
#define MIGHOST_FETCH_H

#include <stddef.h>

#include "buf.h"

#define FETCH_DEFAULT_MAX_RESPONSE (1024 * 1024)

typedef struct fetch_request {
    const char *method;            /* "GET", "PUT", "POST" */
    const char *url;
    const char *const *headers;    /* "Name: value" lines */
    size_t nheaders;
    const void *body;              /* NULL: none */
    size_t body_len;
    long connect_timeout_ms;       /* 0: 5000 */
    long timeout_ms;               /* 0: 30000 */
    int attempts;                  /* tries on transport errors and 5xx; 0: 1 */
    size_t max_response;           /* 0: FETCH_DEFAULT_MAX_RESPONSE */
    int direct;                    /* ignore *_proxy variables (link-local endpoints) */
} fetch_request;

typedef struct fetch_response {
    long status;                   /* 0 if no HTTP response arrived */
    buf body;
} fetch_response;

/* Perform the request. Returns 0 when an HTTP response arrived (any
 * status; check resp->status), -1 on a transport error (connection
 * refused, timeout, response too large) with a message in err. The
 * caller frees resp with fetch_response_free either way. */
int fetch(const fetch_request *req, fetch_response *resp, buf *err);
void fetch_response_free(fetch_response *resp);

/* The URL as it may appear in messages: scheme://host[:port]/path, with
 * user info and query removed. Appends to out. */
void fetch_describe_url(buf *out, const char *url);

#endif
