/* retry.c - classification, backoff, budget and adaptive rate. */
#include "retry.h"

#include <math.h>
#include <string.h>
#include <strings.h>

static int in_list(const char *code, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(code, *list) == 0) return 1;
    return 0;
}

static const char *const throttle_codes[] = {
    "ProvisionedThroughputExceededException", "ThrottlingException", "Throttling",
    "ThrottledException", "RequestThrottledException", "RequestThrottled",
    "TooManyRequestsException", "RequestLimitExceeded", "BandwidthLimitExceeded",
    "SlowDown", "PriorRequestNotComplete", "EC2ThrottledException",
    "TransactionInProgressException", NULL};

static const char *const transient_codes[] = {
    "InternalServerError", "InternalFailure", "InternalServerErrorException",
    "ServiceUnavailable", "ServiceUnavailableException", "ServerException",
    "InternalError", "RequestTimeout", "RequestTimeoutException", NULL};

static const char *const skew_codes[] = {
    "RequestTimeTooSkewed", "RequestExpired", "RequestInTheFuture", NULL};

static const char *const expired_codes[] = {
    "ExpiredToken", "ExpiredTokenException", NULL};

static int contains(const char *haystack, const char *needle)
{
    return haystack && strcasestr(haystack, needle) != NULL;
}

retry_class retry_classify(long http_status, transport_error transport,
                           const char *error_code, const char *message)
{
    switch (transport) {
    case TRANSPORT_OK: break;
    case TRANSPORT_TOO_LARGE:
    case TRANSPORT_OTHER: return RETRY_NO;
    default: return RETRY_TRANSIENT;
    }
    const char *code = error_code ? error_code : "";
    if (in_list(code, throttle_codes) || http_status == 429) return RETRY_THROTTLE;
    if (in_list(code, expired_codes)) return RETRY_EXPIRED_CREDS;
    if (strcmp(code, "UnrecognizedClientException") == 0 && contains(message, "expired"))
        return RETRY_EXPIRED_CREDS;
    if (in_list(code, skew_codes)) return RETRY_CLOCK_SKEW;
    if ((strcmp(code, "InvalidSignatureException") == 0 ||
         strcmp(code, "SignatureDoesNotMatch") == 0 || strcmp(code, "AuthFailure") == 0) &&
        (contains(message, "Signature expired") || contains(message, "not yet current")))
        return RETRY_CLOCK_SKEW;
    if (in_list(code, transient_codes) || (http_status >= 500 && http_status <= 599))
        return RETRY_TRANSIENT;
    return RETRY_NO;
}

const char *retry_class_name(retry_class c)
{
    static const char *const names[] = {"final", "throttle", "transient", "clock-skew",
                                        "expired-credentials"};
    return names[c];
}

void retry_policy_default(retry_policy *p)
{
    p->max_attempts = 10;
    p->base_delay = 0.05;
    p->throttle_base = 0.25;
    p->max_delay = 20.0;
}

double retry_backoff(const retry_policy *p, retry_class c, int attempt, double unit)
{
    if (c == RETRY_CLOCK_SKEW || c == RETRY_EXPIRED_CREDS) return 0.0;
    double base = c == RETRY_THROTTLE ? p->throttle_base : p->base_delay;
    int exp = attempt < 1 ? 0 : attempt - 1;
    if (exp > 30) exp = 30;
    double ceiling = fmin(p->max_delay, base * ldexp(1.0, exp));
    return unit * ceiling;
}

void retry_budget_init(retry_budget *b, double capacity)
{
    b->tokens = b->capacity = capacity;
}

double retry_budget_take(retry_budget *b, retry_class c, transport_error t)
{
    if (c == RETRY_THROTTLE) return 0.0;  /* free, see retry.h; caller treats as ok */
    double cost = t == TRANSPORT_TIMEOUT ? RETRY_TIMEOUT_COST : RETRY_COST;
    if (b->tokens < cost) return -1.0;
    b->tokens -= cost;
    return cost;
}

