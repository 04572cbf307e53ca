/* test_vams_v24.c - vams/v2.3-to-v2.4 on the reference dataset,
 * destination tables compared item by item with the items the reference
 * produced (tests/integration/vams/v24_expected_*.jsonl), with
 * the reference's clock and id source injected (MIGHOST_FAKE_CLOCK,
 * MIGHOST_FAKE_UUID). The Lambda reindexer is answered by tests/fakeaws,
 * which checks the signature and records the payload. Each deliberate
 * difference from the reference has its own assertion ("Difference:"). */
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

static test_server dynalite, fake;
static char *tmp;
static int fixtures;

#define VAMS "tests/integration/vams/"

typedef struct fixture {
    char prefix[32];
    char config[512];
    char report[512];
    char state[512];
} fixture;

/* A fresh copy of the dataset (variant: "" or "edge") under a new prefix,
 * and the reference's config file for it; `extra` adds config keys. */
static void make_fixture(fixture *f, const char *variant, const char *extra)
{
    snprintf(f->prefix, sizeof f->prefix, "v24-%d", ++fixtures);
    buf out = BUF_INIT, err = BUF_INIT, cfg = BUF_INIT;
    const char *args[] = {"run", VAMS "v24_fixture.lua", f->prefix, variant, NULL};
    if (test_mighost(dynalite.url, args, &out, &err) != 0) fail_msg("fixture: %s", buf_str(&err));
    buf_printf(&cfg, "{\"_comment_1\": \"the reference's config template, as is\",\n"
                     " \"auth_entities_table_name\": \"%1$s-auth\",\n"
                     " \"constraints_table_name\": \"%1$s-constraints\",\n"
                     " \"old_metadata_table_name\": \"%1$s-meta-old\",\n"
                     " \"new_metadata_table_name\": \"%1$s-meta-new\",\n"
                     " \"old_metadata_schema_table_name\": \"%1$s-schema-old\",\n"
                     " \"new_metadata_schema_table_name\": \"%1$s-schema-new\",\n"
                     " \"reindexer_function_name\": \"vams-reindexer\",\n"
                     " \"delete_old_data\": false, \"dry_run\": false, \"limit\": null,\n"
                     " \"aws_profile\": null, \"aws_region\": null, \"log_level\": \"INFO\"%2$s}\n",
               f->prefix, extra ? extra : ", \"clear_indexes_before_reindex\": false");
    snprintf(f->config, sizeof f->config, "%s/%s.json", tmp, f->prefix);
    snprintf(f->report, sizeof f->report, "%s/%s-report.json", tmp, f->prefix);
    snprintf(f->state, sizeof f->state, "%s/%s-state", tmp, f->prefix);
    test_write_file(f->config, buf_str(&cfg));
    buf_free(&cfg);
    buf_free(&out);
    buf_free(&err);
}

/* The reference run's clock (from 2025-01-15T12:00:00+00:00, 1 µs per read) and ids. */
static const char *const fake_env[] = {
    "AWS_ACCESS_KEY_ID=" TEST_ACCESS_KEY, "AWS_SECRET_ACCESS_KEY=" TEST_SECRET_KEY,
    "AWS_REGION=" TEST_REGION, "AWS_EC2_METADATA_DISABLED=true",
    "MIGHOST_FAKE_CLOCK=2025-01-15T12:00:00", "MIGHOST_FAKE_UUID=1", NULL};

/* mighost run vams/v2.3-to-v2.4 --config ... EXTRA... through fakeaws. */
static int migrate(fixture *f, const char *const *extra, buf *out, buf *err)
{
    const char *base[] = {"run", "vams/v2.3-to-v2.4", "--config", f->config, "--report", f->report,
                          "--state-dir", f->state, "--quiet",
                          "--no-history", NULL};   /* the tests count the writes that arrive */
    const char *args[40];
    assert_true(test_args_join(args, sizeof args / sizeof *args, base, extra) >= 0);
    return test_mighost_env(fake.url, fake_env, args, out, err);
}

/* A table of the fixture, in canonical form (sorted names, sorted lines). */
static void dump(const fixture *f, const char *suffix, buf *out)
{
    buf t = BUF_INIT;
    buf_printf(&t, "%s-%s", f->prefix, suffix);
    test_dump_items(dynalite.url, buf_str(&t), NULL, out);
    buf_free(&t);
}

/* The fixture's table is exactly the items of VAMS/file. */
static void expect_table(const fixture *f, const char *suffix, const char *file)
{
    buf t = BUF_INIT, path = BUF_INIT;
    buf_printf(&t, "%s-%s", f->prefix, suffix);
    buf_printf(&path, VAMS "%s", file);
    test_expect_items(dynalite.url, buf_str(&t), buf_str(&path), NULL);
    buf_free(&t);
    buf_free(&path);
}

