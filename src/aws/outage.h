/* outage.h - telling "this endpoint has stopped answering" from "this
 * request failed", and waiting the first out.
 *
 * A request that fails while the endpoint answers other requests is the
 * retry policy's business (retry.h). But when connection errors, timeouts
 * and 502/503/504 come back from every attempt with no answer in between, retrying
 * each request on its own only burns the retry budget in seconds and turns
 * a short outage into lost writes. Then the client waits instead: no new
 * request goes out, one probe is re-sent with capped exponential backoff,
 * and the first answer of any kind ends the wait. After max_seconds
 * without an answer the client gives up and every waiting call fails with
 * an error marked as an outage. A call allowed one attempt only (not
 * idempotent) is never held or re-sent: it fails as it would have.
 *
 * Pure functions over this state (time is passed in), as in retry.h.
 */
#ifndef MIGHOST_OUTAGE_H
#define MIGHOST_OUTAGE_H

#include "retry.h"

#define OUTAGE_AFTER 5             /* failures in a row, no answer between */
#define OUTAGE_FIRST_PROBE 0.5     /* seconds before the first probe */
#define OUTAGE_MAX_PROBE 30.0      /* cap of the wait between probes */
#define OUTAGE_DEFAULT_MAX 900.0   /* --max-outage default, seconds */

typedef struct outage {
    int waiting;                   /* in the waiting state */
    int gave_up;                   /* waited max_seconds: every call fails */
    double max_seconds;
    double since;                  /* monotonic time the wait began */
    double since_wall;             /* the same, wall clock (for messages) */
    double next_try;               /* monotonic time of the next probe */
    double delay;                  /* current wait between probes */
    double last_answer;            /* monotonic time of the last answer */
    int failures;                  /* outage-kind failures since that answer */
    char endpoint[256];            /* host[:port] that stopped answering */
    char last_error[400];
} outage;

void outage_init(outage *o, double max_seconds);

/* 1 if this outcome says the endpoint did not answer: connection refused
 * or reset, a timeout, or 502/503/504 (a gateway or load balancer with
 * nothing behind it). Everything else is an answer, a 500 included: the
 * service took the request and failed it, which is that request's business
 * (retry.h). */
int outage_kind(long http_status, transport_error t);

/* An answer (any HTTP status below 500) at `now`. Returns 1 if it ends a
 * wait. */
int outage_answer(outage *o, double now);

/* An outage-kind failure of an attempt sent at `sent_at`; `giving_up` says
 * the retry policy would not retry it: OUTAGE_ATTEMPTS_SPENT (this call's
 * attempts are used up) or OUTAGE_BUDGET_SPENT (the client's retry budget
 * is: failures are coming in a flood). Returns 1 when the client is (now
 * or already) waiting: the call must be held, not retried or failed.
 *
 * A failure of a request sent before something else was answered is
 * normally that request's own problem, but not in a flood: when an
 * endpoint goes away with many requests in flight, every one of them was
 * sent before the last answer, and failing those the budget cannot retry
 * would turn an outage the client waits out into failed items. */
enum { OUTAGE_ATTEMPTS_SPENT = 1, OUTAGE_BUDGET_SPENT = 2 };
int outage_failure(outage *o, double now, double wall, double sent_at, int giving_up,
                   const char *endpoint, const char *error);

/* The probe failed again at `now`: schedules the next one (the wait
 * doubles, capped, and never runs past the deadline). Returns 0, or -1
 * when max_seconds have passed (give up). */
int outage_probe_failed(outage *o, double now, const char *error);

/* Seconds until the deadline (max_seconds after the wait began). */
double outage_left(const outage *o, double now);

#endif
