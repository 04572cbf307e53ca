/* test_vams_v23.c - vams/v2.2-to-v2.3 and vams/reindex against the Lambda
 * endpoint of tests/fakeaws, which checks each request's signature and
 * records it. The payloads are compared with the reference utility's
 * construction (reindex_utility.py: a dict of operation, dry_run and
 * clear_indexes, plus limit when one is given, through json.dumps) for every
 * --operation and option combination; the function named vams-reindexer-*
 * answers as the deployed reindexer does, from the payload it gets. */
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

static test_server fake;
static char *tmp;

/* The payload the reference sends: json.dumps({'operation': op, 'dry_run':
 * dry, 'clear_indexes': clear} [+ 'limit': limit when not None]). */
static void reference_payload(buf *out, const char *op, int dry, int clear, long limit)
{
    buf_reset(out);
    buf_printf(out, "{\"operation\": \"%s\", \"dry_run\": %s, \"clear_indexes\": %s", op,
               dry ? "true" : "false", clear ? "true" : "false");
    if (limit >= 0) buf_printf(out, ", \"limit\": %ld", limit);
    buf_printf(out, "}");
}

/* Each Lambda invocation fakeaws recorded since the last reset, one line
 * each: "TYPE FUNCTION STATUS PAYLOAD"; every signature must be valid. */
static void invocations(buf *out)
{
    buf text = BUF_INIT;
    assert_int_equal(test_fakeaws_get(&fake, "/__requests", &text), 200);
    json_object *log = json_tokener_parse(buf_str(&text));
    assert_non_null(log);
    buf_reset(out);
    for (size_t i = 0; i < json_object_array_length(log); i++) {
        json_object *r = json_object_array_get_idx(log, i), *v;
        if (strcmp(json_object_get_string(test_json_get(r, "target")), "lambda:Invoke") != 0) continue;
        assert_true(json_object_get_boolean(test_json_get(r, "signature_ok")));
        const char *type = json_object_object_get_ex(test_json_get(r, "headers"), "x-amz-invocation-type", &v)
                               ? json_object_get_string(v) : "-";
        const char *path = json_object_get_string(test_json_get(r, "path"));
        const char *fn = strstr(path, "/functions/") ? strstr(path, "/functions/") + 11 : path;
        int fn_len = (int)(strstr(fn, "/invocations") ? strstr(fn, "/invocations") - fn : (long)strlen(fn));
        buf_printf(out, "%s %.*s %d %s\n", type, fn_len, fn, json_object_get_int(test_json_get(r, "status")),
                   json_object_get_string(test_json_get(r, "body")));
    }
    json_object_put(log);
    buf_free(&text);
}

/* mighost run NAME --report REPORT --state-dir ... ARGS... through fakeaws. */
static int reindex(const char *name, const char *const *extra, const char *report, buf *out, buf *err)
{
    char state[512];
    snprintf(state, sizeof state, "%s/state", tmp);
    const char *base[] = {"run", name, "--report", report, "--state-dir", state, NULL};
    const char *args[40];
    assert_true(test_args_join(args, sizeof args / sizeof *args, base, extra) >= 0);
    assert_int_equal(test_fakeaws_reset(&fake), 0);
    return test_mighost(fake.url, args, out, err);
}