/* written (or would_write), deleted (or would_delete), failed, skipped. */
static void expect_counts(const fixture *f, const char *phase, long scanned, long written,
                          long deleted, long failed)
{
    json_object *doc, *p = test_json_read_phase(f->report, phase, &doc), *x;
    int dry = json_object_object_get_ex(p, "would_write", &x);
    assert_int_equal(test_json_int(p, "scanned"), scanned);
    assert_int_equal(test_json_int(p, dry ? "would_write" : "written"), written);
    assert_int_equal(test_json_int(p, dry ? "would_delete" : "deleted"), deleted);
    assert_int_equal(test_json_int(p, "failed.count"), failed);
    json_object_put(doc);
}

static int verification_ok(const fixture *f)
{
    json_object *doc, *p = test_json_read_phase(f->report, "verify", &doc);
    int r = json_object_get_boolean(test_json_get(p, "verification.ok"));
    json_object_put(doc);
    return r;
}

/* The Lambda requests fakeaws recorded since the last reset, one line
 * each: "INVOCATION-TYPE STATUS BODY", all with valid signatures. */
static void lambda_calls(buf *out)
{
    buf text = BUF_INIT;
    assert_int_equal(test_fakeaws_get(&fake, "/__requests", &text), 200);
    json_object *doc = json_tokener_parse(buf_str(&text));
    assert_non_null(doc);
    buf_reset(out);
    for (size_t i = 0; i < json_object_array_length(doc); i++) {
        json_object *r = json_object_array_get_idx(doc, i), *svc, *h, *type, *body, *sig, *status;
        if (!json_object_object_get_ex(r, "service", &svc) || !json_object_get_string(svc) ||
            strcmp(json_object_get_string(svc), "lambda") != 0)
            continue;
        assert_true(json_object_object_get_ex(r, "signature_ok", &sig));
        assert_true(json_object_get_boolean(sig));
        json_object_object_get_ex(r, "headers", &h);
        const char *t = json_object_object_get_ex(h, "x-amz-invocation-type", &type)
                            ? json_object_get_string(type) : "-";
        json_object_object_get_ex(r, "body", &body);
        json_object_object_get_ex(r, "status", &status);
        buf_printf(out, "%s %d %s\n", t, json_object_get_int(status), json_object_get_string(body));
    }
    json_object_put(doc);
    buf_free(&text);
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

#define REF_PAYLOAD "{\"operation\": \"both\", \"dry_run\": false, \"clear_indexes\": false}"

/* the conversion facts (vams/v24_conversion.lua checks each row and
 * each deliberate difference on its own). */
static void test_conversion_facts(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"run", VAMS "v24_conversion.lua", NULL};
    int rc = test_mighost(NULL, args, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s%s", rc, buf_str(&out), buf_str(&err));
    assert_non_null(strstr(buf_str(&out), " passed, 0 failed"));
    buf_free(&out);
    buf_free(&err);
}

/* Run B with --reference-conversion: the three tables are exactly
 * the reference's, to the byte (JSON text, key order, escaping, timestamps
 * from the injected clock, ids); one RequestResponse invoke with the
 * reference's payload. */
static void test_run_b_reference_conversion(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "", NULL);
    buf out = BUF_INIT, err = BUF_INIT, calls = BUF_INIT;
    test_fakeaws_reset(&fake);
    const char *extra[] = {"--yes", "--reference-conversion", NULL};
    int rc = migrate(&f, extra, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    expect_table(&f, "constraints", "v24_expected_constraints.jsonl");
    expect_table(&f, "meta-new", "v24_expected_metadata.jsonl");
    expect_table(&f, "schema-new", "v24_expected_schemas.jsonl");
    expect_counts(&f, "constraints", 3, 4, 0, 0);
    expect_counts(&f, "metadata", 4, 6, 0, 0);
    expect_counts(&f, "schemas", 9, 2, 0, 0);
    assert_true(verification_ok(&f));
    lambda_calls(&calls);
    /* The invoke itself, after a DryRun pre-flight (Difference: the
     * function's existence is checked before anything is written). */
    assert_string_equal(buf_str(&calls), "DryRun 204 \nRequestResponse 200 " REF_PAYLOAD "\n");
    /* What the reference drops is listed in the report, not silently lost. */
    buf text = BUF_INIT;
    test_read_file(f.report, &text);
    assert_non_null(strstr(buf_str(&text), "non-string values dropped (--reference-conversion)"));
    assert_non_null(strstr(buf_str(&text), "\"attribute\":\"tags\""));
    buf_free(&text);
    buf_free(&calls);
    buf_free(&out);
    buf_free(&err);
}

/* Run B with the defaults: constraints exactly the reference's; metadata
 * and schemas exactly the reference's except the v2.3 data the reference
 * drops (see the migration's page in docs/). */
static void test_run_b_default(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "", NULL);
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT, want = BUF_INIT;
    const char *extra[] = {"--yes", NULL};
    int rc = migrate(&f, extra, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    expect_table(&f, "constraints", "v24_expected_constraints.jsonl");
    /* Difference: count (N), flag (BOOL) and tags (L) migrate as number,
     * boolean and json items; the other six items are the reference's. */
    dump(&f, "meta-new", &got);
    assert_int_equal(test_count_lines(buf_str(&got)), 9);
    assert_non_null(strstr(buf_str(&got), "\"databaseId:assetId:filePath\":{\"S\":\"db-alpha:x1111:/\"},"
        "\"metadataKey\":{\"S\":\"count\"},\"metadataValue\":{\"S\":\"5\"},\"metadataValueType\":{\"S\":\"number\"}"));
    assert_non_null(strstr(buf_str(&got), "\"metadataKey\":{\"S\":\"flag\"},\"metadataValue\":{\"S\":\"true\"},"
        "\"metadataValueType\":{\"S\":\"boolean\"}"));
    assert_non_null(strstr(buf_str(&got), "\"metadataKey\":{\"S\":\"tags\"},\"metadataValue\":{\"S\":\"[\\\"a\\\"]\"},"
        "\"metadataValueType\":{\"S\":\"json\"}"));
    test_dump_items(dynalite.url, "@" VAMS "v24_expected_metadata.jsonl", NULL, &want);
    for (char *save = NULL, *l = strtok_r(want.data, "\n", &save); l; l = strtok_r(NULL, "\n", &save))
        assert_non_null(strstr(buf_str(&got), l));
    /* Schemas: db-beta is the reference's; db-alpha differs only in
     * title's sequence (from the N sequenceNumber) and notes' dependsOn (an
     * L of S): the difference. */
    dump(&f, "schema-new", &got);
    test_dump_items(dynalite.url, "@" VAMS "v24_expected_schemas.jsonl", "db-alpha", &want);
    assert_non_null(strstr(buf_str(&got), buf_str(&want)));
    assert_non_null(strstr(buf_str(&got),
        "{\\\"metadataFieldKeyName\\\": \\\"notes\\\", \\\"metadataFieldValueType\\\": \\\"multiline_string\\\", "
        "\\\"required\\\": false, \\\"sequence\\\": 2, \\\"dependsOnFieldKeyName\\\": [\\\"title\\\"]}"));
    assert_non_null(strstr(buf_str(&got),
        "{\\\"metadataFieldKeyName\\\": \\\"title\\\", \\\"metadataFieldValueType\\\": \\\"string\\\", "
        "\\\"required\\\": true, \\\"sequence\\\": 1}]}"));
    assert_non_null(strstr(buf_str(&got), "\"metadataSchemaId\":{\"S\":\"00000000-0000-4000-8000-000000000001\"}"));
    assert_non_null(strstr(buf_str(&got), "\"dateCreated\":{\"S\":\"2025-01-15T12:00:00.000007+00:00\"}"));
    /* ...and the report lists them. */
    buf text = BUF_INIT;
    test_read_file(f.report, &text);
    assert_non_null(strstr(buf_str(&text), "non-string values migrated (the reference drops them)"));
    assert_non_null(strstr(buf_str(&text), "sequenceNumber (N)"));
    assert_non_null(strstr(buf_str(&text), "dependsOn (list of strings)"));
    /* Difference: skipped fields are listed by name with their reason. */
    assert_non_null(strstr(buf_str(&text), "\"field\":{\"S\":\"mystery\"}"));
    assert_non_null(strstr(buf_str(&text), "dataType 'color'"));
    buf_free(&text);
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
    buf_free(&want);
}

/* Run A: a dry-run changes nothing and invokes nothing; with
 * --delete-old-data it counts what it would delete. Difference: 6 field
 * records, not 8 (controlled-list and unknown types stay in v2.3), and the
 * dry-run reads the v2.4 tables to predict the real run's writes. */
static void test_run_a_dry_run(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "", NULL);
    buf out = BUF_INIT, err = BUF_INIT, before = BUF_INIT, after = BUF_INIT, calls = BUF_INIT;
    dump(&f, "auth", &before);
    test_fakeaws_reset(&fake);
    const char *dry[] = {"--dry-run", "--delete-old-data", NULL};
    int rc = migrate(&f, dry, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    lambda_calls(&calls);
    assert_string_equal(buf_str(&calls), "");
    expect_counts(&f, "constraints", 3, 4, 3, 0);
    expect_counts(&f, "metadata", 4, 9, 4, 0);
    expect_counts(&f, "schemas", 9, 2, 6, 0);
    dump(&f, "auth", &after);
    assert_string_equal(buf_str(&before), buf_str(&after));
    dump(&f, "constraints", &after);
    assert_string_equal(buf_str(&after), "");
    buf text = BUF_INIT;
    test_read_file(f.report, &text);
    assert_non_null(strstr(buf_str(&text), "\"payload\":\"{\\\"operation\\\": \\\"both\\\""));
    buf_free(&text);
    buf_free(&out);
    buf_free(&err);
    buf_free(&before);
    buf_free(&after);
    buf_free(&calls);
}

/* --stack alone names the six tables and the reindexer: VAMS publishes no
 * table outputs, so they come from the nested stacks' resources by
 * construct id (tests/integration/stacks/vams-v2.4.json says where each
 * name comes from). */
static void test_stack_fills_tables(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "", NULL);
    assert_int_equal(test_fakeaws_stacks(&fake, "tests/integration/stacks/vams-v2.4.json", f.prefix), 0);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"run", "vams/v2.3-to-v2.4", "--stack", "vams-core-prod", "--dry-run",
                          "--report", f.report, "--quiet", NULL};
    int rc = test_mighost_env(fake.url, fake_env, args, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    buf n[6] = {BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT};
    const char *suffix[] = {"auth", "constraints", "meta-old", "meta-new", "schema-old", "schema-new"};
    for (int i = 0; i < 6; i++) buf_printf(&n[i], "%s-%s", f.prefix, suffix[i]);
    const char *want[] = {"auth_table", buf_str(&n[0]), "constraints_table", buf_str(&n[1]),
                          "old_metadata_table", buf_str(&n[2]), "new_metadata_table", buf_str(&n[3]),
                          "old_schema_table", buf_str(&n[4]), "new_schema_table", buf_str(&n[5]),
                          "reindexer_function", "vams-reindexer", NULL};
    test_expect_stack_params(f.report, want);
    expect_counts(&f, "constraints", 3, 4, 0, 0);
    for (int i = 0; i < 6; i++) buf_free(&n[i]);
    buf_free(&out);
    buf_free(&err);
}

