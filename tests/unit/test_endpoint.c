/* test_endpoint.c - partitions, overrides and the loopback rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "endpoint.h"
#include "url.h"

static int clear_env(void **state)
{
    (void)state;
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_DYNAMODB");
    unsetenv("AWS_ENDPOINT_URL_LAMBDA");
    unsetenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER");
    unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    return 0;
}

static void expect_url(const char *svc, const char *region, const char *override,
                       const char *want)
{
    buf err = BUF_INIT;
    char *url = endpoint_resolve(aws_service_find(svc), region, override, NULL, &err);
    if (!url) fail_msg("%s %s: %s", svc, region, buf_str(&err));
    assert_string_equal(url, want);
    free(url);
    buf_free(&err);
}

static void test_partitions(void **state)
{
    (void)state;
    expect_url("dynamodb", "us-east-1", NULL, "https://dynamodb.us-east-1.amazonaws.com");
    expect_url("dynamodb", "eu-west-3", NULL, "https://dynamodb.eu-west-3.amazonaws.com");
    expect_url("lambda", "cn-north-1", NULL, "https://lambda.cn-north-1.amazonaws.com.cn");
    expect_url("ecs", "cn-northwest-1", NULL, "https://ecs.cn-northwest-1.amazonaws.com.cn");
    expect_url("dynamodb", "us-gov-west-1", NULL, "https://dynamodb.us-gov-west-1.amazonaws.com");
    expect_url("cognito-idp", "ap-southeast-2", NULL,
               "https://cognito-idp.ap-southeast-2.amazonaws.com");
    expect_url("sts", "us-iso-east-1", NULL, "https://sts.us-iso-east-1.c2s.ic.gov");
    assert_string_equal(endpoint_partition_suffix("us-gov-east-1"), "amazonaws.com");
    assert_null(endpoint_partition_suffix("useast1"));
    assert_null(endpoint_partition_suffix("US-EAST-1"));
    assert_null(endpoint_partition_suffix("us-east-"));
}

static void test_invalid_region(void **state)
{
    (void)state;
    buf err = BUF_INIT;
    assert_null(endpoint_resolve(aws_service_find("dynamodb"), "moon-base", NULL, NULL, &err));
    assert_non_null(strstr(buf_str(&err), "invalid region"));
    buf_reset(&err);
    assert_null(endpoint_resolve(aws_service_find("dynamodb"), NULL, NULL, NULL, &err));
    assert_non_null(strstr(buf_str(&err), "--region"));
    buf_free(&err);
}

static void test_override_order(void **state)
{
    (void)state;
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000", 1);
    expect_url("lambda", "us-east-1", NULL, "http://127.0.0.1:9000");
    setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://localhost:8000/", 1);
    expect_url("dynamodb", "us-east-1", NULL, "http://localhost:8000");
    expect_url("lambda", "us-east-1", NULL, "http://127.0.0.1:9000");
    setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", "http://[::1]:7000", 1);
    expect_url("cognito-idp", "us-east-1", NULL, "http://[::1]:7000");
    /* The flag beats both variables. */
    expect_url("dynamodb", "us-east-1", "https://ddb.example.com", "https://ddb.example.com");
    clear_env(NULL);
}

/* A profile's endpoint_url comes after the flag and the variables and
 * before the region's public endpoint, as in the SDKs. */
static void test_profile_endpoint(void **state)
{
    (void)state;
    buf err = BUF_INIT;
    const aws_service *ddb = aws_service_find("dynamodb");
    char *url = endpoint_resolve(ddb, "us-east-1", NULL, "http://127.0.0.1:4566/", &err);
    assert_string_equal(url, "http://127.0.0.1:4566");
    free(url);
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000", 1);
    url = endpoint_resolve(ddb, "us-east-1", NULL, "http://127.0.0.1:4566", &err);
    assert_string_equal(url, "http://127.0.0.1:9000");
    free(url);
    url = endpoint_resolve(ddb, "us-east-1", "http://127.0.0.1:1", "http://127.0.0.1:4566", &err);
    assert_string_equal(url, "http://127.0.0.1:1");
    free(url);
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
    url = endpoint_resolve(ddb, "us-east-1", NULL, "http://127.0.0.1:4566", &err);
    assert_string_equal(url, "https://dynamodb.us-east-1.amazonaws.com");
    free(url);
    clear_env(NULL);
    assert_null(endpoint_resolve(ddb, "us-east-1", NULL, "http://10.1.1.1:4566", &err));
    assert_non_null(strstr(buf_str(&err), "endpoint_url in the profile"));
    buf_free(&err);
}

static void test_http_only_loopback(void **state)
{
    (void)state;
    buf err = BUF_INIT;
    assert_int_equal(url_check_endpoint("http://127.0.0.1:8000", &err), 0);
    assert_int_equal(url_check_endpoint("http://127.3.4.5", &err), 0);
    assert_int_equal(url_check_endpoint("http://[::1]:8000/x", &err), 0);
    assert_int_equal(url_check_endpoint("http://localhost:1", &err), 0);
    assert_int_equal(url_check_endpoint("https://10.0.0.1", &err), 0);
    assert_int_equal(url_check_endpoint("http://10.0.0.1:8000", &err), -1);
    assert_non_null(strstr(buf_str(&err), "loopback"));
    buf_reset(&err);
    assert_int_equal(url_check_endpoint("http://128.0.0.1", &err), -1);
    assert_int_equal(url_check_endpoint("http://user@127.0.0.1", &err), -1);
    assert_int_equal(url_check_endpoint("ftp://127.0.0.1", &err), -1);
    assert_int_equal(url_check_endpoint("127.0.0.1:8000", &err), -1);
    setenv("AWS_ENDPOINT_URL", "http://192.168.1.10:8000", 1);
    buf_reset(&err);
    assert_null(endpoint_resolve(aws_service_find("dynamodb"), "us-east-1", NULL, NULL, &err));
    assert_non_null(strstr(buf_str(&err), "AWS_ENDPOINT_URL"));
    clear_env(NULL);
    buf_free(&err);
}

