/* test_cross_account.c - one run, two accounts and regions: the source
 * table through the profile "source" (us-east-1), the destination through
 * "orders@profile=target" (eu-west-1), each behind its own fakeaws (its own
 * key pair, signatures checked) and its own dynalite, the endpoints coming
 * from the profiles' endpoint_url settings. Runs examples/filtered-copy.lua
 * as an operator would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testsupport.h"

#define FIXTURES "tests/integration/examples/fixtures.lua"
#define TARGET_KEY "AKIDTARGETACCOUNT"
#define TARGET_SECRET "target-secret"

static test_server src_dyn, src_fake, dst_dyn, dst_fake;
static char *tmp;
static char config_env[512], creds_env[512], home_env[512];

/* mighost ARGS with only the profiles' files as AWS settings. */
static int run(const char *const *args, buf *out, buf *err)
{
    const char *env[] = {config_env, creds_env, home_env, "AWS_EC2_METADATA_DISABLED=true", NULL};
    return test_run_mighost(args, env, test_aws_env_unset, NULL, out, err);
}

/* Every recorded request: signed with KEY for REGION, and a valid signature;
 * returns how many there were with operation OP (NULL: all). */
static int requests(const test_server *fake, const char *key, const char *region, const char *op)
{
    buf body = BUF_INIT;
    assert_int_equal(test_fakeaws_get(fake, "/__requests", &body), 200);
    json_object *list = json_tokener_parse(buf_str(&body));
    assert_non_null(list);
    char scope[128];
    snprintf(scope, sizeof scope, "Credential=%s/", key);
    /* DynamoDB calls, and the run's STS GetCallerIdentity (its account). */
    char region_part[64], sts_part[64];
    snprintf(region_part, sizeof region_part, "/%s/dynamodb/aws4_request", region);
    snprintf(sts_part, sizeof sts_part, "/%s/sts/aws4_request", region);
    int n = 0;
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *r = json_object_array_get_idx(list, i), *v, *h, *auth;
        assert_true(json_object_object_get_ex(r, "signature_ok", &v));
        assert_true(json_object_get_boolean(v));
        assert_true(json_object_object_get_ex(r, "headers", &h));
        assert_true(json_object_object_get_ex(h, "authorization", &auth));
        const char *a = json_object_get_string(auth);
        if (!strstr(a, scope) || (!strstr(a, region_part) && !strstr(a, sts_part)))
            fail_msg("request signed as %s", a);
        json_object *target;
        const char *t = json_object_object_get_ex(r, "target", &target) ? json_object_get_string(target) : "";
        if (!op || (t && strstr(t, op))) n++;
    }
    json_object_put(list);
    buf_free(&body);
    return n;
}

static void test_filtered_copy_to_another_account(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *seed[] = {"run", FIXTURES, "seed", "cross", "--profile", "source", NULL};
    if (run(seed, &out, &err) != 0) fail_msg("seed: %s", buf_str(&err));
    assert_int_equal(test_fakeaws_reset(&src_fake), 0);
    assert_int_equal(test_fakeaws_reset(&dst_fake), 0);

    /* A dry-run reads both sides and writes nowhere. */
    const char *dry[] = {"run", "examples/filtered-copy.lua", "--profile", "source",
                         "--source", "orders", "--destination", "orders@profile=target",
                         "--dry-run", "--quiet", NULL};
    if (run(dry, &out, &err) != 0) fail_msg("dry-run: %s", buf_str(&err));
    assert_int_equal(test_fakeaws_stat(&dst_fake, "writes_forwarded"), 0);
    assert_true(requests(&dst_fake, TARGET_KEY, "eu-west-1", "DescribeTable") >= 1);

    char *report = test_path_join(tmp, "cross-report.json");
    const char *real[] = {"run", "examples/filtered-copy.lua", "--profile", "source",
                          "--source", "orders", "--destination", "orders@profile=target",
                          "--yes", "--quiet", "--report", report, "--state-dir", tmp,
                          "--no-history", NULL};   /* the history would be a write in the source account */
    assert_int_equal(test_fakeaws_reset(&src_fake), 0);
    assert_int_equal(test_fakeaws_reset(&dst_fake), 0);
    if (run(real, &out, &err) != 0) fail_msg("copy: %s", buf_str(&err));
    /* The source account was only read; the target got the writes, signed
     * with the target's key for eu-west-1; the source's for us-east-1. */
    assert_int_equal(test_fakeaws_stat(&src_fake, "writes_forwarded"), 0);
    assert_true(requests(&src_fake, TEST_ACCESS_KEY, "us-east-1", "Scan") >= 1);
    assert_true(test_fakeaws_stat(&dst_fake, "writes_forwarded") >= 2);   /* 40 items: 2 batches */
    assert_true(requests(&dst_fake, TARGET_KEY, "eu-west-1", "BatchWriteItem") >= 2);
    assert_true(requests(&dst_fake, TARGET_KEY, "eu-west-1", "BatchGetItem") +
                requests(&dst_fake, TARGET_KEY, "eu-west-1", "GetItem") >= 1);   /* verification */

    buf text = BUF_INIT;
    assert_int_equal(test_read_file(report, &text), 0);
    json_object *doc = json_tokener_parse(buf_str(&text)), *v;
    assert_non_null(doc);
    assert_true(json_object_object_get_ex(doc, "exit_code", &v));
    assert_int_equal(json_object_get_int(v), 0);
    json_object_put(doc);
    buf_free(&text);

    /* Exactly the 40 active items are in the target; the source is whole. */
    const char *check[] = {"run", FIXTURES, "check", "cross", "--profile", "source", NULL};
    if (run(check, &out, &err) != 0) fail_msg("check: %s", buf_str(&err));
    free(report);
    buf_free(&out);
    buf_free(&err);
}

