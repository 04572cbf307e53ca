/* test_inflight.c - the learnt windows of requests in flight
 * (mighost.inflight) against dynalite with latency added to every request
 * (tests/dynalite/start.js --latency-ms): the window grows past its start
 * while latency, not the server, is the limit, and is cut on throttling.
 * Counted at the endpoint (its /_stats) and in what the script reports;
 * no timing is asserted, only levels and that every item arrived. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

#define START_WINDOW 4   /* mighost.inflight's first window */

static int start_dynalite(test_server *s, const char *const opts[])
{
    const char *argv[8] = {test_node_path(), "tests/dynalite/start.js"};
    int n = 2;
    for (; *opts && n < 7; opts++) argv[n++] = *opts;
    argv[n] = NULL;
    memset(s, 0, sizeof *s);
    return test_server_start(s, argv);
}

/* GET /_stats of the endpoint: the value of "name". */
static long endpoint_stat(const test_server *s, const char *name)
{
    buf url = BUF_INIT, out = BUF_INIT;
    buf_printf(&url, "%s/_stats", s->url);
    assert_int_equal(test_http("GET", buf_str(&url), NULL, &out), 200);
    char key[64];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *at = strstr(buf_str(&out), key);
    assert_non_null(at);
    long v = strtol(at + strlen(key), NULL, 10);
    buf_free(&url);
    buf_free(&out);
    return v;
}

/* In text (a report's "in_flight" or the script's "levels" line): the
 * field of the operation's window. */
static long level_in(const char *text, const char *op, const char *field)
{
    const char *at = strstr(text, op);
    assert_non_null(at);
    char key[32];
    snprintf(key, sizeof key, "\"%s\":", field);
    const char *v = strstr(at, key);
    assert_non_null(v);
    return strtol(v + strlen(key), NULL, 10);
}

/* The script's "levels" line: the field of the operation's window. */
static long level(const char *out, const char *op, const char *field)
{
    const char *at = strstr(out, "levels\t");
    assert_non_null(at);
    return level_in(at, op, field);
}

static void run_items(const test_server *s, const char *n, buf *out)
{
    buf err = BUF_INIT;
    const char *args[] = {"run", "tests/integration/lua/inflight.lua", "inflight", n, NULL};
    int rc = test_mighost(s->url, args, out, &err);
    if (rc != 0) fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", buf_str(out), buf_str(&err));
    assert_int_equal(rc, 0);
    buf_free(&err);
}

/* 20 ms a request: the writes and the reads each open their window past
 * the start, and the endpoint sees more requests at once than the start. */
static void test_window_grows_under_latency(void **state)
{
    (void)state;
    test_server dyn;
    const char *opts[] = {"--latency-ms", "20", NULL};
    assert_int_equal(start_dynalite(&dyn, opts), 0);
    buf out = BUF_INIT;
    run_items(&dyn, "6000", &out);
    assert_non_null(strstr(buf_str(&out), "written\t6000\tfailed\t0"));
    assert_non_null(strstr(buf_str(&out), "found\t6000\tright\t6000"));
    assert_true(level(buf_str(&out), "BatchWriteItem", "max") > START_WINDOW);
    assert_true(level(buf_str(&out), "BatchGetItem", "max") > START_WINDOW);
    /* Batch requests stop at 64 whatever --concurrency (256) allows. */
    assert_true(level(buf_str(&out), "BatchWriteItem", "final") <= 64);
    assert_true(level(buf_str(&out), "BatchGetItem", "final") <= 64);
    assert_true(endpoint_stat(&dyn, "max_in_flight") > START_WINDOW);
    assert_int_equal(endpoint_stat(&dyn, "throttled"), 0);
    buf_free(&out);
    test_server_stop(&dyn);
}

/* sim LATENCY RATE N [THROTTLE_FROM]: tests/integration/lua/inflight_sim.lua's
 * output (the learnt window against a simulated server on a simulated
 * clock), with the window after each round trip parsed into rounds. */