void retry_budget_success(retry_budget *b, double refund)
{
    b->tokens = fmin(b->capacity, b->tokens + (refund > 0 ? refund : 1.0));
}

/* --- adaptive rate ------------------------------------------------------- */

#define MEASURE_BUCKET 0.5     /* seconds per sample of the sending rate */
#define THROTTLE_FACTOR 0.7    /* new rate = this * what was being sent */
#define GROWTH_PER_SEC 0.5     /* beyond the old level: x1.5 per second */

void rate_init(rate_limiter *r)
{
    memset(r, 0, sizeof *r);
    r->min_rate = 1.0;
    r->burst = 0.25;
    r->cut_at = -1e9;
}

static void measure(rate_limiter *r, double now)
{
    if (r->bucket_start == 0) r->bucket_start = now;
    double span = now - r->bucket_start;
    if (span >= MEASURE_BUCKET) {
        double sample = r->bucket_count / span;
        r->measured = r->measured == 0 ? sample : 0.8 * sample + 0.2 * r->measured;
        r->bucket_start = now;
        r->bucket_count = 0;
    }
}

/* The allowed rate `t` seconds after the last cut. */
static double rate_after(const rate_limiter *r, double t)
{
    double low = THROTTLE_FACTOR * r->level;
    if (t < RATE_RECOVERY) return low + (r->level - low) * (t / RATE_RECOVERY);
    /* Past the old level, probe upward geometrically: the level may have
     * been set low by a burst, and the limit must not stay below what the
     * service accepts for long. */
    return r->level * pow(1.0 + GROWTH_PER_SEC, fmin(t - RATE_RECOVERY, 60.0));
}

double rate_acquire(rate_limiter *r, double now)
{
    measure(r, now);
    r->bucket_count++;
    if (!r->enabled) return 0.0;
    double interval = 1.0 / r->rate;
    if (r->next_send < now - r->burst) r->next_send = now - r->burst;
    double wait = r->next_send > now ? r->next_send - now : 0.0;
    r->next_send += interval;
    return wait;
}

static void count_answer(rate_limiter *r, double now, int throttled)
{
    if (now - r->window_start >= 1.0) {
        int idle = now - r->window_start >= 2.0;
        r->prev_answers = idle ? 0 : r->answers;
        r->prev_throttles = idle ? 0 : r->throttles;
        r->answers = r->throttles = 0;
        r->window_start = now;
    }
    r->answers++;
    r->throttles += throttled;
}

void rate_on_throttle(rate_limiter *r, double now, double sent_at)
{
    measure(r, now);
    count_answer(r, now, 1);
    if (sent_at < r->cut_at) return;  /* already answered by the last cut */
    /* Before the first full sample, the rate so far in this one. */
    double span = now - r->bucket_start;
    if (r->measured == 0 && span > 0.01) r->measured = r->bucket_count / span;
    int throttles = r->throttles + r->prev_throttles, answers = r->answers + r->prev_answers;
    if (!r->enabled &&
        (throttles < RATE_ENGAGE_MIN || throttles < RATE_ENGAGE_SHARE * answers))
        return;  /* sporadic: the request's own backoff is enough */
    double sending = r->measured > 0 ? r->measured : r->min_rate / THROTTLE_FACTOR;
    if (r->enabled && r->rate < sending) sending = r->rate;
    r->level = fmax(r->min_rate / THROTTLE_FACTOR, sending);
    r->rate = fmax(r->min_rate, THROTTLE_FACTOR * r->level);
    r->cut_at = now;
    r->enabled = 1;
    if (r->next_send < now) r->next_send = now;
}

void rate_on_success(rate_limiter *r, double now)
{
    count_answer(r, now, 0);
    if (!r->enabled) return;
    measure(r, now);
    r->rate = fmax(r->min_rate, rate_after(r, now - r->cut_at));
    if (now - r->cut_at > RATE_RECOVERY && r->measured > 0 && r->rate > 2.0 * r->measured)
        r->enabled = 0;
}
