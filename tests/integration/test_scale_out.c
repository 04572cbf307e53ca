/* test_scale_out.c - several workers on one run (--coordinate TABLE):
 *  - 4 worker processes on 100,000 items (dynalite; the coordination table
 *    on the same server), one SIGKILLed in the each phase and one in the
 *    copy phase: the others take over their segments once the 3 s leases
 *    expire; the destination equals the oracle item by item, every ECS
 *    task was started once (counted at fakeaws: a second call for a unit
 *    is a clientToken replay, at most the units the killed worker had in
 *    flight), and `mighost status --coordinate` shows the finished run;
 *  - a worker with another configuration (--segments, a parameter) is
 *    refused with exit 2;
 *  - --max-write-rate with 4 workers is the total, as fakeaws counts the
 *    items written over a window (loosely: a count, not a timing);
 *  - `mighost launch ecs`: RunTask in calls of at most 10 tasks, with a
 *    clientToken, the container command overridden.
 * Migration: tests/integration/migrations/scale_out.lua.
 * MIGHOST_TEST_SCALE_ITEMS sets the item count (default 100000). */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testassert.h"
#include "testsupport.h"

#define MIGRATION "tests/integration/migrations/scale_out.lua"
#define FIXTURE "tests/integration/scale/fixture.lua"
#define WORKERS 4

static test_server dynalite, fake;
static char *tmp;
static char ddb_endpoint[96], ecs_endpoint[96];
static pid_t pids[WORKERS];
static const char *coord_via_fake;   /* "dynamodb=FAKEAWS" in the rate test */   /* the workers of the test running (0: none) */

static int items(void)
{
    const char *n = getenv("MIGHOST_TEST_SCALE_ITEMS");
    return n ? atoi(n) : 100000;
}

static int setup(void **state)
{
    (void)state;
    if (test_group_setup(&tmp, &dynalite, &fake, NULL) != 0) return -1;
    snprintf(ddb_endpoint, sizeof ddb_endpoint, "dynamodb=%s", dynalite.url);
    /* Everything else (STS's who-am-I, ECS) goes to fakeaws. */
    snprintf(ecs_endpoint, sizeof ecs_endpoint, "%s", fake.url);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* A test that failed half-way leaves its workers: they go first. */
    for (int w = 0; w < WORKERS; w++) {
        if (pids[w] > 0) {
            kill(pids[w], SIGKILL);
            waitpid(pids[w], NULL, 0);
        }
    }
    test_group_teardown(&tmp, &dynalite, &fake);
    return 0;
}

/* The fixture script against dynalite directly (seeding is not what is tested). */
static void fixture(const char *mode, const char *a, const char *b, buf *out)
{
    buf o = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"run", FIXTURE, mode, a, b, NULL};
    int rc = test_mighost(dynalite.url, args, &o, &err);
    if (rc != 0) fail_msg("fixture %s %s: exit %d: %s", mode, a, rc, buf_str(&err));
    if (out) {
        buf_reset(out);
        buf_puts(out, buf_str(&o));
    }
    buf_free(&o);
    buf_free(&err);
}

/* Items of the coordination table whose sort key starts with prefix. */
static int coordination_items(const char *table, const char *prefix, int *done)
{
    buf out = BUF_INIT;
    fixture("status", table, prefix, &out);
    int total = 0, d = 0;
    if (sscanf(buf_str(&out), "%d %d", &total, &d) != 2) fail_msg("status: %s", buf_str(&out));
    buf_free(&out);
    if (done) *done = d;
    return total;
}

/* Waits (up to 300 s) until the coordination table has an item starting
 * with prefix that is not done: that phase is under way. */
static void wait_for_phase(const char *table, const char *prefix)
{
    for (int i = 0; i < 3000; i++) {
        int done, n = coordination_items(table, prefix, &done);
        if (n > 0) return;
        usleep(100 * 1000);
    }
    fail_msg("phase %s never started", prefix);
}