/* Run C, then Run D. Difference (W1, W2): a re-run writes
 * nothing: every item and its dateCreated and every schema id stay. */
static void test_rerun_then_cleanup(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "", NULL);
    buf out = BUF_INIT, err = BUF_INIT, b1 = BUF_INIT, b2 = BUF_INIT, b3 = BUF_INIT, got = BUF_INIT;
    const char *extra[] = {"--yes", NULL};
    assert_int_equal(migrate(&f, extra, &out, &err), 0);
    dump(&f, "constraints", &b1);
    dump(&f, "meta-new", &b2);
    dump(&f, "schema-new", &b3);
    test_fakeaws_reset(&fake);
    /* A later clock: anything rewritten would show it (--no-history: the
     * history's own PutItems would count). */
    const char *again[] = {"--yes", "--no-history", NULL};
    assert_int_equal(migrate(&f, again, &out, &err), 0);
    assert_int_equal(test_fakeaws_stat(&fake, "by_target.DynamoDB_20120810.PutItem"), 0);
    assert_int_equal(test_fakeaws_stat(&fake, "by_target.DynamoDB_20120810.DeleteItem"), 0);
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    dump(&f, "constraints", &got);
    assert_string_equal(buf_str(&got), buf_str(&b1));
    dump(&f, "meta-new", &got);
    assert_string_equal(buf_str(&got), buf_str(&b2));
    dump(&f, "schema-new", &got);
    assert_string_equal(buf_str(&got), buf_str(&b3));
    expect_counts(&f, "constraints", 3, 0, 0, 0);
    expect_counts(&f, "metadata", 4, 0, 0, 0);
    expect_counts(&f, "schemas", 9, 0, 0, 0);

    /* Run D: the same command with --delete-old-data is the cleanup step
     * (W7: the reference deletes no metadata here, and the wrong
     * constraints, W5). Deletes exactly the records whose items are all
     * there: the 3 constraints, the 4 metadata records, 6 field records;
     * controlled-list and unknown-type fields stay (W17). */
    test_fakeaws_reset(&fake);
    const char *cleanup[] = {"--yes", "--delete-old-data", "--skip-reindex", NULL};
    int rc = migrate(&f, cleanup, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    expect_counts(&f, "constraints", 3, 0, 3, 0);
    expect_counts(&f, "metadata", 4, 0, 4, 0);
    expect_counts(&f, "schemas", 9, 0, 6, 0);
    assert_true(verification_ok(&f));
    dump(&f, "auth", &got);
    assert_int_equal(test_count_lines(buf_str(&got)), 2);           /* the two non-constraint items */
    assert_non_null(strstr(buf_str(&got), "legacy#c-x"));
    dump(&f, "meta-old", &got);
    assert_string_equal(buf_str(&got), "");
    dump(&f, "schema-old", &got);
    assert_int_equal(test_count_lines(buf_str(&got)), 3);
    assert_non_null(strstr(buf_str(&got), "\"legacyList\""));
    assert_non_null(strstr(buf_str(&got), "\"mystery\""));
    assert_non_null(strstr(buf_str(&got), "\"onlyList\""));
    dump(&f, "constraints", &got);
    assert_string_equal(buf_str(&got), buf_str(&b1));
    buf calls = BUF_INIT;
    lambda_calls(&calls);
    assert_string_equal(buf_str(&calls), "");
    buf_free(&calls);
    buf_free(&out);
    buf_free(&err);
    buf_free(&b1);
    buf_free(&b2);
    buf_free(&b3);
    buf_free(&got);
}

