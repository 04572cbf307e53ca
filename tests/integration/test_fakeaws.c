/* test_fakeaws.c - the test infrastructure itself: the fake AWS endpoint
 * (tests/fakeaws) in front of dynalite, driven through tests/support. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <zlib.h>

#include "sigv4.h"
#include "testsupport.h"

static test_server dynalite, fake;

static int setup(void **state)
{
    (void)state;
    return test_fakeaws_with_dynalite(&fake, &dynalite, NULL);
}

static int teardown(void **state)
{
    (void)state;
    test_server_stop(&fake);
    test_server_stop(&dynalite);
    return 0;
}

static int reset(void **state)
{
    (void)state;
    return test_fakeaws_reset(&fake);
}

static char *url_of(const char *path)
{
    buf b = BUF_INIT;
    buf_printf(&b, "%s%s", fake.url, path);
    return buf_detach(&b);
}

/* "X-Amz-Date: 20251122T120000Z" for now + offset seconds. */
static void amz_date_header(char *out, size_t size, long offset)
{
    time_t t = time(NULL) + offset;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, size, "X-Amz-Date: %Y%m%dT%H%M%SZ", &tm);
}

/* A DynamoDB request with a hand-written Authorization header. */
static int post_dynamodb(const char *auth_header, long date_offset, buf *body, buf *headers)
{
    char date[64];
    amz_date_header(date, sizeof date, date_offset);
    const char *const hdr[] = {"Content-Type: application/x-amz-json-1.0",
                               "X-Amz-Target: DynamoDB_20120810.ListTables", date, auth_header, NULL};
    char *url = url_of("/");
    int status = test_http_ex("POST", url, hdr, "{}", body, headers);
    free(url);
    return status;
}

static void assert_contains(const char *haystack, const char *needle)
{
    if (!strstr(haystack, needle)) fail_msg("\"%s\" not found in: %s", needle, haystack);
}

/* ------------------------------------------------------------------ tests */

static void test_verifier_matches_published_vectors(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *argv[] = {test_node_path(), "tests/fakeaws/selftest.js", NULL};
    int rc = test_run(argv, NULL, NULL, NULL, &out, &err);
    if (rc != 0) fail_msg("selftest.js exit %d: %s%s", rc, buf_str(&out), buf_str(&err));
    assert_contains(buf_str(&out), "vectors ok");
    buf_free(&out);
    buf_free(&err);
}

static void test_control_endpoints(void **state)
{
    (void)state;
    buf body = BUF_INIT;
    assert_int_equal(test_fakeaws_get(&fake, "/__stats", &body), 200);
    json_object *stats = json_tokener_parse(buf_str(&body));
    assert_non_null(stats);
    const char *keys[] = {"requests", "by_target", "faults", "writes_forwarded",
                          "signature_failures", "issued_credentials"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        if (!json_object_object_get_ex(stats, keys[i], NULL)) fail_msg("/__stats lacks %s", keys[i]);
    }
    json_object_put(stats);
    assert_int_equal(test_fakeaws_stat(&fake, "requests"), 0);

    assert_int_equal(test_fakeaws_get(&fake, "/__requests", &body), 200);
    assert_string_equal(buf_str(&body), "[]");

    assert_int_equal(test_fakeaws_config(&fake, "{\"fault_rate\":0.5,\"faults\":[\"500\",\"drop\"],\"slow_ms\":10}"), 0);
    assert_int_equal(test_fakeaws_get(&fake, "/__config", &body), 200);
    assert_contains(buf_str(&body), "\"fault_rate\":0.5");
    assert_contains(buf_str(&body), "\"faults\":[\"500\",\"drop\"]");
    /* Invalid settings are refused and change nothing. */
    assert_int_equal(test_fakeaws_config(&fake, "{\"fault_rate\":0,\"faults\":[\"bogus\"]}"), -1);
    assert_int_equal(test_fakeaws_get(&fake, "/__config", &body), 200);
    assert_contains(buf_str(&body), "\"fault_rate\":0.5");
    assert_int_equal(test_fakeaws_config(&fake, "{\"fault_rate\":0}"), 0);

    char *nowhere = url_of("/__nothing");
    assert_int_equal(test_http("GET", nowhere, NULL, &body), 404);
    free(nowhere);
    buf_free(&body);
}

