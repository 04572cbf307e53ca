/* test_undo_s3.c - the undo journal kept in S3 (--undo-to s3://...) and
 * the journal of each and run phases, against dynalite and s3rver (behind
 * fakeaws, which checks S3's signature):
 *   - an update run with --undo-to: the journal's parts and meta.json are
 *     objects in s3rver and the local spool is empty after the run; one
 *     item changed by hand; mighost undo puts every other item back
 *     (canonical dumps compared), lists the changed one and leaves it; an
 *     undo from another machine's state folder (--undo-from) sees the same;
 *   - the run SIGKILLed mid-phase, --resume, then undo: the same end;
 *   - S3 unreachable at the start: exit 2 before anything is written;
 *   - each and run phases writing in place through mighost.dynamodb
 *     (updates, two writes to one item, deletes, replacing puts, a batch
 *     writer into an empty table): undo restores every
 *     item; a raw request it cannot journal is reported (exit 1). */
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

#define BUCKET "undo-journals"

static test_server dynalite, fake, s3;
static char *tmp;

static int setup(void **state)
{
    (void)state;
    memset(&s3, 0, sizeof s3);
    tmp = test_tempdir();
    if (!tmp) return -1;
    char *dir = test_path_join(tmp, "s3rver");
    int rc = test_s3rver_start(&s3, dir);
    free(dir);
    if (rc != 0) return -1;
    const char *fargs[] = {"--s3-upstream", s3.url, NULL};
    if (test_fakeaws_with_dynalite(&fake, &dynalite, fargs) != 0) return -1;
    /* The bucket, straight into s3rver (unsigned: served as anonymous). */
    char script[512];
    snprintf(script, sizeof script,
             "const u = new URL(process.argv[1] + '/" BUCKET "');"
             "require('http').request({host: u.hostname, port: u.port, path: u.pathname, method: 'PUT'},"
             " (r) => process.exit(r.statusCode === 200 ? 0 : 1)).end()");
    const char *mk[] = {test_node_path(), "-e", script, s3.url, NULL};
    return test_run(mk, NULL, NULL, NULL, NULL, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    test_server_stop(&fake);
    test_server_stop(&dynalite);
    test_server_stop(&s3);
    if (tmp) test_rmtree(tmp);
    free(tmp);
    tmp = NULL;
    return 0;
}

/* mighost undo RUN --state-dir STATES --report REPORT --yes EXTRA... */
static int undo(const char *run, const char *states, const char *report, const char *const *extra,
                buf *err)
{
    const char *base[] = {"undo", run, "--state-dir", states, "--report", report, "--yes", NULL};
    const char *args[32];
    assert_true(test_args_join(args, 32, base, extra) >= 0);
    return test_mighost(fake.url, args, NULL, err);
}

/* The table equals before but for the lines holding key (the item changed
 * by hand), and that item still holds what the hand put there. */
static void expect_back_but(const char *table, const buf *before, const char *key, const char *hand)
{
    buf got = BUF_INIT, a = BUF_INIT, b = BUF_INIT;
    test_dump_items(fake.url, table, NULL, &got);
    test_lines_without(&got, key, &a);
    test_lines_without(before, key, &b);
    assert_string_equal(buf_str(&a), buf_str(&b));
    if (hand) {
        const char *text = buf_str(&got), *at = strstr(text, key);
        assert_non_null(at);
        const char *line = at;
        while (line > text && line[-1] != '\n') line--;
        const char *eol = strchr(line, '\n');
        if (!memmem(line, eol ? (size_t)(eol - line) : strlen(line), hand, strlen(hand)))
            fail_msg("the item changed by hand (%s) lost its change", key);
    }
    buf_free(&got);
    buf_free(&a);
    buf_free(&b);
}

static void expect_listed(const char *report, long changed, const char *key_text)
{
    json_object *rep = test_json_read(report);
    if (test_json_int(rep, "counts.changed_since") != changed)
        fail_msg("%ld items left alone, not %ld: %.2000s", test_json_int(rep, "counts.changed_since"),
                 changed, json_object_to_json_string(test_json_get(rep, "changed_since")));
    assert_int_equal(test_json_int(rep, "counts.failed"), 0);
    if (key_text) {
        const char *listed = json_object_to_json_string(test_json_get(rep, "changed_since"));
        if (!strstr(listed, key_text)) fail_msg("%s not listed: %s", key_text, listed);
    }
    json_object_put(rep);
}

/* The keys under s3://BUCKET/prefix, one a line. */
static void s3_keys(const char *prefix, buf *out)
{
    char script[512];
    snprintf(script, sizeof script,
             "local s3 = require 'mighost.s3'\n"
             "local token\n"
             "repeat\n"
             "  local page = assert(s3.list_page{bucket = '" BUCKET "', prefix = '%s', token = token})\n"
             "  for _, o in ipairs(page.objects) do print(o.key) end\n"
             "  token = page.next_token\n"
             "until not token\n", prefix);
    buf err = BUF_INIT;
    const char *args[] = {"eval", script, NULL};
    int rc = test_mighost(fake.url, args, out, &err);
    if (rc != 0) fail_msg("listing s3://" BUCKET "/%s: exit %d: %s", prefix, rc, buf_str(&err));
    buf_free(&err);
}

/* Lines of text containing needle. */
static size_t count_holding(const char *text, const char *needle)
{
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, needle)) != NULL; p += strlen(needle)) n++;
    return n;
}

