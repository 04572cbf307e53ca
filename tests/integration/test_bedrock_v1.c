/* test_bedrock_v1.c - bedrock-chat/v0-to-v1 on the reference datasets A and
 * B: ECS and Cognito answered by tests/fakeaws (signatures and
 * request shapes checked, bodies recorded), the table in dynalite. The
 * RunTask bodies are compared byte for byte with the reference's; each
 * deliberate difference from the reference has its own assertion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <glob.h>
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

#define RUN_TASK "AmazonEC2ContainerServiceV20141113.RunTask"
#define DESCRIBE_TASKS "AmazonEC2ContainerServiceV20141113.DescribeTasks"
#define ADD_TO_GROUP "AWSCognitoIdentityProviderService.AdminAddUserToGroup"
#define CLUSTER "BedrockChatStack-EmbeddingClusterTEST1234"
#define TASKDEF "BedrockChatStackEmbeddingTaskDefinitionTEST5678"
#define POOL "us-east-1_TESTPOOL"

static test_server dynalite, fake;
static char *tmp;
static int tables;

typedef struct fixture {
    char table[32];
    char report[512];
    char state[512];
} fixture;

/* A fresh table with dataset A ("A"), B ("B"), A + N bots ("many", "N") or
 * A + a bot with non-ASCII key ("unicode"). */
static void make_fixture(fixture *f, const char *variant, const char *count)
{
    snprintf(f->table, sizeof f->table, "v1-conv-%d", ++tables);
    snprintf(f->report, sizeof f->report, "%s/%s-report.json", tmp, f->table);
    snprintf(f->state, sizeof f->state, "%s/%s-state", tmp, f->table);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"run", "tests/integration/bedrock/v1_fixture.lua", f->table, variant, count, NULL};
    if (test_mighost(dynalite.url, args, &out, &err) != 0) fail_msg("fixture: %s", buf_str(&err));
    buf_free(&out);
    buf_free(&err);
    assert_int_equal(test_fakeaws_reset(&fake), 0);
    /* Nothing injected or simulated unless the test says so. */
    assert_int_equal(test_fakeaws_config(&fake, "{\"ecs_rate\":0,\"ecs_throttle_next\":0,"
        "\"ecs_failures_next\":[],\"ecs_errors_next\":[],\"ecs_embed_table\":null,\"ecs_embed_fail\":[],"
        "\"ecs_running_polls\":0}"), 0);
}

#define ARGS_MAX 64  /* room in build_args's args */

/* The migration's argument list with the reference's settings, then extra. */
static int build_args(const fixture *f, const char *const *extra, const char **args)
{
    const char *base[] = {"run", "bedrock-chat/v0-to-v1", "--table", f->table, "--cluster", CLUSTER,
                          "--task-definition", TASKDEF, "--subnets", "subnet-0123456789abcdef0",
                          "--security-groups", "sg-0fedcba9876543210", "--report", f->report,
                          "--state-dir", f->state, "--quiet", NULL};
    int n = test_args_join(args, ARGS_MAX, base, extra);
    assert_true(n >= 0);
    return n;
}

static int migrate(const fixture *f, const char *const *extra, buf *out, buf *err)
{
    const char *args[ARGS_MAX];
    build_args(f, extra, args);
    return test_mighost(fake.url, args, out, err);
}

/* The recorded bodies of one target, answered with `status` (0: any). */
static json_object *bodies(const char *target, int status)
{
    buf text = BUF_INIT;
    assert_int_equal(test_fakeaws_get(&fake, "/__requests", &text), 200);
    json_object *all = json_tokener_parse(buf_str(&text)), *out = json_object_new_array();
    buf_free(&text);
    for (size_t i = 0; i < json_object_array_length(all); i++) {
        json_object *r = json_object_array_get_idx(all, i), *t, *b, *s;
        json_object_object_get_ex(r, "target", &t);
        json_object_object_get_ex(r, "body", &b);
        json_object_object_get_ex(r, "status", &s);
        if (strcmp(json_object_get_string(t), target) != 0) continue;
        if (status && json_object_get_int(s) != status) continue;
        json_object_array_add(out, json_object_new_string(json_object_get_string(b)));
    }
    json_object_put(all);
    return out;
}

static size_t count_of(const char *target, int status)
{
    json_object *b = bodies(target, status);
    size_t n = json_object_array_length(b);
    json_object_put(b);
    return n;
}

/* A RunTask body less its trailing ,"clientToken":"<64 hex>" member; the
 * token must be there and well formed. */
static char *without_token(const char *body)
{
    const char *at = strstr(body, ",\"clientToken\":\"");
    assert_non_null(at);
    const char *hex = at + strlen(",\"clientToken\":\"");
    for (int i = 0; i < 64; i++) assert_true(strchr("0123456789abcdef", hex[i]) != NULL);
    assert_string_equal(hex + 64, "\"}");
    size_t head = (size_t)(at - body);
    char *out = malloc(head + 2);
    memcpy(out, body, head);
    out[head] = '}';
    out[head + 1] = 0;
    return out;
}

/* Recorded RunTask bodies, the same body sent again (a retry, with its
 * token) counted once, less tokens, sorted, equal the expected lines. */
static void expect_run_task_bodies(const char *const *want, size_t n)
{
    json_object *got = bodies(RUN_TASK, 0);
    size_t sent = json_object_array_length(got), distinct = 0;
    char **all = calloc(sent + 1, sizeof *all);
    for (size_t i = 0; i < sent; i++) all[i] = strdup(json_object_get_string(json_object_array_get_idx(got, i)));
    qsort(all, sent, sizeof *all, test_cmp_strings);
    for (size_t i = 0; i < sent; i++) {
        if (distinct > 0 && strcmp(all[i], all[distinct - 1]) == 0) { free(all[i]); continue; }
        all[distinct++] = all[i];
    }
    assert_int_equal(distinct, n);
    char **g = calloc(n, sizeof *g);
    const char **w = calloc(n, sizeof *w);
    for (size_t i = 0; i < n; i++) {
        g[i] = without_token(all[i]);
        free(all[i]);
        w[i] = want[i];
    }
    free(all);
    qsort(g, n, sizeof *g, test_cmp_strings);
    qsort(w, n, sizeof *w, test_cmp_strings);
    for (size_t i = 0; i < n; i++) assert_string_equal(g[i], w[i]);
    for (size_t i = 0; i < n; i++) free(g[i]);
    free(g);
    free(w);
    json_object_put(got);
}

/* The reference's three bodies (F3/F4), one per line. */
static char *spec_bodies[3];

static void load_spec_bodies(void)
{
    buf text = BUF_INIT;
    assert_int_equal(test_read_file("tests/integration/bedrock/v1_runtask_bodies.txt", &text), 0);
    char *save = NULL, *line = strtok_r(text.data, "\n", &save);
    for (int i = 0; i < 3; i++) {
        assert_non_null(line);
        spec_bodies[i] = strdup(line);
        line = strtok_r(NULL, "\n", &save);
    }
    buf_free(&text);
}

