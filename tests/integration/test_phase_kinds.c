/* test_phase_kinds.c - the declarative phase kinds (copy, update, delete,
 * each) as units of work: a run SIGKILLed at three random moments and resumed
 * each time, and a run through 20% injected faults, each end with exactly
 * the items the phase should leave (computed independently by
 * tests/integration/kinds/fixture.lua); a verification killed three times
 * leaves the next one whole; `each` never runs its function
 * again for an item that had finished; failed items keep their work open
 * and --resume retries exactly them. Migration: migrations/kinds.lua. */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testassert.h"
#include "testsupport.h"

#define MIGRATION "tests/integration/migrations/kinds.lua"
#define FIXTURE "tests/integration/kinds/fixture.lua"

static test_server dynalite, fake, proxy;
static char *tmp;
/* The copy's destination and the each kind's call log (--log). */
static const char *log_table = "kinds_log";

static int items(void)
{
    const char *n = getenv("MIGHOST_TEST_RESUME_ITEMS");
    return n ? atoi(n) : 50000;
}

/* Items of the outage tests (MIGHOST_TEST_OUTAGE_ITEMS, as test_outage). */
static int outage_items(void)
{
    const char *n = getenv("MIGHOST_TEST_OUTAGE_ITEMS");
    return n && atoi(n) >= 1000 ? atoi(n) : 20000;
}

static void fixture(const char *mode, const char *a, const char *b, const char *c)
{
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"run", FIXTURE, mode, a, b, c, NULL};
    int rc = test_mighost(dynalite.url, args, &out, &err);
    if (rc != 0) fail_msg("fixture %s %s: exit %d: %s", mode, a, rc, buf_str(&err));
    buf_free(&out);
    buf_free(&err);
}

static void seed(const char *table, int n)
{
    char text[32];
    snprintf(text, sizeof text, "%d", n);
    fixture("seed", table, text, NULL);
}

/* The table holds exactly what a finished `kind` phase leaves (for each:
 * the log table, whose `calls` attribute is checked apart). */
static void expect(const char *kind, const char *table, int n)
{
    char text[32];
    snprintf(text, sizeof text, "%d", n);
    char *file = test_path_join(tmp, "expected.jsonl");
    fixture("expect", kind, text, file);
    buf got = BUF_INIT, want = BUF_INIT;
    test_dump_items(dynalite.url, table, NULL, &got);
    buf at = BUF_INIT;
    buf_printf(&at, "@%s", file);
    test_dump_items(dynalite.url, buf_str(&at), NULL, &want);
    buf_free(&at);
    if (strcmp(kind, "each") == 0) {
        /* Drop the call counts: {"calls":{"N":"1"},...} sorts first. */
        buf plain = BUF_INIT;
        for (const char *p = buf_str(&got); *p;) {
            const char *eol = strchr(p, '\n');
            size_t len = eol ? (size_t)(eol - p + 1) : strlen(p);
            const char *n_at = strstr(p, "\"n\":");
            if (n_at && n_at < p + len) {
                buf_puts(&plain, "{");
                buf_append(&plain, n_at, (size_t)(p + len - n_at));
            }
            p += len;
        }
        /* Sorted again: the call counts no longer order the lines. */
        size_t count = test_count_lines(buf_str(&plain)), k = 0;
        char **lines = xcalloc(count + 1, sizeof *lines);
        for (char *p = plain.data, *eol; p && *p; p = eol + 1) {
            eol = strchr(p, '\n');
            *eol = '\0';
            lines[k++] = p;
        }
        qsort(lines, k, sizeof *lines, test_cmp_strings);
        buf_reset(&got);
        for (size_t i = 0; i < k; i++) buf_printf(&got, "%s\n", lines[i]);
        free(lines);
        buf_free(&plain);
    }
    if (strcmp(buf_str(&got), buf_str(&want)) != 0)
        fail_msg("%s: %zu lines, expected %zu", table, test_count_lines(buf_str(&got)),
                 test_count_lines(buf_str(&want)));
    buf_free(&got);
    buf_free(&want);
    free(file);
}