/* Run E: fresh data, --delete-old-data, clear_indexes_before_reindex. */
static void test_run_e(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "", ", \"clear_indexes_before_reindex\": true");
    buf out = BUF_INIT, err = BUF_INIT, calls = BUF_INIT, got = BUF_INIT;
    test_fakeaws_reset(&fake);
    const char *extra[] = {"--yes", "--delete-old-data", "--reference-conversion", NULL};
    int rc = migrate(&f, extra, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    expect_table(&f, "constraints", "v24_expected_constraints.jsonl");
    expect_counts(&f, "constraints", 3, 4, 3, 0);
    expect_counts(&f, "metadata", 4, 6, 4, 0);
    /* Difference (W17): 6 field records deleted, legacyList and mystery stay. */
    expect_counts(&f, "schemas", 9, 2, 6, 0);
    dump(&f, "auth", &got);
    assert_int_equal(test_count_lines(buf_str(&got)), 2);
    lambda_calls(&calls);
    assert_non_null(strstr(buf_str(&calls),
        "RequestResponse 200 {\"operation\": \"both\", \"dry_run\": false, \"clear_indexes\": true}\n"));
    assert_true(verification_ok(&f));
    buf_free(&out);
    buf_free(&err);
    buf_free(&calls);
    buf_free(&got);
}