static long stat_of(const char *what)
{
    return test_fakeaws_stat(&fake, what);
}

static int setup(void **state)
{
    (void)state;
    if (test_group_setup(&tmp, &dynalite, &fake,
                         (const char *const[]){"--cognito-users", "alice,bob,carol,dave", NULL}) != 0)
        return -1;
    load_spec_bodies();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_group_teardown(&tmp, &dynalite, &fake);
    for (int i = 0; i < 3; i++) free(spec_bodies[i]);
    return 0;
}

/* F1-F5 with --yes: three RunTask calls, bodies the reference's to the byte
 * (plus the idempotency token), every bot in the report with its task. */
static void test_dataset_a(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "A", NULL);
    buf out = BUF_INIT, err = BUF_INIT;
    int rc = migrate(&f, (const char *const[]){"--yes", NULL}, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    expect_run_task_bodies((const char *const *)spec_bodies, 3);
    /* Distinct tokens, and no RunTask refused or retried. */
    json_object *b = bodies(RUN_TASK, 0);
    assert_int_equal(json_object_array_length(b), 3);
    const char *t0 = strstr(json_object_get_string(json_object_array_get_idx(b, 0)), "clientToken");
    const char *t1 = strstr(json_object_get_string(json_object_array_get_idx(b, 1)), "clientToken");
    assert_string_not_equal(t0, t1);
    json_object_put(b);
    /* F1 differs on purpose: 4 parallel segments instead of 1 Scan, each
     * projected and filtered on #BOT# (no conversation bodies read). */
    json_object *scans = bodies("DynamoDB_20120810.Scan", 200);
    assert_int_equal(json_object_array_length(scans), 4);
    for (size_t i = 0; i < 4; i++) {
        const char *scan = json_object_get_string(json_object_array_get_idx(scans, i));
        assert_non_null(strstr(scan, "\"TotalSegments\":4"));
        assert_non_null(strstr(scan, "\"ProjectionExpression\":\"#pk, #sk, #t, #k, #s\""));
        assert_non_null(strstr(scan, "contains(#sk, :bot)"));
        assert_non_null(strstr(scan, "\"#BOT#\""));
        assert_null(strstr(scan, "ExclusiveStartKey"));
    }
    json_object_put(scans);
    /* Report: every bot with its task ARN; the alias and conversations absent. */
    json_object *doc = test_json_read(f.report);
    json_object *bots = test_json_get(test_json_phase(doc, "start_tasks"), "notes.bots");
    assert_int_equal(json_object_array_length(bots), 3);
    const char *want_sk[] = {"user-alice#BOT#01HALICEKB0000000000000001",
                             "user-alice#BOT#01HALICEPLAIN000000000001",
                             "user-bob#BOT#01HBOBURL000000000000000001"};
    for (int i = 0; i < 3; i++) {
        json_object *e = json_object_array_get_idx(bots, (size_t)i);
        assert_string_equal(json_object_get_string(test_json_get(e, "SK")), want_sk[i]);
        assert_string_equal(json_object_get_string(test_json_get(e, "status")), "started");
        assert_non_null(strstr(json_object_get_string(test_json_get(e, "task_arn")),
                               "arn:aws:ecs:us-east-1:123456789012:task/" CLUSTER "/"));
    }
    assert_int_equal(json_object_get_int(test_json_get(test_json_phase(doc, "start_tasks"), "written")), 3);
    json_object_put(doc);
    assert_int_equal(stat_of("ecs_tasks_started"), 3);
    buf_free(&out);
    buf_free(&err);
}

/* --dry-run: the bots and their exact requests shown and planned; nothing
 * sent to ECS. */
static void test_dry_run(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "A", NULL);
    char plan[600];
    snprintf(plan, sizeof plan, "%s/%s-plan.jsonl", tmp, f.table);
    buf out = BUF_INIT, err = BUF_INIT, text = BUF_INIT;
    int rc = migrate(&f, (const char *const[]){"--dry-run", "--plan", plan, NULL}, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_int_equal(count_of(RUN_TASK, 0), 0);
    const char *e = buf_str(&err);
    assert_non_null(strstr(e, "bots: 3 found"));
    assert_non_null(strstr(e, "tasks to start: 3"));
    assert_non_null(strstr(e, "user-bob#BOT#01HBOBURL000000000000000001  Bob URL bot"));
    /* Each shown request is the reference's body with its token. */
    for (int i = 0; i < 3; i++) {
        char want[2048];
        snprintf(want, sizeof want, "RunTask %.*s,\"clientToken\":\"", (int)strlen(spec_bodies[i]) - 1,
                 spec_bodies[i]);
        assert_non_null(strstr(e, want));
    }
    assert_int_equal(test_read_file(plan, &text), 0);
    int lines = 0;
    for (const char *p = buf_str(&text); (p = strstr(p, "{\"op\":\"RunTask\",\"table\":\"ecs:" CLUSTER "\"")); p++)
        lines++;
    assert_int_equal(lines, 3);
    json_object *doc = test_json_read(f.report);
    assert_int_equal(json_object_get_int(test_json_get(test_json_phase(doc, "start_tasks"), "would_write")), 3);
    json_object_put(doc);
    buf_free(&out);
    buf_free(&err);
    buf_free(&text);
}

/* The payload of a key with non-ASCII characters, quotes and a backslash:
 * as Python's json.dumps writes it (\uXXXX, surrogate pairs). */
static void test_payload_escaping(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "unicode", NULL);
    buf out = BUF_INIT, err = BUF_INIT, want = BUF_INIT;
    int rc = migrate(&f, (const char *const[]){"--dry-run", NULL}, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_int_equal(test_read_file("tests/integration/bedrock/v1_unicode_command.txt", &want), 0);
    char *nl = strchr(want.data, '\n');
    if (nl) *nl = 0;
    assert_non_null(strstr(buf_str(&err), buf_str(&want)));
    buf_free(&out);
    buf_free(&err);
    buf_free(&want);
}

/* --only-with-knowledge and --assign-public-ip DISABLED (W7, W8). */
static void test_knowledge_filter_and_public_ip(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "A", NULL);
    buf out = BUF_INIT, err = BUF_INIT;
    int rc = migrate(&f, (const char *const[]){"--yes", "--only-with-knowledge", "--assign-public-ip",
                                               "DISABLED", NULL}, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    json_object *b = bodies(RUN_TASK, 200);
    assert_int_equal(json_object_array_length(b), 2);
    for (size_t i = 0; i < 2; i++) {
        const char *s = json_object_get_string(json_object_array_get_idx(b, i));
        assert_non_null(strstr(s, "\"assignPublicIp\":\"DISABLED\""));
        assert_null(strstr(s, "PLAIN"));
    }
    json_object_put(b);
    json_object *doc = test_json_read(f.report);
    assert_int_equal(json_object_get_int(test_json_get(test_json_phase(doc, "find_bots"), "skipped.total")), 1);
    json_object_put(doc);
    /* Ids are checked before anything starts. */
    const char *bad[] = {"--yes", "--subnets", "subnet-0123", "sg-1", NULL};
    assert_int_equal(migrate(&f, bad, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "'sg-1' is not a subnet id"));
    buf_free(&out);
    buf_free(&err);
}

