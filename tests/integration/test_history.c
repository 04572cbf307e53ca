/* test_history.c - the history table: one item per run (a run, a failed
 * run, its resumed run) with the fields an operator needs and no secret;
 * `mighost history --output json` parses; dry-runs and --no-history write
 * none; a packaged migration that already finished on the same tables is
 * refused without --yes (no terminal) and warned about with it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testassert.h"
#include "testsupport.h"

#define MIGRATION "tests/integration/migrations/history.lua"
#define SECRET "s3cr3t-t0ken-value"

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

static int migrate(const char *table, const char *const *extra, buf *err)
{
    char *states = test_path_join(tmp, "states");
    char *report = test_path_join(tmp, "report.json");
    const char *base[] = {"run", MIGRATION, "--table", table, "--token", SECRET, "--quiet",
                          "--state-dir", states, "--report", report, NULL};
    const char *args[32];
    assert_true(test_args_join(args, 32, base, extra) >= 0);
    int rc = test_mighost(fake.url, args, NULL, err);
    free(states);
    free(report);
    return rc;
}

/* `mighost history NAME --output json`, parsed; its text in text. */
static json_object *history(const char *name, buf *text)
{
    buf err = BUF_INIT;
    const char *args[] = {"history", name, "--output", "json", NULL};
    int rc = test_mighost(fake.url, args, text, &err);
    if (rc != 0) fail_msg("history: exit %d: %s", rc, buf_str(&err));
    json_object *doc = json_tokener_parse(buf_str(text));
    if (!doc) fail_msg("history --output json is not JSON: %s", buf_str(text));
    buf_free(&err);
    return doc;
}

static const char *str(json_object *o, const char *dotted)
{
    json_object *v = test_json_get(o, dotted);
    return v ? json_object_get_string(v) : NULL;
}

static void expect_fields(json_object *r, const char *table)
{
    static const char *const fields[] = {"migration", "run", "mighost", "mode", "parameters",
        "account", "principal", "region", "endpoint", "tables_read", "tables_written", "started",
        "finished", "outcome", "exit_code", "counts", "report", "state_file", "command_line", NULL};
    for (const char *const *f = fields; *f; f++)
        if (!test_json_get(r, *f)) fail_msg("history item without %s", *f);
    assert_string_equal(str(r, "migration"), "tests/history");
    assert_string_equal(str(r, "account"), "123456789012");
    assert_non_null(strstr(str(r, "principal"), "arn:aws:iam::123456789012:"));
    assert_string_equal(str(r, "region"), TEST_REGION);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(
        test_json_get(r, "tables_written"), 0)), table);
    assert_string_equal(json_object_get_string(json_object_array_get_idx(
        test_json_get(r, "tables_read"), 0)), table);
    assert_non_null(strstr(str(r, "parameters"), "(secret)"));
}

/* A run, a failed run and its resumed run: three items, newest first. */
static void test_run_failed_resumed(void **state)
{
    (void)state;
    test_make_table(dynalite.url, "hist-a", 300);
    buf err = BUF_INIT, text = BUF_INIT;
    const char *yes[] = {"--yes", NULL};
    assert_int_equal(migrate("hist-a", yes, &err), 0);
    const char *failing[] = {"--yes", "--fresh", "--fail-every", "7", NULL};
    assert_int_equal(migrate("hist-a", failing, &err), 1);
    const char *resume[] = {"--yes", "--resume", NULL};
    int rc = migrate("hist-a", resume, &err);
    if (rc != 0) fail_msg("resume: exit %d: %s", rc, buf_str(&err));

    json_object *doc = history("tests/history", &text);
    json_object *runs = test_json_get(doc, "runs");
    assert_int_equal(json_object_array_length(runs), 3);
    json_object *resumed = json_object_array_get_idx(runs, 0);
    json_object *failed = json_object_array_get_idx(runs, 1);
    json_object *first = json_object_array_get_idx(runs, 2);
    for (int i = 0; i < 3; i++) expect_fields(json_object_array_get_idx(runs, i), "hist-a");
    assert_int_equal(test_json_int(first, "exit_code"), 0);
    assert_string_equal(str(first, "outcome"), "ok");
    assert_int_equal(test_json_int(first, "counts.written"), 300);
    assert_false(json_object_get_boolean(test_json_get(first, "resumed")));
    assert_int_equal(test_json_int(failed, "exit_code"), 1);
    assert_int_equal(test_json_int(failed, "counts.failed"), 42);   /* 7, 14, ... 294 */
    assert_int_equal(test_json_int(resumed, "exit_code"), 0);
    assert_true(json_object_get_boolean(test_json_get(resumed, "resumed")));
    assert_int_equal(test_json_int(resumed, "counts.failed"), 0);
    /* Runs are told apart, the latest last in time. */
    assert_true(strcmp(str(first, "run"), str(failed, "run")) < 0);
    assert_true(strcmp(str(failed, "run"), str(resumed, "run")) < 0);
    /* No secret anywhere: not the parameter, not the credentials. */
    assert_null(strstr(buf_str(&text), SECRET));
    assert_null(strstr(buf_str(&text), TEST_SECRET_KEY));
    /* The report names the item. */
    char *report = test_path_join(tmp, "report.json");
    json_object *rep = test_json_read(report);
    assert_string_equal(str(rep, "history.run"), str(resumed, "run"));
    json_object_put(rep);
    free(report);
    json_object_put(doc);

    /* The text listing names the runs too. */
    const char *args[] = {"history", NULL};
    assert_int_equal(test_mighost(fake.url, args, &text, &err), 0);
    assert_non_null(strstr(buf_str(&text), "tests/history"));
    assert_null(strstr(buf_str(&text), SECRET));
    buf_free(&err);
    buf_free(&text);
}

