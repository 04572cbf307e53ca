/* aws.h - signed, retried AWS calls on the event loop.
 *
 * aws_send() queues a call; at most max_in_flight are on the wire, the
 * rest wait in order. Each attempt is signed just before it is sent (fresh
 * time, fresh credentials), and failures are retried per retry.h. The
 * callback receives the final outcome: a success, or an error with its
 * code, message, HTTP status and request id.
 */
#ifndef MIGHOST_AWS_H
#define MIGHOST_AWS_H

#include <stddef.h>

#include "creds.h"
#include "endpoint.h"
#include "http.h"
#include "outage.h"
#include "retry.h"

typedef struct aws_client_options {
    const char *region;          /* resolved region (required unless every endpoint is overridden) */
    const char *profile;         /* --profile, or NULL */
    const char *endpoint_url;    /* --endpoint-url: every service, unless a per-service one is set */
    const char *const *service_endpoints; /* "service=url" pairs, NULL-terminated, or NULL */
    http_loop *loop;             /* share this event loop (not owned), or NULL for a new one */
    int max_in_flight;           /* default 256 */
    int adaptive_rate;           /* slow down on throttling; default on */
    int credential_process_timeout; /* seconds; 0: CREDS_PROCESS_TIMEOUT */
    retry_policy retry;
    http_options http;
    double max_outage;           /* seconds to wait for an endpoint that stopped answering
                                    (outage.h); default 900 */
    int (*interrupted)(void);    /* non-zero: stop waiting out an outage (Ctrl-C); or NULL */
} aws_client_options;

void aws_client_options_default(aws_client_options *o);

typedef struct aws_stats {
    unsigned long calls;         /* calls completed */
    unsigned long attempts;      /* HTTP requests sent */
    unsigned long retries;
    unsigned long throttles;
    unsigned long transient;     /* 5xx, connection and CRC errors seen */
    unsigned long failures;      /* calls that ended in an error */
    unsigned long long bytes_sent, bytes_received;
} aws_stats;

typedef struct aws_request {
    const aws_service *svc;
    const char *operation;       /* JSON: target suffix; query: Action; REST: for messages */
    const char *method;          /* REST only; default POST */
    const char *path;            /* REST only: percent-encoded path; default "/" */
    const char *query;           /* REST only: percent-encoded query, or NULL */
    const http_header *headers;  /* REST only: extra headers */
    size_t nheaders;
    const void *body;            /* JSON document, form parameters (query), or payload (REST); copied */
    size_t body_len;
    long timeout_ms;             /* 0: default */
    int max_attempts;            /* 0: the policy's; 1: never retry */
    const char *bucket;          /* S3 only: the bucket, addressed by host name on AWS
                                  * (virtual-hosted) and by path elsewhere (path-style) */
} aws_request;

typedef struct aws_result {
    int ok;                      /* 2xx and no Lambda function error */
    long status;                 /* HTTP status, 0 if none */
    const char *body;            /* response body (NUL-terminated) */
    size_t body_len;
    const char *code;            /* error code ("" when ok) */
    const char *message;         /* error message ("" when ok) */
    const char *request_id;
    const char *function_error;  /* X-Amz-Function-Error, "" if none */
    const char *headers;         /* the response's header lines, "Name: value\r\n" each */
    size_t headers_len;
    retry_class error_class;     /* class of the final error */
    int attempts;
    int throttles;
    int outage;                  /* the endpoint stopped answering and the wait was given up */
} aws_result;

typedef void (*aws_done_fn)(const aws_result *res, void *ud);

typedef struct aws_client aws_client;

/* Returns NULL with a message in err if the options are unusable (bad
 * endpoint URL...). Credentials are resolved lazily, on the first call. */
aws_client *aws_client_new(const aws_client_options *opt, buf *err);
void aws_client_free(aws_client *c);

/* REST (Lambda, S3): the method, path and query, extra headers and a body
 * are the caller's; S3 requests are signed the way S3 wants (the path as
 * sent, no normalising, x-amz-content-sha256). */

/* A client for another profile and/or region that shares base's event
 * loop, endpoints overrides and limits (cross-account or cross-region
 * work in one run). profile NULL: base's; region NULL: the profile's
 * `region` setting when a profile is given, else base's region. */
aws_client *aws_client_derive(const aws_client *base, const char *profile, const char *region,
                              buf *err);

void aws_send(aws_client *c, const aws_request *req, aws_done_fn done, void *ud);

/* Lambda Invoke (REST-JSON): the function name or ARN goes in the path,
 * percent-encoded. invocation_type: NULL (RequestResponse), "Event" or
 * "DryRun". The payload is sent as is. */
void aws_lambda_invoke(aws_client *c, const char *function, const char *qualifier,
                       const char *invocation_type, const void *payload, size_t len,
                       int max_attempts, long timeout_ms, aws_done_fn done, void *ud);

/* Run the event loop until every call has completed. */
void aws_client_run(aws_client *c);
http_loop *aws_client_loop(aws_client *c);
const aws_stats *aws_client_stats(const aws_client *c);
/* While the client waits out an outage: 1 and what a progress line says
 * about it; else 0. */
typedef struct aws_wait_info {
    const char *endpoint;
    double since_wall;           /* epoch seconds the wait began */
    double next_try;             /* seconds until the next probe */
    const char *last_error;
} aws_wait_info;
int aws_client_waiting(const aws_client *c, aws_wait_info *out);
/* After the client gave up waiting (every call now fails): why, naming the
 * endpoint and its last error; else NULL. */
const char *aws_client_gave_up(const aws_client *c);
/* Sets opt.interrupted (clients derived later inherit it). */
void aws_client_set_interrupted(aws_client *c, int (*fn)(void));

/* Credentials now, resolving them if needed (pre-flight checks). */
int aws_client_credentials(aws_client *c, const aws_creds **out, buf *err);
const char *aws_client_region(const aws_client *c);
/* The base URL calls to svc go to (heap), or NULL with a message. */
char *aws_client_endpoint(aws_client *c, const aws_service *svc, buf *err);
/* The profile given at creation, or NULL (the default chain). */
const char *aws_client_profile(const aws_client *c);

#endif