/* W4/W5: throttling and RunTask failures are retried with backoff; a bot
 * that keeps failing is reported (exit 1) and --resume retries only it. */
static void test_failures_and_throttling(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "A", NULL);
    buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(test_fakeaws_config(&fake, "{\"ecs_throttle_next\":3,"
                                         "\"ecs_failures_next\":[\"RESOURCE:MEMORY\",\"RESOURCE:CPU\"]}"), 0);
    int rc = migrate(&f, (const char *const[]){"--yes", "--retry-delay", "0.05", NULL}, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_int_equal(stat_of("faults.ecs-throttle"), 3);
    assert_int_equal(stat_of("faults.ecs-failure"), 2);
    assert_int_equal(count_of(RUN_TASK, 0), 3 + 3 + 2);
    assert_int_equal(stat_of("ecs_tasks_started"), 3);
    expect_run_task_bodies((const char *const *)spec_bodies, 3);

    /* One attempt only, one failure: that bot fails, the run says so. */
    make_fixture(&f, "A", NULL);
    assert_int_equal(test_fakeaws_config(&fake, "{\"ecs_failures_next\":[\"RESOURCE:MEMORY\"]}"), 0);
    rc = migrate(&f, (const char *const[]){"--yes", "--run-task-attempts", "1", NULL}, &out, &err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(buf_str(&err), "RESOURCE:MEMORY"));
    assert_int_equal(stat_of("ecs_tasks_started"), 2);
    json_object *doc = test_json_read(f.report);
    assert_int_equal(json_object_get_int(test_json_get(test_json_phase(doc, "start_tasks"), "failed.count")), 1);
    json_object_put(doc);
    /* --resume starts the failed bot only. */
    assert_int_equal(test_fakeaws_reset(&fake), 0);
    rc = migrate(&f, (const char *const[]){"--yes", "--resume", NULL}, &out, &err);
    if (rc != 0) fail_msg("resume: exit %d: %s", rc, buf_str(&err));
    assert_int_equal(count_of(RUN_TASK, 0), 1);
    assert_int_equal(stat_of("ecs_tasks_started"), 1);
    doc = test_json_read(f.report);
    assert_int_equal(json_object_get_int(test_json_get(test_json_phase(doc, "start_tasks"), "written")), 1);
    json_object_put(doc);

    /* ECS's own rate (a bucket of 2, 2 per second): held to that rate (with
     * a burst of 1, a margin for the requests' travel), nothing is
     * throttled; the same bucket without mighost's limit does throttle. */
    make_fixture(&f, "A", NULL);
    assert_int_equal(test_fakeaws_config(&fake, "{\"ecs_rate\":2,\"ecs_burst\":2}"), 0);
    rc = migrate(&f, (const char *const[]){"--yes", "--run-task-rate", "2", "--run-task-burst", "1", NULL},
                 &out, &err);
    if (rc != 0) fail_msg("rate: exit %d: %s", rc, buf_str(&err));
    assert_int_equal(stat_of("faults.ecs-rate"), 0);
    assert_int_equal(stat_of("ecs_tasks_started"), 3);
    make_fixture(&f, "A", NULL);
    assert_int_equal(test_fakeaws_config(&fake, "{\"ecs_rate\":2,\"ecs_burst\":1}"), 0);
    rc = migrate(&f, (const char *const[]){"--yes", "--run-task-rate", "1000", "--run-task-burst", "1000",
                                           NULL}, &out, &err);
    if (rc != 0) fail_msg("unlimited: exit %d: %s", rc, buf_str(&err));
    assert_true(stat_of("faults.ecs-rate") > 0);
    assert_int_equal(stat_of("ecs_tasks_started"), 3);
    assert_int_equal(test_fakeaws_config(&fake, "{\"ecs_rate\":0}"), 0);
    buf_free(&out);
    buf_free(&err);
}

/* The reference dies at an error on the 2nd RunTask (the 3rd bot never
 * tried, nothing recorded). mighost stops starting at an error that is not
 * the bot's (exit 3), reports each bot, and --resume does the rest. */
static void test_error_stops_and_resumes(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "A", NULL);
    assert_int_equal(test_fakeaws_config(&fake, "{\"ecs_errors_next\":[\"ok\",\"AccessDeniedException\"]}"), 0);
    buf out = BUF_INIT, err = BUF_INIT;
    /* One request at a time (5 per second, burst 1), as the reference. */
    int rc = migrate(&f, (const char *const[]){"--yes", "--run-task-rate", "5", "--run-task-burst", "1", NULL},
                     &out, &err);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(buf_str(&err), "AccessDeniedException"));
    assert_non_null(strstr(buf_str(&err), "--resume"));
    assert_int_equal(count_of(RUN_TASK, 0), 2);
    json_object *doc = test_json_read(f.report);
    json_object *bots = test_json_get(test_json_phase(doc, "start_tasks"), "notes.bots");
    /* One bot each: started, failed with the error, not attempted (which
     * bot is which depends on which waiting request wins the next token). */
    int started = 0, failed = 0, untried = 0;
    for (size_t i = 0; i < 3; i++) {
        json_object *b = json_object_array_get_idx(bots, i);
        const char *s = json_object_get_string(test_json_get(b, "status"));
        if (strcmp(s, "started") == 0) started++;
        if (strcmp(s, "not attempted") == 0) untried++;
        if (strcmp(s, "failed") == 0) {
            failed++;
            assert_non_null(strstr(json_object_get_string(test_json_get(b, "reason")), "AccessDeniedException"));
        }
    }
    assert_int_equal(started, 1);
    assert_int_equal(failed, 1);
    assert_int_equal(untried, 1);
    json_object_put(doc);
    assert_int_equal(test_fakeaws_reset(&fake), 0);
    rc = migrate(&f, (const char *const[]){"--yes", "--resume", NULL}, &out, &err);
    if (rc != 0) fail_msg("resume: exit %d: %s", rc, buf_str(&err));
    assert_int_equal(count_of(RUN_TASK, 0), 2);
    assert_int_equal(stat_of("ecs_tasks_started"), 2);
    buf_free(&out);
    buf_free(&err);
}

/* W6: SIGKILL in the middle of starting tasks, then --resume: every bot
 * has exactly one task; bots checkpointed are not asked for again, and the
 * ones in flight at the kill get their first task back (clientToken). */