static void test_unsigned_dynamodb_is_rejected(void **state)
{
    (void)state;
    buf body = BUF_INIT, headers = BUF_INIT;
    const char *const hdr[] = {"Content-Type: application/x-amz-json-1.0",
                               "X-Amz-Target: DynamoDB_20120810.ListTables", NULL};
    char *url = url_of("/");
    assert_int_equal(test_http_ex("POST", url, hdr, "{}", &body, &headers), 400);
    free(url);
    assert_contains(buf_str(&body), "MissingAuthenticationTokenException");

    /* The headers every response carries, with a correct CRC32. */
    char *crc = test_header_value(&headers, "x-amz-crc32");
    char *rid = test_header_value(&headers, "x-amzn-RequestId");
    char *date = test_header_value(&headers, "Date");
    char *etype = test_header_value(&headers, "x-amzn-ErrorType");
    assert_non_null(crc);
    assert_non_null(rid);
    assert_non_null(date);
    assert_non_null(etype);
    assert_string_equal(etype, "MissingAuthenticationTokenException");
    unsigned long want = crc32(0L, (const Bytef *)body.data, (uInt)body.len);
    assert_int_equal(strtoul(crc, NULL, 10), want);
    free(crc);
    free(rid);
    free(date);
    free(etype);

    assert_int_equal(test_fakeaws_stat(&fake, "requests"), 1);
    assert_int_equal(test_fakeaws_stat(&fake, "signature_failures"), 1);
    assert_int_equal(test_fakeaws_stat(&fake, "by_target.DynamoDB_20120810.ListTables"), 1);
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);

    assert_int_equal(test_fakeaws_get(&fake, "/__requests", &body), 200);
    assert_contains(buf_str(&body), "\"target\":\"DynamoDB_20120810.ListTables\"");
    assert_contains(buf_str(&body), "\"signature_ok\":false");
    buf_free(&body);
    buf_free(&headers);
}

static void test_hand_signed_failures(void **state)
{
    (void)state;
    buf body = BUF_INIT, headers = BUF_INIT;
    char auth[512];
    char day[16];
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(day, sizeof day, "%Y%m%d", &tm);

    /* Right key and scope, wrong signature. */
    snprintf(auth, sizeof auth,
             "Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/%s/us-east-1/dynamodb/aws4_request, "
             "SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=%064d", day, 0);
    assert_int_equal(post_dynamodb(auth, 0, &body, &headers), 403);
    assert_contains(buf_str(&body), "InvalidSignatureException");
    assert_contains(buf_str(&body), "The request signature we calculated does not match the signature "
                                    "you provided. Check your AWS Secret Access Key and signing method.");

    /* Unknown access key. */
    snprintf(auth, sizeof auth,
             "Authorization: AWS4-HMAC-SHA256 Credential=AKIDNOBODY/%s/us-east-1/dynamodb/aws4_request, "
             "SignedHeaders=host;x-amz-date, Signature=%064d", day, 0);
    assert_int_equal(post_dynamodb(auth, 0, &body, &headers), 400);
    assert_contains(buf_str(&body), "UnrecognizedClientException");
    assert_contains(buf_str(&body), "The security token included in the request is invalid.");

    /* An hour-old date: expired, whatever the signature. */
    time_t old = t - 3600;
    gmtime_r(&old, &tm);
    strftime(day, sizeof day, "%Y%m%d", &tm);
    snprintf(auth, sizeof auth,
             "Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/%s/us-east-1/dynamodb/aws4_request, "
             "SignedHeaders=host;x-amz-date, Signature=%064d", day, 0);
    assert_int_equal(post_dynamodb(auth, -3600, &body, &headers), 403);
    assert_contains(buf_str(&body), "Signature expired: ");
    assert_contains(buf_str(&body), " is now earlier than ");

    assert_int_equal(test_fakeaws_stat(&fake, "signature_failures"), 3);
    assert_int_equal(test_fakeaws_stat(&fake, "by_status.403"), 2);
    buf_free(&body);
    buf_free(&headers);
}