/* Run F. Difference (W13): --limit 2 on a real run is refused, as it
 * would write a truncated schema; nothing is written or invoked. A dry-run
 * may use it; --reindex-limit sets the payload's limit on its own. */
static void test_run_f_limit(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "", NULL);
    buf out = BUF_INIT, err = BUF_INIT, calls = BUF_INIT;
    test_fakeaws_reset(&fake);
    const char *real[] = {"--yes", "--limit", "2", NULL};
    assert_int_equal(migrate(&f, real, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "would truncate metadata schemas"));
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    lambda_calls(&calls);
    assert_string_equal(buf_str(&calls), "");
    const char *dry[] = {"--dry-run", "--limit", "2", NULL};
    assert_int_equal(migrate(&f, dry, &out, &err), 0);
    expect_counts(&f, "constraints", 2, 2, 0, 0);
    /* Limited metadata scan: the two db-alpha records, as the reference. */
    expect_counts(&f, "metadata", 2, 5, 0, 0);
    buf text = BUF_INIT;
    test_read_file(f.report, &text);
    assert_non_null(strstr(buf_str(&text), "\\\"clear_indexes\\\": false, \\\"limit\\\": 2}"));
    buf_free(&text);
    test_fakeaws_reset(&fake);
    const char *rl[] = {"--yes", "--reindex-limit", "2", NULL};
    assert_int_equal(migrate(&f, rl, &out, &err), 0);
    lambda_calls(&calls);
    assert_non_null(strstr(buf_str(&calls),
        "RequestResponse 200 {\"operation\": \"both\", \"dry_run\": false, \"clear_indexes\": false, \"limit\": 2}\n"));
    buf_free(&out);
    buf_free(&err);
    buf_free(&calls);
}

/* Difference (W25, W26): a function error, an error body and a timeout are
 * failures (exit 1), and the reindexer is invoked exactly once. */