static void test_kill_and_resume(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "many", "60");
    const char *args[ARGS_MAX];
    build_args(&f, (const char *const[]){"--yes", "--run-task-rate", "20", "--run-task-burst", "1", NULL}, args);
    pid_t pid = test_spawn_mighost(NULL, fake.url, args);
    assert_true(pid > 0);
    struct timespec nap = {0, 20 * 1000 * 1000};
    for (int i = 0; i < 3000 && stat_of("ecs_tasks_started") < 25; i++) nanosleep(&nap, NULL);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    long before = stat_of("ecs_tasks_started");
    assert_true(before >= 25 && before < 63);

    buf out = BUF_INIT, err = BUF_INIT;
    /* Without --resume an unfinished run is not restarted. */
    assert_int_equal(migrate(&f, (const char *const[]){"--yes", NULL}, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "--resume"));
    assert_int_equal(test_fakeaws_reset(&fake), 0);
    int rc = migrate(&f, (const char *const[]){"--yes", "--resume", "--run-task-rate", "200", NULL}, &out, &err);
    if (rc != 0) fail_msg("resume: exit %d: %s", rc, buf_str(&err));
    long after = stat_of("ecs_tasks_started");
    long calls = (long)count_of(RUN_TASK, 200), replays = stat_of("ecs_token_replays");
    assert_int_equal(before + after, 63);
    /* Checkpointed bots were skipped: fewer calls than bots. */
    assert_true(calls < 63);
    assert_int_equal(calls, after + replays);
    /* Every bot exactly one task, across both runs. */
    buf text = BUF_INIT;
    assert_int_equal(test_fakeaws_get(&fake, "/__ecs-tasks", &text), 200);
    json_object *tasks = json_tokener_parse(buf_str(&text));
    size_t mine = 0;
    char **sks = calloc(json_object_array_length(tasks), sizeof *sks);
    for (size_t i = 0; i < json_object_array_length(tasks); i++) {
        json_object *t = json_object_array_get_idx(tasks, i), *k, *sk, *s;
        if (!json_object_object_get_ex(t, "botKey", &k) || !json_object_is_type(k, json_type_object)) continue;
        json_object_object_get_ex(k, "SK", &sk);
        json_object_object_get_ex(sk, "S", &s);
        sks[mine++] = strdup(json_object_get_string(s));
    }
    qsort(sks, mine, sizeof *sks, test_cmp_strings);
    size_t many = 0;
    for (size_t i = 0; i < mine; i++) {
        if (strncmp(sks[i], "user-many#BOT#", 14) != 0) continue;
        many++;
        if (i > 0) assert_string_not_equal(sks[i], sks[i - 1]);
    }
    for (size_t i = 0; i < mine; i++) free(sks[i]);
    assert_int_equal(many, 60);
    free(sks);
    json_object_put(tasks);
    /* The resumed run's report: every bot, started now or earlier. */
    json_object *doc = test_json_read(f.report);
    json_object *bots = test_json_get(test_json_phase(doc, "start_tasks"), "notes.bots");
    long now = 0, earlier = 0;
    for (size_t i = 0; i < json_object_array_length(bots); i++) {
        const char *s = json_object_get_string(test_json_get(json_object_array_get_idx(bots, i), "status"));
        if (strcmp(s, "started") == 0) now++;
        else if (strcmp(s, "started earlier") == 0) earlier++;
    }
    assert_int_equal(now, calls);   /* new tasks and tasks given back for their token */
    assert_int_equal(now + earlier, 63);
    json_object_put(doc);
    buf_free(&text);
    buf_free(&out);
    buf_free(&err);
}

/* --wait: each task followed to STOPPED and its bot's SyncStatus (set by
 * fakeaws's embedding stand-in) to SUCCEEDED or FAILED; both reported. */
static void test_wait(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "A", NULL);
    char cfg[256];
    snprintf(cfg, sizeof cfg, "{\"ecs_embed_table\":\"%s\",\"ecs_running_polls\":2,"
             "\"ecs_embed_fail\":[\"PLAIN\"]}", f.table);
    assert_int_equal(test_fakeaws_config(&fake, cfg), 0);
    buf out = BUF_INIT, err = BUF_INIT;
    int rc = migrate(&f, (const char *const[]){"--yes", "--wait", "--poll-interval", "0.1", NULL}, &out, &err);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(buf_str(&err), "FAILED: injected failure"));
    assert_true(count_of(DESCRIBE_TASKS, 200) >= 3);
    json_object *doc = test_json_read(f.report);
    json_object *states = test_json_get(test_json_phase(doc, "wait"), "notes.final_states");
    assert_int_equal(json_object_array_length(states), 3);
    const char *want[] = {"SUCCEEDED", "FAILED", "SUCCEEDED"};
    for (size_t i = 0; i < 3; i++) {
        json_object *s = json_object_array_get_idx(states, i);
        assert_string_equal(json_object_get_string(test_json_get(s, "outcome")), want[i]);
        assert_string_equal(json_object_get_string(test_json_get(s, "task.lastStatus")), "STOPPED");
        assert_string_equal(json_object_get_string(test_json_get(s, "sync.SyncStatus")), want[i]);
        /* The status is this task's: LastExecId is the task id. */
        const char *arn = json_object_get_string(test_json_get(s, "task_arn"));
        assert_string_equal(json_object_get_string(test_json_get(s, "sync.LastExecId")), strrchr(arn, '/') + 1);
    }
    json_object_put(doc);

    /* --max-running 1: each task starts after the previous one stopped. */
    make_fixture(&f, "A", NULL);
    snprintf(cfg, sizeof cfg, "{\"ecs_embed_table\":\"%s\",\"ecs_running_polls\":1,\"ecs_embed_fail\":[]}", f.table);
    assert_int_equal(test_fakeaws_config(&fake, cfg), 0);
    rc = migrate(&f, (const char *const[]){"--yes", "--max-running", "1", "--poll-interval", "0.05", NULL},
                 &out, &err);
    if (rc != 0) fail_msg("max-running: exit %d: %s", rc, buf_str(&err));
    buf text = BUF_INIT;
    assert_int_equal(test_fakeaws_get(&fake, "/__requests", &text), 200);
    json_object *all = json_tokener_parse(buf_str(&text));
    int started = 0, describes_since = 0;
    for (size_t i = 0; i < json_object_array_length(all); i++) {
        json_object *r = json_object_array_get_idx(all, i);
        const char *t = json_object_get_string(test_json_get(r, "target"));
        if (json_object_get_int(test_json_get(r, "status")) != 200) continue;
        if (strcmp(t, RUN_TASK) == 0) {
            /* RUNNING once, then STOPPED: two looks before the next start. */
            if (started > 0) assert_true(describes_since >= 2);
            started++;
            describes_since = 0;
        } else if (strcmp(t, DESCRIBE_TASKS) == 0) {
            describes_since++;
        }
    }
    assert_int_equal(started, 3);
    json_object_put(all);
    buf_free(&text);

    /* Tasks still running when --wait-timeout runs out: listed, exit 1. */
    make_fixture(&f, "A", NULL);
    snprintf(cfg, sizeof cfg, "{\"ecs_embed_table\":\"%s\",\"ecs_running_polls\":100000}", f.table);
    assert_int_equal(test_fakeaws_config(&fake, cfg), 0);
    rc = migrate(&f, (const char *const[]){"--yes", "--wait", "--wait-timeout", "0.5", "--poll-interval", "0.1",
                                           NULL}, &out, &err);
    assert_int_equal(rc, 1);
    doc = test_json_read(f.report);
    states = test_json_get(test_json_phase(doc, "wait"), "notes.final_states");
    for (size_t i = 0; i < 3; i++) {
        json_object *s = json_object_array_get_idx(states, i);
        assert_non_null(strstr(json_object_get_string(test_json_get(s, "outcome")), "still running after --wait-timeout"));
        assert_string_equal(json_object_get_string(test_json_get(s, "task.lastStatus")), "RUNNING");
        assert_string_equal(json_object_get_string(test_json_get(s, "sync.SyncStatus")), "RUNNING");
    }
    json_object_put(doc);
    assert_int_equal(test_fakeaws_config(&fake, "{\"ecs_embed_table\":null,\"ecs_running_polls\":0}"), 0);
    buf_free(&out);
    buf_free(&err);
}