/* The arguments of worker `id`: run MIGRATION ... --coordinate table. */
static void worker_args(const char **args, size_t cap, const char *table, const char *dest,
                        const char *coord, const char *id, const char *report,
                        const char *const *extra)
{
    /* DynamoDB straight to dynalite unless the test counts at fakeaws. */
    const char *ddb = coord_via_fake ? coord_via_fake : ddb_endpoint;
    const char *base[] = {"run", MIGRATION, "--table", table, "--dest", dest, "--yes", "--quiet",
                          "--coordinate", coord, "--no-undo", "--worker-id", id, "--lease-seconds", "3",
                          "--report", report, "--endpoint-url", ddb,
                          "--endpoint-url", ecs_endpoint, NULL};
    assert_true(test_args_join(args, cap, base, extra) > 0);
}

/* Under valgrind (make valgrind) the workers are many times slower than
 * the polls that time the kills and the rate window: a worker may be done
 * before its kill, and the window may see nothing; the data checks hold. */
static int wait_exit(pid_t pid);

static int slowed(void)
{
    return getenv("MIGHOST_REAL_BIN") != NULL;
}

/* Worker w's stderr goes to a file, shown when it exits other than expected. */
static pid_t spawn_worker(int w, const char *const *args)
{
    char name[32];
    snprintf(name, sizeof name, "worker-%d.err", w);
    char *errfile = test_path_join(tmp, name);
    pid_t pid = test_spawn_mighost_logged(NULL, args, errfile);
    free(errfile);
    return pid;
}

static void show_worker_log(int w)
{
    char name[32];
    snprintf(name, sizeof name, "worker-%d.err", w);
    char *errfile = test_path_join(tmp, name);
    buf text = BUF_INIT;
    if (test_read_file(errfile, &text) != 0) buf_puts(&text, "(none)");
    print_message("worker %d stderr:\n%s\n", w, buf_str(&text));
    buf_free(&text);
    free(errfile);
}

/* Worker w ends with exit 0; otherwise every worker's stderr is shown. */
static void expect_ok(int w)
{
    int rc = wait_exit(pids[w]);
    if (rc != 0) {
        for (int v = 0; v < WORKERS; v++) show_worker_log(v);
        fail_msg("worker %d: exit %d", w, rc);
    }
}

/* A killed worker's status: SIGKILL, or 0 when (slowed) it was done first. */
static void expect_killed(pid_t pid)
{
    int rc = wait_exit(pid);
    if (rc != 128 + SIGKILL && !(slowed() && rc == 0)) {
        for (int w = 0; w < WORKERS; w++) show_worker_log(w);
        fail_msg("killed worker: exit %d", rc);
    }
}

