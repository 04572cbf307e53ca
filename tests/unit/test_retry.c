/* test_retry.c - classification, backoff, budget and adaptive rate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "retry.h"

static void test_throttling_codes(void **state)
{
    (void)state;
    const char *codes[] = {"ProvisionedThroughputExceededException", "ThrottlingException",
                           "Throttling", "RequestLimitExceeded", "TooManyRequestsException"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        assert_int_equal(retry_classify(400, TRANSPORT_OK, codes[i], ""), RETRY_THROTTLE);
    assert_int_equal(retry_classify(429, TRANSPORT_OK, "HTTP 429", ""), RETRY_THROTTLE);
}

static void test_transient(void **state)
{
    (void)state;
    assert_int_equal(retry_classify(500, TRANSPORT_OK, "InternalFailure", ""), RETRY_TRANSIENT);
    assert_int_equal(retry_classify(503, TRANSPORT_OK, "HTTP 503", ""), RETRY_TRANSIENT);
    assert_int_equal(retry_classify(0, TRANSPORT_RESET, "", ""), RETRY_TRANSIENT);
    assert_int_equal(retry_classify(0, TRANSPORT_TIMEOUT, "", ""), RETRY_TRANSIENT);
    assert_int_equal(retry_classify(0, TRANSPORT_CONNECT, "", ""), RETRY_TRANSIENT);
    assert_int_equal(retry_classify(200, TRANSPORT_CRC, "", ""), RETRY_TRANSIENT);
    assert_int_equal(retry_classify(0, TRANSPORT_TOO_LARGE, "", ""), RETRY_NO);
    assert_int_equal(retry_classify(0, TRANSPORT_OTHER, "", ""), RETRY_NO);
}

static void test_final_errors(void **state)
{
    (void)state;
    const char *codes[] = {"ValidationException", "AccessDeniedException",
                           "ResourceNotFoundException", "ConditionalCheckFailedException",
                           "InvalidSignatureException"};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        assert_int_equal(retry_classify(400, TRANSPORT_OK, codes[i], "bad"), RETRY_NO);
}

static void test_skew_and_expiry(void **state)
{
    (void)state;
    assert_int_equal(retry_classify(400, TRANSPORT_OK, "InvalidSignatureException",
                                    "Signature expired: 20150830T123600Z is now earlier than "
                                    "20150830T125100Z (20150830T130100Z - 15 min.)"),
                     RETRY_CLOCK_SKEW);
    assert_int_equal(retry_classify(403, TRANSPORT_OK, "RequestTimeTooSkewed", ""),
                     RETRY_CLOCK_SKEW);
    assert_int_equal(retry_classify(400, TRANSPORT_OK, "ExpiredTokenException", ""),
                     RETRY_EXPIRED_CREDS);
    assert_int_equal(retry_classify(400, TRANSPORT_OK, "UnrecognizedClientException",
                                    "The security token included in the request is expired"),
                     RETRY_EXPIRED_CREDS);
    assert_int_equal(retry_classify(400, TRANSPORT_OK, "UnrecognizedClientException",
                                    "The security token included in the request is invalid."),
                     RETRY_NO);
}

static void test_backoff_full_jitter(void **state)
{
    (void)state;
    retry_policy p;
    retry_policy_default(&p);
    /* The ceiling doubles per attempt, the draw scales it, the cap holds. */
    assert_true(fabs(retry_backoff(&p, RETRY_TRANSIENT, 1, 0.5) - 0.025) < 1e-9);
    assert_true(fabs(retry_backoff(&p, RETRY_TRANSIENT, 3, 0.5) - 0.1) < 1e-9);
    assert_true(fabs(retry_backoff(&p, RETRY_THROTTLE, 2, 1.0) - 0.5) < 1e-9);
    assert_true(fabs(retry_backoff(&p, RETRY_TRANSIENT, 40, 0.999999) - 20.0) < 1e-3);
    assert_true(retry_backoff(&p, RETRY_TRANSIENT, 5, 0.0) == 0.0);
    assert_true(retry_backoff(&p, RETRY_CLOCK_SKEW, 5, 0.7) == 0.0);
}

static void test_budget(void **state)
{
    (void)state;
    retry_budget b;
    retry_budget_init(&b, 20);
    assert_true(retry_budget_take(&b, RETRY_TRANSIENT, TRANSPORT_OK) == RETRY_COST);
    assert_true(retry_budget_take(&b, RETRY_TRANSIENT, TRANSPORT_TIMEOUT) == RETRY_TIMEOUT_COST);
    assert_true(retry_budget_take(&b, RETRY_TRANSIENT, TRANSPORT_OK) == RETRY_COST);
    /* 0 left: transient retries stop, throttles stay free. */
    assert_true(retry_budget_take(&b, RETRY_TRANSIENT, TRANSPORT_OK) < 0);
    assert_true(retry_budget_take(&b, RETRY_THROTTLE, TRANSPORT_OK) == 0);
    retry_budget_success(&b, RETRY_COST);
    assert_true(b.tokens == RETRY_COST);
    retry_budget_success(&b, 0);
    assert_true(b.tokens == RETRY_COST + 1);
    retry_budget_success(&b, 1000);
    assert_true(b.tokens == 20);
}

