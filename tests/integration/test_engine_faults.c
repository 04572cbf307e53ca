/* test_engine_faults.c - the engine under faults: 2,000 PutItem calls with
 * 64 in flight through the fault-injecting endpoint in front of dynalite;
 * every call completes, every item lands, and every injected fault that
 * needs a retry is counted as one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>

#include <json-c/json.h>

#include "aws.h"
#include "clock.h"
#include "testsupport.h"

#define NCALLS 2000

static test_server dynalite, fake;

typedef struct tally {
    int ok, failed, attempts;
} tally;

static void count(const aws_result *r, void *ud)
{
    tally *t = ud;
    if (r->ok) t->ok++;
    else {
        t->failed++;
        fprintf(stderr, "call failed: %s: %s\n", r->code, r->message);
    }
    t->attempts += r->attempts;
}

static void capture(const aws_result *r, void *ud)
{
    assert_true(r->ok);
    buf_append(ud, r->body, r->body_len);
}

static double max_backoff = 20.0;

static aws_client *client_for(const char *url, int in_flight, int adaptive)
{
    aws_client_options o;
    aws_client_options_default(&o);
    o.adaptive_rate = adaptive;
    o.retry.max_delay = max_backoff;
    o.region = "us-east-1";
    o.endpoint_url = url;
    o.max_in_flight = in_flight;
    o.retry.max_attempts = 12;
    /* Long enough that no request times out on a loaded machine (ASan, a
     * load of 14 measured): a timeout is a retry no fault asked for, and
     * the counts below must match the faults exactly. */
    o.http.request_timeout_ms = 30000;
    buf err = BUF_INIT;
    aws_client *c = aws_client_new(&o, &err);
    if (!c) fail_msg("client: %s", buf_str(&err));
    buf_free(&err);
    return c;
}

static void send_json(aws_client *c, const char *op, const char *json, aws_done_fn done, void *ud)
{
    aws_request req;
    memset(&req, 0, sizeof req);
    req.svc = aws_service_find("dynamodb");
    req.operation = op;
    req.body = json;
    req.body_len = strlen(json);
    aws_send(c, &req, done, ud);
}

static int setup(void **state)
{
    (void)state;
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "test-secret", 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    if (test_dynalite_start(&dynalite) != 0) return -1;
    const char *args[] = {"--upstream", dynalite.url, "--fault-rate", "0.2", "--seed", "7",
                          "--faults", "500,503,throttle,drop,slow,crc", "--slow-ms", "50", NULL};
    return test_fakeaws_start(&fake, args);
}

static int teardown(void **state)
{
    (void)state;
    test_server_stop(&fake);
    test_server_stop(&dynalite);
    return 0;
}

static void test_2000_calls_under_faults(void **state)
{
    (void)state;
    /* The table is created straight on dynalite: no faults there. */
    aws_client *direct = client_for(dynalite.url, 4, 1);
    tally t0 = {0, 0, 0};
    send_json(direct, "CreateTable",
              "{\"TableName\":\"faults\",\"AttributeDefinitions\":[{\"AttributeName\":\"pk\","
              "\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"pk\","
              "\"KeyType\":\"HASH\"}],\"BillingMode\":\"PAY_PER_REQUEST\"}",
              count, &t0);
    aws_client_run(direct);
    assert_int_equal(t0.ok, 1);

    /* Injected throttles come at random, whatever the rate, so an adaptive
     * limiter would (rightly) keep slowing down: this test is about
     * retries and exact counts; test_adaptive_rate covers the limiter. */
    aws_client *c = client_for(fake.url, 64, 0);
    tally t = {0, 0, 0};
    buf body = BUF_INIT;
    for (int i = 0; i < NCALLS; i++) {
        buf_reset(&body);
        buf_printf(&body, "{\"TableName\":\"faults\",\"Item\":{\"pk\":{\"S\":\"item-%05d\"},"
                          "\"v\":{\"N\":\"%d\"}}}", i, i);
        send_json(c, "PutItem", buf_str(&body), count, &t);
    }
    buf_free(&body);
    aws_client_run(c);
    const aws_stats *s = aws_client_stats(c);

    assert_int_equal(t.ok, NCALLS);
    assert_int_equal(t.failed, 0);
    assert_int_equal((long)s->calls, NCALLS);

    /* Every fault that needs a retry shows up as exactly one retry. */
    long f500 = test_fakeaws_stat(&fake, "faults.500");
    long f503 = test_fakeaws_stat(&fake, "faults.503");
    long thr = test_fakeaws_stat(&fake, "faults.throttle");
    long drop = test_fakeaws_stat(&fake, "faults.drop");
    long crc = test_fakeaws_stat(&fake, "faults.crc");
    long slow = test_fakeaws_stat(&fake, "faults.slow");
    long retry_faults = (f500 > 0 ? f500 : 0) + (f503 > 0 ? f503 : 0) + (thr > 0 ? thr : 0) +
                        (drop > 0 ? drop : 0) + (crc > 0 ? crc : 0);
    printf("faults: 500=%ld 503=%ld throttle=%ld drop=%ld crc=%ld slow=%ld; retries=%lu "
           "throttles=%lu attempts=%lu\n", f500, f503, thr, drop, crc, slow, s->retries,
           s->throttles, s->attempts);
    assert_true(retry_faults > 200);        /* ~20% of the ~2,500 requests */
    /* libcurl itself re-sends a request once when a reused keep-alive
     * connection dies before any byte of the answer (a "drop"); the server
     * sees those, the engine does not. Everything else is an engine retry. */
    long hidden = test_fakeaws_stat(&fake, "requests") - (long)s->attempts;
    assert_true(hidden >= 0 && hidden <= drop);
    assert_int_equal((long)s->retries + hidden, retry_faults);
    assert_int_equal((long)s->throttles, thr > 0 ? thr : 0);
    assert_int_equal((long)s->attempts, NCALLS + (long)s->retries);
    assert_int_equal(t.attempts, (int)s->attempts);

    /* Every item is there, exactly once. */
    aws_client_free(c);
    buf scan_out = BUF_INIT;
    send_json(direct, "Scan", "{\"TableName\":\"faults\",\"Select\":\"COUNT\"}", capture,
              &scan_out);
    aws_client_run(direct);
    json_object *doc = json_tokener_parse(buf_str(&scan_out)), *count;
    assert_non_null(doc);
    assert_true(json_object_object_get_ex(doc, "Count", &count));
    assert_int_equal(json_object_get_int(count), NCALLS);
    json_object_put(doc);
    buf_free(&scan_out);
    aws_client_free(direct);
}