static void test_reindex_outcomes(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "", NULL);
    buf out = BUF_INIT, err = BUF_INIT, calls = BUF_INIT;
    const char *first[] = {"--yes", "--skip-reindex", NULL};
    assert_int_equal(migrate(&f, first, &out, &err), 0);

    test_fakeaws_reset(&fake);
    const char *unhandled[] = {"--yes", "--reindexer-function", "fail-reindexer", NULL};
    assert_int_equal(migrate(&f, unhandled, &out, &err), 1);
    assert_non_null(strstr(buf_str(&err), "the function failed (Unhandled)"));

    const char *body500[] = {"--yes", "--reindexer-function", "error500-reindexer", NULL};
    assert_int_equal(migrate(&f, body500, &out, &err), 1);
    assert_non_null(strstr(buf_str(&err), "the reindexer answered 500: injected handler error"));

    const char *good[] = {"--yes", "--reindexer-function", "reindex-ok", NULL};
    assert_int_equal(migrate(&f, good, &out, &err), 0);
    buf text = BUF_INIT;
    test_read_file(f.report, &text);
    assert_non_null(strstr(buf_str(&text), "\"results\":{\"assets\":{\"failed\":0"));
    buf_free(&text);

    /* A reindex longer than the wait: one invocation, reported as a failure
     * that may still be running (the reference re-sent it 5 times). */
    test_fakeaws_reset(&fake);
    assert_int_equal(test_fakeaws_config(&fake, "{\"lambda_slow_ms\": 2500}"), 0);
    const char *slow[] = {"--yes", "--reindexer-function", "slow-reindexer", "--reindex-timeout", "1", NULL};
    assert_int_equal(migrate(&f, slow, &out, &err), 1);
    assert_non_null(strstr(buf_str(&err), "invoked once and may still be running"));
    lambda_calls(&calls);
    assert_int_equal(test_count_lines(buf_str(&calls)), 2);   /* the DryRun pre-flight and the one invoke */
    assert_non_null(strstr(buf_str(&calls), "DryRun 204"));

    /* Asynchronous: InvocationType Event, 202 is success. */
    test_fakeaws_reset(&fake);
    const char *event[] = {"--yes", "--reindex-invocation", "event", NULL};
    assert_int_equal(migrate(&f, event, &out, &err), 0);
    lambda_calls(&calls);
    assert_string_equal(buf_str(&calls), "DryRun 204 \nEvent 202 " REF_PAYLOAD "\n");

    /* A function that does not exist: refused before anything is written. */
    fixture g;
    make_fixture(&g, "", NULL);
    test_fakeaws_reset(&fake);
    const char *missing[] = {"--yes", "--reindexer-function", "missing-reindexer", NULL};
    assert_int_equal(migrate(&g, missing, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "nothing was written"));
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    buf_free(&out);
    buf_free(&err);
    buf_free(&calls);
}

/* edge rows, with --delete-old-data. Differences: a BOOL groupId
 * (W10) and an item over 400 KB fail their constraint alone, the run goes
 * on; a constraint without constraintId takes its id from sk (W11); "/x9"
 * and "/x9/" (one v2.4 key, different values) do not fail a batch (W9):
 * 29 of 30 records migrate and are deleted, the conflicting one stays,
 * listed, and verification fails (W6); a binary value keeps its record. */
static void test_edge_rows(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "edge", NULL);
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT;
    const char *extra[] = {"--yes", "--delete-old-data", NULL};
    int rc = migrate(&f, extra, &out, &err);
    if (rc != 1) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&err), "groupPermissions[1].groupId is a BOOL, not a string"));
    assert_non_null(strstr(buf_str(&err), "over DynamoDB's 400 KB limit"));
    expect_counts(&f, "constraints", 10, 9, 8, 2);
    expect_counts(&f, "metadata", 35, 39, 33, 0);
    dump(&f, "constraints", &got);
    assert_non_null(strstr(buf_str(&got), "\"constraintId\":{\"S\":\"c-noid\"}"));
    assert_non_null(strstr(buf_str(&got), "\"constraintId\":{\"S\":\"c-ok\"}"));
    assert_non_null(strstr(buf_str(&got), "\"constraintId\":{\"S\":\"cn#user#u\"}"));
    assert_null(strstr(buf_str(&got), "c-bool"));
    assert_null(strstr(buf_str(&got), "c-big"));
    dump(&f, "auth", &got);
    assert_non_null(strstr(buf_str(&got), "constraint#c-bool"));
    assert_non_null(strstr(buf_str(&got), "constraint#c-big"));
    assert_null(strstr(buf_str(&got), "constraint#c-ok"));
    dump(&f, "meta-old", &got);
    assert_int_equal(test_count_lines(buf_str(&got)), 2);
    assert_non_null(strstr(buf_str(&got), "\"bin\""));
    dump(&f, "meta-new", &got);
    assert_non_null(strstr(buf_str(&got), "\"databaseId:assetId:filePath\":{\"S\":\"db-c:x9:\"}"));
    assert_non_null(strstr(buf_str(&got), "\"S\":\"db-c:a27:/\""));
    assert_false(verification_ok(&f));
    buf text = BUF_INIT;
    test_read_file(f.report, &text);
    assert_non_null(strstr(buf_str(&text), "constraintId taken from sk (attribute missing)"));
    assert_non_null(strstr(buf_str(&text), "values with no v2.4 form (record kept in v2.3)"));
    assert_non_null(strstr(buf_str(&text), "another v2.3 record maps to the same v2.4 key"));
    buf_free(&text);
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
}

