/* test_lua_dynamodb.c - scripts against dynalite (and the fault-injecting
 * endpoint in front of it): exact round trips, parallel scans, the batch
 * writer under faults, dry-runs that send no write. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

static test_server dynalite, fake;

/* Runs `mighost run` with fake keys against `endpoint`. */
static int run_script(const char *endpoint, const char *const *args, buf *out, buf *err)
{
    const char *argv[24] = {test_mighost_path(), "run", "--endpoint-url", endpoint};
    int n = 4;
    for (; *args && n < 23; args++) argv[n++] = *args;
    argv[n] = NULL;
    const char *env[] = {"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=test-secret",
                         "AWS_REGION=us-east-1", "AWS_EC2_METADATA_DISABLED=true", NULL};
    int rc = test_run(argv, env, test_aws_env_unset, NULL, out, err);
    if (rc != 0) fprintf(stderr, "script stdout:\n%s\nstderr:\n%s\n", buf_str(out), buf_str(err));
    return rc;
}

static int setup(void **state)
{
    (void)state;
    return test_dynalite_start(&dynalite);
}

static int teardown(void **state)
{
    (void)state;
    test_server_stop(&fake);
    test_server_stop(&dynalite);
    return 0;
}

static void test_roundtrip_corpus(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"tests/integration/lua/roundtrip.lua", "roundtrip", NULL};
    assert_int_equal(run_script(dynalite.url, args, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "ok\tevery-type"));
    assert_non_null(strstr(buf_str(&out), "ok\tunicode-\xc3\xa9"));
    assert_non_null(strstr(buf_str(&out), "ok\tbig ("));
    assert_non_null(strstr(buf_str(&out), "refused\tcannot be empty"));
    assert_non_null(strstr(buf_str(&out), "refused\toversized: ValidationException"));
    buf_free(&out);
    buf_free(&err);
}

/* Random items (seeded) through dynalite: equal, and byte-identical when
 * re-encoded from the server's answer. */
static void test_random_items_roundtrip(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"tests/integration/lua/random_items.lua", "random", "500", "42", NULL};
    assert_int_equal(run_script(dynalite.url, args, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "random items round-tripped:\t500"));
    buf_free(&out);
    buf_free(&err);
}

/* get/put/update/delete with conditions, names, values and ReturnValues;
 * query on the table and an index; batch_get over two requests; errors as
 * values; and the dry-run's validation against the key schema. */
static void test_api_and_dry_run_validation(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"tests/integration/lua/api.lua", "api", NULL};
    assert_int_equal(run_script(dynalite.url, args, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "condition failed as a value"));
    assert_non_null(strstr(buf_str(&out), "batch_get\t30"));
    assert_non_null(strstr(buf_str(&out), "lean items ok"));
    assert_non_null(strstr(buf_str(&out), "stats ok"));
    const char *dry[] = {"--dry-run", "tests/integration/lua/api.lua", "api", NULL};
    assert_int_equal(run_script(dynalite.url, dry, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "dry-run validated and recorded\t4"));
    buf_free(&out);
    buf_free(&err);
}

/* mighost.sync (no AWS call): bounded loops, errors, single flight, the
 * token bucket; the script raises on the first wrong answer. */
static void test_sync_primitives(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"tests/integration/lua/sync.lua", NULL};
    assert_int_equal(run_script(dynalite.url, args, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "each: 200 values once each, at most 7 at once"));
    assert_non_null(strstr(buf_str(&out), "once_per_key: one fetch per key, failures retried"));
    assert_non_null(strstr(buf_str(&out), "sync: ok"));
    buf_free(&out);
    buf_free(&err);
}

static void test_parallel_scan_exactly_once(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"tests/integration/lua/scan_segments.lua", "segments", "3000", NULL};
    assert_int_equal(run_script(dynalite.url, args, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "segments=1 items=3000"));
    assert_non_null(strstr(buf_str(&out), "segments=4 items=3000"));
    assert_non_null(strstr(buf_str(&out), "segments=16 items=3000"));
    assert_non_null(strstr(buf_str(&out), "count\t3000"));
    buf_free(&out);
    buf_free(&err);
}

