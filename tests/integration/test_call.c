/* test_call.c - `mighost call` against dynalite and the fake AWS endpoint. */
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

/* Only loopback and fake keys: the developer's AWS_* settings are removed
 * (test_aws_env_unset) and nothing may reach real AWS. */
static int run(const char *const *argv, const char *const *extra_env, buf *out, buf *err)
{
    static const char *const defaults[] = {
        "AWS_ACCESS_KEY_ID=AKIDTEST", "AWS_SECRET_ACCESS_KEY=test-secret", "AWS_REGION=us-east-1",
        "AWS_EC2_METADATA_DISABLED=true", "AWS_CONFIG_FILE=/nonexistent",
        "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", NULL};
    /* extra_env first; a default is added only if extra_env does not set it. */
    const char *env[32];
    int n = 0;
    for (const char *const *e = extra_env; e && *e && n < 16; e++) env[n++] = *e;
    for (const char *const *d = defaults; *d; d++) {
        size_t len = strcspn(*d, "=") + 1;
        int overridden = 0;
        for (const char *const *e = extra_env; e && *e; e++)
            if (strncmp(*e, *d, len) == 0) overridden = 1;
        if (!overridden) env[n++] = *d;
    }
    env[n] = NULL;
    buf_reset(out);
    buf_reset(err);
    return test_run(argv, env, test_aws_env_unset, NULL, out, err);
}

static int setup(void **state)
{
    (void)state;
    if (test_dynalite_start(&dynalite) != 0) return -1;
    if (test_fakeaws_start(&fake, (const char *const[]){"--cognito-users", "alice,bob", NULL}) != 0)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_server_stop(&fake);
    test_server_stop(&dynalite);
    return 0;
}

static void test_version_and_help(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *v[] = {test_mighost_path(), "--version", NULL};
    assert_int_equal(run(v, NULL, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "mighost "));
    const char *h[] = {test_mighost_path(), "--help", NULL};
    assert_int_equal(run(h, NULL, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "call SERVICE OPERATION"));
    const char *ch[] = {test_mighost_path(), "call", "--help", NULL};
    assert_int_equal(run(ch, NULL, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "--endpoint-url"));
    const char *bad[] = {test_mighost_path(), "frobnicate", NULL};
    assert_int_equal(run(bad, NULL, &out, &err), 2);
    buf_free(&out);
    buf_free(&err);
}

static void test_dynamodb_roundtrip(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *m = test_mighost_path(), *url = dynalite.url;
    const char *create[] = {m, "call", "--endpoint-url", url, "dynamodb", "CreateTable",
        "{\"TableName\":\"calls\",\"AttributeDefinitions\":[{\"AttributeName\":\"pk\","
        "\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"}],"
        "\"BillingMode\":\"PAY_PER_REQUEST\"}", NULL};
    assert_int_equal(run(create, NULL, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "\"TableName\":\"calls\""));

    const char *put[] = {m, "call", "--endpoint-url", url, "dynamodb", "PutItem",
        "{\"TableName\":\"calls\",\"Item\":{\"pk\":{\"S\":\"a:b\"},"
        "\"n\":{\"N\":\"12345678901234567890123456789012345678\"},\"s\":{\"S\":\"h\\u00e9llo\"}}}",
        NULL};
    assert_int_equal(run(put, NULL, &out, &err), 0);

    const char *get[] = {m, "call", "--endpoint-url", url, "dynamodb", "GetItem",
        "{\"TableName\":\"calls\",\"Key\":{\"pk\":{\"S\":\"a:b\"}}}", NULL};
    assert_int_equal(run(get, NULL, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "12345678901234567890123456789012345678"));
    assert_non_null(strstr(buf_str(&out), "h\xc3\xa9llo"));

    /* The same through AWS_ENDPOINT_URL_DYNAMODB and a request file. */
    char *dir = test_tempdir();
    buf path = BUF_INIT, at = BUF_INIT, envv = BUF_INIT;
    buf_printf(&path, "%s/scan.json", dir);
    test_write_file(buf_str(&path), "{\"TableName\":\"calls\",\"Select\":\"COUNT\"}");
    buf_printf(&at, "@%s", buf_str(&path));
    buf_printf(&envv, "AWS_ENDPOINT_URL_DYNAMODB=%s", url);
    const char *scan[] = {m, "call", "dynamodb", "Scan", buf_str(&at), NULL};
    const char *env[] = {buf_str(&envv), NULL};
    assert_int_equal(run(scan, env, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "\"Count\":1"));

    /* A missing table is an AWS error: exit 3, code and message on stderr. */
    const char *missing[] = {m, "call", "--endpoint-url", url, "dynamodb", "GetItem",
        "{\"TableName\":\"nope\",\"Key\":{\"pk\":{\"S\":\"a\"}}}", NULL};
    assert_int_equal(run(missing, NULL, &out, &err), 3);
    assert_non_null(strstr(buf_str(&err), "ResourceNotFoundException"));
    assert_non_null(strstr(buf_str(&err), "HTTP 400"));
    assert_non_null(strstr(buf_str(&err), "1 attempt"));
    test_rmtree(dir);
    free(dir);
    buf_free(&path);
    buf_free(&at);
    buf_free(&envv);
    buf_free(&out);
    buf_free(&err);
}