/* Send at 100/s for two seconds, throttle: the rate falls to about 70/s
 * and the pacing spaces requests by 1/rate. */
static void test_rate_falls_and_recovers(void **state)
{
    (void)state;
    rate_limiter r;
    rate_init(&r);
    double t = 1000.0;
    for (int i = 0; i < 200; i++, t += 0.01) assert_true(rate_acquire(&r, t) == 0.0);
    assert_false(r.enabled);
    /* Sporadic throttles (1 in 20 answers) leave the rate alone... */
    for (int i = 0; i < 40; i++) {
        if (i % 20 == 19) rate_on_throttle(&r, t, t - 0.02);
        else rate_on_success(&r, t);
    }
    assert_false(r.enabled);
    /* ...a real share of them engages the limit. */
    for (int i = 0; i < 4; i++) rate_on_throttle(&r, t, t - 0.02);
    assert_true(r.enabled);
    assert_true(r.rate > 60 && r.rate < 75);
    double first = r.rate, level = r.level;

    /* Burst of 100 requests at one instant: waits grow by 1/rate each. */
    double last = 0;
    for (int i = 0; i < 100; i++) last = rate_acquire(&r, t);
    assert_true(last > 1.0 && last < 1.6);

    /* Throttles of requests sent before the cut do not cut again. */
    rate_on_throttle(&r, t + 0.05, t - 0.01);
    assert_true(fabs(r.rate - first) < 1e-9);

    /* Recovery: halfway back after half the recovery time, all the way
     * back after it, beyond it later. */
    rate_on_success(&r, t + RATE_RECOVERY / 2);
    assert_true(fabs(r.rate - (first + level) / 2) < 1e-6);
    rate_on_success(&r, t + RATE_RECOVERY);
    assert_true(fabs(r.rate - level) < 1e-6);

    /* A throttle of a request sent after the cut, during recovery, lowers
     * the level to come back to. */
    rate_init(&r);
    t = 2000.0;
    for (int i = 0; i < 200; i++, t += 0.01) rate_acquire(&r, t);
    for (int i = 0; i < RATE_ENGAGE_MIN; i++) rate_on_throttle(&r, t, t);
    level = r.level;
    rate_on_success(&r, t + 0.5);
    rate_on_throttle(&r, t + 0.5, t + 0.4);
    assert_true(r.level < level);
    assert_true(r.rate < r.level);
}

/* Under a real capacity limit the rate settles near it: a simulated
 * service accepts 50 requests per second and throttles the rest. */
static void test_rate_converges_to_capacity(void **state)
{
    (void)state;
    rate_limiter r;
    rate_init(&r);
    double t = 0, accepted_in_window = 0, window_start = 0, sent_late = 0, thr_late = 0;
    const double capacity = 50.0;
    /* The client wants to send 400/s: one request every 2.5 ms when allowed. */
    for (int step = 0; step < 40000; step++) {
        t += 0.0025;
        if (r.enabled && r.next_send > t) continue;
        rate_acquire(&r, t);
        if (t - window_start >= 1.0) {
            window_start = t;
            accepted_in_window = 0;
        }
        int throttled = accepted_in_window >= capacity;
        if (!throttled) accepted_in_window++;
        if (t > 60) {
            sent_late++;
            thr_late += throttled;
        }
        if (throttled) rate_on_throttle(&r, t + 0.01, t);
        else rate_on_success(&r, t + 0.01);
    }
    /* After a minute, most requests go through: the rate found the limit. */
    assert_true(sent_late > 0);
    assert_true(thr_late / sent_late < 0.35);
    assert_true(r.enabled);
    assert_true(r.rate < 4 * capacity);
}

static void test_rate_switches_off_when_not_binding(void **state)
{
    (void)state;
    rate_limiter r;
    rate_init(&r);
    double t = 50.0;
    for (int i = 0; i < 100; i++, t += 0.01) rate_acquire(&r, t);
    for (int i = 0; i < RATE_ENGAGE_MIN; i++) rate_on_throttle(&r, t, t);
    assert_true(r.enabled);
    /* Demand drops to 5/s while the allowed rate recovers. */
    for (int i = 0; i < 400 && r.enabled; i++, t += 0.2) {
        rate_acquire(&r, t);
        rate_on_success(&r, t);
    }
    assert_false(r.enabled);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_throttling_codes),
        cmocka_unit_test(test_transient),
        cmocka_unit_test(test_final_errors),
        cmocka_unit_test(test_skew_and_expiry),
        cmocka_unit_test(test_backoff_full_jitter),
        cmocka_unit_test(test_budget),
        cmocka_unit_test(test_rate_falls_and_recovers),
        cmocka_unit_test(test_rate_converges_to_capacity),
        cmocka_unit_test(test_rate_switches_off_when_not_binding),
    };
    return cmocka_run_group_tests_name("retry", tests, NULL, NULL);
}