static int run_in_pty(const char *const *args, const char *answer, buf *out)
{
    return test_mighost_in_pty(fake.url, args, answer, out);
}

static size_t occurrences(const char *s, const char *what)
{
    size_t n = 0;
    for (; (s = strstr(s, what)); s += strlen(what)) n++;
    return n;
}

/* Dataset B (several scan pages, bots on two of them): one prompt with the
 * totals instead of one per page; "N" starts nothing; without a terminal
 * a real run needs --yes. */
static void test_one_prompt_with_totals(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "B", NULL);
    const char *args[ARGS_MAX];
    buf term = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
    build_args(&f, NULL, args);
    int rc = run_in_pty(args, "N\n", &term);
    assert_int_equal(rc, 2);
    assert_int_equal(occurrences(buf_str(&term), "Proceed? [y/N]"), 1);
    assert_non_null(strstr(buf_str(&term), "bots: 3 found"));
    assert_non_null(strstr(buf_str(&term), "tasks to start: 3"));
    assert_non_null(strstr(buf_str(&term), "not confirmed"));
    assert_int_equal(count_of(RUN_TASK, 0), 0);
    /* The table spans more than one 1 MB scan page. */
    rc = run_in_pty(args, "y\n", &term);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&term));
    assert_int_equal(occurrences(buf_str(&term), "Proceed? [y/N]"), 1);
    expect_run_task_bodies((const char *const *)spec_bodies, 3);
    /* The reference treats "yes" as no; the runner takes it as yes. */
    make_fixture(&f, "A", NULL);
    build_args(&f, NULL, args);
    rc = run_in_pty(args, "yes\n", &term);
    if (rc != 0) fail_msg("yes: exit %d: %s", rc, buf_str(&term));
    assert_int_equal(count_of(RUN_TASK, 200), 3);
    /* End of input at the prompt (the reference crashes, exit 1): nothing
     * started, exit 2. */
    make_fixture(&f, "A", NULL);
    build_args(&f, NULL, args);
    assert_int_equal(run_in_pty(args, "\x04", &term), 2);
    assert_non_null(strstr(buf_str(&term), "not confirmed"));
    assert_int_equal(count_of(RUN_TASK, 0), 0);
    /* No terminal, no --yes: refused, nothing started. */
    assert_int_equal(test_fakeaws_reset(&fake), 0);
    assert_int_equal(migrate(&f, NULL, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "pass --yes"));
    assert_int_equal(count_of(RUN_TASK, 0), 0);
    buf_free(&term);
    buf_free(&out);
    buf_free(&err);
}

/* The grant step: idempotent (members already in the group are not added
 * again), reported, with the sign-in reminder; unknown users fail. */
static void test_grant(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "A", NULL);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *one[] = {"--yes", "--grant-only", "--grant-bot-creation", "bob", "--user-pool-id", POOL, NULL};
    int rc = migrate(&f, one, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_int_equal(count_of(RUN_TASK, 0), 0);
    assert_int_equal(count_of(ADD_TO_GROUP, 200), 1);
    assert_int_equal(test_fakeaws_reset(&fake), 0);
    const char *all[] = {"--yes", "--grant-only", "--grant-bot-creation-all", "--user-pool-id", POOL, NULL};
    rc = migrate(&f, all, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_int_equal(count_of(ADD_TO_GROUP, 200), 3);
    assert_non_null(strstr(buf_str(&err), "added 3 users to CreatingBotAllowed, 1 already members"));
    assert_non_null(strstr(buf_str(&err), "sign in again"));
    json_object *doc = test_json_read(f.report);
    json_object *g = test_json_get(test_json_phase(doc, "grant"), "notes.grant");
    assert_string_equal(json_object_to_json_string_ext(test_json_get(g, "added.users"), JSON_C_TO_STRING_PLAIN),
                        "[\"alice\",\"carol\",\"dave\"]");
    assert_string_equal(json_object_to_json_string_ext(test_json_get(g, "already_members.users"), JSON_C_TO_STRING_PLAIN),
                        "[\"bob\"]");
    json_object_put(doc);
    json_object *b = bodies(ADD_TO_GROUP, 200);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(b, 0)),
                        "{\"GroupName\":\"CreatingBotAllowed\",\"UserPoolId\":\"" POOL "\",\"Username\":\"alice\"}");
    json_object_put(b);
    /* Again: everyone is a member, nothing sent. */
    assert_int_equal(test_fakeaws_reset(&fake), 0);
    assert_int_equal(migrate(&f, all, &out, &err), 0);
    assert_int_equal(count_of(ADD_TO_GROUP, 0), 0);
    assert_non_null(strstr(buf_str(&err), "added 0 users to CreatingBotAllowed, 4 already members"));
    /* An unknown user: listed, exit 1. */
    const char *zed[] = {"--yes", "--grant-only", "--grant-bot-creation", "zed", "--user-pool-id", POOL, NULL};
    assert_int_equal(migrate(&f, zed, &out, &err), 1);
    assert_non_null(strstr(buf_str(&err), "1 not found"));
    /* The pool is required for the grant step. */
    const char *nopool[] = {"--yes", "--grant-bot-creation-all", NULL};
    assert_int_equal(migrate(&f, nopool, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "user pool"));
    buf_free(&out);
    buf_free(&err);
}

/* --stack fills every parameter from the outputs of the stack as v1.0.0
 * deploys it (tests/integration/stacks/bedrock-v1.json), all private
 * subnets; the construct outputs carry CDK's hash. */