/* W8: UnprocessedItems of the deletes are retried until accepted. */
static void test_unprocessed_deletes(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "", NULL);
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT;
    test_fakeaws_reset(&fake);
    assert_int_equal(test_fakeaws_config(&fake, "{\"fault_rate\": 1, \"faults\": [\"unprocessed\"], "
                                                "\"fault_ops\": [\"BatchWriteItem\", \"BatchGetItem\"]}"), 0);
    const char *extra[] = {"--yes", "--delete-old-data", "--skip-reindex", NULL};
    int rc = migrate(&f, extra, &out, &err);
    test_fakeaws_config(&fake, "{\"fault_rate\": 0, \"fault_ops\": null}");
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_true(test_fakeaws_stat(&fake, "faults.unprocessed") >= 2);
    expect_counts(&f, "metadata", 4, 9, 4, 0);
    dump(&f, "meta-old", &got);
    assert_string_equal(buf_str(&got), "");
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
}

/* configuration rows and operator compatibility. */
static void test_config(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "", NULL);
    buf out = BUF_INIT, err = BUF_INIT, text = BUF_INIT;
    test_fakeaws_reset(&fake);
    /* An empty reindexer name: a clear error, no AWS call at all. */
    test_read_file(f.config, &text);
    char *s = strstr(text.data, "\"vams-reindexer\"");
    memmove(s + 2, s + 16, strlen(s + 16) + 1);
    s[1] = '"';
    test_write_file(f.config, buf_str(&text));
    const char *dry[] = {"--dry-run", NULL};
    assert_int_equal(migrate(&f, dry, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "reindexer_function_name is empty"));
    assert_int_equal(test_fakeaws_stat(&fake, "requests"), 0);
    /* Invalid JSON. */
    test_write_file(f.config, "{\"auth_entities_table_name\": ");
    assert_int_equal(migrate(&f, dry, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "not valid JSON"));
    /* --log-level: the reference's choices work, others are refused. */
    make_fixture(&f, "", NULL);
    const char *info[] = {"--dry-run", "--log-level", "INFO", NULL};
    assert_int_equal(migrate(&f, info, &out, &err), 0);
    const char *trace[] = {"--dry-run", "--log-level", "TRACE", NULL};
    assert_int_equal(migrate(&f, trace, &out, &err), 2);
    /* "dry_run": true in the config is never turned into a real run. */
    buf_reset(&text);
    test_read_file(f.config, &text);
    s = strstr(text.data, "\"dry_run\": false");
    memcpy(s, "\"dry_run\": true ", 16);
    test_write_file(f.config, buf_str(&text));
    const char *real[] = {"--yes", NULL};
    assert_int_equal(migrate(&f, real, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "\"dry_run\": true"));
    /* "limit": 0 is no limit (the reference's meaning); a negative one is refused. */
    memcpy(s, "\"dry_run\": false", 16);
    s = strstr(text.data, "\"limit\": null");
    memcpy(s, "\"limit\": -1  ", 13);
    test_write_file(f.config, buf_str(&text));
    assert_int_equal(migrate(&f, dry, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "\"limit\" must be 0 (no limit) or more, not -1"));
    buf_free(&text);
    buf_free(&out);
    buf_free(&err);
}

/* Option: --file-path-leading-slash keys file rows as the v2.4 service does. */
static void test_leading_slash(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "", NULL);
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT;
    const char *extra[] = {"--yes", "--skip-reindex", "--file-path-leading-slash", NULL};
    assert_int_equal(migrate(&f, extra, &out, &err), 0);
    dump(&f, "meta-new", &got);
    assert_non_null(strstr(buf_str(&got), "\"S\":\"db-alpha:x1111:/models/bridge.glb\""));
    assert_null(strstr(buf_str(&got), "\"S\":\"db-alpha:x1111:models/bridge.glb\""));
    assert_non_null(strstr(buf_str(&got), "\"S\":\"db-alpha:x1111:/\""));
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
}