static void test_imds_token_flow(void **state)
{
    (void)state;
    buf body = BUF_INIT, headers = BUF_INIT;
    char *token_url = url_of("/latest/api/token");
    char *list_url = url_of("/latest/meta-data/iam/security-credentials/");
    char *role_url = url_of("/latest/meta-data/iam/security-credentials/test-role");

    /* IMDSv1 (no token) is refused; a token needs its TTL header. */
    assert_int_equal(test_http("GET", list_url, NULL, &body), 401);
    assert_int_equal(test_http("PUT", token_url, NULL, &body), 400);
    const char *const ttl[] = {"X-aws-ec2-metadata-token-ttl-seconds: 21600", NULL};
    assert_int_equal(test_http_ex("PUT", token_url, ttl, NULL, &body, &headers), 200);
    assert_true(body.len > 10);

    buf tok = BUF_INIT;
    buf_printf(&tok, "X-aws-ec2-metadata-token: %s", buf_str(&body));
    const char *const with_token[] = {buf_str(&tok), NULL};
    const char *const bad_token[] = {"X-aws-ec2-metadata-token: nope", NULL};
    assert_int_equal(test_http_ex("GET", list_url, bad_token, NULL, &body, NULL), 401);
    assert_int_equal(test_http_ex("GET", list_url, with_token, NULL, &body, NULL), 200);
    assert_string_equal(buf_str(&body), "test-role");
    assert_int_equal(test_http_ex("GET", role_url, with_token, NULL, &body, NULL), 200);

    json_object *creds = json_tokener_parse(buf_str(&body));
    assert_non_null(creds);
    json_object *v;
    assert_true(json_object_object_get_ex(creds, "Code", &v));
    assert_string_equal(json_object_get_string(v), "Success");
    assert_true(json_object_object_get_ex(creds, "AccessKeyId", &v));
    assert_memory_equal(json_object_get_string(v), "ASIA", 4);
    const char *fields[] = {"SecretAccessKey", "Token", "Expiration", "LastUpdated", "Type"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++) {
        if (!json_object_object_get_ex(creds, fields[i], NULL)) fail_msg("IMDS credentials lack %s", fields[i]);
    }
    json_object_put(creds);

    assert_int_equal(test_fakeaws_stat(&fake, "issued_credentials"), 1);
    assert_int_equal(test_fakeaws_stat(&fake, "by_target.imds:credentials"), 1);
    /* Metadata calls are not AWS requests. */
    assert_int_equal(test_fakeaws_stat(&fake, "requests"), 0);
    free(token_url);
    free(list_url);
    free(role_url);
    buf_free(&tok);
    buf_free(&body);
    buf_free(&headers);
}

static void test_container_credentials(void **state)
{
    (void)state;
    buf body = BUF_INIT;
    char *url = url_of("/container-credentials");
    assert_int_equal(test_http("GET", url, NULL, &body), 401);
    const char *const wrong[] = {"Authorization: nope", NULL};
    assert_int_equal(test_http_ex("GET", url, wrong, NULL, &body, NULL), 401);
    const char *const right[] = {"Authorization: " TEST_CONTAINER_TOKEN, NULL};
    assert_int_equal(test_http_ex("GET", url, right, NULL, &body, NULL), 200);
    assert_contains(buf_str(&body), "\"AccessKeyId\":\"ASIA");
    assert_contains(buf_str(&body), "\"RoleArn\":\"arn:aws:iam::123456789012:role/test-role\"");
    assert_int_equal(test_fakeaws_stat(&fake, "issued_credentials"), 1);
    free(url);
    buf_free(&body);
}

/* Text of the first <tag>...</tag>, as a heap string, or NULL. */
static char *xml_text(const char *xml, const char *tag)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = strstr(xml, open);
    if (!a) return NULL;
    a += strlen(open);
    const char *b = strstr(a, close);
    return b ? xstrndup(a, (size_t)(b - a)) : NULL;
}