static void test_stack_outputs(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "A", NULL);
    /* A fresh pool: nobody in the group yet. */
    assert_int_equal(test_fakeaws_config(&fake, "{\"cognito_users\":\"alice,bob,carol,dave\"}"), 0);
    assert_int_equal(test_fakeaws_stacks(&fake, "tests/integration/stacks/bedrock-v1.json", f.table), 0);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"run", "bedrock-chat/v0-to-v1", "--stack", "BedrockChatStack", "--dry-run",
                          "--grant-bot-creation", "alice", "--quiet", "--report", f.report, NULL};
    int rc = test_mighost(fake.url, args, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&err),
        "\"subnets\":[\"subnet-0123456789abcdef0\",\"subnet-0aaaaaaaaaaaaaaa1\"]"));
    assert_non_null(strstr(buf_str(&err), "would add 1 users to CreatingBotAllowed"));
    const char *want[] = {"table", f.table, "cluster", CLUSTER, "task_definition", TASKDEF,
                          "user_pool_id", "us-east-1_STACKPOOL", NULL};
    test_expect_stack_params(f.report, want);
    assert_int_equal(count_of(ADD_TO_GROUP, 0), 0);
    assert_int_equal(count_of(RUN_TASK, 0), 0);
    buf_free(&out);
    buf_free(&err);
}

/* Offline (--source-dir on an export of the table) plans the same RunTask
 * requests as a dry-run against the server. */
static void test_offline_matches_online(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "A", NULL);
    buf out = BUF_INIT, err = BUF_INIT, a = BUF_INIT, b = BUF_INIT;
    char dir[600], plan_a[600], plan_b[600];
    snprintf(dir, sizeof dir, "%s/%s-export", tmp, f.table);
    test_export_tables(dynalite.url, dir, (const char *const[]){f.table, NULL});
    snprintf(plan_a, sizeof plan_a, "%s/%s-offline.jsonl", tmp, f.table);
    snprintf(plan_b, sizeof plan_b, "%s/%s-online.jsonl", tmp, f.table);
    const char *off[] = {"--source-dir", dir, "--plan", plan_a, NULL};
    const char *args[ARGS_MAX];
    build_args(&f, off, args);
    int rc = test_mighost(NULL, args, &out, &err);
    if (rc != 0) fail_msg("offline: exit %d: %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&err), "no AWS access"));
    rc = migrate(&f, (const char *const[]){"--dry-run", "--plan", plan_b, NULL}, &out, &err);
    if (rc != 0) fail_msg("online: exit %d: %s", rc, buf_str(&err));
    test_sorted_lines(plan_a, &a);
    test_sorted_lines(plan_b, &b);
    assert_int_equal(occurrences(buf_str(&a), "\"op\":\"RunTask\""), 3);
    assert_string_equal(buf_str(&a), buf_str(&b));
    assert_int_equal(count_of(RUN_TASK, 0), 0);
    /* The grant step cannot run offline. */
    const char *grant[] = {"--source-dir", dir, "--grant-bot-creation", "alice", "--user-pool-id", POOL, NULL};
    build_args(&f, grant, args);
    assert_int_equal(test_mighost(NULL, args, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "cannot run offline"));
    buf_free(&out);
    buf_free(&err);
    buf_free(&a);
    buf_free(&b);
}

/* The RunTask phase under an endpoint that stops answering, and with a
 * bot that keeps failing (dataset A, 3 bots). A RunTask is never sent
 * again for a bot whose task started: ECS starts exactly one task per bot
 * over all the runs.
 *  - a 2 s outage from the second RunTask on is waited out: exit 0;
 *  - with --max-outage 1 the run gives up: exit 3, one line; --resume
 *    once it answers starts the bots not started, and only those;
 *  - a bot ECS cannot place (RESOURCE:MEMORY), one attempt: exit 1;
 *    --resume while it still fails: exit 1, naming it; then --resume
 *    starts that bot only: exit 0. */
static void test_outage_and_failures(void **state)
{
    (void)state;
    fixture f;
    buf out = BUF_INIT, err = BUF_INIT;
    make_fixture(&f, "A", NULL);
    assert_int_equal(test_fakeaws_config(&fake, "{\"outage_ops\":[\"RunTask\"],"
                                         "\"outage_after\":2,\"outage_ms\":2000}"), 0);
    int rc = migrate(&f, (const char *const[]){"--yes", NULL}, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_true(stat_of("faults.outage") >= 1);
    assert_non_null(strstr(buf_str(&err), "waiting for 127.0.0.1:"));
    assert_int_equal(stat_of("ecs_tasks_started"), 3);
    expect_run_task_bodies((const char *const *)spec_bodies, 3);

    make_fixture(&f, "A", NULL);
    assert_int_equal(test_fakeaws_config(&fake, "{\"outage_ops\":[\"RunTask\"],"
                                         "\"outage_after\":2,\"outage_ms\":3000}"), 0);
    time_t began = time(NULL);
    rc = migrate(&f, (const char *const[]){"--yes", "--max-outage", "1", NULL}, &out, &err);
    assert_int_equal(rc, 3);
    assert_non_null(strstr(buf_str(&err), "mighost: giving up in phase start_tasks: 127.0.0.1:"));
    assert_null(strstr(buf_str(&err), "traceback"));
    long first = stat_of("ecs_tasks_started");
    assert_true(first >= 1 && first < 3);
    while (time(NULL) - began < 4) sleep(1);
    rc = migrate(&f, (const char *const[]){"--yes", "--resume", NULL}, &out, &err);
    if (rc != 0) fail_msg("resume: exit %d: %s", rc, buf_str(&err));
    assert_int_equal(stat_of("ecs_tasks_started"), 3);
    json_object *doc = test_json_read(f.report);
    assert_int_equal(test_json_int(test_json_phase(doc, "start_tasks"), "notes.started_earlier"),
                     first);
    assert_int_equal(test_json_int(test_json_phase(doc, "start_tasks"), "written"), 3 - first);
    json_object_put(doc);

    make_fixture(&f, "A", NULL);
    assert_int_equal(test_fakeaws_config(&fake, "{\"ecs_failures_next\":[\"RESOURCE:MEMORY\"]}"), 0);
    const char *one[] = {"--yes", "--run-task-attempts", "1", NULL};
    assert_int_equal(migrate(&f, one, &out, &err), 1);
    assert_int_equal(stat_of("ecs_tasks_started"), 2);
    assert_int_equal(test_fakeaws_config(&fake, "{\"ecs_failures_next\":[\"RESOURCE:MEMORY\"]}"), 0);
    const char *again[] = {"--yes", "--run-task-attempts", "1", "--resume", NULL};
    assert_int_equal(migrate(&f, again, &out, &err), 1);
    assert_non_null(strstr(buf_str(&err), "RESOURCE:MEMORY"));
    assert_non_null(strstr(buf_str(&err), "\"SK\""));
    assert_int_equal(count_of(RUN_TASK, 0), 3 + 1);
    assert_int_equal(stat_of("ecs_tasks_started"), 2);
    rc = migrate(&f, (const char *const[]){"--yes", "--resume", NULL}, &out, &err);
    if (rc != 0) fail_msg("resume: exit %d: %s", rc, buf_str(&err));
    assert_int_equal(count_of(RUN_TASK, 0), 3 + 1 + 1);
    assert_int_equal(stat_of("ecs_tasks_started"), 3);
    buf_free(&out);
    buf_free(&err);
}

/* Thousands of bots (MIGHOST_TEST_V1_BOTS, default 3000, plus dataset A's
 * 3) ------------------------------------------------------------------- */

#define CONCURRENCY 16   /* the start_tasks phase's default run_task_concurrency */

static int many_bots(void)
{
    const char *n = getenv("MIGHOST_TEST_V1_BOTS");
    return n && atoi(n) > 0 ? atoi(n) : 3000;
}

/* Every RunTask request since the last reset: [{bot: {PK, SK}, clientToken}]. */
static json_object *runtasks(void)
{
    buf text = BUF_INIT;
    assert_int_equal(test_fakeaws_get(&fake, "/__ecs-runtasks", &text), 200);
    json_object *all = json_tokener_parse(buf_str(&text));
    assert_non_null(all);
    buf_free(&text);
    return all;
}

static const char *sk_of_bot(json_object *bot)
{
    return json_object_get_string(test_json_get(bot, "SK.S"));
}

/* The bots the start_tasks phase has recorded as finished in state dir
 * `dir` (its journal of finished units): {SK: task ARN}. */
static json_object *finished_bots(const char *dir)
{
    json_object *out = json_object_new_object();
    char pattern[600];
    snprintf(pattern, sizeof pattern, "%s/*.start_tasks-*.done.jsonl", dir);
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0) return out;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        buf text = BUF_INIT;
        assert_int_equal(test_read_file(g.gl_pathv[i], &text), 0);
        char *save = NULL;
        for (char *line = strtok_r(text.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
            json_object *e = json_tokener_parse(line);   /* a line cut by the kill does not parse */
            if (!e || !json_object_is_type(e, json_type_array)) { json_object_put(e); continue; }
            json_object *key = json_tokener_parse(json_object_get_string(json_object_array_get_idx(e, 0)));
            json_object *arn = json_object_array_get_idx(e, 1);
            json_object_object_add(out, sk_of_bot(key), json_object_get(arn));
            json_object_put(key);
            json_object_put(e);
        }
        buf_free(&text);
    }
    globfree(&g);
    return out;
}