typedef struct paced {
    aws_client *client;
    int left, ok, failed;
    buf body;
} paced;

static void paced_next(paced *p);

static void paced_done(const aws_result *r, void *ud)
{
    paced *p = ud;
    if (r->ok) p->ok++;
    else p->failed++;
    paced_next(p);
}

static void paced_next(paced *p)
{
    if (p->left <= 0) return;
    p->left--;
    buf_reset(&p->body);
    buf_printf(&p->body, "{\"TableName\":\"faults\",\"Key\":{\"pk\":{\"S\":\"item-%05d\"}}}",
               p->left % NCALLS);
    send_json(p->client, "GetItem", buf_str(&p->body), paced_done, p);
}

/* A "table" that accepts 40 requests per second, asked for as fast as 32
 * in flight can go: the adaptive rate finds the limit, so most requests
 * succeed first time instead of hammering the service with retries. (40,
 * not more: on a machine loaded to 10+ runnable processes, dynalite behind
 * the proxy answered 32 in flight at under 100/s, and without outrunning
 * the limit there is nothing to compare.) */
static void test_adaptive_rate_finds_capacity(void **state)
{
    (void)state;
    test_server capped = {0};
    const char *args[] = {"--upstream", dynalite.url, "--capacity", "40", NULL};
    assert_int_equal(test_fakeaws_start(&capped, args), 0);
    const int total = 300;
    double shares[2];
    max_backoff = 1.0;  /* keeps the run without the limit short */
    for (int adaptive = 0; adaptive < 2; adaptive++) {
        test_fakeaws_reset(&capped);
        paced p = {client_for(capped.url, 32, adaptive), total, 0, 0, BUF_INIT};
        double t0 = clock_mono();
        for (int i = 0; i < 32; i++) paced_next(&p);
        aws_client_run(p.client);
        printf("adaptive=%d: %.1f s\n", adaptive, clock_mono() - t0);
        /* Without the limit, a call may run out of attempts while 32 in
         * flight hammer the cap: that is the behaviour being compared. */
        assert_int_equal(p.ok + p.failed, total);
        if (adaptive) assert_int_equal(p.failed, 0);
        long throttled = test_fakeaws_stat(&capped, "faults.capacity");
        long requests = test_fakeaws_stat(&capped, "requests");
        shares[adaptive] = (double)throttled / (double)requests;
        printf("adaptive=%d: %ld requests, %ld throttled (%.0f%%), %lu retries\n", adaptive,
               requests, throttled, 100 * shares[adaptive], aws_client_stats(p.client)->retries);
        buf_free(&p.body);
        aws_client_free(p.client);
    }
    /* Without the adaptive rate the limit was hit; with it engaged, far
     * fewer requests are wasted on throttles. */
    assert_true(shares[0] > 0);
    assert_true(shares[1] < shares[0]);
    assert_true(shares[1] < 0.35);
    max_backoff = 20.0;
    test_server_stop(&capped);
}

/* The server's clock is 20 minutes ahead: the first attempt is refused as
 * "Signature expired", the engine learns the offset from the Date header,
 * re-signs and succeeds; later calls are signed right the first time. */
