/* test_vams_v25.c - vams/v2.4-to-v2.5 on the reference dataset,
 * destination tables compared item by item with the reference's items; each
 * deliberate difference from the reference has its own assertion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "testassert.h"
#include "testsupport.h"

static test_server dynalite, fake;
static char *tmp;
static int fixtures;



/* A fresh copy of the dataset under a new prefix; its config file path. */
typedef struct fixture {
    char prefix[32];
    char config[512];
    char report[512];
    char state[512];
} fixture;

static void make_fixture(fixture *f, const char *variant)
{
    snprintf(f->prefix, sizeof f->prefix, "v25-%d", ++fixtures);
    buf out = BUF_INIT, err = BUF_INIT, cfg = BUF_INIT;
    const char *args[] = {"run", "tests/integration/vams/v25_fixture.lua", f->prefix, variant, NULL};
    if (test_mighost(dynalite.url, args, &out, &err) != 0) fail_msg("fixture: %s", buf_str(&err));
    buf_printf(&cfg, "{\"_comment\": \"the reference's config, as is\",\n"
                     " \"asset_storage_table_name\": \"%1$s-assets\",\n"
                     " \"asset_versions_storage_table_name_v1\": \"%1$s-versions-v1\",\n"
                     " \"asset_versions_storage_table_name_v2\": \"%1$s-versions-v2\",\n"
                     " \"asset_file_versions_storage_table_name_v1\": \"%1$s-files-v1\",\n"
                     " \"asset_file_versions_storage_table_name_v2\": \"%1$s-files-v2\",\n"
                     " \"asset_file_metadata_versions_storage_table_name\": \"%1$s-metadata\",\n"
                     " \"batch_size\": 25, \"dry_run\": false, \"limit\": null, \"aws_profile\": null,\n"
                     " \"aws_region\": null, \"log_level\": \"INFO\"}\n", f->prefix);
    snprintf(f->config, sizeof f->config, "%s/%s.json", tmp, f->prefix);
    snprintf(f->report, sizeof f->report, "%s/%s-report.json", tmp, f->prefix);
    snprintf(f->state, sizeof f->state, "%s/%s-state", tmp, f->prefix);
    test_write_file(f->config, buf_str(&cfg));
    buf_free(&cfg);
    buf_free(&out);
    buf_free(&err);
}

/* mighost run vams/v2.4-to-v2.5 --config ... EXTRA... through fakeaws. */
static int migrate(fixture *f, const char *const *extra, buf *out, buf *err)
{
    const char *base[] = {"run", "vams/v2.4-to-v2.5", "--config", f->config, "--report", f->report,
                          "--state-dir", f->state, "--quiet",
                          "--no-history", NULL};   /* the tests count the writes that arrive */
    const char *args[32];
    assert_true(test_args_join(args, sizeof args / sizeof *args, base, extra) >= 0);
    return test_mighost(fake.url, args, out, err);
}

static void table_name(buf *b, const fixture *f, const char *t)
{
    buf_reset(b);
    buf_printf(b, "%s-%s", f->prefix, t);
}

