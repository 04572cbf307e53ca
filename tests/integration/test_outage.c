/* test_outage.c - no false success, with a copy phase: an endpoint that
 * stops answering is waited out (3 s and 60 s in the middle of a 20,000-item
 * copy) or, past --max-outage, given up with exit 3 and finished by
 * --resume; items that fail for good (over 400 KB after the transform) keep
 * their work open, and --resume after the fix writes exactly those. Every
 * run ends with the destination compared with an uninterrupted run's.
 *
 * The copy runs through tests/fakeaws/outage.js, a TCP proxy in front of
 * dynalite that the test stops (connections cut, port closed) and starts
 * again on the same port. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testassert.h"
#include "testsupport.h"

#define MIGRATION "tests/integration/migrations/sample_copy.lua"

static test_server dynalite, proxy;
static int n_items = 20000;   /* MIGHOST_TEST_OUTAGE_ITEMS (make valgrind: fewer) */
static char *tmp;
static buf clean_digest = BUF_INIT;

static void eval(const char *code)
{
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"eval", code, NULL};
    int rc = test_mighost(dynalite.url, args, &out, &err);
    if (rc != 0) fail_msg("eval failed (%d): %s", rc, buf_str(&err));
    buf_free(&out);
    buf_free(&err);
}

static void make_table(const char *name, int n)
{
    test_make_table(dynalite.url, name, n);
}

/* Every item of `table`, canonical (test_dump_items). */
static void table_digest(const char *table, buf *out)
{
    test_dump_items(dynalite.url, table, NULL, out);
}

static void assert_same_as_clean(const char *table)
{
    buf got = BUF_INIT;
    table_digest(table, &got);
    assert_string_equal(buf_str(&got), buf_str(&clean_digest));
    buf_free(&got);
}

static int exit_code(pid_t pid)
{
    int status;
    if (waitpid(pid, &status, 0) != pid) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void pause_seconds(double s)
{
    struct timespec t = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&t, NULL);
}

static int setup(void **state)
{
    (void)state;
    const char *items = getenv("MIGHOST_TEST_OUTAGE_ITEMS");
    if (items && atoi(items) >= 1000) n_items = atoi(items);
    tmp = test_tempdir();
    if (!tmp || test_dynalite_start(&dynalite) != 0) return -1;
    if (test_outage_start(&proxy, dynalite.url) != 0) return -1;
    make_table("src", n_items);
    make_table("clean", 0);
    /* The uninterrupted run every other destination must equal. */
    char *states = test_path_join(tmp, "clean-state");
    const char *args[] = {"run", MIGRATION, "--source", "src", "--destination", "clean", "--yes",
                          "--state-dir", states, "--quiet", "--report", "/dev/null", NULL};
    buf out = BUF_INIT, err = BUF_INIT;
    int rc = test_mighost(dynalite.url, args, &out, &err);
    free(states);
    buf_free(&out);
    buf_free(&err);
    if (rc != 0) return -1;
    table_digest("clean", &clean_digest);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_server_stop(&proxy);
    test_server_stop(&dynalite);
    test_rmtree(tmp);
    free(tmp);
    buf_free(&clean_digest);
    return 0;
}

/* A copy of src into dst through the proxy, with an outage of `seconds`
 * once the first checkpoint is saved (and a SIGINT `interrupt` seconds
 * into it, when >= 0); extra args (NULL-terminated) are appended. Returns
 * the exit code; the stderr text goes to err. */