/* For each: how many items of the log ran their function more than once. */
static long calls_over_one(const char *table)
{
    buf got = BUF_INIT;
    test_dump_items(dynalite.url, table, NULL, &got);
    long over = 0;
    for (const char *p = buf_str(&got); (p = strstr(p, "\"calls\":{\"N\":\"")); p++)
        if (atol(p + strlen("\"calls\":{\"N\":\"")) > 1) over++;
    buf_free(&got);
    return over;
}

/* What a finished `kind` phase over `table` of n items leaves (copy and
 * each: in the log table); for each, at most `again` items whose function
 * ran more than once. */
static void expect_kind_result(const char *kind, const char *table, int n, long again)
{
    int logs = strcmp(kind, "each") == 0 || strcmp(kind, "copy") == 0;
    expect(kind, logs ? log_table : table, n);
    if (strcmp(kind, "each") == 0) {
        long twice = calls_over_one(log_table);
        printf("each: %ld items ran more than once\n", twice);
        assert_true(twice <= again);
    }
}

/* mighost run MIGRATION for `kind` on `table`, then the extra arguments. */
static void run_args(const char **args, size_t cap, const char *kind, const char *table,
                     const char *states, const char *const *extra)
{
    const char *base[] = {"run", MIGRATION, "--kind", kind, "--table", table, "--yes", "--quiet",
                          "--state-dir", states, NULL};
    const char *with_log[] = {"run", MIGRATION, "--kind", kind, "--table", table, "--yes",
                              "--quiet", "--state-dir", states, "--log", log_table, NULL};
    int logs = strcmp(kind, "each") == 0 || strcmp(kind, "copy") == 0;
    if (test_args_join(args, cap, logs ? with_log : base, extra) < 0)
        fail_msg("too many arguments");
}

static long faults_injected(void)
{
    static const char *const kinds[] = {"500", "503", "throttle", "drop", "slow", "unprocessed"};
    long n = 0;
    char path[32];
    for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++) {
        snprintf(path, sizeof path, "faults.%s", kinds[i]);
        long v = test_fakeaws_stat(&fake, path);
        if (v > 0) n += v;
    }
    return n;
}