/* The files of the run's journal folder (the spool) that are parts. */
static size_t spool_parts(const char *states)
{
    buf out = BUF_INIT;
    const char *ls[] = {"sh", "-c", "ls \"$0\"/*.undo/ 2>/dev/null", states, NULL};
    test_run(ls, NULL, NULL, NULL, &out, NULL);
    size_t n = count_holding(buf_str(&out), ".jsonl.gz");
    buf_free(&out);
    return n;
}

/* An update run with its journal in S3; undo from it, here and from
 * another machine's (empty) state folder. */
static void test_update_journal_in_s3(void **state)
{
    (void)state;
    test_make_table(dynalite.url, "s3-upd", 2000);
    buf before = BUF_INIT, err = BUF_INIT, keys = BUF_INIT;
    test_dump_items(fake.url, "s3-upd", NULL, &before);
    char *states = test_path_join(tmp, "upd-states");
    char *report = test_path_join(tmp, "upd-undo.json");
    const char *run[] = {"run", "tests/integration/migrations/history.lua", "--table", "s3-upd",
                         "--state-dir", states, "--undo-to", "s3://" BUCKET "/journals/upd",
                         "--quiet", "--yes", NULL};
    int rc = test_mighost(fake.url, run, NULL, &err);
    if (rc != 0) fail_msg("run: exit %d: %s", rc, buf_str(&err));
    /* The history item names the journal's S3 folder. */
    const char *hist[] = {"history", "tests/history", "--output", "json", NULL};
    assert_int_equal(test_mighost(fake.url, hist, &keys, &err), 0);
    json_object *doc = json_tokener_parse(buf_str(&keys));
    assert_non_null(doc);
    const char *where = json_object_get_string(
        test_json_get(json_object_array_get_idx(test_json_get(doc, "runs"), 0), "undo_journal"));
    assert_non_null(where);
    assert_non_null(strstr(where, "s3://" BUCKET "/journals/upd/tests_history-"));
    json_object_put(doc);
    buf_reset(&keys);
    /* meta.json and the parts are in S3 (one run folder); nothing is left in the spool. */
    s3_keys("journals/upd/", &keys);
    assert_int_equal(count_holding(buf_str(&keys), "/meta.json"), 1);
    assert_true(count_holding(buf_str(&keys), ".jsonl.gz") >= 1);
    assert_non_null(strstr(buf_str(&keys), "journals/upd/tests_history-"));
    assert_int_equal(spool_parts(states), 0);
    test_ddb_call(fake.url, "UpdateItem", "{\"TableName\":\"s3-upd\",\"Key\":{\"pk\":{\"S\":\"k42\"}},"
         "\"UpdateExpression\":\"SET hand = :h\",\"ExpressionAttributeValues\":{\":h\":{\"S\":\"by hand\"}}}");

    /* Another machine: no state file, the journal named by --undo-from (a dry-run). */
    char *elsewhere = test_path_join(tmp, "upd-elsewhere");
    const char *from[] = {"--undo-from", "s3://" BUCKET "/journals/upd", "--dry-run", NULL};
    char run_name[256];
    {
        const char *p = strstr(buf_str(&keys), "tests_history-");
        assert_non_null(p);
        size_t n = strcspn(p, "/");
        assert_true(n < sizeof run_name);
        memcpy(run_name, p, n);
        run_name[n] = 0;
    }
    rc = undo(run_name, elsewhere, report, from, &err);
    if (rc != 1) fail_msg("undo --undo-from --dry-run: exit %d: %s", rc, buf_str(&err));
    json_object *rep = test_json_read(report);
    assert_int_equal(test_json_int(rep, "counts.restored"), 1999);
    assert_string_equal(json_object_get_string(test_json_get(rep, "mode")), "dry-run");
    assert_true(json_object_get_boolean(test_json_get(rep, "journal_complete")));
    json_object_put(rep);

    /* Here: undo finds the run's journal in S3 by itself. */
    rc = undo("tests_history", states, report, NULL, &err);
    if (rc != 1) fail_msg("undo: exit %d (expected 1: one item left alone): %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&err), "k42"));
    expect_listed(report, 1, "\"k42\"");
    rep = test_json_read(report);
    assert_int_equal(test_json_int(rep, "counts.restored"), 1999);
    assert_non_null(strstr(json_object_get_string(test_json_get(rep, "journal")), "s3://" BUCKET "/journals/upd/"));
    json_object_put(rep);
    expect_back_but("s3-upd", &before, "\"k42\"", "by hand");
    free(elsewhere);
    free(states);
    free(report);
    buf_free(&keys);
    buf_free(&before);
    buf_free(&err);
}

/* SIGKILL mid-phase (its journal partly uploaded, partly in the spool),
 * --resume, then undo: every item back but the one changed by hand. */
static void test_killed_resumed_then_undo(void **state)
{
    (void)state;
    test_make_table(dynalite.url, "s3-kill", 6000);
    buf before = BUF_INIT, err = BUF_INIT, got = BUF_INIT, keys = BUF_INIT;
    test_dump_items(fake.url, "s3-kill", NULL, &before);
    char *states = test_path_join(tmp, "kill-states");
    char *report = test_path_join(tmp, "kill-undo.json");
    /* Slowed down (--max-write-rate) so the kill lands in the middle; one
     * segment of 6 pages, so a checkpoint is saved before the end. */
    const char *run[] = {"run", "tests/integration/migrations/history.lua", "--table", "s3-kill",
                         "--state-dir", states, "--undo-to", "s3://" BUCKET "/journals/kill",
                         "--segments", "1", "--max-write-rate", "1000", "--quiet", "--yes",
                         "--no-history", NULL};
    pid_t pid = test_spawn_mighost(NULL, fake.url, run);
    assert_true(pid > 0);
    /* Killed once a checkpoint was saved (after its part was uploaded). */
    int seen = 0;
    for (int i = 0; i < 1200 && !seen; i++) {
        struct timespec ts = {0, 25 * 1000 * 1000};
        nanosleep(&ts, NULL);
        buf_reset(&got);
        const char *cat[] = {"sh", "-c", "cat \"$0\"/*.json 2>/dev/null", states, NULL};
        test_run(cat, NULL, NULL, NULL, &got, NULL);
        seen = strstr(buf_str(&got), "\"key\"") != NULL;
    }
    assert_true(seen);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    s3_keys("journals/kill/", &keys);
    assert_true(count_holding(buf_str(&keys), ".jsonl.gz") >= 1);
    test_dump_items(fake.url, "s3-kill", NULL, &got);
    assert_string_not_equal(buf_str(&got), buf_str(&before));

    const char *resume[] = {"run", "tests/integration/migrations/history.lua", "--table", "s3-kill",
                            "--state-dir", states, "--undo-to", "s3://" BUCKET "/journals/kill",
                            "--segments", "1", "--resume", "--quiet", "--yes", "--no-history", NULL};
    int rc = test_mighost(fake.url, resume, NULL, &err);
    if (rc != 0) fail_msg("run --resume: exit %d: %s", rc, buf_str(&err));
    assert_int_equal(spool_parts(states), 0);
    /* The resumed run went on in the same S3 folder. */
    buf_reset(&keys);
    s3_keys("journals/kill/", &keys);
    assert_int_equal(count_holding(buf_str(&keys), "/meta.json"), 1);
    test_ddb_call(fake.url, "UpdateItem", "{\"TableName\":\"s3-kill\",\"Key\":{\"pk\":{\"S\":\"k5999\"}},"
         "\"UpdateExpression\":\"SET hand = :h\",\"ExpressionAttributeValues\":{\":h\":{\"S\":\"by hand\"}}}");
    rc = undo("tests_history", states, report, NULL, &err);
    if (rc != 1) fail_msg("undo: exit %d: %s", rc, buf_str(&err));
    expect_listed(report, 1, "\"k5999\"");
    json_object *rep = test_json_read(report);
    assert_int_equal(test_json_int(rep, "counts.restored") + test_json_int(rep, "counts.already"), 5999);
    json_object_put(rep);
    expect_back_but("s3-kill", &before, "\"k5999\"", "by hand");
    free(states);
    free(report);
    buf_free(&keys);
    buf_free(&got);
    buf_free(&before);
    buf_free(&err);
}

/* S3 does not answer: exit 2, a clear message, and the table untouched. */
static void test_s3_unreachable(void **state)
{
    (void)state;
    test_make_table(dynalite.url, "s3-down", 50);
    buf before = BUF_INIT, got = BUF_INIT, err = BUF_INIT;
    test_dump_items(fake.url, "s3-down", NULL, &before);
    char *states = test_path_join(tmp, "down-states");
    char env_ddb[200];
    snprintf(env_ddb, sizeof env_ddb, "AWS_ENDPOINT_URL=%s", fake.url);
    const char *env[16];
    size_t n = 0;
    for (const char *const *e = test_fake_aws_env; *e && n < 12; e++) env[n++] = *e;
    env[n++] = env_ddb;
    env[n++] = "AWS_ENDPOINT_URL_S3=http://127.0.0.1:1";   /* nothing listens there */
    env[n] = NULL;
    const char *run[] = {"run", "tests/integration/migrations/history.lua", "--table", "s3-down",
                         "--state-dir", states, "--undo-to", "s3://" BUCKET "/journals/down",
                         "--max-attempts", "2", "--max-outage", "2", "--quiet", "--yes",
                         "--no-history", NULL};
    int rc = test_mighost_env(NULL, env, run, NULL, &err);
    if (rc != 2) fail_msg("run: exit %d (expected 2): %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&err), "--undo-to s3://" BUCKET "/journals/down"));
    assert_non_null(strstr(buf_str(&err), "nothing was written"));
    test_dump_items(fake.url, "s3-down", NULL, &got);
    assert_string_equal(buf_str(&got), buf_str(&before));
    free(states);
    buf_free(&before);
    buf_free(&got);
    buf_free(&err);
}

/* Each and run phases writing in place through mighost.dynamodb (the
 * journal beside the state): undo restores every item. */
static void test_each_and_run_phases(void **state)
{
    (void)state;
    test_make_table(dynalite.url, "each-t", 700);
    test_make_table(dynalite.url, "each-log", 0);
    buf before = BUF_INIT, got = BUF_INIT, err = BUF_INIT;
    test_dump_items(fake.url, "each-t", NULL, &before);
    char *states = test_path_join(tmp, "each-states");
    char *report = test_path_join(tmp, "each-undo.json");
    const char *run[] = {"run", "tests/integration/migrations/undo_each.lua", "--table", "each-t",
                         "--log", "each-log", "--state-dir", states, "--quiet", "--yes",
                         "--no-history", NULL};
    int rc = test_mighost(fake.url, run, NULL, &err);
    if (rc != 0) fail_msg("run: exit %d: %s", rc, buf_str(&err));
    test_dump_items(fake.url, "each-t", NULL, &got);
    assert_int_equal(test_count_lines(buf_str(&got)), 600);           /* every 7th deleted */
    assert_non_null(strstr(buf_str(&got), "\"summarised\""));
    assert_non_null(strstr(buf_str(&got), "\"replaced\""));
    test_dump_items(fake.url, "each-log", NULL, &got);
    assert_true(test_count_lines(buf_str(&got)) > 50);
    test_ddb_call(fake.url, "UpdateItem", "{\"TableName\":\"each-t\",\"Key\":{\"pk\":{\"S\":\"k11\"}},"
         "\"UpdateExpression\":\"SET hand = :h\",\"ExpressionAttributeValues\":{\":h\":{\"S\":\"by hand\"}}}");
    rc = undo("tests_undo-each", states, report, NULL, &err);
    if (rc != 1) fail_msg("undo: exit %d (expected 1: one item left alone): %s", rc, buf_str(&err));
    expect_listed(report, 1, "\"k11\"");
    json_object *rep = test_json_read(report);
    assert_int_equal(json_object_array_length(test_json_get(rep, "not_journaled")), 0);
    json_object_put(rep);
    expect_back_but("each-t", &before, "\"k11\"", "by hand");
    test_dump_items(fake.url, "each-log", NULL, &got);
    assert_string_equal(buf_str(&got), "");

    /* A raw request the journal cannot see: undone as far as it goes, and said. */
    test_make_table(dynalite.url, "raw-t", 30);
    test_make_table(dynalite.url, "raw-log", 0);
    buf raw_before = BUF_INIT;
    test_dump_items(fake.url, "raw-t", NULL, &raw_before);
    char *raw_states = test_path_join(tmp, "raw-states");
    const char *raw[] = {"run", "tests/integration/migrations/undo_each.lua", "--table", "raw-t",
                         "--log", "raw-log", "--raw", "true", "--state-dir", raw_states, "--quiet",
                         "--yes", "--no-history", NULL};
    rc = test_mighost(fake.url, raw, NULL, &err);
    if (rc != 0) fail_msg("raw run: exit %d: %s", rc, buf_str(&err));
    rc = undo("tests_undo-each", raw_states, report, NULL, &err);
    if (rc != 1) fail_msg("raw undo: exit %d (expected 1: a phase not journaled): %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&err), "not journaled"));
    rep = test_json_read(report);
    json_object *nj = test_json_get(rep, "not_journaled");
    assert_int_equal(json_object_array_length(nj), 1);
    assert_string_equal(json_object_get_string(test_json_get(json_object_array_get_idx(nj, 0), "phase")),
                        "log");
    assert_int_equal(test_json_int(rep, "counts.changed_since"), 0);
    json_object_put(rep);
    /* Everything journaled is back; the raw item stays (not undone, as said). */
    test_dump_items(fake.url, "raw-t", NULL, &got);
    assert_non_null(strstr(buf_str(&got), "\"raw\""));
    expect_back_but("raw-t", &raw_before, "\"raw\"", NULL);
    buf_free(&raw_before);
    free(raw_states);
    free(states);
    free(report);
    buf_free(&before);
    buf_free(&got);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_update_journal_in_s3),
        cmocka_unit_test(test_killed_resumed_then_undo),
        cmocka_unit_test(test_s3_unreachable),
        cmocka_unit_test(test_each_and_run_phases),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