static int setup(void **state)
{
    (void)state;
    tmp = test_tempdir();
    return tmp && test_fakeaws_start(&fake, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    test_server_stop(&fake);
    test_rmtree(tmp);
    free(tmp);
    return 0;
}

/* Every --operation with every combination of the reference's options
 * (--dry-run as --reindexer-dry-run, --clear-indexes, --limit): a DryRun
 * check, then one RequestResponse invocation with the reference's payload. */
static void test_payload_per_combination(void **state)
{
    (void)state;
    static const char *const ops[] = {"assets", "files", "both"};
    char report[512];
    snprintf(report, sizeof report, "%s/combinations.json", tmp);
    buf out = BUF_INIT, err = BUF_INIT, calls = BUF_INIT, want = BUF_INIT, payload = BUF_INIT;
    for (int op = 0; op < 3; op++)
        for (int dry = 0; dry < 2; dry++)
            for (int clear = 0; clear < 2; clear++)
                for (int lim = 0; lim < 2; lim++) {
                    const char *args[16] = {"--function-name", "vams-reindexer-a", "--operation", ops[op],
                                            "--yes"};
                    int n = 5;
                    if (dry) args[n++] = "--reindexer-dry-run";
                    if (clear) args[n++] = "--clear-indexes";
                    if (lim) { args[n++] = "--limit"; args[n++] = "25"; }
                    args[n] = NULL;
                    int rc = reindex("vams/v2.2-to-v2.3", args, report, &out, &err);
                    if (rc != 0) fail_msg("%s dry=%d clear=%d limit=%d: exit %d: %s", ops[op], dry, clear,
                                          lim, rc, buf_str(&err));
                    reference_payload(&payload, ops[op], dry, clear, lim ? 25 : -1);
                    buf_reset(&want);
                    buf_printf(&want, "DryRun vams-reindexer-a 204 \nRequestResponse vams-reindexer-a 200 %s\n",
                               buf_str(&payload));
                    invocations(&calls);
                    assert_string_equal(buf_str(&calls), buf_str(&want));
                }
    /* --async: the same payload, asynchronously (202). */
    const char *async[] = {"--function-name", "vams-reindexer-a", "--operation", "files", "--async", "--yes", NULL};
    assert_int_equal(reindex("vams/v2.2-to-v2.3", async, report, &out, &err), 0);
    reference_payload(&payload, "files", 0, 0, -1);
    buf_reset(&want);
    buf_printf(&want, "DryRun vams-reindexer-a 204 \nEvent vams-reindexer-a 202 %s\n", buf_str(&payload));
    invocations(&calls);
    assert_string_equal(buf_str(&calls), buf_str(&want));
    buf_free(&out);
    buf_free(&err);
    buf_free(&calls);
    buf_free(&want);
    buf_free(&payload);
}

/* The reference's config file as it ships (the template, its function name
 * filled in), and one with every value set; a flag overrides the file. */
static void test_config_file(void **state)
{
    (void)state;
    char config[512], report[512];
    snprintf(config, sizeof config, "%s/v2.2_to_v2.3_migration_config.json", tmp);
    snprintf(report, sizeof report, "%s/config.json", tmp);
    test_write_file(config,
        "{\n    \"comments\": \"Configuration for VAMS v2.2 to v2.3 migration - Lambda-based reindexing\",\n"
        "    \"_comment_lambda\": \"Lambda function configuration (required)\",\n"
        "    \"function_name\": \"vams-reindexer-cfg\",\n"
        "    \"_comment_operation\": \"Reindexing operation settings\",\n"
        "    \"operation\": \"both\",\n    \"clear_indexes\": true,\n    \"dry_run\": false,\n"
        "    \"limit\": null,\n    \"_comment_aws\": \"AWS configuration (optional)\",\n"
        "    \"aws_profile\": null,\n    \"aws_region\": null,\n    \"_comment_logging\": \"Logging settings\",\n"
        "    \"log_level\": \"INFO\",\n    \"_comment_instructions\": \"How to use this configuration file\",\n"
        "    \"_instructions\": [\"1. Get the Lambda function name from CDK outputs:\"]\n}\n");
    buf out = BUF_INIT, err = BUF_INIT, calls = BUF_INIT, payload = BUF_INIT, want = BUF_INIT;
    const char *args[] = {"--config", config, "--yes", NULL};
    int rc = reindex("vams/v2.2-to-v2.3", args, report, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    reference_payload(&payload, "both", 0, 1, -1);
    buf_printf(&want, "DryRun vams-reindexer-cfg 204 \nRequestResponse vams-reindexer-cfg 200 %s\n", buf_str(&payload));
    invocations(&calls);
    assert_string_equal(buf_str(&calls), buf_str(&want));

    test_write_file(config, "{\"function_name\": \"vams-reindexer-cfg\", \"operation\": \"files\", "
                            "\"clear_indexes\": false, \"dry_run\": true, \"limit\": 50, "
                            "\"aws_region\": \"" TEST_REGION "\", \"log_level\": \"DEBUG\"}\n");
    rc = reindex("vams/v2.2-to-v2.3", args, report, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    reference_payload(&payload, "files", 1, 0, 50);
    buf_reset(&want);
    buf_printf(&want, "DryRun vams-reindexer-cfg 204 \nRequestResponse vams-reindexer-cfg 200 %s\n", buf_str(&payload));
    invocations(&calls);
    assert_string_equal(buf_str(&calls), buf_str(&want));
    /* A reindexer dry run: what it would reindex, nothing written. */
    json_object *doc, *p = test_json_read_phase(report, "reindex", &doc);
    assert_int_equal(test_json_int(p, "written"), 0);
    assert_int_equal(test_json_int(p, "notes.would_reindex"), 7);
    json_object_put(doc);

    const char *over[] = {"--config", config, "--operation", "assets", "--limit", "5", "--yes", NULL};
    assert_int_equal(reindex("vams/v2.2-to-v2.3", over, report, &out, &err), 0);
    reference_payload(&payload, "assets", 1, 0, 5);
    buf_reset(&want);
    buf_printf(&want, "DryRun vams-reindexer-cfg 204 \nRequestResponse vams-reindexer-cfg 200 %s\n", buf_str(&payload));
    invocations(&calls);
    assert_string_equal(buf_str(&calls), buf_str(&want));

    /* The template's placeholder name is refused before any call. */
    test_write_file(config, "{\"function_name\": \"YOUR_REINDEXER_LAMBDA_FUNCTION_NAME\"}\n");
    assert_int_equal(reindex("vams/v2.2-to-v2.3", args, report, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "function_name is not set"));
    invocations(&calls);
    assert_string_equal(buf_str(&calls), "");
    buf_free(&out);
    buf_free(&err);
    buf_free(&calls);
    buf_free(&payload);
    buf_free(&want);
}

/* The reindexer's counts in the report and the summary. */
static void test_counts(void **state)
{
    (void)state;
    char report[512];
    snprintf(report, sizeof report, "%s/counts.json", tmp);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"--function-name", "vams-reindexer-c", "--clear-indexes", "--yes", NULL};
    int rc = reindex("vams/reindex", args, report, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    json_object *doc, *p = test_json_read_phase(report, "reindex", &doc);
    assert_int_equal(test_json_int(p, "scanned"), 12);   /* 5 assets and 7 files */
    assert_int_equal(test_json_int(p, "written"), 12);
    assert_int_equal(test_json_int(p, "failed.count"), 0);
    assert_int_equal(test_json_int(p, "notes.results.files.buckets_processed"), 1);
    assert_int_equal(test_json_int(p, "notes.results.clear_indexes.asset_index.deleted_count"), 5);
    json_object_put(doc);
    assert_non_null(strstr(buf_str(&err), "reindex                  done        scanned 12, written 12"));
    assert_non_null(strstr(buf_str(&err), "assets 5 of 5 reindexed (0 failed); files 7 of 7 reindexed "
                                          "(0 failed), 1 bucket(s), 9 object(s) scanned"));
    buf_free(&out);
    buf_free(&err);
}

/* Failures exit 1: a function error, a handler's statusCode 500 with an
 * error body, and items the reindexer reports as failed. */
static void test_failures(void **state)
{
    (void)state;
    char report[512];
    snprintf(report, sizeof report, "%s/failures.json", tmp);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *unhandled[] = {"--function-name", "fail-reindexer", "--yes", NULL};
    assert_int_equal(reindex("vams/v2.2-to-v2.3", unhandled, report, &out, &err), 1);
    assert_non_null(strstr(buf_str(&err), "the function failed (Unhandled)"));
    const char *body500[] = {"--function-name", "error500-reindexer", "--yes", NULL};
    assert_int_equal(reindex("vams/v2.2-to-v2.3", body500, report, &out, &err), 1);
    assert_non_null(strstr(buf_str(&err), "the reindexer answered 500: injected handler error"));

    assert_int_equal(test_fakeaws_config(&fake, "{\"reindexer_failed\": 2}"), 0);
    const char *items[] = {"--function-name", "vams-reindexer-f", "--yes", NULL};
    assert_int_equal(reindex("vams/v2.2-to-v2.3", items, report, &out, &err), 1);
    assert_int_equal(test_fakeaws_config(&fake, "{\"reindexer_failed\": 0}"), 0);
    json_object *doc, *p = test_json_read_phase(report, "reindex", &doc);
    assert_int_equal(test_json_int(p, "failed.count"), 4);
    assert_int_equal(test_json_int(p, "written"), 8);
    json_object_put(doc);
    assert_non_null(strstr(buf_str(&err), "not reindexed: injected failure 1"));

    /* A function that does not exist: exit 2 after the DryRun check alone. */
    const char *missing[] = {"--function-name", "missing-reindexer", "--yes", NULL};
    assert_int_equal(reindex("vams/v2.2-to-v2.3", missing, report, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "the reindexer function missing-reindexer cannot be invoked"));
    buf calls = BUF_INIT;
    invocations(&calls);
    assert_string_equal(buf_str(&calls), "DryRun missing-reindexer 404 \n");
    buf_free(&calls);
    buf_free(&out);
    buf_free(&err);
}

/* --dry-run invokes nothing but the DryRun check and shows the payload. */
static void test_dry_run(void **state)
{
    (void)state;
    char report[512];
    snprintf(report, sizeof report, "%s/dry.json", tmp);
    buf out = BUF_INIT, err = BUF_INIT, calls = BUF_INIT, payload = BUF_INIT;
    const char *args[] = {"--function-name", "vams-reindexer-d", "--operation", "assets", "--limit", "10",
                          "--dry-run", NULL};
    int rc = reindex("vams/v2.2-to-v2.3", args, report, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    invocations(&calls);
    assert_string_equal(buf_str(&calls), "DryRun vams-reindexer-d 204 \n");
    reference_payload(&payload, "assets", 0, 0, 10);
    json_object *doc, *p = test_json_read_phase(report, "reindex", &doc);
    assert_string_equal(json_object_get_string(test_json_get(p, "notes.payload")), buf_str(&payload));
    json_object_put(doc);
    assert_non_null(strstr(buf_str(&err), buf_str(&payload)));
    buf_free(&calls);
    buf_free(&payload);
    buf_free(&out);
    buf_free(&err);
}

/* --stack NAME: the function from the stack output ReindexerFunctionNameOutput. */
static void test_stack(void **state)
{
    (void)state;
    char report[512];
    snprintf(report, sizeof report, "%s/stack.json", tmp);
    assert_int_equal(test_fakeaws_config(&fake, "{\"stacks\": {\"vams-prod\": {\"ReindexerFunctionNameOutput\": "
                                                "\"vams-reindexer-prod\", \"OtherOutput\": \"x\"}}}"), 0);
    buf out = BUF_INIT, err = BUF_INIT, calls = BUF_INIT;
    const char *args[] = {"--stack", "vams-prod", "--yes", NULL};
    int rc = reindex("vams/reindex", args, report, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    invocations(&calls);
    assert_string_equal(buf_str(&calls), "DryRun vams-reindexer-prod 204 \nRequestResponse vams-reindexer-prod 200 "
                                         "{\"operation\": \"both\", \"dry_run\": false, \"clear_indexes\": false}\n");
    const char *unknown[] = {"--stack", "no-such-stack", "--yes", NULL};
    assert_int_equal(reindex("vams/reindex", unknown, report, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "no-such-stack"));
    buf_free(&calls);
    buf_free(&out);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_payload_per_combination),
        cmocka_unit_test(test_config_file),
        cmocka_unit_test(test_counts),
        cmocka_unit_test(test_failures),
        cmocka_unit_test(test_dry_run),
        cmocka_unit_test(test_stack),
    };
    return cmocka_run_group_tests_name("vams-v2.2-to-v2.3", tests, setup, teardown);
}
