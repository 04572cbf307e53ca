/* test_examples.c - every migration in examples/ against dynalite (with
 * fakeaws in front to count the writes that reach it): seed, check, a
 * dry-run that changes nothing, the real run (verification ok, tables
 * exactly as expected), and a second run that changes nothing.
 * Seeds and exact checks: tests/integration/examples/fixtures.lua. */
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

#define FIXTURES "tests/integration/examples/fixtures.lua"

static test_server dynalite, fake;
static char *tmp;



/* fixtures.lua CMD NAME, straight to dynalite; must print "ok". */
static void fixture(const char *cmd, const char *name)
{
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"run", FIXTURES, cmd, name, NULL};
    int rc = test_mighost(dynalite.url, args, &out, &err);
    if (rc != 0 || !strstr(buf_str(&out), "ok"))
        fail_msg("fixtures %s %s failed (%d): %s", cmd, name, rc, buf_str(&err));
    buf_free(&out);
    buf_free(&err);
}

/* "<items> <sha256>" lines for the tables (a space-separated list). */
static void digest(const char *tables, buf *out)
{
    char copy[256];
    snprintf(copy, sizeof copy, "%s", tables);
    const char *args[12] = {"run", FIXTURES, "digest"};
    int n = 3;
    for (char *t = strtok(copy, " "); t && n < 11; t = strtok(NULL, " ")) args[n++] = t;
    args[n] = NULL;
    buf err = BUF_INIT;
    assert_int_equal(test_mighost(dynalite.url, args, out, &err), 0);
    buf_free(&err);
}

/* Runs examples/FILE with params (NULL-terminated) plus mode args through
 * fakeaws; returns the exit code; the report is left in tmp/report.json. */
static int run_example(const char *file, const char *const *params, const char *const *mode,
                       buf *err)
{
    char *report = test_path_join(tmp, "report.json");
    const char *args[44] = {"run", file};
    int n = 2;
    for (; *params && n < 30; params++) args[n++] = *params;
    for (; *mode && n < 38; mode++) args[n++] = *mode;
    args[n++] = "--report";
    args[n++] = report;
    args[n++] = "--state-dir";
    args[n++] = tmp;
    args[n++] = "--quiet";
    args[n] = NULL;
    buf out = BUF_INIT;
    int rc = test_mighost(fake.url, args, &out, err);
    buf_free(&out);
    free(report);
    return rc;
}

/* The whole life of one example. in_place: a second run sends no write at
 * all (in-place migrations skip what is done; copies put the same items
 * again, which changes nothing either). Returns the real run's report. */
static json_object *lifecycle(const char *file, const char *fixture_name, const char *tables,
                              const char *const *params, int in_place)
{
    buf out = BUF_INIT, err = BUF_INIT, before = BUF_INIT, after = BUF_INIT;
    fixture("seed", fixture_name);

    const char *check[] = {"check", file, NULL};
    assert_int_equal(test_mighost(NULL, check, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), ": ok ("));

    /* Dry-run: reads, samples, plans, and sends no write. */
    char *plan = test_path_join(tmp, "plan.jsonl");
    digest(tables, &before);
    test_fakeaws_reset(&fake);
    const char *dry[] = {"--dry-run", "--sample", "3", "--plan", plan, NULL};
    int rc = run_example(file, params, dry, &err);
    if (rc != 0) fail_msg("%s dry-run exited %d: %s", file, rc, buf_str(&err));
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    digest(tables, &after);
    assert_string_equal(buf_str(&before), buf_str(&after));
    buf plan_text = BUF_INIT;
    assert_int_equal(test_read_file(plan, &plan_text), 0);
    assert_true(buf_str(&plan_text)[0] == '{');   /* some write was planned */
    buf_free(&plan_text);
    free(plan);

    /* The real run. */
    const char *real[] = {"--yes", NULL};
    rc = run_example(file, params, real, &err);
    if (rc != 0) fail_msg("%s exited %d: %s", file, rc, buf_str(&err));
    char *rpath = test_path_join(tmp, "report.json");
    json_object *rep = test_json_read(rpath);
    assert_true(json_object_get_boolean(test_json_get(rep, "verification.ok")));
    assert_string_equal(json_object_get_string(test_json_get(rep, "outcome")), "ok");
    fixture("check", fixture_name);

    /* Again: nothing changes (--no-history: the history's own PutItems
     * would count as writes). */
    const char *again_args[] = {"--yes", "--no-history", NULL};
    digest(tables, &before);
    test_fakeaws_reset(&fake);
    rc = run_example(file, params, again_args, &err);
    if (rc != 0) fail_msg("%s second run exited %d: %s", file, rc, buf_str(&err));
    if (in_place) assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    digest(tables, &after);
    assert_string_equal(buf_str(&before), buf_str(&after));
    json_object *again = test_json_read(rpath);
    assert_true(json_object_get_boolean(test_json_get(again, "verification.ok")));
    json_object_put(again);
    free(rpath);
    buf_free(&out);
    buf_free(&err);
    buf_free(&before);
    buf_free(&after);
    return rep;
}