static void sim(const char *const args[], buf *out, long rounds[], int *nrounds)
{
    buf err = BUF_INIT;
    const char *argv[10] = {"run", "tests/integration/lua/inflight_sim.lua"};
    for (int i = 0; args[i] && i < 6; i++) argv[2 + i] = args[i];
    int rc = test_mighost(NULL, argv, out, &err);
    if (rc != 0) fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", buf_str(out), buf_str(&err));
    assert_int_equal(rc, 0);
    buf_free(&err);
    const char *at = strstr(buf_str(out), "windows\t");
    assert_non_null(at);
    at += strlen("windows\t");
    *nrounds = 0;
    while (*at && *at != '\n' && *nrounds < 64) {
        char *end;
        rounds[(*nrounds)++] = strtol(at, &end, 10);
        at = end;
        while (*at == ' ') at++;
    }
}

static double sim_value(const buf *out, const char *field)
{
    const char *at = strstr(buf_str(out), field);
    assert_non_null(at);
    return strtod(at + strlen(field) + 1, NULL);
}

/* The window's arithmetic, with no network and no timing: at 30 ms a
 * request against a server of 5,000 answers a second (150 in flight
 * needed), the window doubles each round trip (slow start) and is past
 * 128 by the seventh, where growing by quarters from 4 would be at 15;
 * it then delivers what the server gives. Against 1,000 a second (30
 * needed) it stops doubling when a round gains nothing and keeps the
 * server busy without running away. Throttles on every third answer
 * halve it below its start. A new table's window for the same operation
 * starts from half the best this one reached, unless it was throttled. */
static void test_window_arithmetic(void **state)
{
    (void)state;
    buf out = BUF_INIT;
    long r[64];
    int n;

    const char *fast[] = {"30", "5000", "20000", NULL};
    sim(fast, &out, r, &n);
    assert_true(n >= 8);
    assert_true(r[0] <= START_WINDOW);
    for (int i = 2; i < 7; i++) assert_int_equal(r[i], 2 * r[i - 1]);   /* doubling */
    assert_true(r[6] >= 128);
    assert_true(sim_value(&out, "throughput") >= 0.9 * 5000);
    /* The same operation on another table starts from half what this one
     * learnt (at least 64: the best round's window was past 128), not
     * from 4; another operation still starts at 4. */
    long next = (long)sim_value(&out, "next_table");
    fprintf(stderr, "next table's window starts at %ld\n", next);
    assert_true(next >= 64 && next <= 256);
    assert_int_equal((long)sim_value(&out, "other_op"), START_WINDOW);

    buf_reset(&out);
    const char *slow[] = {"30", "1000", "5000", NULL};
    sim(slow, &out, r, &n);
    long most = 0;
    for (int i = 8; i < n; i++) if (r[i] > most) most = r[i];
    assert_true(most >= 30 && most <= 100);       /* 30 needed; at most ~3x that */
    assert_true(sim_value(&out, "throughput") >= 0.95 * 1000);

    buf_reset(&out);
    const char *throttled[] = {"30", "5000", "20000", "2000", NULL};
    sim(throttled, &out, r, &n);
    assert_true(sim_value(&out, "final") < START_WINDOW);
    /* After throttles, no head start for the next table. */
    assert_int_equal((long)sim_value(&out, "next_table"), START_WINDOW);
    buf_free(&out);
}

/* 150 requests at once, each held 300 ms at the endpoint: all of them
 * reach it together (one connection per request in flight, up to
 * --concurrency, default 256), not 64 with the rest queued in the client. */