static void test_bad_reference_is_a_usage_error(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"run", "examples/filtered-copy.lua", "--profile", "source",
                          "--source", "orders", "--destination", "orders@account=2",
                          "--dry-run", NULL};
    assert_int_equal(run(args, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "NAME@profile=PROFILE,region=REGION"));
    buf_free(&out);
    buf_free(&err);
}

static void test_unknown_profile_names_it(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"run", "examples/filtered-copy.lua", "--profile", "source",
                          "--source", "orders", "--destination", "orders@profile=nosuch",
                          "--dry-run", NULL};
    int rc = run(args, &out, &err);
    assert_int_not_equal(rc, 0);
    assert_non_null(strstr(buf_str(&err), "nosuch"));
    assert_null(strstr(buf_str(&err), TARGET_SECRET));
    buf_free(&out);
    buf_free(&err);
}

static int setup(void **state)
{
    (void)state;
    tmp = test_tempdir();
    if (!tmp) return -1;
    const char *target_keys[] = {"--access-key", TARGET_KEY, "--secret", TARGET_SECRET, NULL};
    if (test_fakeaws_with_dynalite(&src_fake, &src_dyn, NULL) != 0) return -1;
    if (test_fakeaws_with_dynalite(&dst_fake, &dst_dyn, target_keys) != 0) return -1;
    char *config = test_path_join(tmp, "config"), *creds = test_path_join(tmp, "credentials");
    buf text = BUF_INIT;
    buf_printf(&text, "[profile source]\nregion = us-east-1\nendpoint_url = %s\n\n"
                      "[profile target]\nregion = eu-west-1\nendpoint_url = %s\n",
               src_fake.url, dst_fake.url);
    test_write_file(config, buf_str(&text));
    buf_reset(&text);
    buf_printf(&text, "[source]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n"
                      "[target]\naws_access_key_id = %s\naws_secret_access_key = %s\n",
               TEST_ACCESS_KEY, TEST_SECRET_KEY, TARGET_KEY, TARGET_SECRET);
    test_write_file(creds, buf_str(&text));
    snprintf(config_env, sizeof config_env, "AWS_CONFIG_FILE=%s", config);
    snprintf(creds_env, sizeof creds_env, "AWS_SHARED_CREDENTIALS_FILE=%s", creds);
    snprintf(home_env, sizeof home_env, "HOME=%s", tmp);
    buf_free(&text);
    free(config);
    free(creds);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_server_stop(&src_fake);
    test_server_stop(&src_dyn);
    test_server_stop(&dst_fake);
    test_server_stop(&dst_dyn);
    test_rmtree(tmp);
    free(tmp);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filtered_copy_to_another_account),
        cmocka_unit_test(test_bad_reference_is_a_usage_error),
        cmocka_unit_test(test_unknown_profile_names_it),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
