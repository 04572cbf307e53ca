/* test_undo.c - mighost undo from a run's undo journal: the vams/v2.4-to-
 * v2.5 metadata backfill (an update phase) and a custom update example,
 * each with one item changed by hand afterwards: every other item is back
 * to its before-image (canonical dumps compared), the changed one listed
 * and left alone; a copy into a new table undone by deleting exactly the
 * keys it wrote; an undo SIGKILLed and resumed ends the same. */
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

/* mighost undo RUN --state-dir STATES EXTRA...; the report in report. */
static int undo(const char *run, const char *states, const char *report, const char *const *extra,
                buf *err)
{
    const char *base[] = {"undo", run, "--state-dir", states, "--report", report, NULL};
    const char *args[32];
    assert_true(test_args_join(args, 32, base, extra) >= 0);
    return test_mighost(fake.url, args, NULL, err);
}

/* The table's dump without the lines holding drop. */
static void dump_without(const char *table, const char *drop, buf *out)
{
    buf all = BUF_INIT;
    test_dump_items(fake.url, table, NULL, &all);
    test_lines_without(&all, drop, out);
    buf_free(&all);
}

static void expect_left_alone(const char *report, const char *key_text)
{
    json_object *rep = test_json_read(report);
    assert_int_equal(test_json_int(rep, "counts.changed_since"), 1);
    assert_int_equal(test_json_int(rep, "counts.failed"), 0);
    const char *listed = json_object_to_json_string(test_json_get(rep, "changed_since"));
    if (!strstr(listed, key_text)) fail_msg("%s not listed: %s", key_text, listed);
    json_object_put(rep);
}

/* The v2.4 -> v2.5 run: its V2 tables (empty before) lose exactly what it
 * wrote, its metadata backfill is put back, but for the row changed by hand. */