static void test_clock_skew_corrected(void **state)
{
    (void)state;
    test_server skewed = {0};
    const char *args[] = {"--upstream", dynalite.url, "--clock-offset-ms", "1200000", NULL};
    assert_int_equal(test_fakeaws_start(&skewed, args), 0);
    aws_client *c = client_for(skewed.url, 4, 1);
    tally t = {0, 0, 0};
    send_json(c, "DescribeTable", "{\"TableName\":\"faults\"}", count, &t);
    aws_client_run(c);
    assert_int_equal(t.ok, 1);
    assert_int_equal(t.attempts, 2);
    send_json(c, "DescribeTable", "{\"TableName\":\"faults\"}", count, &t);
    aws_client_run(c);
    assert_int_equal(t.ok, 2);
    assert_int_equal(t.attempts, 3);
    assert_int_equal(test_fakeaws_stat(&skewed, "signature_failures"), 1);
    aws_client_free(c);
    test_server_stop(&skewed);
}

/* Temporary credentials from the container endpoint stop working early
 * (the server says ExpiredTokenException while their advertised expiry is
 * far away): the engine refreshes them once and the call succeeds. */
static void test_expired_credentials_refreshed(void **state)
{
    (void)state;
    test_server srv = {0};
    const char *args[] = {"--upstream", dynalite.url, "--expire-after-ms", "1000",
                          "--advertise-expiry-ms", "3600000", NULL};
    assert_int_equal(test_fakeaws_start(&srv, args), 0);
    buf uri = BUF_INIT;
    buf_printf(&uri, "%s/container-credentials", srv.url);
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", buf_str(&uri), 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", TEST_CONTAINER_TOKEN, 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent", 1);

    aws_client *c = client_for(srv.url, 4, 1);
    tally t = {0, 0, 0};
    send_json(c, "DescribeTable", "{\"TableName\":\"faults\"}", count, &t);
    aws_client_run(c);
    assert_int_equal(t.ok, 1);
    struct timespec pause = {1, 200000000};
    nanosleep(&pause, NULL);
    send_json(c, "DescribeTable", "{\"TableName\":\"faults\"}", count, &t);
    aws_client_run(c);
    assert_int_equal(t.ok, 2);
    assert_int_equal(t.attempts, 3);  /* one refused with ExpiredTokenException */
    assert_int_equal(test_fakeaws_stat(&srv, "expired_tokens"), 1);
    assert_int_equal(test_fakeaws_stat(&srv, "by_target.container:credentials"), 2);
    aws_client_free(c);
    test_server_stop(&srv);

    unsetenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    unsetenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    setenv("AWS_ACCESS_KEY_ID", TEST_ACCESS_KEY, 1);
    setenv("AWS_SECRET_ACCESS_KEY", TEST_SECRET_KEY, 1);
    buf_free(&uri);
}

/* A response over the size limit is an error, not retried; a request over
 * its timeout is retried. */
static void test_size_limit_and_timeout(void **state)
{
    (void)state;
    aws_client_options o;
    aws_client_options_default(&o);
    o.region = "us-east-1";
    o.endpoint_url = dynalite.url;
    o.http.max_response_bytes = 64;
    buf err = BUF_INIT;
    aws_client *c = aws_client_new(&o, &err);
    assert_non_null(c);
    tally t = {0, 0, 0};
    send_json(c, "DescribeTable", "{\"TableName\":\"faults\"}", count, &t);
    aws_client_run(c);
    assert_int_equal(t.failed, 1);
    assert_int_equal(t.attempts, 1);
    aws_client_free(c);

    test_server slow = {0};
    const char *args[] = {"--upstream", dynalite.url, "--slow-ms", "1500", NULL};
    assert_int_equal(test_fakeaws_start(&slow, args), 0);
    assert_int_equal(test_fakeaws_config(&slow, "{\"fault_next\":[\"slow\"]}"), 0);
    aws_client_options_default(&o);
    o.region = "us-east-1";
    o.endpoint_url = slow.url;
    o.http.request_timeout_ms = 400;
    c = aws_client_new(&o, &err);
    tally t2 = {0, 0, 0};
    send_json(c, "DescribeTable", "{\"TableName\":\"faults\"}", count, &t2);
    aws_client_run(c);
    assert_int_equal(t2.ok, 1);
    assert_int_equal(t2.attempts, 2);
    assert_int_equal((long)aws_client_stats(c)->transient, 1);
    aws_client_free(c);
    test_server_stop(&slow);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_2000_calls_under_faults),
        cmocka_unit_test(test_adaptive_rate_finds_capacity),
        cmocka_unit_test(test_clock_skew_corrected),
        cmocka_unit_test(test_expired_credentials_refreshed),
        cmocka_unit_test(test_size_limit_and_timeout),
    };
    return cmocka_run_group_tests_name("engine-faults", tests, setup, teardown);
}