static void test_rename_attribute(void **state)
{
    (void)state;
    const char *p[] = {"--table", "ex_ren", NULL};
    json_object *rep = lifecycle("examples/rename-attribute.lua", "rename", "ex_ren", p, 1);
    assert_int_equal(test_json_int(rep, "phases.0.written"), 204);
    assert_int_equal(test_json_int(rep, "phases.0.skipped.by_reason.priority is not a number"), 1);
    json_object_put(rep);
}

static void test_backfill_index_key(void **state)
{
    (void)state;
    const char *p[] = {"--table", "ex_bf", "--concurrency", "8", NULL};
    json_object *rep = lifecycle("examples/backfill-index-key.lua", "backfill", "ex_bf", p, 1);
    assert_int_equal(test_json_int(rep, "phases.0.written"), 299);
    assert_int_equal(test_json_int(rep, "phases.0.skipped.by_reason.already set"), 1);
    assert_int_equal(test_json_int(rep, "phases.0.skipped.by_reason.no tenant"), 1);
    json_object_put(rep);
}

static void test_split_table(void **state)
{
    (void)state;
    const char *p[] = {"--source", "ex_mixed", "--orders", "ex_orders", "--customers",
                       "ex_customers", NULL};
    json_object *rep = lifecycle("examples/split-table.lua", "split",
                                 "ex_mixed ex_orders ex_customers", p, 0);
    assert_int_equal(test_json_int(rep, "phases.0.written"), 100);
    assert_int_equal(test_json_int(rep, "phases.1.written"), 50);
    json_object_put(rep);
    /* The verification sees a stray order and a changed customer. */
    fixture("tamper", "split");
    buf err = BUF_INIT;
    const char *verify_only[] = {"--verify-only", NULL};
    assert_int_equal(run_example("examples/split-table.lua", p, verify_only, &err), 1);
    char *rpath = test_path_join(tmp, "report.json");
    rep = test_json_read(rpath);
    assert_false(json_object_get_boolean(test_json_get(rep, "verification.ok")));
    assert_true(json_object_get_boolean(test_json_get(rep, "verification.phases.verify_orders.ok")));
    /* Lists stay lists when empty. */
    assert_true(json_object_is_type(
        test_json_get(rep, "verification.phases.verify_orders.checks.0.missing_keys"), json_type_array));
    assert_int_equal(test_json_int(rep, "verification.phases.verify_customers.checks.0.different"), 1);
    assert_int_equal(test_json_int(rep, "verification.phases.nothing_else.checks.0.in_table"), 101);
    assert_false(json_object_get_boolean(
        test_json_get(rep, "verification.phases.nothing_else.checks.0.ok")));
    assert_true(json_object_get_boolean(
        test_json_get(rep, "verification.phases.nothing_else.checks.1.ok")));
    json_object_put(rep);
    free(rpath);
    buf_free(&err);
}

static void test_filtered_copy(void **state)
{
    (void)state;
    const char *p[] = {"--source", "ex_fsrc", "--destination", "ex_fdst", NULL};
    json_object *rep = lifecycle("examples/filtered-copy.lua", "filtered", "ex_fsrc ex_fdst", p, 0);
    assert_int_equal(test_json_int(rep, "phases.0.written"), 40);
    json_object_put(rep);
}

static void test_ttl_from_date(void **state)
{
    (void)state;
    const char *p[] = {"--table", "ex_ttl", "--retention-days", "30", NULL};
    json_object *rep = lifecycle("examples/ttl-from-date.lua", "ttl", "ex_ttl", p, 1);
    assert_int_equal(test_json_int(rep, "phases.0.written"), 104);
    assert_int_equal(test_json_int(rep, "phases.0.skipped.total"), 3);
    assert_int_equal(test_json_int(rep, "phases.0.skipped.by_reason.unparseable createdAt"), 1);
    json_object_put(rep);
}

static void test_delete_matching(void **state)
{
    (void)state;
    const char *p[] = {"--table", "ex_del", "--before", "2024-01-01", NULL};
    json_object *rep = lifecycle("examples/delete-matching.lua", "delete", "ex_del", p, 1);
    assert_int_equal(test_json_int(rep, "phases.0.deleted"), 50);
    json_object_put(rep);
}

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rename_attribute),
        cmocka_unit_test(test_backfill_index_key),
        cmocka_unit_test(test_split_table),
        cmocka_unit_test(test_filtered_copy),
        cmocka_unit_test(test_ttl_from_date),
        cmocka_unit_test(test_delete_matching),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