/* An offline --source-dir dry-run on export files of the fixture plans
 * the same writes (and counts) as a dry-run against the server. */
static void test_offline_matches_online(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "edge", NULL);
    buf out = BUF_INIT, err = BUF_INIT, a = BUF_INIT, b = BUF_INIT, dir = BUF_INIT, t[6];
    buf_printf(&dir, "%s/%s-export", tmp, f.prefix);
    static const char *const suffix[] = {"auth", "constraints", "meta-old", "meta-new", "schema-old", "schema-new"};
    const char *names[7];
    for (int i = 0; i < 6; i++) {
        t[i] = (buf)BUF_INIT;
        buf_printf(&t[i], "%s-%s", f.prefix, suffix[i]);
        names[i] = buf_str(&t[i]);
    }
    names[6] = NULL;
    test_export_tables(dynalite.url, buf_str(&dir), names);
    /* Secondary indexes are known offline only from tables.json. */
    buf tables = BUF_INIT, path = BUF_INIT;
    buf_printf(&tables, "{\"%s-schema-new\": {\"hash\": \"metadataSchemaId\", \"range\": "
                        "\"databaseId:metadataEntityType\", \"indexes\": {\"DatabaseIdMetadataEntityTypeIndex\": "
                        "{\"hash\": \"databaseId:metadataEntityType\", \"range\": \"metadataSchemaId\"}}}}\n",
               f.prefix);
    buf_printf(&path, "%s/tables.json", buf_str(&dir));
    test_write_file(buf_str(&path), buf_str(&tables));
    char plan_a[600], plan_b[600], rep_b[600];
    snprintf(plan_a, sizeof plan_a, "%s/%s-A.jsonl", tmp, f.prefix);
    snprintf(plan_b, sizeof plan_b, "%s/%s-B.jsonl", tmp, f.prefix);
    snprintf(rep_b, sizeof rep_b, "%s/%s-B-report.json", tmp, f.prefix);
    const char *offline[] = {"run", "vams/v2.3-to-v2.4", "--source-dir", buf_str(&dir), "--plan", plan_a,
                             "--report", f.report, "--config", f.config, "--delete-old-data", "--quiet", NULL};
    int rc = test_mighost_env(NULL, fake_env, offline, &out, &err);
    if (rc != 1) fail_msg("offline: exit %d: %s", rc, buf_str(&err));   /* the two bad constraints */
    assert_non_null(strstr(buf_str(&err), "no AWS access"));
    const char *online[] = {"run", "vams/v2.3-to-v2.4", "--dry-run", "--plan", plan_b, "--report", rep_b,
                            "--config", f.config, "--delete-old-data", "--quiet", NULL};
    rc = test_mighost_env(dynalite.url, fake_env, online, &out, &err);
    if (rc != 1) fail_msg("online: exit %d: %s", rc, buf_str(&err));
    test_sorted_lines(plan_a, &a);
    test_sorted_lines(plan_b, &b);
    assert_non_null(strstr(buf_str(&a), "\"op\":\"PutItem\""));
    assert_non_null(strstr(buf_str(&a), "\"op\":\"DeleteItem\""));
    assert_non_null(strstr(buf_str(&a), "2025-01-15T12:00:00.0000"));
    assert_string_equal(buf_str(&a), buf_str(&b));
    expect_counts(&f, "constraints", 10, 9, 8, 2);
    expect_counts(&f, "metadata", 35, 39, 33, 0);
    expect_counts(&f, "schemas", 9, 2, 6, 0);
    for (int i = 0; i < 6; i++) buf_free(&t[i]);
    buf_free(&tables);
    buf_free(&path);
    buf_free(&dir);
    buf_free(&out);
    buf_free(&err);
    buf_free(&a);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conversion_facts),
        cmocka_unit_test(test_run_b_reference_conversion),
        cmocka_unit_test(test_run_b_default),
        cmocka_unit_test(test_run_a_dry_run),
        cmocka_unit_test(test_rerun_then_cleanup),
        cmocka_unit_test(test_run_e),
        cmocka_unit_test(test_run_f_limit),
        cmocka_unit_test(test_reindex_outcomes),
        cmocka_unit_test(test_edge_rows),
        cmocka_unit_test(test_unprocessed_deletes),
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_leading_slash),
        cmocka_unit_test(test_offline_matches_online),
        cmocka_unit_test(test_stack_fills_tables),
    };
    return cmocka_run_group_tests_name("vams-v2.3-to-v2.4", tests, setup, teardown);
}