static void test_wrong_secret_is_rejected(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *m = test_mighost_path();
    const char *ok[] = {m, "call", "--endpoint-url", fake.url, "cognito-idp", "ListUsers",
                        "{\"UserPoolId\":\"us-east-1_test\"}", NULL};
    assert_int_equal(run(ok, NULL, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "alice"));

    const char *bad_env[] = {"AWS_SECRET_ACCESS_KEY=not-the-secret", NULL};
    assert_int_equal(run(ok, bad_env, &out, &err), 3);
    assert_non_null(strstr(buf_str(&err), "InvalidSignatureException"));
    assert_non_null(strstr(buf_str(&err), "HTTP 403"));
    assert_non_null(strstr(buf_str(&err), "hint: AWS rejected the credentials from environment"));
    assert_null(strstr(buf_str(&err), "not-the-secret"));
    assert_int_equal(out.len, 0);
    buf_free(&out);
    buf_free(&err);
}

static void test_lambda_invoke_by_arn(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *m = test_mighost_path();
    const char *inv[] = {m, "call", "--endpoint-url", fake.url, "lambda", "Invoke",
        "{\"FunctionName\":\"arn:aws:lambda:us-east-1:123456789012:function:reindex\","
        "\"Qualifier\":\"live\",\"Payload\":{\"clear\":true}}", NULL};
    assert_int_equal(run(inv, NULL, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "\"StatusCode\":200"));
    assert_non_null(strstr(buf_str(&out),
                           "\"function\":\"arn:aws:lambda:us-east-1:123456789012:function:reindex\""));
    assert_non_null(strstr(buf_str(&out), "\"payload\":{\"clear\":true}"));

    const char *async[] = {m, "call", "--endpoint-url", fake.url, "lambda", "Invoke",
        "{\"FunctionName\":\"reindex\",\"InvocationType\":\"Event\",\"Payload\":{}}", NULL};
    assert_int_equal(run(async, NULL, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "\"StatusCode\":202"));

    const char *failing[] = {m, "call", "--endpoint-url", fake.url, "lambda", "Invoke",
        "{\"FunctionName\":\"fail-reindex\",\"Payload\":{}}", NULL};
    assert_int_equal(run(failing, NULL, &out, &err), 3);
    assert_non_null(strstr(buf_str(&out), "\"FunctionError\":\"Unhandled\""));
    assert_non_null(strstr(buf_str(&err), "FunctionError"));
    buf_free(&out);
    buf_free(&err);
}

static void test_ecs_and_sts(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *m = test_mighost_path();
    const char *run_task[] = {m, "call", "--endpoint-url", fake.url, "ecs", "RunTask",
        "{\"cluster\":\"embed\",\"taskDefinition\":\"embed:1\",\"launchType\":\"FARGATE\"}", NULL};
    assert_int_equal(run(run_task, NULL, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "arn:aws:ecs:us-east-1:123456789012:task/embed/"));
    const char *who[] = {m, "call", "--endpoint-url", fake.url, "sts", "GetCallerIdentity", NULL};
    assert_int_equal(run(who, NULL, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "<GetCallerIdentityResponse"));
    buf_free(&out);
    buf_free(&err);
}

static void test_usage_errors(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *m = test_mighost_path();
    const char *bad_json[] = {m, "call", "--endpoint-url", dynalite.url, "dynamodb",
                              "ListTables", "{nope", NULL};
    assert_int_equal(run(bad_json, NULL, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "not valid JSON"));
    const char *bad_svc[] = {m, "call", "s4", "List", NULL};
    assert_int_equal(run(bad_svc, NULL, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "unknown service"));
    const char *remote_http[] = {m, "call", "--endpoint-url", "http://10.1.2.3:8000", "dynamodb",
                                 "ListTables", NULL};
    assert_int_equal(run(remote_http, NULL, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "loopback"));
    const char *no_region[] = {m, "call", "dynamodb", "ListTables", NULL};
    const char *env_no_region[] = {"AWS_REGION=", NULL};
    assert_int_equal(run(no_region, env_no_region, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "region"));
    const char *no_file[] = {m, "call", "dynamodb", "ListTables", "@/nonexistent/x.json", NULL};
    assert_int_equal(run(no_file, NULL, &out, &err), 2);
    buf_free(&out);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_and_help),
        cmocka_unit_test(test_dynamodb_roundtrip),
        cmocka_unit_test(test_wrong_secret_is_rejected),
        cmocka_unit_test(test_lambda_invoke_by_arn),
        cmocka_unit_test(test_ecs_and_sts),
        cmocka_unit_test(test_usage_errors),
    };
    return cmocka_run_group_tests_name("call", tests, setup, teardown);
}