/* Dry-runs and --no-history leave no item. */
static void test_dry_run_and_no_history(void **state)
{
    (void)state;
    test_make_table(dynalite.url, "hist-b", 20);
    buf err = BUF_INIT, text = BUF_INIT;
    json_object *doc = history("tests/history", &text);
    size_t before = json_object_array_length(test_json_get(doc, "runs"));
    json_object_put(doc);
    const char *dry[] = {"--dry-run", NULL};
    assert_int_equal(migrate("hist-b", dry, &err), 0);
    const char *none[] = {"--yes", "--no-history", NULL};
    assert_int_equal(migrate("hist-b", none, &err), 0);
    doc = history("tests/history", &text);
    assert_int_equal(json_object_array_length(test_json_get(doc, "runs")), before);
    json_object_put(doc);
    /* --history TABLE: a table of one's own, created on first use. */
    const char *own[] = {"--yes", "--fresh", "--history", "team-history", NULL};
    assert_int_equal(migrate("hist-b", own, &err), 0);
    const char *args[] = {"history", "--history", "team-history", "--output", "json", NULL};
    assert_int_equal(test_mighost(fake.url, args, &text, &err), 0);
    doc = json_tokener_parse(buf_str(&text));
    assert_non_null(doc);
    assert_int_equal(json_object_array_length(test_json_get(doc, "runs")), 1);
    json_object_put(doc);
    buf_free(&err);
    buf_free(&text);
}

/* A packaged migration finished on the same tables: refused without a
 * terminal unless --yes, which warns and runs it. */
static void test_rerun_of_packaged(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    char *config = test_vams_v25_dataset(dynalite.url, tmp, "hist-v25");
    char *states = test_path_join(tmp, "v25-states");
    const char *run_yes[] = {"run", "vams/v2.4-to-v2.5", "--config", config, "--state-dir", states,
                             "--duplicate-assets=skip", "--quiet", "--yes", NULL};
    const char *run_no[] = {"run", "vams/v2.4-to-v2.5", "--config", config, "--state-dir", states,
                            "--duplicate-assets=skip", "--quiet", NULL};
    int rc = test_mighost(fake.url, run_yes, &out, &err);
    if (rc != 0) fail_msg("first run: exit %d: %s", rc, buf_str(&err));
    assert_null(strstr(buf_str(&err), "already finished"));
    assert_int_equal(test_mighost(fake.url, run_no, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "already finished with exit 0 on these tables"));
    assert_non_null(strstr(buf_str(&err), "pass --yes"));
    assert_non_null(strstr(buf_str(&err), "nothing was changed"));
    assert_int_equal(test_mighost(fake.url, run_yes, &out, &err), 0);
    assert_non_null(strstr(buf_str(&err), "warning: vams/v2.4-to-v2.5 already finished"));
    free(config);
    free(states);
    buf_free(&out);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_run_failed_resumed),
        cmocka_unit_test(test_dry_run_and_no_history),
        cmocka_unit_test(test_rerun_of_packaged),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
