/* test_control.c - mighost ctl on a running copy, writes counted at the
 * endpoint (fakeaws in front of dynalite): paused, no write request
 * arrives for 2 s; resumed, they do again; a lowered max-write-rate is
 * followed within 2 s; stopped, the run exits 130 and --resume ends with
 * the destination equal, item by item, to a clean run's. The socket is
 * mode 0600 and the flag file answers too. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testassert.h"
#include "testsupport.h"

#define MIGRATION "tests/integration/migrations/kinds.lua"
#define WRITES "by_target.DynamoDB_20120810.BatchWriteItem"
/* Enough that the copy, held to at most 500 units/s, cannot end before the
 * stop even when every ctl call takes seconds (under valgrind). */
#define SOURCE_ITEMS 15000
#define COPIED_ITEMS 13500 /* the kinds migration's copy keeps 9 in 10 */

static test_server dynalite, fake;
static char *tmp;

static int setup(void **state)
{
    (void)state;
    return test_group_setup(&tmp, &dynalite, &fake, NULL);
}

static int teardown(void **state)
{
    (void)state;
    test_group_teardown(&tmp, &dynalite, &fake);
    return 0;
}

static void nap(double seconds)
{
    struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
    nanosleep(&ts, NULL);
}

static long writes(void) { return test_fakeaws_stat(&fake, WRITES); }

/* mighost ctl RUN WORDS... (state folder states); its answer in out. The
 * run answers within 0.2 s; the longer --timeout is for a run slowed by
 * valgrind. */
static int ctl(const char *states, const char *const *words, buf *out)
{
    const char *base[] = {"ctl", "--state-dir", states, "--timeout", "30", "tests_kinds", NULL};
    const char *args[16];
    assert_true(test_args_join(args, 16, base, words) >= 0);
    buf err = BUF_INIT;
    int rc = test_mighost(NULL, args, out, &err);
    if (rc != 0) print_error("ctl %s: exit %d: %s\n", words[0], rc, buf_str(&err));
    buf_free(&err);
    return rc;
}