static void create_table(const char *name)
{
    buf out = BUF_INIT, err = BUF_INIT, body = BUF_INIT;
    buf_printf(&body, "{\"TableName\":\"%s\",\"AttributeDefinitions\":[{\"AttributeName\":\"pk\","
                      "\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"pk\","
                      "\"KeyType\":\"HASH\"}],\"BillingMode\":\"PAY_PER_REQUEST\"}", name);
    const char *argv[] = {test_mighost_path(), "call", "--endpoint-url", dynalite.url, "dynamodb",
                          "CreateTable", buf_str(&body), NULL};
    const char *env[] = {"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=test-secret",
                         "AWS_REGION=us-east-1", NULL};
    assert_int_equal(test_run(argv, env, test_aws_env_unset, NULL, &out, &err), 0);
    buf_free(&out);
    buf_free(&err);
    buf_free(&body);
}

static void test_writer_under_faults(void **state)
{
    (void)state;
    const char *n = getenv("MIGHOST_TEST_WRITER_ITEMS") ? getenv("MIGHOST_TEST_WRITER_ITEMS")
                                                         : "100000";
    create_table("writer");
    const char *fargs[] = {"--upstream", dynalite.url, "--fault-rate", "0.2", "--seed", "11",
                           "--faults", "500,503,throttle,drop,unprocessed", NULL};
    assert_int_equal(test_fakeaws_start(&fake, fargs), 0);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"tests/integration/lua/writer_faults.lua", "writer", n, NULL};
    assert_int_equal(run_script(fake.url, args, &out, &err), 0);
    printf("%s", buf_str(&out));
    assert_true(test_fakeaws_stat(&fake, "faults.unprocessed") > 0);
    assert_true(test_fakeaws_stat(&fake, "faults.throttle") > 0);
    assert_true(test_fakeaws_stat(&fake, "faults.500") > 0);
    assert_non_null(strstr(buf_str(&out), "failed=0"));
    /* Every key exactly once, with the value of its last write. */
    const char *vargs[] = {"tests/integration/lua/verify_table.lua", "writer", n, NULL};
    assert_int_equal(run_script(dynalite.url, vargs, &out, &err), 0);
    buf want = BUF_INIT;
    buf_printf(&want, "verified\t%s", n);
    assert_non_null(strstr(buf_str(&out), buf_str(&want)));
    buf_free(&want);
    test_server_stop(&fake);
    buf_free(&out);
    buf_free(&err);
}

static long count_lines(const char *path)
{
    buf text = BUF_INIT;
    long n = 0;
    if (test_read_file(path, &text) == 0)
        for (size_t i = 0; i < text.len; i++) n += text.data[i] == '\n';
    buf_free(&text);
    return n;
}

static void test_dry_run_sends_no_write(void **state)
{
    (void)state;
    create_table("dry_src");
    create_table("dry_dst");
    /* Seed the source straight into dynalite. */
    buf out = BUF_INIT, err = BUF_INIT;
    const char *seed[] = {"tests/integration/lua/scan_segments.lua", "dry_src0", "10", NULL};
    (void)seed;
    const char *code = "local ddb = require 'mighost.dynamodb'\n"
                       "local w = ddb.writer{table = 'dry_src'}\n"
                       "for i = 1, 500 do w:put{pk = {S = 'p' .. i}, n = {N = tostring(i)}} end\n"
                       "assert(w:flush().put == 500)\n";
    const char *argv[] = {test_mighost_path(), "eval", "--endpoint-url", dynalite.url, code, NULL};
    const char *env[] = {"AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=test-secret",
                         "AWS_REGION=us-east-1", NULL};
    assert_int_equal(test_run(argv, env, test_aws_env_unset, NULL, &out, &err), 0);

    assert_int_equal(test_fakeaws_start(&fake, (const char *const[]){"--upstream", dynalite.url,
                                                                      NULL}), 0);
    char *dir = test_tempdir();
    char *plan = test_path_join(dir, "plan.jsonl");
    const char *args[] = {"--dry-run", "--plan", plan, "tests/integration/lua/copy.lua", "dry_src",
                          "dry_dst", NULL};
    assert_int_equal(run_script(fake.url, args, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "scanned=500 put=500 failed=0 dry_run=true planned=500"));
    assert_non_null(strstr(buf_str(&out), "generic write refused"));
    /* Reads reached the server, writes did not. */
    assert_true(test_fakeaws_stat(&fake, "by_target.DynamoDB_20120810.Scan") > 0);
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    assert_int_equal(test_fakeaws_stat(&fake, "by_target.DynamoDB_20120810.BatchWriteItem"), 0);
    assert_int_equal(count_lines(plan), 500);
    buf line = BUF_INIT;
    test_read_file(plan, &line);
    assert_non_null(strstr(buf_str(&line), "{\"op\":\"PutItem\",\"table\":\"dry_dst\",\"request\":"));
    assert_non_null(strstr(buf_str(&line), "\"copied\":{\"BOOL\":true}"));
    buf_free(&line);

    /* The same script for real writes what the dry-run planned. */
    const char *real[] = {"tests/integration/lua/copy.lua", "dry_src", "dry_dst", NULL};
    assert_int_equal(run_script(fake.url, real, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "scanned=500 put=500 failed=0 dry_run=false"));
    assert_true(test_fakeaws_stat(&fake, "writes_forwarded") > 0);
    test_server_stop(&fake);
    test_rmtree(dir);
    free(plan);
    free(dir);
    buf_free(&out);
    buf_free(&err);
}

