/* test_outage.c - when the engine decides an endpoint stopped answering,
 * how it probes, and when it gives up (outage.h), with time passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "outage.h"

static void test_what_counts_as_no_answer(void **state)
{
    (void)state;
    assert_true(outage_kind(0, TRANSPORT_CONNECT));
    assert_true(outage_kind(0, TRANSPORT_RESET));
    assert_true(outage_kind(0, TRANSPORT_TIMEOUT));
    assert_true(outage_kind(502, TRANSPORT_OK));
    assert_true(outage_kind(503, TRANSPORT_OK));
    assert_true(outage_kind(504, TRANSPORT_OK));
    /* Answers: the service took the request. */
    assert_false(outage_kind(500, TRANSPORT_OK));
    assert_false(outage_kind(400, TRANSPORT_OK));
    assert_false(outage_kind(200, TRANSPORT_OK));
    assert_false(outage_kind(200, TRANSPORT_CRC));
    assert_false(outage_kind(0, TRANSPORT_TOO_LARGE));
}

/* Five failures in a row with no answer between: waiting. */
static void test_failures_in_a_row_start_a_wait(void **state)
{
    (void)state;
    outage o;
    outage_init(&o, 60);
    outage_answer(&o, 10.0);
    for (int i = 1; i < OUTAGE_AFTER; i++)
        assert_false(outage_failure(&o, 11.0, 1000.0, 10.5, 0, "h:1", "NetworkError: refused"));
    assert_false(o.waiting);
    assert_true(outage_failure(&o, 11.0, 1000.0, 10.5, 0, "h:1", "NetworkError: refused"));
    assert_true(o.waiting);
    assert_string_equal(o.endpoint, "h:1");
    assert_string_equal(o.last_error, "NetworkError: refused");
    assert_true(o.next_try == 11.0 + OUTAGE_FIRST_PROBE);
    /* Later failures are held too, whatever they are. */
    assert_true(outage_failure(&o, 11.2, 1000.2, 11.1, 1, "h:1", "x"));
    /* The first answer ends it. */
    assert_true(outage_answer(&o, 12.0));
    assert_false(o.waiting);
    assert_int_equal(o.failures, 0);
    assert_false(outage_answer(&o, 12.5));
}

/* A request failing while others are answered is its own problem; one the
 * retry policy gives up on, with nothing answered since it was sent, is
 * the endpoint's. */
static void test_answered_since_means_not_an_outage(void **state)
{
    (void)state;
    outage o;
    outage_init(&o, 60);
    outage_answer(&o, 20.0);
    for (int i = 0; i < 2 * OUTAGE_AFTER; i++)
        assert_false(outage_failure(&o, 21.0, 0, 19.0, 1, "h", "HTTP 503"));
    assert_false(o.waiting);
    outage_init(&o, 60);
    assert_true(outage_failure(&o, 21.0, 0, 19.0, 1, "h", "HTTP 503"));
}

/* An endpoint gone with many requests in flight: each was sent before the
 * last answer, and the failures spend the retry budget. The ones it cannot
 * retry are held for the outage, not failed. */
static void test_flood_is_an_outage(void **state)
{
    (void)state;
    outage o;
    outage_init(&o, 60);
    outage_answer(&o, 20.0);
    assert_false(outage_failure(&o, 20.1, 0, 19.9, 0, "h", "NetworkError: reset"));
    assert_false(outage_failure(&o, 20.1, 0, 19.9, OUTAGE_ATTEMPTS_SPENT, "h", "NetworkError: reset"));
    assert_false(o.waiting);
    assert_true(outage_failure(&o, 20.1, 0, 19.9, OUTAGE_BUDGET_SPENT, "h", "NetworkError: reset"));
    assert_true(o.waiting);
    /* The next answer ends the wait, as for any outage. */
    assert_true(outage_answer(&o, 20.7));
}

/* Probes back off 0.5, 1, 2, 4 ... capped, never past the deadline, and
 * the wait is given up after max_seconds. */
static void test_probe_backoff_and_give_up(void **state)
{
    (void)state;
    outage o;
    outage_init(&o, 100);
    double now = 0;
    assert_true(outage_failure(&o, now, 0, -1, 1, "h", "e"));
    double waits[] = {1, 2, 4, 8, 16, 30, 30};
    for (size_t i = 0; i < sizeof waits / sizeof waits[0]; i++) {
        now = o.next_try;
        assert_int_equal(outage_probe_failed(&o, now, "e2"), 0);
        assert_true(o.next_try - now == waits[i]);
    }
    /* 0.5 + 1 + 2 + 4 + 8 + 16 + 30 = 61.5; then 30 more; the next stops
     * at the deadline (100), and a failure there gives up. */
    now = o.next_try;
    assert_true(now == 91.5);
    assert_int_equal(outage_probe_failed(&o, now, "e3"), 0);
    assert_true(o.next_try == 100.0);
    assert_int_equal(outage_probe_failed(&o, 100.0, "last"), -1);
    assert_true(o.gave_up);
    assert_false(o.waiting);
    assert_string_equal(o.last_error, "last");
    /* After giving up nothing waits any more. */
    assert_false(outage_failure(&o, 101.0, 0, 100.5, 1, "h", "e"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_what_counts_as_no_answer),
        cmocka_unit_test(test_failures_in_a_row_start_a_wait),
        cmocka_unit_test(test_answered_since_means_not_an_outage),
        cmocka_unit_test(test_flood_is_an_outage),
        cmocka_unit_test(test_probe_backoff_and_give_up),
    };
    return cmocka_run_group_tests_name("outage", tests, NULL, NULL);
}