static void test_pause_rate_stop_resume(void **state)
{
    (void)state;
    test_make_table(dynalite.url, "ctl-src", SOURCE_ITEMS);
    test_make_table(dynalite.url, "ctl-dst", 0);
    test_make_table(dynalite.url, "ctl-clean", 0);
    char *states = test_path_join(tmp, "states");
    char *clean_states = test_path_join(tmp, "clean-states");
    char *report = test_path_join(tmp, "report.json");
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT, want = BUF_INIT;

    /* The clean run, for the comparison at the end. */
    const char *clean[] = {"run", MIGRATION, "--kind", "copy", "--table", "ctl-src", "--log",
                           "ctl-clean", "--state-dir", clean_states, "--quiet", "--yes", NULL};
    assert_int_equal(test_mighost(fake.url, clean, NULL, &err), 0);

    const char *run[] = {"run", MIGRATION, "--kind", "copy", "--table", "ctl-src", "--log",
                         "ctl-dst", "--state-dir", states, "--report", report, "--quiet", "--yes",
                         "--max-write-rate", "500", "--segments", "1", NULL};
    long start = writes();
    pid_t pid = test_spawn_mighost(NULL, fake.url, run);
    assert_true(pid > 0);
    for (int i = 0; i < 400 && writes() <= start + 2; i++) nap(0.05);
    assert_true(writes() > start + 2);

    /* The socket: the owner's only. */
    buf path = BUF_INIT;
    const char *find[] = {"sh", "-c", "ls \"$0\"/*.ctl.sock", states, NULL};
    assert_int_equal(test_run(find, NULL, NULL, NULL, &path, NULL), 0);
    path.data[strcspn(path.data, "\n")] = '\0';
    struct stat st;
    assert_int_equal(stat(buf_str(&path), &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0777, 0600);

    /* Pause: what is in flight lands, then nothing for 2 s. */
    const char *pause[] = {"pause", NULL};
    assert_int_equal(ctl(states, pause, &out), 0);
    nap(1.0);
    long held = writes();
    nap(2.0);
    assert_int_equal(writes(), held);
    const char *status[] = {"status", "--output", "json", NULL};
    assert_int_equal(ctl(states, status, &out), 0);
    json_object *answer = json_tokener_parse(buf_str(&out));
    assert_non_null(answer);
    assert_true(json_object_get_boolean(test_json_get(answer, "status.paused")));
    assert_string_equal(json_object_get_string(test_json_get(answer, "status.phase")), "copy");
    json_object_put(answer);
    /* The flag file, for places without sockets, reaches the same run. */
    const char *flag_status[] = {"status", "--flag-file", NULL};
    assert_int_equal(ctl(states, flag_status, &out), 0);
    assert_non_null(strstr(buf_str(&out), "PAUSED"));

    /* Resumed at 500 units/s (20 requests of 25 items a second). */
    const char *resume[] = {"resume", NULL};
    assert_int_equal(ctl(states, resume, &out), 0);
    nap(1.0);
    long fast_from = writes();
    nap(2.0);
    long fast = writes() - fast_from;
    /* Under valgrind (make valgrind) mighost may not reach the first rate. */
    assert_true(fast >= (getenv("MIGHOST_REAL_BIN") ? 1 : 10));

    /* 50 units/s: two requests a second, within 2 s of the change. */
    const char *slow[] = {"set", "max-write-rate", "50", NULL};
    assert_int_equal(ctl(states, slow, &out), 0);
    nap(2.0);
    long slow_from = writes();
    nap(3.0);
    long slowed = writes() - slow_from;
    print_message("write requests: %ld in 2 s at 500 units/s, %ld in 3 s at 50 units/s\n", fast,
                  slowed);
    if (slowed > 8) fail_msg("%ld write requests in 3 s at 50 units/s (%ld in 2 s before)", slowed, fast);

    /* Fewer requests in flight, as the status says. */
    const char *fewer[] = {"set", "concurrency", "2", NULL};
    assert_int_equal(ctl(states, fewer, &out), 0);
    assert_int_equal(ctl(states, status, &out), 0);
    answer = json_tokener_parse(buf_str(&out));
    assert_int_equal(test_json_int(answer, "status.concurrency"), 2);
    assert_true(test_json_int(answer, "status.in_flight") <= 2);
    json_object_put(answer);
    const char *bad[] = {"set", "speed", "9", NULL};
    assert_int_equal(ctl(states, bad, &out), 2);

    /* Stop (a little faster first, so the writes in flight land soon). */
    const char *faster[] = {"set", "max-write-rate", "300", NULL};
    assert_int_equal(ctl(states, faster, &out), 0);
    const char *stop[] = {"stop", NULL};
    assert_int_equal(ctl(states, stop, &out), 0);
    int wstatus;
    waitpid(pid, &wstatus, 0);
    assert_true(WIFEXITED(wstatus));
    assert_int_equal(WEXITSTATUS(wstatus), 130);
    test_dump_items(fake.url, "ctl-dst", NULL, &got);
    /* The rate limits kept the copy from ending before the stop. */
    size_t at_stop = test_count_lines(buf_str(&got));
    print_message("destination at the stop: %zu of %d items\n", at_stop, COPIED_ITEMS);
    assert_true(at_stop < COPIED_ITEMS);
    /* The report has the commands, the rate changes among them. */
    buf text = BUF_INIT;
    test_read_file(report, &text);
    assert_non_null(strstr(buf_str(&text), "\"command\":\"set max-write-rate 50\""));
    assert_non_null(strstr(buf_str(&text), "\"command\":\"pause\""));
    assert_non_null(strstr(buf_str(&text), "\"command\":\"stop\""));
    /* No socket is left behind. */
    assert_int_not_equal(stat(buf_str(&path), &st), 0);

    const char *again[] = {"run", MIGRATION, "--kind", "copy", "--table", "ctl-src", "--log",
                           "ctl-dst", "--state-dir", states, "--quiet", "--yes", "--resume", NULL};
    int rc = test_mighost(fake.url, again, NULL, &err);
    if (rc != 0) fail_msg("--resume: exit %d: %s", rc, buf_str(&err));
    test_dump_items(fake.url, "ctl-dst", NULL, &got);
    test_dump_items(fake.url, "ctl-clean", NULL, &want);
    assert_int_equal(test_count_lines(buf_str(&want)), COPIED_ITEMS);
    assert_string_equal(buf_str(&got), buf_str(&want));

    /* A run that is not going has no one to answer. */
    const char *gone[] = {"ctl", "--state-dir", states, "--timeout", "1", "tests_kinds", "status", NULL};
    assert_int_equal(test_mighost(NULL, gone, &out, &err), 3);
    assert_non_null(strstr(buf_str(&err), "no answer within 1 s"));
    const char *no_wait[] = {"ctl", "--state-dir", states, "--timeout", "0", "tests_kinds", "status", NULL};
    assert_int_equal(test_mighost(NULL, no_wait, &out, &err), 2);
    free(states);
    free(clean_states);
    free(report);
    buf_free(&text);
    buf_free(&path);
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
    buf_free(&want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pause_rate_stop_resume),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