static int copy_with_outage(const char *dst, double seconds, double interrupt,
                            const char *const *extra, const char *report, buf *err)
{
    make_table(dst, 0);
    char *states = test_path_join(tmp, dst);
    char *errfile = test_path_join(tmp, "stderr.txt");
    const char *base[] = {"run", MIGRATION, "--source", "src", "--destination", dst, "--yes",
                          "--state-dir", states, "--quiet", "--report", report,
                          /* slow enough that the outage lands mid-copy */
                          "--max-write-rate", "4000", NULL};
    const char *args[32];
    assert_true(test_args_join(args, 32, base, extra) > 0);
    pid_t pid = test_spawn_mighost_logged(proxy.url, args, errfile);
    assert_true(pid > 0);
    assert_int_equal(test_wait_for_state(states), 0);
    test_outage_begin(&proxy);
    double t0 = (double)time(NULL);
    /* The run ends by itself (exit 3 when it gives up) or waits. */
    int rc = -1, status, interrupted = 0;
    while ((double)time(NULL) - t0 < seconds) {
        if (interrupt >= 0 && !interrupted && (double)time(NULL) - t0 >= interrupt) {
            kill(pid, SIGINT);
            interrupted = 1;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            break;
        }
        pause_seconds(0.1);
    }
    test_outage_end(&proxy);
    if (rc < 0) rc = exit_code(pid);
    assert_int_equal(test_read_file(errfile, err), 0);
    free(states);
    free(errfile);
    return rc;
}

static void expect_waited_out(const char *dst, double seconds)
{
    char *report = test_path_join(tmp, "report.json");
    buf err = BUF_INIT;
    int rc = copy_with_outage(dst, seconds, -1, NULL, report, &err);
    printf("%s", buf_str(&err));
    assert_int_equal(rc, 0);
    /* It said what it was doing, and carried on when the endpoint came back. */
    buf want = BUF_INIT;
    buf_printf(&want, "waiting for 127.0.0.1:%d since ", proxy.port);
    assert_non_null(strstr(buf_str(&err), buf_str(&want)));
    assert_non_null(strstr(buf_str(&err), ", next try in "));
    assert_non_null(strstr(buf_str(&err), "answers again after"));
    assert_null(strstr(buf_str(&err), "traceback"));
    json_object *r = test_json_read(report);
    assert_int_equal(test_json_int(r, "exit_code"), 0);
    json_object *copy = test_json_phase(r, "copy");
    assert_int_equal(test_json_int(copy, "failed.count"), 0);
    assert_int_equal(test_json_int(copy, "written"), n_items - n_items / 100);
    assert_true(json_object_get_boolean(test_json_get(r, "verification.ok")));
    json_object_put(r);
    assert_same_as_clean(dst);
    free(report);
    buf_free(&want);
    buf_free(&err);
}

static void test_short_outage_waited_out(void **state)
{
    (void)state;
    expect_waited_out("dst3", 3);
}

static void test_long_outage_waited_out(void **state)
{
    (void)state;
    expect_waited_out("dst60", 60);
}

/* --max-outage 5 and an outage longer than that: exit 3 with one line that
 * names the endpoint and the last error, the state saved, no traceback;
 * --resume once it answers finishes the copy. */
static void test_gives_up_then_resume(void **state)
{
    (void)state;
    char *report = test_path_join(tmp, "gaveup.json");
    buf err = BUF_INIT;
    const char *extra[] = {"--max-outage", "5", NULL};
    int rc = copy_with_outage("dstgive", 60, -1, extra, report, &err);
    printf("%s", buf_str(&err));
    assert_int_equal(rc, 3);
    buf want = BUF_INIT;
    buf_printf(&want, "mighost: giving up in phase copy: 127.0.0.1:%d did not answer for ",
               proxy.port);
    const char *line = strstr(buf_str(&err), buf_str(&want));
    assert_non_null(line);
    assert_non_null(strstr(line, "(--max-outage 5); last error: "));
    assert_non_null(strstr(line, "--resume"));
    assert_null(strstr(buf_str(&err), "traceback"));
    assert_null(strstr(buf_str(&err), "script error"));
    json_object *r = test_json_read(report);
    assert_int_equal(test_json_int(r, "exit_code"), 3);
    assert_int_equal(test_json_int(test_json_phase(r, "copy"), "failed.count"), 0);
    json_object_put(r);

    char *states = test_path_join(tmp, "dstgive");
    const char *resume[] = {"run", MIGRATION, "--source", "src", "--destination", "dstgive",
                            "--yes", "--state-dir", states, "--resume", "--quiet", "--report",
                            report, NULL};
    buf out = BUF_INIT;
    assert_int_equal(test_mighost(proxy.url, resume, &out, &err), 0);
    r = test_json_read(report);
    assert_int_equal(test_json_int(r, "exit_code"), 0);
    assert_true(json_object_get_boolean(test_json_get(r, "verification.ok")));
    json_object_put(r);
    assert_same_as_clean("dstgive");
    free(states);
    free(report);
    buf_free(&want);
    buf_free(&out);
    buf_free(&err);
}