static void test_script_errors(void **state)
{
    (void)state;
    char *dir = test_tempdir();
    char *path = test_path_join(dir, "bad.lua");
    test_write_file(path, "local x = 1\n\nlocal y = nil + x\n");
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {path, NULL};
    const char *argv[] = {test_mighost_path(), "run", path, NULL};
    (void)args;
    assert_int_equal(test_run(argv, NULL, test_aws_env_unset, NULL, &out, &err), 4);
    buf want = BUF_INIT;
    buf_printf(&want, "%s:3: attempt to perform arithmetic on a nil value", path);
    assert_non_null(strstr(buf_str(&err), buf_str(&want)));
    assert_non_null(strstr(buf_str(&err), "stack traceback"));

    /* An error in a task reaches whoever waits for it. */
    const char *waited[] = {test_mighost_path(), "eval",
        "local mh = require 'mighost'\n"
        "local t = mh.spawn(function() mh.sleep(0.01); error('inner failure') end)\n"
        "local ok, e = pcall(t.wait, t)\n"
        "print(ok, e:match('inner failure') ~= nil)\n", NULL};
    assert_int_equal(test_run(waited, NULL, test_aws_env_unset, NULL, &out, &err), 0);
    assert_string_equal(buf_str(&out), "false\ttrue\n");

    /* ...and one nobody waits for fails the run. */
    const char *orphan[] = {test_mighost_path(), "eval",
        "local mh = require 'mighost'\n"
        "mh.spawn(function() mh.sleep(0.01); error('lost') end)\n", NULL};
    assert_int_equal(test_run(orphan, NULL, test_aws_env_unset, NULL, &out, &err), 4);
    assert_non_null(strstr(buf_str(&err), "(eval):2: lost"));

    /* Syntax errors, and binary chunks are refused. */
    test_write_file(path, "local = 1\n");
    assert_int_equal(test_run(argv, NULL, test_aws_env_unset, NULL, &out, &err), 4);
    buf_reset(&want);
    buf_printf(&want, "%s:1:", path);
    assert_non_null(strstr(buf_str(&err), buf_str(&want)));
    test_write_file(path, "\x1bLua");
    assert_int_equal(test_run(argv, NULL, test_aws_env_unset, NULL, &out, &err), 4);
    assert_non_null(strstr(buf_str(&err), "binary"));
    test_rmtree(dir);
    free(path);
    free(dir);
    buf_free(&want);
    buf_free(&out);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_corpus),
        cmocka_unit_test(test_random_items_roundtrip),
        cmocka_unit_test(test_api_and_dry_run_validation),
        cmocka_unit_test(test_sync_primitives),
        cmocka_unit_test(test_parallel_scan_exactly_once),
        cmocka_unit_test(test_dry_run_sends_no_write),
        cmocka_unit_test(test_writer_under_faults),
        cmocka_unit_test(test_script_errors),
    };
    return cmocka_run_group_tests_name("lua-dynamodb", tests, setup, teardown);
}
