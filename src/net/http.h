/* http.h - the event loop: libcurl multi plus timers, on one thread.
 *
 * Many requests are in flight at once over kept-alive connections; each
 * completes through a callback from http_loop_run(). Timers (for backoff
 * and rate pacing) run on the same loop, so nothing ever sleeps.
 */
#ifndef MIGHOST_HTTP_H
#define MIGHOST_HTTP_H

#include <stddef.h>
#include <time.h>

#include "buf.h"

/* How a request failed below HTTP (retry.h decides what to do about it). */
typedef enum transport_error {
    TRANSPORT_OK,
    TRANSPORT_CONNECT,   /* could not connect */
    TRANSPORT_RESET,     /* connection dropped / nothing received */
    TRANSPORT_TIMEOUT,
    TRANSPORT_CRC,       /* body does not match x-amz-crc32 */
    TRANSPORT_TOO_LARGE, /* response over the size limit: final */
    TRANSPORT_OTHER      /* TLS failure, bad URL...: final */
} transport_error;

typedef struct http_options {
    long connect_timeout_ms;    /* default 5000 */
    long request_timeout_ms;    /* default 60000 */
    size_t max_response_bytes;  /* default 64 MiB */
    int max_host_connections;   /* kept-alive connections per host; default 64 */
    const char *ca_file;        /* NULL: the system's CA store */
} http_options;

void http_options_default(http_options *o);

typedef struct http_header {
    const char *name;
    const char *value;
} http_header;

typedef struct http_request {
    const char *method;
    const char *url;
    const http_header *headers;  /* copied at submit */
    size_t nheaders;
    const void *body;            /* borrowed: must live until the callback */
    size_t body_len;
    long timeout_ms;             /* 0: the loop's default */
} http_request;

typedef struct http_response {
    long status;                 /* 0 when no HTTP response arrived */
    transport_error transport;
    char error[320];             /* transport error text */
    buf body;
    char request_id[128];
    char error_type[256];        /* x-amzn-ErrorType */
    char function_error[64];     /* X-Amz-Function-Error (Lambda) */
    char content_type[128];
    buf headers;                 /* every header line of the final response, "Name: value\r\n" */
    time_t date;                 /* the server's Date header, or -1 */
    double seconds;              /* wall time of this transfer */
} http_response;

typedef void (*http_done_fn)(http_response *resp, void *ud);
typedef void (*http_timer_fn)(void *ud);

typedef struct http_loop http_loop;

http_loop *http_loop_new(const http_options *opt);
void http_loop_free(http_loop *loop);

/* Start a request; `done` runs from the loop when it completes or fails.
 * The response (and its body) is only valid during the callback. */
void http_submit(http_loop *loop, const http_request *req, http_done_fn done, void *ud);

/* Call fn(ud) after `delay` seconds. */
void http_timer_add(http_loop *loop, double delay, http_timer_fn fn, void *ud);

/* Run until no transfer and no timer is left, or http_loop_break(). */
void http_loop_run(http_loop *loop);
/* One turn: wait at most max_wait_ms for activity, run what is due.
 * Returns the number of transfers and timers still pending. */
int http_loop_step(http_loop *loop, int max_wait_ms);
void http_loop_break(http_loop *loop);
int http_loop_in_flight(const http_loop *loop);

#endif