/* Ctrl-C while waiting: exit 130 at once (not after --max-outage), the
 * state saved; --resume once it answers finishes the copy. */
static void test_interrupt_while_waiting(void **state)
{
    (void)state;
    char *report = test_path_join(tmp, "interrupted.json");
    buf err = BUF_INIT, out = BUF_INIT;
    /* Long enough that an exit before its end is the interrupt's doing,
     * even under valgrind. */
    int outage = getenv("MIGHOST_REAL_BIN") ? 90 : 30;
    time_t began = time(NULL);
    int rc = copy_with_outage("dstint", outage, 2, NULL, report, &err);
    assert_int_equal(rc, 130);
    assert_true(time(NULL) - began < outage - 5);
    assert_non_null(strstr(buf_str(&err), "waiting for 127.0.0.1:"));
    assert_null(strstr(buf_str(&err), "traceback"));
    json_object *r = test_json_read(report);
    assert_int_equal(test_json_int(r, "exit_code"), 130);
    assert_int_equal(test_json_int(test_json_phase(r, "copy"), "failed.count"), 0);
    json_object_put(r);
    char *states = test_path_join(tmp, "dstint");
    const char *resume[] = {"run", MIGRATION, "--source", "src", "--destination", "dstint",
                            "--yes", "--state-dir", states, "--resume", "--quiet", "--report",
                            "/dev/null", NULL};
    assert_int_equal(test_mighost(proxy.url, resume, &out, &err), 0);
    assert_same_as_clean("dstint");
    free(states);
    free(report);
    buf_free(&out);
    buf_free(&err);
}

/* Sets the blob of items big1..big3 of `table` so that the item is `size`
 * bytes (DynamoDB's measure). */
static void size_big_items(const char *table, int size)
{
    buf code = BUF_INIT;
    buf_printf(&code,
        "local ddb, item = require 'mighost.dynamodb', require 'mighost.item'\n"
        "for i = 1, 3 do\n"
        "  local it = {pk = {S = 'big' .. i}, n = {N = '0'}, blob = {S = ''}}\n"
        "  it.blob.S = string.rep('x', %d - item.size(it))\n"
        "  assert(ddb.put{table = '%s', item = it})\n"
        "end\n", size, table);
    eval(buf_str(&code));
    buf_free(&code);
}

/* Three items just under 400 KB become just over it with the version stamp
 * the transform adds: they fail, the run exits 1 and says which; --resume
 * without a fix fails them again (exit 1, named); after the source items
 * are fixed, --resume writes exactly those three, verifies, exit 0. */