/* The tasks ECS started for the RunTask requests in `log`: {SK: ARN}; a
 * bot with two tasks fails the test. */
static json_object *tasks_of(json_object *log)
{
    json_object *tokens = json_object_new_object(), *out = json_object_new_object();
    for (size_t i = 0; i < json_object_array_length(log); i++) {
        const char *t = json_object_get_string(test_json_get(json_object_array_get_idx(log, i), "clientToken"));
        if (t) json_object_object_add(tokens, t, NULL);
    }
    buf text = BUF_INIT;
    assert_int_equal(test_fakeaws_get(&fake, "/__ecs-tasks", &text), 200);
    json_object *tasks = json_tokener_parse(buf_str(&text));
    for (size_t i = 0; i < json_object_array_length(tasks); i++) {
        json_object *t = json_object_array_get_idx(tasks, i), *token;
        if (!json_object_object_get_ex(t, "clientToken", &token) || !token ||
            !json_object_object_get_ex(tokens, json_object_get_string(token), NULL))
            continue;
        const char *sk = sk_of_bot(test_json_get(t, "botKey"));
        if (json_object_object_get_ex(out, sk, NULL)) fail_msg("two tasks for %s", sk);
        json_object_object_add(out, sk, json_object_get(test_json_get(t, "taskArn")));
    }
    json_object_put(tasks);
    json_object_put(tokens);
    buf_free(&text);
    return out;
}

/* Every request for a bot carried the same clientToken (retries and
 * replays after a kill included), and every one of `n` bots was asked. */
static void expect_one_token_per_bot(json_object *log, int n)
{
    json_object *token_of = json_object_new_object();
    for (size_t i = 0; i < json_object_array_length(log); i++) {
        json_object *r = json_object_array_get_idx(log, i), *seen;
        const char *sk = sk_of_bot(test_json_get(r, "bot"));
        const char *t = json_object_get_string(test_json_get(r, "clientToken"));
        assert_non_null(t);
        if (json_object_object_get_ex(token_of, sk, &seen)) assert_string_equal(json_object_get_string(seen), t);
        else json_object_object_add(token_of, sk, json_object_new_string(t));
    }
    assert_int_equal(json_object_object_length(token_of), n);
    json_object_put(token_of);
}

/* The end of a run over many bots equals the uninterrupted run's: the
 * same bots in the report in the same order, each with the task ECS
 * started for it (exactly one per bot, over every run), all started. */
static void expect_like_clean(const fixture *f, json_object *clean_report, json_object *log, int n)
{
    json_object *tasks = tasks_of(log);
    assert_int_equal(json_object_object_length(tasks), n);
    json_object *doc = test_json_read(f->report), *phase = test_json_phase(doc, "start_tasks");
    json_object *bots = test_json_get(phase, "notes.bots");
    json_object *want = test_json_get(test_json_phase(clean_report, "start_tasks"), "notes.bots");
    assert_int_equal(json_object_array_length(bots), n);
    assert_int_equal(json_object_array_length(want), n);
    for (size_t i = 0; i < (size_t)n; i++) {
        json_object *b = json_object_array_get_idx(bots, i), *arn;
        const char *sk = json_object_get_string(test_json_get(b, "SK"));
        assert_string_equal(sk, json_object_get_string(test_json_get(json_object_array_get_idx(want, i), "SK")));
        const char *status = json_object_get_string(test_json_get(b, "status"));
        assert_true(strcmp(status, "started") == 0 || strcmp(status, "started earlier") == 0);
        assert_true(json_object_object_get_ex(tasks, sk, &arn));
        assert_string_equal(json_object_get_string(test_json_get(b, "task_arn")), json_object_get_string(arn));
    }
    assert_int_equal(test_json_int(phase, "written") + test_json_int(phase, "notes.started_earlier"), n);
    assert_int_equal(test_json_int(doc, "exit_code"), 0);
    json_object_put(doc);
    json_object_put(tasks);
}

/* Dataset A plus n bots. */
static void make_many_fixture(fixture *f, int n)
{
    char count[16];
    snprintf(count, sizeof count, "%d", n);
    make_fixture(f, "many", count);
}

/* An uninterrupted run over many bots: its report (the reference the
 * killed and the faulted runs are compared with). */
static json_object *clean_many_run(int bots)
{
    fixture f;
    make_many_fixture(&f, bots);
    buf out = BUF_INIT, err = BUF_INIT;
    int rc = migrate(&f, (const char *const[]){"--yes", "--run-task-rate", "100000", "--run-task-burst",
                                               "100000", NULL}, &out, &err);
    if (rc != 0) fail_msg("clean run: exit %d: %s", rc, buf_str(&err));
    json_object *log = runtasks();
    /* Nothing injected: one request per bot. */
    assert_int_equal(json_object_array_length(log), bots + 3);
    expect_one_token_per_bot(log, bots + 3);
    json_object *doc = test_json_read(f.report);
    assert_int_equal(test_json_int(test_json_phase(doc, "start_tasks"), "written"), bots + 3);
    expect_like_clean(&f, doc, log, bots + 3);
    json_object_put(log);
    buf_free(&out);
    buf_free(&err);
    return doc;
}