static int wait_exit(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    for (int w = 0; w < WORKERS; w++)
        if (pids[w] == pid) pids[w] = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void four_workers_one_killed_in_each_one_in_copy(void **state)
{
    (void)state;
    int n = items();
    char count[32];
    snprintf(count, sizeof count, "%d", n);
    fixture("seed", "src", count, NULL);
    fixture("create", "dst", NULL, NULL);
    test_fakeaws_reset(&fake);

    char *reports[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        char id[16], name[32];
        snprintf(id, sizeof id, "w%d", w);
        snprintf(name, sizeof name, "report-%d.json", w);
        reports[w] = test_path_join(tmp, name);
        const char *args[48];
        const char *extra[] = {"--segments", "16", "--cluster", "scale", "--verify", "false", NULL};
        worker_args(args, 48, "src", "dst", "coord", id, reports[w], extra);
        pids[w] = spawn_worker(w, args);
        assert_true(pids[w] > 0);
    }
    /* In the each phase: worker 0 goes, its tasks in flight with it. */
    wait_for_phase("coord", "seg#start#");
    usleep(1500 * 1000);
    kill(pids[0], SIGKILL);
    expect_killed(pids[0]);
    /* In the copy phase: worker 1 goes. */
    wait_for_phase("coord", "seg#copy#");
    usleep(2000 * 1000);
    kill(pids[1], SIGKILL);
    expect_killed(pids[1]);
    for (int w = 2; w < WORKERS; w++) expect_ok(w);

    /* Every segment done, the copy as the oracle says, item by item. */
    int done, segs = coordination_items("coord", "seg#copy#", &done);
    assert_int_equal(segs, 16);
    assert_int_equal(done, 16);
    char *expected = test_path_join(tmp, "expected.jsonl");
    fixture("expect", count, expected, NULL);
    test_expect_items(dynalite.url, "dst", expected, NULL);
    free(expected);

    /* One task per 50th item, each started once: a unit the killed worker
     * had in flight may be called again (fakeaws answers its clientToken
     * with the first answer), a finished one never (at most the each
     * phase's concurrency, 8, were in flight). */
    long started = test_fakeaws_stat(&fake, "ecs_tasks_started");
    long replays = test_fakeaws_stat(&fake, "ecs_token_replays");
    assert_int_equal(started, n / 50);
    assert_true(replays >= 0 && replays <= (slowed() ? 16 : 8));
    assert_int_equal(coordination_items("coord", "done#start#", NULL), n / 50);

    /* Each report holds that worker's own counts; together, every item. */
    long scanned = 0;
    for (int w = 2; w < WORKERS; w++) {
        json_object *rep = NULL;
        json_object *ph = test_json_read_phase(reports[w], "copy", &rep);
        scanned += test_json_int(ph, "scanned");
        assert_string_equal(json_object_get_string(test_json_get(rep, "coordination.table")), "coord");
        json_object_put(rep);
    }
    /* Above n only if a segment was scanned twice: a worker slowed past its
     * lease (a loaded machine) lost it to another, and went on with the
     * page it had; the data above is exact either way. */
    print_message("the two survivors' reports: %ld items scanned of %d\n", scanned, n);
    assert_true(scanned > 0);

    /* mighost status --coordinate: the whole run. */
    buf out = BUF_INIT, err = BUF_INIT;
    const char *st[] = {"status", "--coordinate", "coord", "--endpoint-url", dynalite.url, NULL};
    assert_int_equal(test_mighost(NULL, st, &out, &err), 0);
    if (!strstr(buf_str(&out), "finished") || !strstr(buf_str(&out), "copy: 16 of 16 segments done") ||
        !strstr(buf_str(&out), "w0") || !strstr(buf_str(&out), "w3"))
        fail_msg("status: %s%s", buf_str(&out), buf_str(&err));
    buf_free(&out);
    buf_free(&err);
    /* The destination is what one process alone writes: the same run
     * without --coordinate into dst1 (after the counts above, since its
     * tasks reach fakeaws too), compared item by item. */
    fixture("create", "dst1", NULL, NULL);
    char *single_state = test_path_join(tmp, "single-state");
    char *single_report = test_path_join(tmp, "single-report.json");
    const char *single[] = {"run", MIGRATION, "--table", "src", "--dest", "dst1", "--yes", "--quiet",
                            "--no-history", "--state-dir", single_state, "--report", single_report,
                            "--endpoint-url", ddb_endpoint, "--endpoint-url", ecs_endpoint,
                            "--segments", "16", "--cluster", "scale", "--verify", "false", NULL};
    buf sout = BUF_INIT, serr = BUF_INIT, shared_items = BUF_INIT, single_items = BUF_INIT;
    int src = test_mighost(NULL, single, &sout, &serr);
    if (src != 0) fail_msg("single-process run: exit %d: %s", src, buf_str(&serr));
    test_dump_items(dynalite.url, "dst", NULL, &shared_items);
    test_dump_items(dynalite.url, "dst1", NULL, &single_items);
    assert_true(shared_items.len > 0);
    assert_string_equal(buf_str(&shared_items), buf_str(&single_items));
    buf_free(&sout);
    buf_free(&serr);
    buf_free(&shared_items);
    buf_free(&single_items);
    free(single_state);
    free(single_report);
    for (int w = 0; w < WORKERS; w++) free(reports[w]);
}

/* A shared run keeps no undo journal (the workers share no state file for
 * mighost undo): without --no-undo it is refused (exit 2) before any request. */
static void coordinate_without_no_undo_refused(void **state)
{
    (void)state;
    const char *args[] = {"run", MIGRATION, "--table", "src", "--dest", "dst", "--yes", "--quiet",
                          "--coordinate", "coord", "--endpoint-url", ddb_endpoint, NULL};
    buf out = BUF_INIT, err = BUF_INIT;
    int rc = test_mighost(NULL, args, &out, &err);
    if (rc != 2 || !strstr(buf_str(&err), "--no-undo")) fail_msg("exit %d: %s", rc, buf_str(&err));
    buf_free(&out);
    buf_free(&err);
}

/* After the run above: a worker with other --segments or other parameter
 * values is refused (exit 2) and says why. */
static void conflicting_configuration_refused(void **state)
{
    (void)state;
    char *report = test_path_join(tmp, "conflict.json");
    /* The first run's configuration but one value. */
    const char *cases[][4] = {
        {"--segments", "7", "scale", "--segments"},
        {"--segments", "16", "other", "parameter values"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *args[48];
        const char *extra[] = {cases[i][0], cases[i][1], "--cluster", cases[i][2], "--verify", "false", NULL};
        worker_args(args, 48, "src", "dst", "coord", "late", report, extra);
        buf out = BUF_INIT, err = BUF_INIT;
        int rc = test_mighost(NULL, args, &out, &err);
        if (rc != 2 || !strstr(buf_str(&err), cases[i][3]))
            fail_msg("%s %s: exit %d: %s", cases[i][1], cases[i][2], rc, buf_str(&err));
        buf_free(&out);
        buf_free(&err);
    }
    free(report);
}

/* --max-write-rate 300 with 4 workers: about 300 items a second in total
 * reach the endpoint (items under 1 KB are a write unit each), not 4 x 300.
 * The count over a window is asserted loosely. */
static void write_rate_is_the_total(void **state)
{
    (void)state;
    fixture("seed", "rsrc", "2400", NULL);
    fixture("create", "rdst", NULL, NULL);
    test_fakeaws_reset(&fake);
    char fake_ddb[96];
    snprintf(fake_ddb, sizeof fake_ddb, "dynamodb=%s", fake.url);
    char *reports[WORKERS];
    for (int w = 0; w < WORKERS; w++) {
        char id[16], name[32];
        snprintf(id, sizeof id, "r%d", w);
        snprintf(name, sizeof name, "rate-%d.json", w);
        reports[w] = test_path_join(tmp, name);
        const char *args[48];
        const char *extra[] = {"--tasks", "false", "--max-write-rate", "300", "--segments", "8", NULL};
        coord_via_fake = fake_ddb;
        worker_args(args, 48, "rsrc", "rdst", "coordr", id, reports[w], extra);
        coord_via_fake = NULL;
        pids[w] = spawn_worker(w, args);
        assert_true(pids[w] > 0);
    }
    wait_for_phase("coordr", "seg#copy#");
    sleep(2);
    long before = test_fakeaws_stat(&fake, "write_items.rdst");
    sleep(4);
    long after = test_fakeaws_stat(&fake, "write_items.rdst");
    for (int w = 0; w < WORKERS; w++) expect_ok(w);
    long per_second = (after - before) / 4;
    if (per_second > 450 || (after <= before && !slowed()))
        fail_msg("%ld items a second reached the endpoint (the total is 300)", per_second);
    /* Every item at least once; more when a lease ran out under load and
     * its pages in flight were redone (puts: the same items again). */
    assert_true(test_fakeaws_stat(&fake, "write_items.rdst") >= 2160);
    /* The verification ran once; the other workers report its result. */
    int verified = 0;
    for (int w = 0; w < WORKERS; w++) {
        json_object *rep = NULL;
        json_object *ph = test_json_read_phase(reports[w], "verify", &rep);
        json_object *v;
        if (json_object_object_get_ex(ph, "verification", &v)) verified++;
        else if (!strstr(json_object_to_json_string(ph), "verified by worker"))
            fail_msg("worker %d: %s", w, json_object_to_json_string(ph));
        json_object_put(rep);
        free(reports[w]);
    }
    assert_int_equal(verified, 1);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *st[] = {"status", "--coordinate", "coordr", "--endpoint-url", dynalite.url, NULL};
    assert_int_equal(test_mighost(NULL, st, &out, &err), 0);
    if (!strstr(buf_str(&out), "verification: ok")) fail_msg("status: %s%s", buf_str(&out), buf_str(&err));
    buf_free(&out);
    buf_free(&err);
}

/* mighost launch ecs --count 25: three RunTask calls (10, 10, 5 tasks),
 * each with its own clientToken and the workers' command as the container
 * command; the same launch again starts nothing (token replays); a
 * command without --coordinate is refused (exit 2). */
static void launch_ecs_workers(void **state)
{
    (void)state;
    test_fakeaws_reset(&fake);
    /* (--endpoint-url before "--": what follows is the workers'.) */
    const char *args[] = {"launch", "ecs", "--endpoint-url", fake.url, "--cluster", "workers",
                          "--task-definition", "mighost:3", "--count", "25", "--subnets", "subnet-0123456789abcdef0",
                          "--security-groups", "sg-0fedcba9876543210", "--", "run", "vams/v2.4-to-v2.5",
                          "--config", "/conf/my.json", "--coordinate", "mighost-coord", "--no-undo", "--yes", NULL};
    buf out = BUF_INIT, err = BUF_INIT;
    int rc = test_mighost(NULL, args, &out, &err);
    if (rc != 0) fail_msg("launch: exit %d: %s%s", rc, buf_str(&out), buf_str(&err));
    if (!strstr(buf_str(&out), "started 25 of 25 workers on cluster workers (3 RunTask calls)"))
        fail_msg("launch: %s", buf_str(&out));
    assert_int_equal(test_fakeaws_stat(&fake, "ecs_tasks_started"), 25);
    assert_int_equal(test_fakeaws_stat(&fake, "by_target.AmazonEC2ContainerServiceV20141113.RunTask"), 3);

    /* The requests as sent: counts, tokens, the command override. */
    buf reqs = BUF_INIT;
    assert_int_equal(test_fakeaws_get(&fake, "/__requests", &reqs), 200);
    json_object *list = json_tokener_parse(buf_str(&reqs));
    assert_non_null(list);
    int counts = 0, calls = 0;
    char tokens[3][80] = {{0}};
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *r = json_object_array_get_idx(list, i), *v;
        if (!json_object_object_get_ex(r, "target", &v) || !strstr(json_object_get_string(v), "RunTask"))
            continue;
        json_object_object_get_ex(r, "body", &v);
        json_object *body = json_tokener_parse(json_object_get_string(v));
        assert_non_null(body);
        counts += (int)test_json_int(body, "count");
        const char *token = json_object_get_string(test_json_get(body, "clientToken"));
        assert_true(strlen(token) <= 64);
        for (int k = 0; k < calls; k++) assert_string_not_equal(tokens[k], token);
        if (calls < 3) snprintf(tokens[calls], sizeof tokens[calls], "%s", token);
        calls++;
        json_object *cmd = test_json_get(body, "overrides.containerOverrides.0.command");
        assert_string_equal(json_object_get_string(json_object_array_get_idx(cmd, 0)), "run");
        assert_string_equal(json_object_get_string(json_object_array_get_idx(cmd, 4)), "--coordinate");
        assert_string_equal(json_object_get_string(test_json_get(body, "overrides.containerOverrides.0.name")),
                            "mighost");
        json_object_put(body);
    }
    assert_int_equal(calls, 3);
    assert_int_equal(counts, 25);
    json_object_put(list);
    buf_free(&reqs);

    /* Launched again (a retry after a timeout, say): nothing new starts. */
    assert_int_equal(test_mighost(NULL, args, &out, &err), 0);
    assert_int_equal(test_fakeaws_stat(&fake, "ecs_tasks_started"), 25);
    assert_int_equal(test_fakeaws_stat(&fake, "ecs_token_replays"), 3);

    /* Workers without a coordination table would each do the whole run. */
    const char *bad[] = {"launch", "ecs", "--endpoint-url", fake.url, "--cluster", "workers", "--task-definition", "mighost:3",
                         "--count", "2", "--subnets", "subnet-0123456789abcdef0", "--", "run",
                         "vams/v2.4-to-v2.5", "--yes", NULL};
    rc = test_mighost(NULL, bad, &out, &err);
    if (rc != 2 || !strstr(buf_str(&err), "--coordinate")) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_int_equal(test_fakeaws_stat(&fake, "ecs_tasks_started"), 25);
    buf_free(&out);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(four_workers_one_killed_in_each_one_in_copy),
        cmocka_unit_test(conflicting_configuration_refused),
        cmocka_unit_test(coordinate_without_no_undo_refused),
        cmocka_unit_test(write_rate_is_the_total),
        cmocka_unit_test(launch_ecs_workers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