static void test_failed_items_resume(void **state)
{
    (void)state;
    make_table("fsrc", 2000);
    make_table("fdst", 0);
    size_big_items("fsrc", 409596);
    char *states = test_path_join(tmp, "fstate");
    char *report = test_path_join(tmp, "failed.json");
    const char *first[] = {"run", MIGRATION, "--source", "fsrc", "--destination", "fdst", "--yes",
                           "--state-dir", states, "--quiet", "--report", report, NULL};
    const char *resume[] = {"run", MIGRATION, "--source", "fsrc", "--destination", "fdst",
                            "--yes", "--state-dir", states, "--resume", "--quiet", "--report",
                            report, NULL};
    buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(test_mighost(dynalite.url, first, &out, &err), 1);
    assert_non_null(strstr(buf_str(&err), "{\"pk\":{\"S\":\"big2\"}}"));
    assert_non_null(strstr(buf_str(&err), "over DynamoDB's 400 KB limit"));
    json_object *r = test_json_read(report);
    assert_int_equal(test_json_int(r, "exit_code"), 1);
    assert_int_equal(test_json_int(test_json_phase(r, "copy"), "failed.count"), 3);
    /* A copy: the report's JSON is freed below, the path is used at the end. */
    char *keys_file = strdup(json_object_get_string(test_json_get(r, "failed_keys_file")));
    assert_non_null(keys_file);
    buf keys = BUF_INIT;
    assert_int_equal(test_read_file(keys_file, &keys), 0);
    assert_int_equal((int)test_count_lines(buf_str(&keys)), 3);
    json_object_put(r);

    /* A plain run does not start over: it says to resume. */
    const char *plain[] = {"run", MIGRATION, "--source", "fsrc", "--destination", "fdst", "--yes",
                           "--state-dir", states, "--quiet", "--report", "/dev/null", NULL};
    assert_int_equal(test_mighost(dynalite.url, plain, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "ended with 3 failed items"));
    assert_non_null(strstr(buf_str(&err), "--resume"));

    /* Not fixed: the same three fail again, and are named. */
    assert_int_equal(test_mighost(dynalite.url, resume, &out, &err), 1);
    assert_non_null(strstr(buf_str(&err), "{\"pk\":{\"S\":\"big1\"}}"));
    r = test_json_read(report);
    json_object *copy = test_json_phase(r, "copy");
    assert_int_equal(test_json_int(copy, "retried"), 3);
    assert_int_equal(test_json_int(copy, "scanned"), 3);     /* nothing else read again */
    assert_int_equal(test_json_int(copy, "failed.count"), 3);
    assert_false(json_object_get_boolean(test_json_get(r, "verification.ok")));
    json_object_put(r);

    /* Fixed in the source: exactly those three are written, then verified. */
    size_big_items("fsrc", 300000);
    assert_int_equal(test_mighost(dynalite.url, resume, &out, &err), 0);
    r = test_json_read(report);
    copy = test_json_phase(r, "copy");
    assert_int_equal(test_json_int(copy, "retried"), 3);
    assert_int_equal(test_json_int(copy, "written"), 3);
    assert_int_equal(test_json_int(copy, "failed.count"), 0);
    assert_true(json_object_get_boolean(test_json_get(r, "verification.ok")));
    assert_int_equal(test_json_int(r, "exit_code"), 0);
    json_object_put(r);
    assert_int_equal(access(keys_file, F_OK), -1);   /* nothing is left to retry */
    free(keys_file);

    /* The destination is what one clean run of the fixed source gives. */
    make_table("fclean", 0);
    char *clean_states = test_path_join(tmp, "fclean-state");
    const char *clean[] = {"run", MIGRATION, "--source", "fsrc", "--destination", "fclean", "--yes",
                           "--state-dir", clean_states, "--quiet", "--report", "/dev/null", NULL};
    assert_int_equal(test_mighost(dynalite.url, clean, &out, &err), 0);
    buf a = BUF_INIT, b = BUF_INIT;
    table_digest("fdst", &a);
    table_digest("fclean", &b);
    assert_string_equal(buf_str(&a), buf_str(&b));
    free(clean_states);
    free(states);
    free(report);
    buf_free(&a);
    buf_free(&b);
    buf_free(&keys);
    buf_free(&out);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_items_resume),
        cmocka_unit_test(test_short_outage_waited_out),
        cmocka_unit_test(test_gives_up_then_resume),
        cmocka_unit_test(test_interrupt_while_waiting),
        cmocka_unit_test(test_long_outage_waited_out),
    };
    return cmocka_run_group_tests_name("outage", tests, setup, teardown);
}