/* SIGKILL at three random moments, --resume after each: every bot gets
 * its task (one per bot over all the runs); a bot recorded as finished
 * before a kill is never sent RunTask again; the bots sent again (in
 * flight at a kill) are at most the phase's concurrency per kill, and
 * carry the same clientToken; the end equals an uninterrupted run's. */
static void test_many_bots_killed_three_times(void **state)
{
    (void)state;
    int n = many_bots();
    json_object *clean = clean_many_run(n);
    fixture f;
    make_many_fixture(&f, n);
    const char *first[ARGS_MAX], *resume[ARGS_MAX];
    /* About 400 RunTasks per second: the run lasts seconds, the kills land in it. */
    build_args(&f, (const char *const[]){"--yes", "--run-task-rate", "400", "--run-task-burst", "20", NULL}, first);
    build_args(&f, (const char *const[]){"--yes", "--resume", "--run-task-rate", "400", "--run-task-burst", "20",
                                         NULL}, resume);
    srand((unsigned)time(NULL));
    json_object *done_at[3];
    size_t mark[3];
    int killed = 0;
    for (int round = 0; round < 3; round++) {
        long base = stat_of("ecs_tasks_started");
        pid_t pid = test_spawn_mighost(NULL, fake.url, round == 0 ? first : resume);
        assert_true(pid > 0);
        /* Once this run has started tasks of its own, a random moment. */
        int status, ended = 0;
        struct timespec nap = {0, 20 * 1000 * 1000};
        for (int i = 0; i < 3000 && !ended && stat_of("ecs_tasks_started") <= base; i++) {
            ended = waitpid(pid, &status, WNOHANG) == pid;
            nanosleep(&nap, NULL);
        }
        struct timespec t = {(time_t)(rand() % 2), (long)(rand() % 1000) * 1000000L};
        if (!ended) nanosleep(&t, NULL);
        kill(pid, SIGKILL);
        if (!ended) waitpid(pid, &status, 0);
        if (WIFSIGNALED(status)) killed++;
        else printf("round %d ended by itself, exit %d\n", round, WEXITSTATUS(status));
        done_at[round] = finished_bots(f.state);
        json_object *log = runtasks();
        mark[round] = json_object_array_length(log);
        json_object_put(log);
        printf("kill %d: %zu RunTask requests so far, %d bots recorded as finished\n", round + 1, mark[round],
               json_object_object_length(done_at[round]));
    }
    if (n >= 1000) assert_true(killed >= 1);
    buf out = BUF_INIT, err = BUF_INIT;
    int rc = test_mighost(fake.url, resume, &out, &err);
    if (rc != 0) fail_msg("last --resume: exit %d: %s", rc, buf_str(&err));
    json_object *log = runtasks();
    size_t total = json_object_array_length(log);
    for (int round = 0; round < 3; round++) {
        /* Sent before this kill, not recorded as finished: in flight. */
        json_object *before = json_object_new_object(), *again = json_object_new_object();
        for (size_t i = 0; i < mark[round]; i++)
            json_object_object_add(before, sk_of_bot(test_json_get(json_object_array_get_idx(log, i), "bot")), NULL);
        for (size_t i = mark[round]; i < total; i++) {
            const char *sk = sk_of_bot(test_json_get(json_object_array_get_idx(log, i), "bot"));
            if (json_object_object_get_ex(done_at[round], sk, NULL))
                fail_msg("%s was recorded as finished before kill %d, and got RunTask again", sk, round + 1);
            if (json_object_object_get_ex(before, sk, NULL)) json_object_object_add(again, sk, NULL);
        }
        printf("kill %d: %d bots sent RunTask again (in flight at the kill)\n", round + 1,
               json_object_object_length(again));
        assert_true(json_object_object_length(again) <= CONCURRENCY);
        json_object_put(before);
        json_object_put(again);
        json_object_put(done_at[round]);
    }
    /* Replays carry the bot's one token: ECS gave back the first task. */
    expect_one_token_per_bot(log, n + 3);
    expect_like_clean(&f, clean, log, n + 3);
    json_object_put(log);
    json_object_put(clean);
    buf_free(&out);
    buf_free(&err);
}

/* 20% of the RunTask requests fail at random (throttled, 500, no room to
 * place the task, or started with the answer lost) and 20% of the table's
 * reads: the run retries its way to the uninterrupted run's end, exit 0,
 * one task per bot, one token per bot. */
static void test_many_bots_through_faults(void **state)
{
    (void)state;
    int n = many_bots();
    json_object *clean = clean_many_run(n);
    fixture f;
    make_many_fixture(&f, n);
    assert_int_equal(test_fakeaws_config(&fake, "{\"ecs_fault_rate\":0.2,\"fault_rate\":0.2}"), 0);
    buf out = BUF_INIT, err = BUF_INIT;
    int rc = migrate(&f, (const char *const[]){"--yes", "--run-task-rate", "100000", "--run-task-burst", "100000",
                                               "--retry-delay", "0.02", NULL}, &out, &err);
    long faults = stat_of("faults.ecs-random");
    assert_int_equal(test_fakeaws_config(&fake, "{\"ecs_fault_rate\":0,\"fault_rate\":0}"), 0);
    if (rc != 0) fail_msg("through faults: exit %d: %s", rc, buf_str(&err));
    printf("%d bots through %ld injected RunTask faults\n", n + 3, faults);
    assert_true(faults > 0);
    json_object *log = runtasks();
    assert_true(json_object_array_length(log) > (size_t)(n + 3));
    expect_one_token_per_bot(log, n + 3);
    expect_like_clean(&f, clean, log, n + 3);
    json_object *doc = test_json_read(f.report);
    assert_int_equal(test_json_int(test_json_phase(doc, "start_tasks"), "written"), n + 3);
    json_object_put(doc);
    json_object_put(log);
    json_object_put(clean);
    buf_free(&out);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dataset_a),
        cmocka_unit_test(test_dry_run),
        cmocka_unit_test(test_payload_escaping),
        cmocka_unit_test(test_knowledge_filter_and_public_ip),
        cmocka_unit_test(test_failures_and_throttling),
        cmocka_unit_test(test_error_stops_and_resumes),
        cmocka_unit_test(test_kill_and_resume),
        cmocka_unit_test(test_wait),
        cmocka_unit_test(test_one_prompt_with_totals),
        cmocka_unit_test(test_grant),
        cmocka_unit_test(test_stack_outputs),
        cmocka_unit_test(test_offline_matches_online),
        cmocka_unit_test(test_outage_and_failures),
        cmocka_unit_test(test_many_bots_killed_three_times),
        cmocka_unit_test(test_many_bots_through_faults),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