/* SIGKILL pid at a random moment 0.2 to 1.7 s from now; its wait status. */
static int kill_soon(pid_t pid)
{
    struct timespec t = {0, 200000000L + (long)(rand() % 1000) * 1500000L};
    while (t.tv_nsec >= 1000000000L) { t.tv_sec++; t.tv_nsec -= 1000000000L; }
    nanosleep(&t, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    return status;
}

/* Three SIGKILLs at random moments, a --resume after each, then a last
 * --resume to the end: exit 0 and the expected items. */
static void kill_and_resume(const char *kind, const char *table, int n)
{
    char states_name[64];
    snprintf(states_name, sizeof states_name, "kinds_%s_kill", kind);
    char *states = test_path_join(tmp, states_name);
    /* The killed rounds hold their writes so that the phase would last
     * about 10 s: every kill (at most 1.7 s into a round) then lands
     * mid-phase however fast the machine (delete writes only a quarter of
     * the items, and on a fast machine ended before its first kill). The
     * last --resume runs unheld. */
    int writes = strcmp(kind, "delete") == 0 ? n / 4 : strcmp(kind, "copy") == 0 ? n / 10 * 9 : n;
    char rate[32];
    snprintf(rate, sizeof rate, "%d", writes / 10 > 10 ? writes / 10 : 10);
    const char *first[24], *resume_held[24], *resume[24];
    const char *quiet[] = {"--report", "/dev/null", "--max-write-rate", rate, NULL};
    const char *resuming_held[] = {"--report", "/dev/null", "--resume", "--max-write-rate", rate, NULL};
    const char *resuming[] = {"--report", "/dev/null", "--resume", NULL};
    run_args(first, 24, kind, table, states, quiet);
    run_args(resume_held, 24, kind, table, states, resuming_held);
    run_args(resume, 24, kind, table, states, resuming);
    srand((unsigned)time(NULL) ^ (unsigned)n);
    int killed = 0;
    for (int round = 0; round < 3; round++) {
        pid_t pid = test_spawn_mighost(NULL, dynalite.url, round == 0 ? first : resume_held);
        assert_true(pid > 0);
        if (round == 0 && test_wait_for_state(states) != 0) fail_msg("no state in %s", states);
        int status = kill_soon(pid);
        if (WIFSIGNALED(status)) killed++;
        else printf("%s: round %d ended by itself, exit %d\n", kind, round, WEXITSTATUS(status));
    }
    /* Held, every round outlasts its kill; smaller runs (valgrind) may
     * still finish first. */
    if (n >= 10000 && killed != 3) fail_msg("%s: killed %d times of 3", kind, killed);
    buf out = BUF_INIT, err = BUF_INIT;
    int rc = test_mighost(dynalite.url, resume, &out, &err);
    if (rc != 0) fail_msg("%s: the last --resume exited %d: %s", kind, rc, buf_str(&err));
    printf("%s: %d items, killed %d times, then resumed to the end\n", kind, n, killed);
    /* Only the items whose function was running at a kill may run again
     * (16 at once): never one that had finished. */
    expect_kind_result(kind, table, n, 3 * 16);
    buf_free(&out);
    buf_free(&err);
    free(states);
}

/* 20% of the requests through fakeaws fail (500s, throttles, dropped
 * connections, ...): the run retries its way to the same end. */
static void through_faults(const char *kind, int n)
{
    char table[64];
    snprintf(table, sizeof table, "kinds_%s_faults", kind);
    seed(table, n);
    assert_int_equal(test_fakeaws_config(&fake, "{\"fault_rate\":0.2}"), 0);
    char *states = test_path_join(tmp, table);
    const char *args[24];
    const char *quiet[] = {"--report", "/dev/null", NULL};
    run_args(args, 24, kind, table, states, quiet);
    long before = faults_injected();
    buf out = BUF_INIT, err = BUF_INIT;
    int rc = test_mighost(fake.url, args, &out, &err);
    long faults = faults_injected() - before;
    assert_int_equal(test_fakeaws_config(&fake, "{\"fault_rate\":0}"), 0);
    if (rc != 0) fail_msg("%s through faults: exit %d: %s", kind, rc, buf_str(&err));
    printf("%s: %d items through %ld injected faults\n", kind, n, faults);
    assert_true(faults > 0);
    /* No kill here: every item's function ran exactly once. */
    expect_kind_result(kind, table, n, 0);
    buf_free(&out);
    buf_free(&err);
    free(states);
}

/* An endpoint that stops answering mid-phase (tests/fakeaws/outage.js in
 * front of dynalite): waited out, exit 0; or, past --max-outage 1, given
 * up with exit 3, then --resume, exit 0. Either way the phase leaves
 * exactly what an uninterrupted run leaves. */
static void through_outage(const char *kind, int give_up)
{
    int n = outage_items();
    char table[64], errname[80];
    snprintf(table, sizeof table, "kinds_%s_outage%d", kind, give_up);
    snprintf(errname, sizeof errname, "%s.stderr", table);
    seed(table, n);
    if (strcmp(kind, "each") == 0) {
        log_table = give_up ? "kinds_each_outage_log1" : "kinds_each_outage_log0";
        fixture("log", log_table, NULL, NULL);
    }
    char *states = test_path_join(tmp, table), *errfile = test_path_join(tmp, errname);
    /* Writes held so that the phase lasts about 5 s and the outage lands
     * in it, however fast the kind (delete writes a quarter of the items). */
    char rate[32];
    snprintf(rate, sizeof rate, "%d", strcmp(kind, "delete") == 0 ? n / 20 : n / 5);
    const char *args[24], *resume[24];
    const char *waiting[] = {"--report", "/dev/null", "--max-write-rate", rate, NULL};
    const char *giving_up[] = {"--report", "/dev/null", "--max-write-rate", rate, "--max-outage", "1", NULL};
    const char *resuming[] = {"--report", "/dev/null", "--resume", NULL};
    run_args(args, 24, kind, table, states, give_up ? giving_up : waiting);
    run_args(resume, 24, kind, table, states, resuming);
    pid_t pid = test_spawn_mighost_logged(proxy.url, args, errfile);
    assert_true(pid > 0);
    assert_int_equal(test_wait_for_state(states), 0);
    struct timespec t = {0, 300000000L};
    nanosleep(&t, NULL);
    test_outage_begin(&proxy);
    /* Given up: it ends by itself. Waited out: 3 s, then the endpoint is back. */
    int status = 0, ended = 0;
    struct timespec nap = {0, 100000000L};
    for (int i = 0; i < (give_up ? 600 : 30) && !ended; i++) {
        ended = waitpid(pid, &status, WNOHANG) == pid;
        if (!ended) nanosleep(&nap, NULL);
    }
    test_outage_end(&proxy);
    if (!ended) waitpid(pid, &status, 0);
    buf err = BUF_INIT, out = BUF_INIT;
    assert_int_equal(test_read_file(errfile, &err), 0);
    assert_true(WIFEXITED(status));
    int rc = WEXITSTATUS(status);
    printf("%s, outage %s: exit %d\n", kind, give_up ? "given up" : "waited out", rc);
    buf want = BUF_INIT;
    buf_printf(&want, "waiting for 127.0.0.1:%d since ", proxy.port);
    assert_non_null(strstr(buf_str(&err), buf_str(&want)));   /* the outage came mid-phase */
    assert_null(strstr(buf_str(&err), "traceback"));
    if (give_up) {
        if (rc != 3) fail_msg("%s: exit %d, not 3: %s", kind, rc, buf_str(&err));
        buf_reset(&want);
        buf_printf(&want, "mighost: giving up in phase %s: 127.0.0.1:%d did not answer", kind, proxy.port);
        assert_non_null(strstr(buf_str(&err), buf_str(&want)));
        rc = test_mighost(proxy.url, resume, &out, &err);
        if (rc != 0) fail_msg("%s: --resume after the outage: exit %d: %s", kind, rc, buf_str(&err));
    } else if (rc != 0) {
        fail_msg("%s: exit %d: %s", kind, rc, buf_str(&err));
    }
    /* A unit in flight when the endpoint went may run again (16 at once). */
    expect_kind_result(kind, table, n, 16);
    buf_free(&want);
    buf_free(&out);
    buf_free(&err);
    free(errfile);
    free(states);
}

static void test_update_outage(void **state)
{
    (void)state;
    through_outage("update", 0);
    through_outage("update", 1);
}

static void test_delete_outage(void **state)
{
    (void)state;
    through_outage("delete", 0);
    through_outage("delete", 1);
}

static void test_each_outage(void **state)
{
    (void)state;
    through_outage("each", 0);
    through_outage("each", 1);
}

/* The kinds that only read the scanned table (copy, each) share one
 * seeded source; update and delete change theirs. */
static const char *shared_source(void)
{
    static int seeded;
    if (!seeded) seed("kinds_src", items());
    seeded = 1;
    return "kinds_src";
}

/* The verify kind keeps no state: a verification SIGKILLed at three
 * random moments leaves nothing that changes the next one, which checks
 * every copied item and passes. Reads held (--max-read-rate) so that each
 * kill lands mid-verification. */
static void kill_verification(const char *table, int n)
{
    char *report = test_path_join(tmp, "kinds_verify_kill.json");
    const char *held[] = {"run", MIGRATION, "--kind", "copy", "--table", table, "--log", log_table,
                          "--verify-only", "--quiet", "--report", "/dev/null", "--max-read-rate",
                          n >= 10000 ? "4000" : "400", NULL};
    const char *full[] = {"run", MIGRATION, "--kind", "copy", "--table", table, "--log", log_table,
                          "--verify-only", "--quiet", "--report", report, NULL};
    int killed = 0;
    for (int round = 0; round < 3; round++) {
        pid_t pid = test_spawn_mighost(NULL, dynalite.url, held);
        assert_true(pid > 0);
        if (WIFSIGNALED(kill_soon(pid))) killed++;
    }
    if (n >= 10000 && killed != 3) fail_msg("verify: killed %d times of 3", killed);
    buf out = BUF_INIT, err = BUF_INIT;
    int rc = test_mighost(dynalite.url, full, &out, &err);
    if (rc != 0) fail_msg("verify after the kills: exit %d: %s", rc, buf_str(&err));
    json_object *r = test_json_read(report), *v = test_json_phase(r, "verify");
    /* The copy leaves out every 10th item. */
    assert_int_equal(test_json_int(v, "verification.checks.0.checked"), n - n / 10);
    assert_int_equal(test_json_int(v, "verification.checks.0.missing"), 0);
    assert_int_equal(test_json_int(v, "verification.checks.0.different"), 0);
    printf("verify: killed %d times, then %d items checked\n", killed, n - n / 10);
    json_object_put(r);
    buf_free(&out);
    buf_free(&err);
    free(report);
}

static void test_copy_kind(void **state)
{
    (void)state;
    log_table = "kinds_copy_kill_dst";
    fixture("log", log_table, NULL, NULL);
    kill_and_resume("copy", shared_source(), items());
    kill_verification(shared_source(), items());
    log_table = "kinds_copy_faults_dst";
    fixture("log", log_table, NULL, NULL);
    through_faults("copy", 3000);
}

static void test_update_kind(void **state)
{
    (void)state;
    seed("kinds_update_kill", items());
    kill_and_resume("update", "kinds_update_kill", items());
    through_faults("update", 3000);
}

static void test_delete_kind(void **state)
{
    (void)state;
    seed("kinds_delete_kill", items());
    kill_and_resume("delete", "kinds_delete_kill", items());
    through_faults("delete", 3000);
}

static void test_each_kind(void **state)
{
    (void)state;
    log_table = "kinds_each_kill_log";
    fixture("log", log_table, NULL, NULL);
    kill_and_resume("each", shared_source(), items());
    log_table = "kinds_each_faults_log";
    fixture("log", log_table, NULL, NULL);
    through_faults("each", 3000);
}

/* Failed items keep their work open: exit 1 naming them; fixed, --resume
 * updates exactly those and ends with exit 0. */
static void test_failed_items_resumed(void **state)
{
    (void)state;
    seed("kinds_fail", 2000);
    char *states = test_path_join(tmp, "kinds_fail");
    char *report = test_path_join(tmp, "kinds_fail.json");
    const char *args[24], *resume[24];
    const char *failing[] = {"--report", report, "--fail-every", "7", "--max-failures", "0", NULL};
    const char *fixed[] = {"--report", report, "--resume", NULL};
    run_args(args, 24, "update", "kinds_fail", states, failing);
    run_args(resume, 24, "update", "kinds_fail", states, fixed);
    buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(test_mighost(dynalite.url, args, &out, &err), 1);
    json_object *r = test_json_read(report);
    assert_int_equal(test_json_int(r, "phases.0.failed.count"), 2000 / 7);
    json_object_put(r);
    /* Without the fault, the resumed run updates exactly those items. */
    int rc = test_mighost(dynalite.url, resume, &out, &err);
    if (rc != 0) fail_msg("resume exited %d: %s", rc, buf_str(&err));
    r = test_json_read(report);
    assert_int_equal(test_json_int(r, "phases.0.retried"), 2000 / 7);
    assert_int_equal(test_json_int(r, "exit_code"), 0);
    json_object_put(r);
    expect("update", "kinds_fail", 2000);
    free(report);
    free(states);
    buf_free(&out);
    buf_free(&err);
}

/* A change that fails every item does not run through the table: the
 * phase stops after --max-failures, exit 1, says so; the failed keys are
 * in the failed-keys file; --resume without the fault finishes the job. */
static void test_max_failures(void **state)
{
    (void)state;
    seed("kinds_maxf", 20000);
    char *states = test_path_join(tmp, "kinds_maxf");
    char *report = test_path_join(tmp, "kinds_maxf.json");
    const char *args[24], *resume[24];
    const char *failing[] = {"--report", report, "--fail-every", "1", "--max-failures", "50",
                             NULL};
    const char *fixed[] = {"--report", report, "--resume", NULL};
    run_args(args, 24, "update", "kinds_maxf", states, failing);
    run_args(resume, 24, "update", "kinds_maxf", states, fixed);
    buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(test_mighost(dynalite.url, args, &out, &err), 1);
    assert_non_null(strstr(buf_str(&err), "stopped after"));
    assert_non_null(strstr(buf_str(&err), "(--max-failures 50)"));
    json_object *r = test_json_read(report);
    long failed = test_json_int(r, "phases.0.failed.count");
    long scanned = test_json_int(r, "phases.0.scanned");
    printf("max-failures 50: %ld failed, %ld of 20000 read\n", failed, scanned);
    assert_true(failed >= 50);
    assert_true(scanned < 20000);
    assert_int_equal(test_json_int(r, "exit_code"), 1);
    json_object_put(r);
    int rc = test_mighost(dynalite.url, resume, &out, &err);
    if (rc != 0) fail_msg("resume exited %d: %s", rc, buf_str(&err));
    expect("update", "kinds_maxf", 20000);
    free(report);
    free(states);
    buf_free(&out);
    buf_free(&err);
}

/* `mighost new --kind KIND` writes a migration that passes check as
 * written and runs to exit 0 (its own verification included). */
static void test_new_templates(void **state)
{
    (void)state;
    static const char *const kinds[] = {"update", "delete", "each"};
    fixture("template", "kinds_tpl", "500", NULL);
    buf out = BUF_INIT, err = BUF_INIT;
    for (size_t i = 0; i < 3; i++) {
        char name[64];
        snprintf(name, sizeof name, "tpl-%s.lua", kinds[i]);
        char *file = test_path_join(tmp, name);
        const char *gen[] = {"new", "acme/tpl", file, "--kind", kinds[i], NULL};
        assert_int_equal(test_mighost(NULL, gen, &out, &err), 0);
        const char *check[] = {"check", file, NULL};
        assert_int_equal(test_mighost(NULL, check, &out, &err), 0);
        const char *base[] = {"run", file, "--table", "kinds_tpl", "--yes", "--quiet",
                              "--state-dir", tmp, "--report", "/dev/null", NULL};
        const char *function[] = {"--function", "fn-tpl", NULL};   /* each's own option */
        const char *run[16];
        test_args_join(run, 16, base, strcmp(kinds[i], "each") == 0 ? function : NULL);
        test_fakeaws_reset(&fake);
        int rc = test_mighost(fake.url, run, &out, &err);
        if (rc != 0) fail_msg("template %s: exit %d: %s", kinds[i], rc, buf_str(&err));
        if (strcmp(kinds[i], "each") == 0)   /* one Invoke per item */
            assert_int_equal(test_fakeaws_stat(&fake, "by_target.lambda:Invoke"), 400);
        free(file);
    }
    const char *bad[] = {"new", "acme/x", "--kind", "bogus", NULL};
    assert_int_equal(test_mighost(NULL, bad, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "one of copy, update, delete, each"));
    buf_free(&out);
    buf_free(&err);
}

/* verify = {copy = PHASE}: the copy's own verification finds every item
 * missing from or different in the destination. */
static void test_verify_copy(void **state)
{
    (void)state;
    seed("kinds_vsrc", 3000);
    fixture("log", "kinds_vdst", NULL, NULL);
    char *report = test_path_join(tmp, "kinds_verify.json");
    const char *args[] = {"run", MIGRATION, "--kind", "copy", "--table", "kinds_vsrc", "--log",
                          "kinds_vdst", "--yes", "--quiet", "--state-dir", tmp, "--report", report,
                          NULL};
    buf out = BUF_INIT, err = BUF_INIT;
    int rc = test_mighost(dynalite.url, args, &out, &err);
    if (rc != 0) fail_msg("copy exited %d: %s", rc, buf_str(&err));
    json_object *r = test_json_read(report), *v = test_json_phase(r, "verify");
    assert_int_equal(test_json_int(v, "verification.checks.0.checked"), 2700);
    assert_int_equal(test_json_int(v, "verification.checks.0.missing"), 0);
    json_object_put(r);
    /* One item gone, one changed behind the copy's back; one written again
     * the same but spelt otherwise (its names in reverse order, its
     * numbers as 1.50 for 1.5, as DynamoDB may return an item), which is
     * no difference. */
    const char *tamper[] = {"eval", "local ddb = require 'mighost.dynamodb'\n"
        "local item = require 'mighost.item'\n"
        "local it = assert(ddb.get{table = 'kinds_vdst', key = {pk = {S = 'k9'}}, consistent = true})\n"
        "local names = item.keys(it)\n"
        "assert(#names >= 2, 'too few attributes to reorder')\n"
        "local back = {}\n"
        "for i = #names, 1, -1 do back[#back + 1] = names[i] end\n"
        "local again = item.set_order(item.copy(it), back)\n"
        "for _, v in pairs(again) do if v.N and not v.N:find('[.eE]') then v.N = v.N .. '.0' end end\n"
        "assert(item.encode(again) ~= item.encode(it) and item.equal(again, it))\n"
        "assert(ddb.put{table = 'kinds_vdst', item = again})\n"
        "assert(ddb.delete{table = 'kinds_vdst', key = {pk = {S = 'k7'}}})\n"
        "assert(ddb.update{table = 'kinds_vdst', key = {pk = {S = 'k8'}}, update = 'SET n = :n',"
        " values = {[':n'] = {N = '9'}}})", NULL};
    assert_int_equal(test_mighost(dynalite.url, tamper, &out, &err), 0);
    const char *verify[] = {"run", MIGRATION, "--kind", "copy", "--table", "kinds_vsrc", "--log",
                            "kinds_vdst", "--verify-only", "--quiet", "--report", report, NULL};
    assert_int_equal(test_mighost(dynalite.url, verify, &out, &err), 1);
    r = test_json_read(report);
    v = test_json_phase(r, "verify");
    assert_int_equal(test_json_int(v, "verification.checks.0.missing"), 1);
    assert_int_equal(test_json_int(v, "verification.checks.0.different"), 1);
    json_object_put(r);
    free(report);
    buf_free(&out);
    buf_free(&err);
}

static int setup(void **state)
{
    (void)state;
    if (test_group_setup(&tmp, &dynalite, &fake, NULL) != 0) return -1;
    return test_outage_start(&proxy, dynalite.url);
}

static int teardown(void **state)
{
    (void)state;
    test_server_stop(&proxy);
    test_group_teardown(&tmp, &dynalite, &fake);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_copy_kind),
        cmocka_unit_test(test_update_kind),
        cmocka_unit_test(test_delete_kind),
        cmocka_unit_test(test_each_kind),
        cmocka_unit_test(test_failed_items_resumed),
        cmocka_unit_test(test_max_failures),
        cmocka_unit_test(test_new_templates),
        cmocka_unit_test(test_verify_copy),
        cmocka_unit_test(test_update_outage),
        cmocka_unit_test(test_delete_outage),
        cmocka_unit_test(test_each_outage),
    };
    return cmocka_run_group_tests_name("phase-kinds", tests, setup, teardown);
}