static void expect_counts(const fixture *f, const char *phase, long scanned, long written,
                          long orphaned, long failed, long skipped)
{
    json_object *doc, *p = test_json_read_phase(f->report, phase, &doc);
    assert_int_equal(test_json_int(p, "scanned"), scanned);
    assert_int_equal(test_json_int(p, "written"), written);
    assert_int_equal(test_json_int(p, "orphaned.count"), orphaned);
    assert_int_equal(test_json_int(p, "failed.count"), failed);
    assert_int_equal(test_json_int(p, "skipped.total"), skipped);
    json_object_put(doc);
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

/* Verification finds what is wrong, whichever of its checks (which run
 * together) finds it: after a run, one asset version deleted from V2, one
 * file version changed, and one metadata row's databaseId:assetId removed.
 * --verify-only then exits 1, each check counts its own problem, and the
 * report lists the checks in their fixed order. */
static void test_verify_finds_each_problem(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf out = BUF_INIT, err = BUF_INIT, code = BUF_INIT;
    const char *extra[] = {"--yes", "--duplicate-assets=skip", NULL};
    int rc = migrate(&f, extra, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    buf_printf(&code,
        "local ddb = require 'mighost.dynamodb'\n"
        "assert(ddb.delete{table = '%1$s-versions-v2', key = {['databaseId:assetId'] = {S = 'db-alpha:x1111'},"
        " assetVersionId = {S = '0'}}})\n"
        "local it = assert(ddb.get{table = '%1$s-files-v2', key = {['databaseId:assetId:assetVersionId'] ="
        " {S = 'db-alpha:x1111:0'}, fileKey = {S = '/model.glb'}}, consistent = true})\n"
        "it.size = {N = '1001'}\n"
        "assert(ddb.put{table = '%1$s-files-v2', item = it})\n"
        "assert(ddb.update{table = '%1$s-metadata', key = {['databaseId:assetId:assetVersionId'] ="
        " {S = 'db-alpha:x1111:1'}, ['type:filePath:metadataKey'] = {S = 'metadata:/:author'}},"
        " update = 'REMOVE #v', names = {['#v'] = 'databaseId:assetId'}})\n", f.prefix);
    const char *args[] = {"eval", buf_str(&code), NULL};
    buf_reset(&out);
    buf_reset(&err);
    if (test_mighost(dynalite.url, args, &out, &err) != 0) fail_msg("eval: %s", buf_str(&err));

    const char *verify[] = {"--verify-only", "--duplicate-assets=skip", NULL};
    buf_reset(&out);
    buf_reset(&err);
    assert_int_equal(migrate(&f, verify, &out, &err), 1);
    json_object *doc, *p = test_json_read_phase(f.report, "verify", &doc);
    assert_false(json_object_get_boolean(test_json_get(p, "verification.ok")));
    const char *names[] = {"asset versions in V2", "file versions in V2",
                           "metadata rows with databaseId:assetId"};
    long missing[] = {1, 0, 1}, different[] = {0, 1, -1};
    for (int i = 0; i < 3; i++) {
        char at[64];
        snprintf(at, sizeof at, "verification.checks.%d", i);
        json_object *c = test_json_get(p, at);
        assert_string_equal(json_object_get_string(test_json_get(c, "name")), names[i]);
        assert_false(json_object_get_boolean(test_json_get(c, "ok")));
        assert_int_equal(test_json_int(c, "missing"), missing[i]);
        if (different[i] >= 0) assert_int_equal(test_json_int(c, "different"), different[i]);
    }
    /* The problems are named by their keys. */
    buf text = BUF_INIT;
    test_read_file(f.report, &text);
    assert_non_null(strstr(buf_str(&text), "\"different\":{\"databaseId:assetId:assetVersionId\":{\"S\":\"db-alpha:x1111:0\"}"));
    assert_non_null(strstr(buf_str(&text), "\"missing\":{\"assetVersionId\":{\"S\":\"0\"},\"databaseId:assetId\":{\"S\":\"db-alpha:x1111\"}"));
    json_object_put(doc);
    buf_free(&text);
    buf_free(&code);
    buf_free(&out);
    buf_free(&err);
}

/* with --duplicate-assets=skip: the reference's items exactly, less xdup. */
static void test_full_run(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT, t = BUF_INIT;
    const char *extra[] = {"--yes", "--duplicate-assets=skip", NULL};
    int rc = migrate(&f, extra, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    table_name(&t, &f, "versions-v2");
    test_expect_items(dynalite.url, buf_str(&t), "tests/integration/vams/v25_expected_versions.jsonl", "xdup");
    table_name(&t, &f, "files-v2");
    test_expect_items(dynalite.url, buf_str(&t), "tests/integration/vams/v25_expected_files.jsonl", "xdup");
    /* F1 orphan absent (by the exact comparison) and reported once per phase. */
    expect_counts(&f, "asset_versions", 7, 5, 1, 0, 1);
    expect_counts(&f, "file_versions", 8, 6, 1, 0, 1);
    expect_counts(&f, "metadata_backfill", 4, 3, 0, 0, 1);
    /* Metadata: the field added where it lacked, nothing else changed. */
    table_name(&t, &f, "metadata");
    test_dump_items(dynalite.url, buf_str(&t), NULL, &got);
    assert_non_null(strstr(buf_str(&got), "\"databaseId:assetId\":{\"S\":\"db-beta:xcolon:part\"}"));
    assert_non_null(strstr(buf_str(&got), "\"databaseId:assetId\":{\"S\":\"db-beta:x3333\"}"));
    json_object *doc, *p = test_json_read_phase(f.report, "verify", &doc);
    assert_true(json_object_get_boolean(test_json_get(p, "verification.ok")));
    json_object_put(doc);
    /* The report lists the orphan, the duplicate and the archived asset. */
    buf text = BUF_INIT;
    test_read_file(f.report, &text);
    assert_non_null(strstr(buf_str(&text), "\"x9999\""));
    assert_non_null(strstr(buf_str(&text), "\"duplicate_assets\":[{\"assetId\":\"xdup\",\"databases\":[\"db-alpha\",\"db-beta\"]}]"));
    assert_non_null(strstr(buf_str(&text), "\"databaseId\":\"db-alpha#deleted\""));

    /* a re-run changes nothing, to the byte; the backfill skips all 4. */
    buf before = BUF_INIT;
    table_name(&t, &f, "versions-v2");
    test_dump_items(dynalite.url, buf_str(&t), NULL, &before);
    assert_int_equal(migrate(&f, extra, &out, &err), 0);
    test_dump_items(dynalite.url, buf_str(&t), NULL, &got);
    assert_string_equal(buf_str(&before), buf_str(&got));
    expect_counts(&f, "metadata_backfill", 4, 0, 0, 0, 4);
    buf_free(&before);
    buf_free(&text);
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
    buf_free(&t);
}

/* Difference: an assetId in two databases is refused until decided. */
static void test_duplicates_refused_then_all(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT, t = BUF_INIT;
    test_fakeaws_reset(&fake);
    const char *plain[] = {"--yes", NULL};
    assert_int_equal(migrate(&f, plain, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "xdup (db-alpha, db-beta)"));
    assert_non_null(strstr(buf_str(&err), "--duplicate-assets=skip"));
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    /* ...and the dry-run lists them instead of failing. */
    const char *dry[] = {"--dry-run", NULL};
    assert_int_equal(migrate(&f, dry, &out, &err), 0);
    assert_non_null(strstr(buf_str(&err), "xdup (db-alpha, db-beta)"));
    /* all: under both databases. */
    const char *all[] = {"--yes", "--duplicate-assets", "all", NULL};
    assert_int_equal(migrate(&f, all, &out, &err), 0);
    table_name(&t, &f, "versions-v2");
    test_dump_items(dynalite.url, buf_str(&t), NULL, &got);
    assert_non_null(strstr(buf_str(&got), "\"databaseId:assetId\":{\"S\":\"db-alpha:xdup\"}"));
    assert_non_null(strstr(buf_str(&got), "\"databaseId:assetId\":{\"S\":\"db-beta:xdup\"}"));
    table_name(&t, &f, "files-v2");
    test_dump_items(dynalite.url, buf_str(&t), NULL, &got);
    assert_non_null(strstr(buf_str(&got), "\"S\":\"db-alpha:xdup:0\""));
    assert_non_null(strstr(buf_str(&got), "\"S\":\"db-beta:xdup:0\""));
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
    buf_free(&t);
}

/* Kept: archived assets under {db}#deleted (F3); option: strip. */
static void test_archived_strip(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT, t = BUF_INIT;
    const char *extra[] = {"--yes", "--duplicate-assets=skip", "--archived-db-id=strip", NULL};
    assert_int_equal(migrate(&f, extra, &out, &err), 0);
    table_name(&t, &f, "versions-v2");
    test_dump_items(dynalite.url, buf_str(&t), NULL, &got);
    assert_non_null(strstr(buf_str(&got), "\"databaseId:assetId\":{\"S\":\"db-alpha:x4444\"}"));
    assert_null(strstr(buf_str(&got), "#deleted"));
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
    buf_free(&t);
}

/* the dry-run sends no write and predicts the real run's counts. */
static void test_dry_run(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf out = BUF_INIT, err = BUF_INIT;
    test_fakeaws_reset(&fake);
    const char *dry[] = {"--dry-run", "--duplicate-assets=skip", NULL};
    assert_int_equal(migrate(&f, dry, &out, &err), 0);
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    json_object *doc, *p = test_json_read_phase(f.report, "asset_versions", &doc);
    assert_int_equal(test_json_int(p, "would_write"), 5);
    json_object_put(doc);
    p = test_json_read_phase(f.report, "metadata_backfill", &doc);
    assert_int_equal(test_json_int(p, "would_write"), 3);
    json_object_put(doc);
    buf_free(&out);
    buf_free(&err);
}

/* --stack alone names all six tables: VAMS publishes no table outputs, so
 * they come from the nested storage stack's resources, V1 and V2 side by
 * side and matched by construct id exactly (tests/integration/stacks/
 * vams-v2.5.json says where each name comes from). */
static void test_stack_fills_tables(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    assert_int_equal(test_fakeaws_stacks(&fake, "tests/integration/stacks/vams-v2.5.json", f.prefix), 0);
    assert_int_equal(test_fakeaws_config(&fake, "{\"stack_resource_page\": 10}"), 0);
    test_fakeaws_reset(&fake);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"run", "vams/v2.4-to-v2.5", "--stack", "vams-core-prod", "--dry-run",
                          "--duplicate-assets=skip", "--report", f.report, "--quiet", NULL};
    int rc = test_mighost(fake.url, args, &out, &err);
    test_fakeaws_config(&fake, "{\"stack_resource_page\": 100}");
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    buf names[6] = {BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT};
    const char *suffix[] = {"assets", "versions-v1", "versions-v2", "files-v1", "files-v2", "metadata"};
    for (int i = 0; i < 6; i++) table_name(&names[i], &f, suffix[i]);
    const char *want[] = {"asset_table", buf_str(&names[0]), "versions_v1", buf_str(&names[1]),
                          "versions_v2", buf_str(&names[2]), "files_v1", buf_str(&names[3]),
                          "files_v2", buf_str(&names[4]), "metadata", buf_str(&names[5]), NULL};
    test_expect_stack_params(f.report, want);
    /* Three pages of the storage stack's resources, one of each other stack. */
    assert_int_equal(test_fakeaws_stat(&fake, "by_target.cloudformation:ListStackResources"), 6);
    json_object *doc, *p = test_json_read_phase(f.report, "asset_versions", &doc);
    assert_int_equal(test_json_int(p, "would_write"), 5);
    json_object_put(doc);
    for (int i = 0; i < 6; i++) buf_free(&names[i]);
    buf_free(&out);
    buf_free(&err);
}

/* Difference: --limit 2 does not truncate the lookup (no false orphans)
 * and verification checks what the run processed: exit 0 (the reference
 * reports VERIFICATION FAILED, exit 1). */
static void test_limit(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf out = BUF_INIT, err = BUF_INIT;
    const char *extra[] = {"--yes", "--duplicate-assets=skip", "--limit", "2", NULL};
    int rc = migrate(&f, extra, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    json_object *doc, *p = test_json_read_phase(f.report, "lookup", &doc);
    assert_int_equal(test_json_int(p, "scanned"), 6);
    json_object_put(doc);
    p = test_json_read_phase(f.report, "asset_versions", &doc);
    assert_int_equal(test_json_int(p, "scanned"), 2);
    json_object_put(doc);
    p = test_json_read_phase(f.report, "verify", &doc);
    assert_true(json_object_get_boolean(test_json_get(p, "verification.ok")));
    json_object_put(doc);
    buf_free(&out);
    buf_free(&err);
}

/* with the difference: --clear-v2 deletes in batches. */
static void test_clear_v2(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf out = BUF_INIT, err = BUF_INIT, code = BUF_INIT, got = BUF_INIT, t = BUF_INIT;
    buf_printf(&code,
        "local ddb = require 'mighost.dynamodb'\n"
        "for i = 1, 2 do\n"
        "  assert(ddb.put{table = '%1$s-versions-v2', item = {['databaseId:assetId'] = {S = 'old:' .. i},"
        " assetVersionId = {S = '0'}}})\n"
        "  assert(ddb.put{table = '%1$s-files-v2', item = {['databaseId:assetId:assetVersionId'] = "
        "{S = 'old:' .. i .. ':0'}, fileKey = {S = '/x'}}})\n"
        "end\n", f.prefix);
    const char *seed[] = {"eval", buf_str(&code), NULL};
    assert_int_equal(test_mighost(dynalite.url, seed, &out, &err), 0);
    /* The dry-run counts what it would delete and deletes nothing. */
    const char *dry[] = {"--dry-run", "--duplicate-assets=skip", "--clear-v2", NULL};
    assert_int_equal(migrate(&f, dry, &out, &err), 0);
    json_object *d0, *p0 = test_json_read_phase(f.report, "clear_v2", &d0), *wouldv;
    assert_true(json_object_object_get_ex(p0, "would_delete", &wouldv));
    assert_int_equal(json_object_get_int(wouldv), 4);
    json_object_put(d0);
    table_name(&t, &f, "versions-v2");
    test_dump_items(dynalite.url, buf_str(&t), NULL, &got);
    assert_non_null(strstr(buf_str(&got), "old:1"));
    assert_non_null(strstr(buf_str(&got), "old:2"));
    test_fakeaws_reset(&fake);
    const char *extra[] = {"--yes", "--duplicate-assets=skip", "--clear-v2", NULL};
    assert_int_equal(migrate(&f, extra, &out, &err), 0);
    assert_int_equal(test_fakeaws_stat(&fake, "by_target.DynamoDB_20120810.DeleteItem"), 0);
    json_object *doc, *p = test_json_read_phase(f.report, "clear_v2", &doc);
    assert_int_equal(test_json_int(p, "deleted"), 4);
    json_object_put(doc);
    table_name(&t, &f, "versions-v2");
    test_expect_items(dynalite.url, buf_str(&t), "tests/integration/vams/v25_expected_versions.jsonl", "xdup");
    buf_free(&code);
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
    buf_free(&t);
}

/* malformed rows fail alone, are listed, and the exit code is 1. */
static void test_malformed_rows(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "edge");
    buf out = BUF_INIT, err = BUF_INIT;
    const char *extra[] = {"--yes", "--duplicate-assets=skip", NULL};
    int rc = migrate(&f, extra, &out, &err);
    if (rc != 1) fail_msg("exit %d: %s", rc, buf_str(&err));
    expect_counts(&f, "file_versions", 10, 6, 1, 2, 1);
    expect_counts(&f, "metadata_backfill", 5, 3, 0, 1, 1);
    buf text = BUF_INIT;
    test_read_file(f.report, &text);
    assert_non_null(strstr(buf_str(&text), "\"nocolon\""));
    assert_non_null(strstr(buf_str(&text), "malformed"));
    buf_free(&text);
    buf_free(&out);
    buf_free(&err);
}

/* Difference: a version id containing a colon is parsed with the known
 * assetIds (the reference splits at the last colon and calls it an orphan). */
static void test_colon_in_version_id(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "colonver");
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT, t = BUF_INIT;
    const char *extra[] = {"--yes", "--duplicate-assets=skip", NULL};
    assert_int_equal(migrate(&f, extra, &out, &err), 0);
    table_name(&t, &f, "files-v2");
    test_dump_items(dynalite.url, buf_str(&t), NULL, &got);
    assert_non_null(strstr(buf_str(&got), "\"databaseId:assetId:assetVersionId\":{\"S\":\"db-alpha:x1111:2:rc\"}"));
    expect_counts(&f, "file_versions", 9, 7, 1, 0, 1);
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
    buf_free(&t);
}

/* with the difference: persistent UnprocessedItems are retried with
 * backoff until accepted: every item lands, nothing fails. The backfill's
 * updates are conditional, so a deleted row is never recreated. */
static void test_unprocessed_and_conditional_backfill(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT, t = BUF_INIT;
    test_fakeaws_reset(&fake);
    assert_int_equal(test_fakeaws_config(&fake, "{\"fault_rate\": 1, \"faults\": [\"unprocessed\"], "
                                                "\"fault_ops\": [\"BatchWriteItem\"]}"), 0);
    const char *extra[] = {"--yes", "--duplicate-assets=skip", NULL};
    int rc = migrate(&f, extra, &out, &err);
    test_fakeaws_config(&fake, "{\"fault_rate\": 0, \"fault_ops\": null}");
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_true(test_fakeaws_stat(&fake, "faults.unprocessed") >= 2);
    table_name(&t, &f, "files-v2");
    test_expect_items(dynalite.url, buf_str(&t), "tests/integration/vams/v25_expected_files.jsonl", "xdup");
    expect_counts(&f, "file_versions", 8, 6, 1, 0, 1);
    buf reqs = BUF_INIT;
    test_fakeaws_get(&fake, "/__requests", &reqs);
    assert_non_null(strstr(buf_str(&reqs), "attribute_exists(#pk)"));
    buf_free(&reqs);
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
    buf_free(&t);
}

/* The metadata rows got their databaseId:assetId, as in test_full_run. */
static void expect_backfilled(const fixture *f)
{
    buf got = BUF_INIT, t = BUF_INIT;
    table_name(&t, f, "metadata");
    test_dump_items(dynalite.url, buf_str(&t), NULL, &got);
    assert_non_null(strstr(buf_str(&got), "\"databaseId:assetId\":{\"S\":\"db-beta:xcolon:part\"}"));
    assert_non_null(strstr(buf_str(&got), "\"databaseId:assetId\":{\"S\":\"db-beta:x3333\"}"));
    table_name(&t, f, "versions-v2");
    test_expect_items(dynalite.url, buf_str(&t), "tests/integration/vams/v25_expected_versions.jsonl", "xdup");
    table_name(&t, f, "files-v2");
    test_expect_items(dynalite.url, buf_str(&t), "tests/integration/vams/v25_expected_files.jsonl", "xdup");
    json_object *doc = test_json_read(f->report);
    assert_int_equal(test_json_int(doc, "exit_code"), 0);
    assert_true(json_object_get_boolean(test_json_get(doc, "verification.ok")));
    json_object_put(doc);
    buf_free(&got);
    buf_free(&t);
}

/* The update-like backfill (plain code, conditional UpdateItem) under an
 * endpoint that stops answering, and with updates that fail:
 *  - a 2 s outage in the middle is waited out: exit 0, nothing failed;
 *  - with --max-outage 1, the run gives up: exit 3, one line, the state
 *    kept; --resume once it answers finishes: exit 0;
 *  - updates refused (500) fail their rows: exit 1; --resume while they
 *    still fail: exit 1 again, naming them; fixed: --resume updates
 *    exactly those rows, verifies, exit 0. */
static void test_backfill_outage_and_failures(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *run[] = {"--yes", "--duplicate-assets=skip", NULL};
    const char *resume[] = {"--yes", "--duplicate-assets=skip", "--resume", NULL};

    fixture a;
    make_fixture(&a, "");
    test_fakeaws_reset(&fake);
    assert_int_equal(test_fakeaws_config(&fake, "{\"outage_ops\": [\"UpdateItem\"], "
                                                "\"outage_after\": 2, \"outage_ms\": 2000}"), 0);
    int rc = migrate(&a, run, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_true(test_fakeaws_stat(&fake, "faults.outage") >= 1);
    assert_non_null(strstr(buf_str(&err), "waiting for 127.0.0.1:"));
    expect_counts(&a, "metadata_backfill", 4, 3, 0, 0, 1);
    expect_backfilled(&a);

    fixture b;
    make_fixture(&b, "");
    assert_int_equal(test_fakeaws_config(&fake, "{\"outage_ops\": [\"UpdateItem\"], "
                                                "\"outage_after\": 1, \"outage_ms\": 3000}"), 0);
    time_t began = time(NULL);
    const char *give_up[] = {"--yes", "--duplicate-assets=skip", "--max-outage", "1", NULL};
    assert_int_equal(migrate(&b, give_up, &out, &err), 3);
    assert_non_null(strstr(buf_str(&err), "mighost: giving up in phase metadata_backfill: 127.0.0.1:"));
    assert_null(strstr(buf_str(&err), "traceback"));
    json_object *doc = test_json_read(b.report);
    assert_int_equal(test_json_int(doc, "exit_code"), 3);
    json_object_put(doc);
    while (time(NULL) - began < 4) sleep(1);   /* the endpoint answers again */
    rc = migrate(&b, resume, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    expect_counts(&b, "metadata_backfill", 4, 3, 0, 0, 1);
    expect_backfilled(&b);

    fixture c;
    make_fixture(&c, "");
    assert_int_equal(test_fakeaws_config(&fake, "{\"fault_rate\": 1, \"faults\": [\"500\"], "
                                                "\"fault_ops\": [\"UpdateItem\"]}"), 0);
    const char *refused[] = {"--yes", "--duplicate-assets=skip", "--max-attempts", "1", NULL};
    assert_int_equal(migrate(&c, refused, &out, &err), 1);
    expect_counts(&c, "metadata_backfill", 4, 0, 0, 3, 1);
    const char *still[] = {"--yes", "--duplicate-assets=skip", "--max-attempts", "1", "--resume",
                           NULL};
    assert_int_equal(migrate(&c, still, &out, &err), 1);
    assert_non_null(strstr(buf_str(&err), "x3333"));
    assert_non_null(strstr(buf_str(&err), "InternalFailure"));
    /* A resumed run reads again only the 3 keys that failed (the scan's
     * checkpoint is past them), not the row that was already done. */
    expect_counts(&c, "metadata_backfill", 3, 0, 0, 3, 0);
    test_fakeaws_config(&fake, "{\"fault_rate\": 0, \"fault_ops\": null}");
    rc = migrate(&c, resume, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    /* Only the backfill and the verification ran again; the copies were done. */
    doc = test_json_read(c.report);
    assert_string_equal(json_object_get_string(test_json_get(test_json_phase(doc, "asset_versions"),
                                                             "status")), "skipped");
    json_object_put(doc);
    expect_counts(&c, "metadata_backfill", 3, 3, 0, 0, 0);
    expect_backfilled(&c);
    buf_free(&out);
    buf_free(&err);
}

/* The reference's config keys keep their meaning: dry_run: true is never
 * silently turned into a real run. */
static void test_config_dry_run_key(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf text = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
    test_read_file(f.config, &text);
    char *s = strstr(text.data, "\"dry_run\": false");
    memcpy(s, "\"dry_run\": true ", 16);
    test_write_file(f.config, buf_str(&text));
    const char *extra[] = {"--yes", NULL};
    assert_int_equal(migrate(&f, extra, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "\"dry_run\": true"));
    buf_free(&text);
    buf_free(&out);
    buf_free(&err);
}

/* The reference's "limit": 0 means no limit; a negative limit is refused. */
static void test_config_limit_zero(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf text = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
    test_read_file(f.config, &text);
    char *s = strstr(text.data, "\"limit\": null");
    memcpy(s, "\"limit\": -1  ", 13);
    test_write_file(f.config, buf_str(&text));
    const char *extra[] = {"--yes", "--duplicate-assets=skip", NULL};
    assert_int_equal(migrate(&f, extra, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "\"limit\" must be 0 (no limit) or more, not -1"));
    memcpy(s, "\"limit\": 0   ", 13);
    test_write_file(f.config, buf_str(&text));
    int rc = migrate(&f, extra, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    expect_counts(&f, "asset_versions", 7, 5, 1, 0, 1);
    expect_counts(&f, "file_versions", 8, 6, 1, 0, 1);
    buf t = BUF_INIT;
    table_name(&t, &f, "versions-v2");
    test_expect_items(dynalite.url, buf_str(&t), "tests/integration/vams/v25_expected_versions.jsonl", "xdup");
    buf_free(&t);
    buf_free(&text);
    buf_free(&out);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_run),
        cmocka_unit_test(test_duplicates_refused_then_all),
        cmocka_unit_test(test_archived_strip),
        cmocka_unit_test(test_dry_run),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_clear_v2),
        cmocka_unit_test(test_malformed_rows),
        cmocka_unit_test(test_colon_in_version_id),
        cmocka_unit_test(test_unprocessed_and_conditional_backfill),
        cmocka_unit_test(test_config_dry_run_key),
        cmocka_unit_test(test_config_limit_zero),
        cmocka_unit_test(test_backfill_outage_and_failures),
        cmocka_unit_test(test_stack_fills_tables),
        cmocka_unit_test(test_verify_finds_each_problem),
    };
    return cmocka_run_group_tests_name("vams-v2.4-to-v2.5", tests, setup, teardown);
}