/* The host checked is the one libcurl connects to: userinfo that makes a
 * loopback name appear first is refused, whatever the scheme. */
static void test_userinfo_refused(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "http://127.0.0.1:1@10.11.12.13:8000", "http://localhost:x@192.0.2.7/",
        "http://127.0.0.1@10.0.0.1", "https://user:pw@dynamodb.example.com",
        "http://[::1]:1@10.0.0.1:80", "HTTP://127.0.0.1:1@10.0.0.1", NULL};
    buf err = BUF_INIT;
    for (const char *const *u = bad; *u; u++) {
        buf_reset(&err);
        if (url_check_endpoint(*u, &err) != -1) fail_msg("accepted %s", *u);
        assert_non_null(strstr(buf_str(&err), "user name or password"));
        /* the password part is never echoed */
        assert_null(strstr(buf_str(&err), "pw@"));
    }
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1@10.11.12.13:8000", 1);
    buf_reset(&err);
    assert_null(endpoint_resolve(aws_service_find("dynamodb"), "us-east-1", NULL, NULL, &err));
    assert_non_null(strstr(buf_str(&err), "AWS_ENDPOINT_URL"));
    clear_env(NULL);
    buf_free(&err);
}

static void test_bad_ports_and_parts(void **state)
{
    (void)state;
    static const char *const bad[] = {"http://127.0.0.1:99999", "http://127.0.0.1:-1",
                                      "http://127.0.0.1:0", "https://example.com:65536/",
                                      "http://127.0.0.1:80x", NULL};
    buf err = BUF_INIT;
    for (const char *const *u = bad; *u; u++) {
        buf_reset(&err);
        if (url_check_endpoint(*u, &err) != -1) fail_msg("accepted %s", *u);
        assert_non_null(strstr(buf_str(&err), "invalid endpoint URL"));
    }
    assert_int_equal(url_check_endpoint("http://127.0.0.1:65535", &err), 0);
    assert_int_equal(url_check_endpoint("http://127.0.0.1:8000?@10.0.0.1", &err), -1);
    assert_int_equal(url_check_endpoint("http://127.0.0.1:8000#@10.0.0.1", &err), -1);
    assert_int_equal(url_check_endpoint("http://", &err), -1);
    buf_free(&err);
}

static void test_service_table(void **state)
{
    (void)state;
    const aws_service *d = aws_service_find("dynamodb");
    assert_int_equal(d->protocol, AWS_PROTO_JSON_1_0);
    assert_string_equal(d->target_prefix, "DynamoDB_20120810");
    assert_int_equal(aws_service_find("ecs")->protocol, AWS_PROTO_JSON_1_1);
    assert_string_equal(aws_service_find("cognito")->id, "cognito-idp");
    assert_int_equal(aws_service_find("lambda")->protocol, AWS_PROTO_REST_JSON);
    assert_string_equal(aws_service_find("sts")->api_version, "2011-06-15");
    assert_null(aws_service_find("s4"));
}

/* S3: bucket.s3.REGION.amazonaws.com on AWS, /bucket/key elsewhere. */
static void test_s3_addressing(void **state)
{
    (void)state;
    const aws_service *s3 = aws_service_find("s3");
    assert_int_equal(s3->protocol, AWS_PROTO_REST_XML);
    assert_string_equal(s3->signing_name, "s3");
    buf err = BUF_INIT;
    char *url = endpoint_resolve(s3, "eu-west-1", NULL, NULL, &err);
    assert_string_equal(url, "https://s3.eu-west-1.amazonaws.com");
    free(url);
    assert_true(endpoint_s3_virtual_host("s3.eu-west-1.amazonaws.com", "vams-assets-123"));
    assert_true(endpoint_s3_virtual_host("s3.cn-north-1.amazonaws.com.cn", "abc"));
    /* Loopback and other S3-compatible endpoints: path-style. */
    assert_false(endpoint_s3_virtual_host("127.0.0.1:4569", "vams-assets-123"));
    assert_false(endpoint_s3_virtual_host("localhost:9000", "abc"));
    assert_false(endpoint_s3_virtual_host("minio.example.com", "abc"));
    /* Names the wildcard certificate cannot cover, or not DNS labels. */
    assert_false(endpoint_s3_virtual_host("s3.us-east-1.amazonaws.com", "my.bucket"));
    assert_false(endpoint_s3_virtual_host("s3.us-east-1.amazonaws.com", "My_Bucket"));
    assert_false(endpoint_s3_virtual_host("s3.us-east-1.amazonaws.com", "ab"));
    assert_false(endpoint_s3_virtual_host("s3.us-east-1.amazonaws.com", "-abc"));
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_partitions, clear_env),
        cmocka_unit_test_setup(test_invalid_region, clear_env),
        cmocka_unit_test_setup(test_override_order, clear_env),
        cmocka_unit_test_setup(test_http_only_loopback, clear_env),
        cmocka_unit_test_setup(test_profile_endpoint, clear_env),
        cmocka_unit_test_setup(test_userinfo_refused, clear_env),
        cmocka_unit_test_setup(test_bad_ports_and_parts, clear_env),
        cmocka_unit_test_setup(test_service_table, clear_env),
        cmocka_unit_test_setup(test_s3_addressing, clear_env),
    };
    return cmocka_run_group_tests_name("endpoint", tests, NULL, NULL);
}