static void test_vams_v25_backfill(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    char *config = test_vams_v25_dataset(dynalite.url, tmp, "undo-v25");
    char *states = test_path_join(tmp, "v25-states");
    char *report = test_path_join(tmp, "v25-undo.json");
    buf meta_before = BUF_INIT, v2_before = BUF_INIT, files_before = BUF_INIT, got = BUF_INIT;
    test_dump_items(fake.url, "undo-v25-metadata", NULL, &meta_before);
    test_dump_items(fake.url, "undo-v25-versions-v2", NULL, &v2_before);
    test_dump_items(fake.url, "undo-v25-files-v2", NULL, &files_before);
    const char *run[] = {"run", "vams/v2.4-to-v2.5", "--config", config, "--state-dir", states,
                         "--duplicate-assets=skip", "--quiet", "--yes", NULL};
    int rc = test_mighost(fake.url, run, &out, &err);
    if (rc != 0) fail_msg("run: exit %d: %s", rc, buf_str(&err));
    test_dump_items(fake.url, "undo-v25-metadata", NULL, &got);
    assert_string_not_equal(buf_str(&got), buf_str(&meta_before));   /* the backfill wrote */
    /* A backfilled row changed by hand after the run. */
    test_ddb_call(fake.url, "UpdateItem", "{\"TableName\":\"undo-v25-metadata\",\"Key\":{"
         "\"databaseId:assetId:assetVersionId\":{\"S\":\"db-beta:x3333:0\"},"
         "\"type:filePath:metadataKey\":{\"S\":\"metadata:/scans/2024-01-01T10:00:00Z/pointcloud.e57:source\"}},"
         "\"UpdateExpression\":\"SET metadataValue = :v\","
         "\"ExpressionAttributeValues\":{\":v\":{\"S\":\"changed by hand\"}}}");

    /* A dry-run changes nothing and says what it would do. */
    const char *dry[] = {"--dry-run", NULL};
    assert_int_equal(undo("vams_v2.4-to-v2.5", states, report, dry, &err), 1);
    json_object *rep = test_json_read(report);
    assert_string_equal(json_object_get_string(test_json_get(rep, "mode")), "dry-run");
    assert_true(test_json_int(rep, "counts.restored") > 0);
    json_object_put(rep);
    dump_without("undo-v25-metadata", "changed by hand", &got);
    assert_string_not_equal(buf_str(&got), buf_str(&meta_before));

    const char *yes[] = {"--yes", NULL};
    rc = undo("vams_v2.4-to-v2.5", states, report, yes, &err);
    if (rc != 1) fail_msg("undo: exit %d (expected 1: one row left alone): %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&err), "db-beta:x3333:0"));
    expect_left_alone(report, "db-beta:x3333:0");
    /* Every other row is its before-image again. */
    buf want = BUF_INIT;
    dump_without("undo-v25-metadata", "db-beta:x3333:0", &got);
    test_lines_without(&meta_before, "db-beta:x3333:0", &want);
    assert_string_equal(buf_str(&got), buf_str(&want));
    test_dump_items(fake.url, "undo-v25-metadata", NULL, &got);
    assert_non_null(strstr(buf_str(&got), "changed by hand"));
    /* The V2 tables were empty: exactly what the run wrote is gone. */
    test_dump_items(fake.url, "undo-v25-versions-v2", NULL, &got);
    assert_string_equal(buf_str(&got), buf_str(&v2_before));
    test_dump_items(fake.url, "undo-v25-files-v2", NULL, &got);
    assert_string_equal(buf_str(&got), buf_str(&files_before));
    /* Once done, a second undo has nothing to do. */
    assert_int_equal(undo("vams_v2.4-to-v2.5", states, report, yes, &err), 0);
    assert_non_null(strstr(buf_str(&err), "undone already"));
    free(config);
    free(states);
    free(report);
    buf_free(&want);
    buf_free(&meta_before);
    buf_free(&v2_before);
    buf_free(&files_before);
    buf_free(&got);
    buf_free(&out);
    buf_free(&err);
}

/* examples/backfill-index-key: 500 items updated, one changed by hand. */
static void test_custom_update(void **state)
{
    (void)state;
    test_make_table(dynalite.url, "undo-custom", 500);
    buf before = BUF_INIT, got = BUF_INIT, err = BUF_INIT;
    /* Every item gets the parts the example's key is made of. */
    const char *fill[] = {"eval",
        "local ddb = require 'mighost.dynamodb'\n"
        "local w = ddb.writer{table = 'undo-custom'}\n"
        "for it in ddb.scan{table = 'undo-custom'} do\n"
        "  it.tenant = {S = 't' .. (tonumber(it.n.N) % 3)}; it.type = {S = 'doc'}; w:put(it)\n"
        "end\n"
        "w:flush()\n", NULL};
    assert_int_equal(test_mighost(fake.url, fill, NULL, &err), 0);
    test_dump_items(fake.url, "undo-custom", NULL, &before);
    char *states = test_path_join(tmp, "custom-states");
    char *report = test_path_join(tmp, "custom-undo.json");
    const char *run[] = {"run", "examples/backfill-index-key.lua", "--table", "undo-custom",
                         "--state-dir", states, "--quiet", "--yes", NULL};
    int rc = test_mighost(fake.url, run, NULL, &err);
    if (rc != 0) fail_msg("run: exit %d: %s", rc, buf_str(&err));
    test_ddb_call(fake.url, "UpdateItem", "{\"TableName\":\"undo-custom\",\"Key\":{\"pk\":{\"S\":\"k77\"}},"
         "\"UpdateExpression\":\"SET hand = :h\",\"ExpressionAttributeValues\":{\":h\":{\"S\":\"x\"}}}");
    const char *yes[] = {"--yes", NULL};
    rc = undo("examples_backfill-index-key", states, report, yes, &err);
    if (rc != 1) fail_msg("undo: exit %d: %s", rc, buf_str(&err));
    expect_left_alone(report, "\"k77\"");
    json_object *rep = test_json_read(report);
    assert_int_equal(test_json_int(rep, "counts.restored"), 499);
    json_object_put(rep);
    buf want = BUF_INIT;
    dump_without("undo-custom", "\"k77\"", &got);
    test_lines_without(&before, "\"k77\"", &want);
    assert_string_equal(buf_str(&got), buf_str(&want));
    test_dump_items(fake.url, "undo-custom", NULL, &got);
    assert_non_null(strstr(buf_str(&got), "\"hand\""));
    free(states);
    free(report);
    buf_free(&want);
    buf_free(&before);
    buf_free(&got);
    buf_free(&err);
}

/* A copy into a table that was empty: undo deletes the keys it wrote,
 * and only those (an item put there by hand since stays). */
static void test_copy_into_new_table(void **state)
{
    (void)state;
    test_make_table(dynalite.url, "undo-src", 300);
    test_make_table(dynalite.url, "undo-dst", 0);
    buf got = BUF_INIT, err = BUF_INIT, src = BUF_INIT;
    test_dump_items(fake.url, "undo-src", NULL, &src);
    char *states = test_path_join(tmp, "copy-states");
    char *report = test_path_join(tmp, "copy-undo.json");
    /* The kinds test migration copies every item but each 10th. */
    const char *copy[] = {"run", "tests/integration/migrations/kinds.lua", "--kind", "copy",
                          "--table", "undo-src", "--log", "undo-dst", "--state-dir", states,
                          "--quiet", "--yes", NULL};
    int rc = test_mighost(fake.url, copy, NULL, &err);
    if (rc != 0) fail_msg("copy: exit %d: %s", rc, buf_str(&err));
    test_dump_items(fake.url, "undo-dst", NULL, &got);
    assert_int_equal(test_count_lines(buf_str(&got)), 270);
    test_ddb_call(fake.url, "PutItem", "{\"TableName\":\"undo-dst\",\"Item\":{\"pk\":{\"S\":\"by-hand\"}}}");
    const char *yes[] = {"--yes", NULL};
    rc = undo("tests_kinds", states, report, yes, &err);
    if (rc != 0) fail_msg("undo: exit %d: %s", rc, buf_str(&err));
    json_object *rep = test_json_read(report);
    assert_int_equal(test_json_int(rep, "counts.deleted"), 270);
    json_object_put(rep);
    test_dump_items(fake.url, "undo-dst", NULL, &got);
    assert_string_equal(buf_str(&got), "{\"pk\":{\"S\":\"by-hand\"}}\n");
    /* The source was only read. */
    test_dump_items(fake.url, "undo-src", NULL, &got);
    assert_string_equal(buf_str(&got), buf_str(&src));
    free(states);
    free(report);
    buf_free(&src);
    buf_free(&got);
    buf_free(&err);
}

/* SIGKILL during an undo, then --resume: the same end as an undo that
 * ran through (every item its before-image). */
static void test_undo_killed_and_resumed(void **state)
{
    (void)state;
    test_make_table(dynalite.url, "undo-kill", 4000);
    buf before = BUF_INIT, got = BUF_INIT, err = BUF_INIT;
    test_dump_items(fake.url, "undo-kill", NULL, &before);
    char *states = test_path_join(tmp, "kill-states");
    char *report = test_path_join(tmp, "kill-undo.json");
    const char *run[] = {"run", "tests/integration/migrations/history.lua", "--table", "undo-kill",
                         "--state-dir", states, "--quiet", "--yes", "--no-history", NULL};
    int rc = test_mighost(fake.url, run, NULL, &err);
    if (rc != 0) fail_msg("run: exit %d: %s", rc, buf_str(&err));
    /* The undo's own state file appears after its first second of work. */
    buf glob = BUF_INIT;
    const char *args[] = {"undo", "tests_history", "--state-dir", states, "--report", report,
                          "--yes", NULL};
    pid_t pid = test_spawn_mighost(NULL, fake.url, args);
    assert_true(pid > 0);
    char *undo_state = NULL;
    for (int i = 0; i < 400 && !undo_state; i++) {
        struct timespec ts = {0, 25 * 1000 * 1000};
        nanosleep(&ts, NULL);
        buf_reset(&glob);
        const char *find[] = {"sh", "-c", "ls \"$0\"/*.undo/undo-state.json 2>/dev/null", states, NULL};
        test_run(find, NULL, NULL, NULL, &glob, NULL);
        if (glob.len > 0) undo_state = xstrdup(buf_str(&glob));
    }
    assert_non_null(undo_state);
    kill(pid, SIGKILL);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFSIGNALED(status));
    test_dump_items(fake.url, "undo-kill", NULL, &got);
    assert_string_not_equal(buf_str(&got), buf_str(&before));   /* cut in the middle */
    /* A plain undo finds the stopped one and says how to continue. */
    const char *yes[] = {"--yes", NULL};
    assert_int_equal(undo("tests_history", states, report, yes, &err), 2);
    assert_non_null(strstr(buf_str(&err), "--resume"));
    const char *resume[] = {"--yes", "--resume", NULL};
    rc = undo("tests_history", states, report, resume, &err);
    if (rc != 0) fail_msg("undo --resume: exit %d: %s", rc, buf_str(&err));
    test_dump_items(fake.url, "undo-kill", NULL, &got);
    assert_string_equal(buf_str(&got), buf_str(&before));
    json_object *rep = test_json_read(report);
    assert_int_equal(test_json_int(rep, "counts.changed_since"), 0);
    assert_int_equal(test_json_int(rep, "counts.restored") + test_json_int(rep, "counts.already"),
                     4000);
    json_object_put(rep);
    free(undo_state);
    free(states);
    free(report);
    buf_free(&glob);
    buf_free(&before);
    buf_free(&got);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vams_v25_backfill),
        cmocka_unit_test(test_custom_update),
        cmocka_unit_test(test_copy_into_new_table),
        cmocka_unit_test(test_undo_killed_and_resumed),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