static void test_connections_follow_concurrency(void **state)
{
    (void)state;
    test_server dyn;
    const char *opts[] = {"--latency-ms", "300", NULL};
    assert_int_equal(start_dynalite(&dyn, opts), 0);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"run", "tests/integration/lua/connections.lua", "conns", "150", NULL};
    int rc = test_mighost(dyn.url, args, &out, &err);
    if (rc != 0) fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", buf_str(&out), buf_str(&err));
    assert_int_equal(rc, 0);
    assert_non_null(strstr(buf_str(&out), "described\t150"));
    /* 150 are at the endpoint at once, give or take a straggler. */
    long most = endpoint_stat(&dyn, "max_in_flight");
    fprintf(stderr, "endpoint saw %ld requests at once\n", most);
    assert_true(most >= 140);

    /* --concurrency 100 holds them to 100. */
    test_server_stop(&dyn);
    assert_int_equal(start_dynalite(&dyn, opts), 0);
    buf_reset(&out);
    buf_reset(&err);
    const char *capped[] = {"run", "--concurrency", "100", "tests/integration/lua/connections.lua",
                            "conns", "150", NULL};
    rc = test_mighost(dyn.url, capped, &out, &err);
    if (rc != 0) fprintf(stderr, "stdout:\n%s\nstderr:\n%s\n", buf_str(&out), buf_str(&err));
    assert_int_equal(rc, 0);
    assert_non_null(strstr(buf_str(&out), "described\t150"));
    most = endpoint_stat(&dyn, "max_in_flight");
    fprintf(stderr, "with --concurrency 100: %ld at once\n", most);
    assert_true(most <= 100 && most >= 90);
    buf_free(&out);
    buf_free(&err);
    test_server_stop(&dyn);
}

/* Every third request throttled: the window is halved on throttles and
 * stays below its start, and still every item is written and read. */
static void test_window_shrinks_on_throttling(void **state)
{
    (void)state;
    test_server dyn;
    const char *opts[] = {"--latency-ms", "5", "--throttle-every", "3", NULL};
    assert_int_equal(start_dynalite(&dyn, opts), 0);
    buf out = BUF_INIT;
    run_items(&dyn, "500", &out);
    assert_non_null(strstr(buf_str(&out), "written\t500\tfailed\t0"));
    assert_non_null(strstr(buf_str(&out), "found\t500\tright\t500"));
    assert_true(endpoint_stat(&dyn, "throttled") > 0);
    assert_true(level(buf_str(&out), "BatchWriteItem", "throttles") > 0);
    assert_true(level(buf_str(&out), "BatchWriteItem", "final") < START_WINDOW);
    buf_free(&out);
    test_server_stop(&dyn);
}

/* The update kind at 20 ms a request: its UpdateItems open a window
 * past the start, the report's phase says so (in_flight), and every item
 * is updated. */
static void test_update_phase_window_in_report(void **state)
{
    (void)state;
    test_server dyn;
    const char *opts[] = {"--latency-ms", "20", NULL};
    assert_int_equal(start_dynalite(&dyn, opts), 0);
    char *tmp = test_tempdir();
    char *report = test_path_join(tmp, "report.json");
    char *states = test_path_join(tmp, "state");
    buf out = BUF_INIT, err = BUF_INIT;
    const char *seed[] = {"run", "tests/integration/kinds/fixture.lua", "seed", "upd", "1500", NULL};
    assert_int_equal(test_mighost(dyn.url, seed, &out, &err), 0);
    const char *run[] = {"run", "tests/integration/migrations/kinds.lua", "--kind", "update",
                         "--table", "upd", "--yes", "--quiet", "--state-dir", states,
                         "--report", report, NULL};
    int rc = test_mighost(dyn.url, run, &out, &err);
    if (rc != 0) fprintf(stderr, "stderr:\n%s\n", buf_str(&err));
    assert_int_equal(rc, 0);
    buf text = BUF_INIT;
    assert_int_equal(test_read_file(report, &text), 0);
    assert_non_null(strstr(buf_str(&text), "\"written\":1500"));
    const char *phase = strstr(buf_str(&text), "\"in_flight\"");
    assert_non_null(phase);
    assert_true(level_in(phase, "UpdateItem", "max") > START_WINDOW);
    assert_true(endpoint_stat(&dyn, "max_in_flight") > START_WINDOW);
    buf_free(&text);
    buf_free(&out);
    buf_free(&err);
    free(report);
    free(states);
    test_rmtree(tmp);
    free(tmp);
    test_server_stop(&dyn);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_grows_under_latency),
        cmocka_unit_test(test_window_shrinks_on_throttling),
        cmocka_unit_test(test_connections_follow_concurrency),
        cmocka_unit_test(test_window_arithmetic),
        cmocka_unit_test(test_update_phase_window_in_report),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
