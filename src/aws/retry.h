/* retry.h - what to do when an AWS call fails.
 *
 * Three pieces, all pure (time is passed in) so they are unit-tested:
 *  - classification of an outcome (throttle, transient, clock skew, expired
 *    credentials, or final);
 *  - exponential backoff with full jitter, and a retry budget (a token
 *    bucket that stops retry storms when a service is down);
 *  - an adaptive send rate that falls on throttling and recovers.
 */
#ifndef MIGHOST_RETRY_H
#define MIGHOST_RETRY_H

#include "http.h"  /* transport_error */

typedef enum retry_class {
    RETRY_NO,            /* final: validation, access denied, not found, condition failed */
    RETRY_THROTTLE,      /* slow down, then retry */
    RETRY_TRANSIENT,     /* 5xx, connection reset, timeout, CRC mismatch */
    RETRY_CLOCK_SKEW,    /* re-sign with the server's clock, retry */
    RETRY_EXPIRED_CREDS  /* refresh credentials, retry once */
} retry_class;

retry_class retry_classify(long http_status, transport_error transport,
                           const char *error_code, const char *message);
const char *retry_class_name(retry_class c);

typedef struct retry_policy {
    int max_attempts;         /* including the first; default 10 */
    double base_delay;        /* seconds, transient errors; default 0.05 */
    double throttle_base;     /* seconds, throttling; default 0.25 */
    double max_delay;         /* cap of one wait; default 20 */
} retry_policy;

void retry_policy_default(retry_policy *p);

/* Full jitter: uniform in [0, min(max, base * 2^(attempt-1))]. `attempt`
 * is the number of attempts made so far (>= 1); `unit` in [0,1) is the
 * random draw, passed in so tests are exact. */
double retry_backoff(const retry_policy *p, retry_class c, int attempt, double unit);

/* Retry budget: each retry takes tokens (more for timeouts), each success
 * gives one back, a successful retry returns what it took. Throttles do
 * not draw on it: the adaptive rate deals with them. */
typedef struct retry_budget {
    double tokens, capacity;
} retry_budget;

#define RETRY_BUDGET_CAPACITY 500.0
#define RETRY_COST 5.0
#define RETRY_TIMEOUT_COST 10.0

void retry_budget_init(retry_budget *b, double capacity);
/* Takes the cost of one retry: returns the cost taken (0 for throttles,
 * which are free), or -1 if the budget cannot pay (then do not retry). */
double retry_budget_take(retry_budget *b, retry_class c, transport_error t);
void retry_budget_success(retry_budget *b, double refund);

/* Adaptive send rate. A sporadic throttle (a hot key, a burst) is handled
 * by that request's backoff alone; the limit engages when throttles are a
 * real share of the answers: at least RATE_ENGAGE_SHARE of the last one to
 * two seconds' answers (and RATE_ENGAGE_MIN of them). A throttle then cuts
 * the allowed rate to 70% of what was being sent; throttles of requests sent
 * before that cut say nothing new and are ignored. The rate then grows back
 * to its level at the throttle over RATE_RECOVERY seconds and on beyond it;
 * once it is well above what is actually sent, the limit switches off.
 * A throttle during recovery lowers the level to return to, so under real
 * overload the rate settles just under what the service accepts. */
#define RATE_RECOVERY 2.0
#define RATE_ENGAGE_SHARE 0.10
#define RATE_ENGAGE_MIN 5

typedef struct rate_limiter {
    int enabled;
    double rate;            /* requests per second allowed now */
    double min_rate;
    double next_send;       /* earliest time the next request may go */
    double burst;           /* seconds of backlog allowed */
    double measured;        /* smoothed sending rate, requests per second */
    double bucket_start;
    int bucket_count;
    double cut_at;          /* time of the last cut */
    double level;           /* the rate when the last cut happened */
    double window_start;    /* answers seen: this second and the one before */
    int answers, throttles, prev_answers, prev_throttles;
} rate_limiter;

void rate_init(rate_limiter *r);
/* Reserve a send slot at `now`; returns how many seconds to wait (0: go). */
double rate_acquire(rate_limiter *r, double now);
/* A throttle answer to a request sent at `sent_at`. */
void rate_on_throttle(rate_limiter *r, double now, double sent_at);
void rate_on_success(rate_limiter *r, double now);

#endif