static void test_web_identity_is_unsigned(void **state)
{
    (void)state;
    buf body = BUF_INIT;
    char *url = url_of("/");
    const char *const form[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    assert_int_equal(test_http_ex("POST", url, form,
                                  "Action=AssumeRoleWithWebIdentity&Version=2011-06-15"
                                  "&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fweb"
                                  "&RoleSessionName=s1&WebIdentityToken=jwt",
                                  &body, NULL), 200);
    char *akid = xml_text(buf_str(&body), "AccessKeyId");
    char *arn = xml_text(buf_str(&body), "Arn");
    assert_non_null(akid);
    assert_memory_equal(akid, "ASIA", 4);
    assert_string_equal(arn, "arn:aws:sts::123456789012:assumed-role/web/s1");
    assert_contains(buf_str(&body), "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">");

    /* Other STS actions need a signature: XML error. */
    assert_int_equal(test_http_ex("POST", url, form, "Action=GetCallerIdentity&Version=2011-06-15",
                                  &body, NULL), 403);
    assert_contains(buf_str(&body), "<Code>MissingAuthenticationToken</Code>");
    assert_int_equal(test_fakeaws_stat(&fake, "by_target.sts:AssumeRoleWithWebIdentity"), 1);
    free(akid);
    free(arn);
    free(url);
    buf_free(&body);
}

/* Signs with the engine's signer (src/aws/sigv4.c) and sends with libcurl:
 * the JS verifier and the C signer must agree. */
static int send_signed(const char *method, const char *path, const char *query, const char *service,
                       const char *const extra[], const char *body, const sigv4_credentials *creds,
                       int presign, buf *resp)
{
    char host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", fake.port);
    sigv4_header h[8] = {{"Host", host}};
    size_t nh = 1;
    char *names[8] = {0};
    for (size_t i = 0; extra && extra[i]; i++) {
        const char *colon = strchr(extra[i], ':');
        names[nh] = xstrndup(extra[i], (size_t)(colon - extra[i]));
        h[nh].name = names[nh];
        h[nh].value = colon + 2;
        nh++;
    }
    sigv4_request req = {method, path, query, h, nh, body, body ? strlen(body) : 0, NULL};
    sigv4_params p = {creds, "us-east-1", service, time(NULL), 1, 1, 0, 0, presign ? 300 : 0};
    sigv4_result r;
    memset(&r, 0, sizeof r);
    int rc = presign ? sigv4_sign_query(&req, &p, NULL, &r) : sigv4_sign_header(&req, &p, NULL, &r);
    assert_int_equal(rc, 0);

    buf url = BUF_INIT, date = BUF_INIT, auth = BUF_INIT, token = BUF_INIT;
    const char *q = presign ? r.presigned_query : query;
    buf_printf(&url, "%s%s%s%s", fake.url, path, q && *q ? "?" : "", q ? q : "");
    const char *hdr[12];
    size_t n = 0;
    for (size_t i = 0; extra && extra[i]; i++) hdr[n++] = extra[i];
    if (!presign) {
        buf_printf(&date, "X-Amz-Date: %s", r.amz_date);
        buf_printf(&auth, "Authorization: %s", r.authorization);
        hdr[n++] = buf_str(&date);
        hdr[n++] = buf_str(&auth);
        if (creds->session_token) {
            buf_printf(&token, "X-Amz-Security-Token: %s", creds->session_token);
            hdr[n++] = buf_str(&token);
        }
    }
    hdr[n] = NULL;
    int status = test_http_ex(method, buf_str(&url), hdr, body, resp, NULL);
    if (status != 200) {
        fprintf(stderr, "signed %s %s -> %d %s\ncanonical request (C signer):\n%s\n", method, path,
                status, buf_str(resp), r.canonical_request);
    }
    sigv4_result_free(&r);
    for (size_t i = 0; i < nh; i++) free(names[i]);
    buf_free(&url);
    buf_free(&date);
    buf_free(&auth);
    buf_free(&token);
    return status;
}

static void test_engine_signer_is_accepted(void **state)
{
    (void)state;
    const sigv4_credentials lt = {TEST_ACCESS_KEY, TEST_SECRET_KEY, NULL};
    buf body = BUF_INIT;

    const char *const ddb[] = {"Content-Type: application/x-amz-json-1.0",
                               "X-Amz-Target: DynamoDB_20120810.ListTables", NULL};
    assert_int_equal(send_signed("POST", "/", NULL, "dynamodb", ddb, "{}", &lt, 0, &body), 200);
    assert_contains(buf_str(&body), "\"TableNames\"");

    /* A function ARN in the path: encoded once on the wire, twice when signed. */
    const char *const js[] = {"Content-Type: application/json", NULL};
    assert_int_equal(send_signed("POST",
                                 "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012"
                                 "%3Afunction%3Amy-fn/invocations",
                                 NULL, "lambda", js, "{\"k\":\"a b+c\"}", &lt, 0, &body), 200);
    assert_contains(buf_str(&body), "\"function\":\"arn:aws:lambda:us-east-1:123456789012:function:my-fn\"");

    /* Temporary credentials from STS, with their token, in both forms. */
    const char *const form[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL};
    assert_int_equal(send_signed("POST", "/", NULL, "sts", form,
                                 "Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A"
                                 "123456789012%3Arole%2Fdeploy&RoleSessionName=mig&DurationSeconds=900",
                                 &lt, 0, &body), 200);
    char *akid = xml_text(buf_str(&body), "AccessKeyId");
    char *secret = xml_text(buf_str(&body), "SecretAccessKey");
    char *token = xml_text(buf_str(&body), "SessionToken");
    assert_non_null(token);
    const sigv4_credentials temp = {akid, secret, token};
    assert_int_equal(send_signed("POST", "/", NULL, "sts", form, "Action=GetCallerIdentity&Version=2011-06-15",
                                 &temp, 0, &body), 200);
    assert_contains(buf_str(&body), "<Arn>arn:aws:sts::123456789012:assumed-role/deploy/mig</Arn>");
    assert_int_equal(send_signed("GET", "/", "Action=GetCallerIdentity&Version=2011-06-15", "sts", NULL, NULL,
                                 &temp, 1, &body), 200);
    assert_contains(buf_str(&body), "<Account>123456789012</Account>");
    assert_int_equal(test_fakeaws_stat(&fake, "signature_failures"), 0);
    free(akid);
    free(secret);
    free(token);
    buf_free(&body);
}

static void test_smoke_script(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *argv[] = {test_node_path(), "tests/fakeaws/smoke.js", fake.url, NULL};
    int rc = test_run(argv, NULL, NULL, NULL, &out, &err);
    if (rc != 0) fail_msg("smoke.js exit %d: %s%s", rc, buf_str(&out), buf_str(&err));
    assert_contains(buf_str(&out), "checks ok");
    buf_free(&out);
    buf_free(&err);
}

static void test_run_captures_and_feeds(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    /* Large output on both pipes at once must not deadlock; stdin reaches the child. */
    const char *argv[] = {"sh", "-c",
                          "cat; i=0; while [ $i -lt 2000 ]; do echo \"line $i $FOO\"; "
                          "echo \"err $i\" >&2; i=$((i+1)); done; exit 3", NULL};
    const char *const set[] = {"FOO=bar", NULL};
    const char *const unset[] = {"HOME", NULL};
    assert_int_equal(test_run(argv, set, unset, "from stdin\n", &out, &err), 3);
    assert_memory_equal(buf_str(&out), "from stdin\nline 0 bar\n", 22);
    assert_contains(buf_str(&out), "line 1999 bar\n");
    assert_contains(buf_str(&err), "err 1999\n");

    const char *env[] = {"sh", "-c", "echo \"${HOME-unset}\"", NULL};
    assert_int_equal(test_run(env, NULL, unset, NULL, &out, NULL), 0);
    assert_string_equal(buf_str(&out), "unset\n");

    const char *sig[] = {"sh", "-c", "kill -TERM $$", NULL};
    assert_int_equal(test_run(sig, NULL, NULL, NULL, NULL, NULL), 128 + 15);
    const char *missing[] = {"/nonexistent/program", NULL};
    assert_int_equal(test_run(missing, NULL, NULL, NULL, NULL, &err), 127);
    assert_contains(buf_str(&err), "cannot run /nonexistent/program");

    test_run_options slow = {NULL, NULL, NULL, NULL, 300};
    const char *sleeper[] = {"sleep", "10", NULL};
    assert_int_equal(test_run_opts(sleeper, &slow, NULL, NULL), 128 + 9);

    char *dir = test_tempdir();
    assert_non_null(dir);
    char *file = test_path_join(dir, "f.txt");
    assert_int_equal(test_write_file(file, "hello"), 0);
    assert_int_equal(test_read_file(file, &out), 0);
    assert_string_equal(buf_str(&out), "hello");
    test_rmtree(dir);
    assert_int_equal(test_read_file(file, &out), -1);
    free(file);
    free(dir);
    buf_free(&out);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verifier_matches_published_vectors),
        cmocka_unit_test(test_run_captures_and_feeds),
        cmocka_unit_test_setup(test_control_endpoints, reset),
        cmocka_unit_test_setup(test_unsigned_dynamodb_is_rejected, reset),
        cmocka_unit_test_setup(test_hand_signed_failures, reset),
        cmocka_unit_test_setup(test_imds_token_flow, reset),
        cmocka_unit_test_setup(test_container_credentials, reset),
        cmocka_unit_test_setup(test_web_identity_is_unsigned, reset),
        cmocka_unit_test_setup(test_engine_signer_is_accepted, reset),
        cmocka_unit_test_setup(test_smoke_script, reset),
    };
    return cmocka_run_group_tests_name("fakeaws", tests, setup, teardown);
}
