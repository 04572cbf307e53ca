/* test_creds_remote.c - the credential providers that talk HTTP, against
 * the fake AWS server on loopback: IMDSv2, the container endpoint, STS
 * AssumeRole (signed) and AssumeRoleWithWebIdentity, SSO profiles (the
 * portal's GetRoleCredentials, the OIDC CreateToken), and refresh. Every
 * credential obtained is checked by signing GetCallerIdentity with it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "creds.h"
#include "fetch.h"
#include "sigv4.h"
#include "testsupport.h"
#include "xml.h"

static test_server fake;
static char dir[64];

static const char *const vars[] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL_SSO",
    "AWS_ENDPOINT_URL_SSO_OIDC", "HOME", NULL};
static char *saved[sizeof vars / sizeof *vars];

static void write_file(const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static const char *path_of(const char *name)
{
    static char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return path;
}

/* POST a JSON body to one of the server's control endpoints. */
static void control(const char *path, const char *json)
{
    char url[128];
    snprintf(url, sizeof url, "%s%s", fake.url, path);
    if (test_http("POST", url, json, NULL) != 200) fail_msg("POST %s %s failed", path, json);
}

static int group_setup(void **state)
{
    (void)state;
    return test_fakeaws_start(&fake, NULL);
}

static int group_teardown(void **state)
{
    (void)state;
    test_server_stop(&fake);
    return 0;
}

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        saved[i] = v ? strdup(v) : NULL;
        unsetenv(vars[i]);
    }
    strcpy(dir, "/tmp/mighost-itcreds-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    setenv("HOME", dir, 1);
    setenv("AWS_CONFIG_FILE", path_of("config"), 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", path_of("credentials"), 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    setenv("AWS_ENDPOINT_URL_STS", fake.url, 1);
    control("/__config", "{\"expire_after_ms\": null, \"advertise_expiry_ms\": null, "
                         "\"web_identity_token\": null, \"external_id\": null, "
                         "\"container_token\": \"container-token\"}");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; vars[i]; i++) {
        if (saved[i]) setenv(vars[i], saved[i], 1);
        else unsetenv(vars[i]);
        free(saved[i]);
        saved[i] = NULL;
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Sign STS GetCallerIdentity with cr and return the Arn (heap) the server
 * saw, or NULL if it rejected the credentials. */
static char *caller_arn(const aws_creds *cr)
{
    static const char body[] = "Action=GetCallerIdentity&Version=2011-06-15";
    const char *ctype = "application/x-www-form-urlencoded; charset=utf-8";
    const char *host = strstr(fake.url, "://") + 3;
    sigv4_header sh[] = {{"Host", host}, {"Content-Type", ctype}};
    sigv4_request rq = {"POST", "/", NULL, sh, 2, body, strlen(body), NULL};
    sigv4_credentials sc = {cr->access_key_id, cr->secret_access_key, cr->session_token};
    sigv4_params sp = {.creds = &sc, .region = "us-east-1", .service = "sts",
                       .when = time(NULL), .normalize_path = 1, .double_encode_path = 1};
    sigv4_result sig;
    assert_int_equal(sigv4_sign_header(&rq, &sp, NULL, &sig), 0);
    buf h[5] = {BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT, BUF_INIT}, url = BUF_INIT, err = BUF_INIT;
    buf_printf(&h[0], "Host: %s", host);
    buf_printf(&h[1], "Content-Type: %s", ctype);
    buf_printf(&h[2], "X-Amz-Date: %s", sig.amz_date);
    buf_printf(&h[3], "Authorization: %s", sig.authorization);
    size_t nh = 4;
    if (cr->session_token) buf_printf(&h[nh++], "X-Amz-Security-Token: %s", cr->session_token);
    const char *lines[5];
    for (size_t i = 0; i < nh; i++) lines[i] = buf_str(&h[i]);
    buf_printf(&url, "%s/", fake.url);
    fetch_request frq = {.method = "POST", .url = buf_str(&url), .headers = lines,
                         .nheaders = nh, .body = body, .body_len = strlen(body)};
    fetch_response resp;
    char *arn = NULL;
    if (fetch(&frq, &resp, &err) == 0 && resp.status == 200) {
        static const char *const paths[] = {"GetCallerIdentityResult/Arn"};
        buf ignored = BUF_INIT;
        xml_extract(buf_str(&resp.body), resp.body.len, paths, 1, &arn, &ignored);
        buf_free(&ignored);
    }
    fetch_response_free(&resp);
    for (int i = 0; i < 5; i++) buf_free(&h[i]);
    buf_free(&url);
    buf_free(&err);
    sigv4_result_free(&sig);
    return arn;
}

static void expect_caller(const aws_creds *cr, const char *want_in_arn)
{
    char *arn = caller_arn(cr);
    if (!arn) fail_msg("the server rejected the credentials from %s", cr->source);
    if (!strstr(arn, want_in_arn)) fail_msg("caller %s, expected %s", arn, want_in_arn);
    free(arn);
}

static creds_chain *new_chain(const char *profile)
{
    creds_options opt = {profile, "us-east-1", 0};
    return creds_chain_new(&opt);
}

static const aws_creds *get_ok(creds_chain *c, time_t now)
{
    buf err = BUF_INIT;
    const aws_creds *cr = NULL;
    if (creds_chain_get(c, now, &cr, &err) != 0) fail_msg("credentials: %s", buf_str(&err));
    buf_free(&err);
    return cr;
}

static void expect_fail(const char *profile, const char *want, const char *secret)
{
    creds_chain *c = new_chain(profile);
    buf err = BUF_INIT;
    const aws_creds *cr;
    assert_int_equal(creds_chain_get(c, time(NULL), &cr, &err), -1);
    if (!strstr(buf_str(&err), want)) fail_msg("'%s' not in: %s", want, buf_str(&err));
    if (secret && strstr(buf_str(&err), secret)) fail_msg("secret in: %s", buf_str(&err));
    buf_free(&err);
    creds_chain_free(c);
}

static void test_imds(void **state)
{
    (void)state;
    unsetenv("AWS_EC2_METADATA_DISABLED");
    buf ep = BUF_INIT;
    buf_printf(&ep, "%s/", fake.url);   /* a trailing slash is tolerated */
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", buf_str(&ep), 1);
    creds_chain *c = new_chain(NULL);
    time_t now = time(NULL);
    const aws_creds *cr = get_ok(c, now);
    assert_string_equal(cr->source, "imds");
    assert_non_null(cr->session_token);
    assert_true(cr->expiration > now + 3600);
    expect_caller(cr, "assumed-role/test-role/");
    /* Near expiry (injected clock): new keys from IMDS. */
    char *first = strdup(cr->access_key_id);
    cr = get_ok(c, cr->expiration - 60);
    assert_string_not_equal(cr->access_key_id, first);
    expect_caller(cr, "assumed-role/test-role/");
    free(first);
    creds_chain_free(c);
    buf_free(&ep);
}

static void test_container_full_uri(void **state)
{
    (void)state;
    buf uri = BUF_INIT;
    buf_printf(&uri, "%s/container-credentials", fake.url);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", buf_str(&uri), 1);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "container-token", 1);
    creds_chain *c = new_chain(NULL);
    const aws_creds *cr = get_ok(c, time(NULL));
    assert_string_equal(cr->source, "container");
    assert_non_null(cr->session_token);
    expect_caller(cr, "assumed-role/test-role/ecs-task");
    creds_chain_free(c);

    /* The token file wins over the variable and is read on every fetch. */
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "WrongContainerToken", 1);
    expect_fail(NULL, "HTTP 401", "WrongContainerToken");
    write_file("ctoken", "container-token\n");
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path_of("ctoken"), 1);
    c = new_chain(NULL);
    cr = get_ok(c, time(NULL));
    expect_caller(cr, "ecs-task");
    write_file("ctoken", "RotatedWrongToken");
    buf err = BUF_INIT;
    assert_int_equal(creds_chain_refresh(c, time(NULL), &cr, &err), -1);
    assert_non_null(strstr(buf_str(&err), "HTTP 401"));
    assert_null(strstr(buf_str(&err), "RotatedWrongToken"));
    buf_free(&err);
    creds_chain_free(c);
    buf_free(&uri);
}

static void write_role_profiles(const char *source_secret)
{
    buf creds = BUF_INIT;
    buf_printf(&creds, "[base]\naws_access_key_id = AKIDTEST\naws_secret_access_key = %s\n",
               source_secret);
    write_file("credentials", buf_str(&creds));
    write_file("config",
               "[profile role]\n"
               "role_arn = arn:aws:iam::123456789012:role/migrator\n"
               "source_profile = base\n"
               "role_session_name = itest\n"
               "duration_seconds = 1800\n"
               "external_id = ext-123\n"
               "[profile chained]\n"
               "role_arn = arn:aws:iam::123456789012:role/second\n"
               "source_profile = role\n"
               "external_id = ext-123\n"
               "[profile fromenv]\n"
               "role_arn = arn:aws:iam::123456789012:role/envrole\n"
               "credential_source = Environment\n"
               "external_id = ext-123\n");
    buf_free(&creds);
}

static void test_assume_role(void **state)
{
    (void)state;
    control("/__config", "{\"external_id\": \"ext-123\"}");
    write_role_profiles("test-secret");
    creds_chain *c = new_chain("role");
    time_t now = time(NULL);
    const aws_creds *cr = get_ok(c, now);
    assert_string_equal(cr->source, "assume-role");
    assert_true(cr->expiration >= now + 1790 && cr->expiration <= now + 1810);
    expect_caller(cr, "assumed-role/migrator/itest");
    creds_chain_free(c);

    /* A role whose source is another role. */
    c = new_chain("chained");
    cr = get_ok(c, time(NULL));
    expect_caller(cr, "assumed-role/second/mighost-");
    creds_chain_free(c);

    /* credential_source = Environment: signed with the env keys. */
    setenv("AWS_ACCESS_KEY_ID", "AKIDTEST", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "test-secret", 1);
    c = new_chain("fromenv");
    expect_caller(get_ok(c, time(NULL)), "assumed-role/envrole/");
    creds_chain_free(c);
}

static void test_assume_role_errors(void **state)
{
    (void)state;
    control("/__config", "{\"external_id\": \"other-id\"}");
    write_role_profiles("test-secret");
    expect_fail("role", "AccessDenied", NULL);
    control("/__config", "{\"external_id\": null}");
    write_role_profiles("WrongSourceSecret");
    expect_fail("role", "SignatureDoesNotMatch", "WrongSourceSecret");
}

static void test_web_identity(void **state)
{
    (void)state;
    control("/__config", "{\"web_identity_token\": \"WebTokenOne\"}");
    write_file("token", "WebTokenOne\n");
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path_of("token"), 1);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/web", 1);
    setenv("AWS_ROLE_SESSION_NAME", "websession", 1);
    creds_chain *c = new_chain(NULL);
    const aws_creds *cr = get_ok(c, time(NULL));
    assert_string_equal(cr->source, "web-identity");
    expect_caller(cr, "assumed-role/web/websession");

    /* The file is read again at refresh: a bad token now fails, and the
     * token is not in the message. */
    write_file("token", "BadWebToken");
    buf err = BUF_INIT;
    assert_int_equal(creds_chain_refresh(c, time(NULL), &cr, &err), -1);
    assert_non_null(strstr(buf_str(&err), "InvalidIdentityToken"));
    assert_null(strstr(buf_str(&err), "BadWebToken"));
    buf_free(&err);
    creds_chain_free(c);

    /* The same from a profile instead of the environment. */
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    unsetenv("AWS_ROLE_ARN");
    unsetenv("AWS_ROLE_SESSION_NAME");
    write_file("token", "WebTokenOne");
    buf cfg = BUF_INIT;
    buf_printf(&cfg, "[profile web]\nrole_arn = arn:aws:iam::123456789012:role/webprof\n"
                     "web_identity_token_file = %s\nrole_session_name = fromprofile\n",
               path_of("token"));
    write_file("config", buf_str(&cfg));
    c = new_chain("web");
    expect_caller(get_ok(c, time(NULL)), "assumed-role/webprof/fromprofile");
    creds_chain_free(c);
    buf_free(&cfg);
}

static void test_refresh_expiring(void **state)
{
    (void)state;
    write_role_profiles("test-secret");
    /* The server issues credentials that expire in two minutes: already
     * inside the refresh window, so the next get fetches new ones. */
    control("/__config", "{\"expire_after_ms\": 120000}");
    creds_chain *c = new_chain("role");
    time_t now = time(NULL);
    const aws_creds *cr = get_ok(c, now);
    assert_true(cr->expiration <= now + 121);
    char *first = strdup(cr->access_key_id);
    cr = get_ok(c, now);
    assert_string_not_equal(cr->access_key_id, first);
    expect_caller(cr, "assumed-role/migrator/itest");
    free(first);

    /* Long-lived again (duration_seconds = 1800); moving the injected
     * clock into the window refreshes them. */
    control("/__config", "{\"expire_after_ms\": null}");
    buf err = BUF_INIT;
    assert_int_equal(creds_chain_refresh(c, now, &cr, &err), 0);
    assert_true(cr->expiration > now + 1700);
    first = strdup(cr->access_key_id);
    assert_string_equal(get_ok(c, cr->expiration - CREDS_REFRESH_WINDOW - 1)->access_key_id, first);
    cr = get_ok(c, cr->expiration - CREDS_REFRESH_WINDOW + 1);
    assert_string_not_equal(cr->access_key_id, first);
    free(first);

    /* After the server revoked them (ExpiredToken), a forced refresh
     * gives working credentials. */
    control("/__expire-credentials", "{}");
    assert_null(caller_arn(cr));
    assert_int_equal(creds_chain_refresh(c, time(NULL), &cr, &err), 0);
    expect_caller(cr, "assumed-role/migrator/itest");
    buf_free(&err);
    creds_chain_free(c);
}

/* The SSO token cache of `aws sso login`: HOME/.aws/sso/cache/NAME.json. */
static void write_sso_cache(const char *name, const char *token, long expires_in,
                            const char *refresh)
{
    char stamp[32], path[512], json[1024];
    time_t t = time(NULL) + expires_in;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(path, sizeof path, "%s/.aws", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/.aws/sso", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/.aws/sso/cache", dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, ".aws/sso/cache/%s.json", name);
    if (refresh)
        snprintf(json, sizeof json, "{\"startUrl\": \"https://example.awsapps.com/start\", "
                 "\"region\": \"us-east-1\", \"accessToken\": \"%s\", \"expiresAt\": \"%s\", "
                 "\"clientId\": \"client-1\", \"clientSecret\": \"client-secret-1\", "
                 "\"registrationExpiresAt\": \"2099-01-01T00:00:00Z\", \"refreshToken\": \"%s\"}",
                 token, stamp, refresh);
    else
        snprintf(json, sizeof json, "{\"startUrl\": \"https://example.awsapps.com/start\", "
                 "\"region\": \"us-east-1\", \"accessToken\": \"%s\", \"expiresAt\": \"%s\"}",
                 token, stamp);
    write_file(path, json);
}

/* SHA-1 of the session name "corp" and of the legacy start URL: the
 * cache file names the AWS CLI uses. */
#define CORP_CACHE "ee0bfd2552fbd840c02cc48b6e823320543c450f"
#define LEGACY_CACHE "e8be5486177c5b5392bd9aa76563515b29358e6e"

/* Both SSO endpoints on the fake server; profile "dev" signs in through
 * the session "corp", then `more` (further config text). */
static void sso_setup(const char *more)
{
    setenv("AWS_ENDPOINT_URL_SSO", fake.url, 1);
    setenv("AWS_ENDPOINT_URL_SSO_OIDC", fake.url, 1);
    buf cfg = BUF_INIT;
    buf_printf(&cfg, "[profile dev]\nsso_session = corp\nsso_account_id = 123456789012\n"
                     "sso_role_name = Admin\nregion = us-east-1\n"
                     "[sso-session corp]\nsso_start_url = https://example.awsapps.com/start\n"
                     "sso_region = us-east-1\nsso_registration_scopes = sso:account:access\n%s", more);
    write_file("config", buf_str(&cfg));
    buf_free(&cfg);
}

static void test_sso(void **state)
{
    (void)state;
    sso_setup("[profile old]\nsso_start_url = https://example.awsapps.com/start\n"
              "sso_region = us-east-1\nsso_account_id = 123456789012\nsso_role_name = ReadOnly\n");
    control("/__config", "{\"sso_access_tokens\": [\"session-token-1\"], "
                         "\"sso_refresh_token\": null, \"sso_client_id\": \"client-1\", "
                         "\"sso_client_secret\": \"client-secret-1\"}");
    /* No cached token: one line saying how to sign in. */
    expect_fail("dev", "run: aws sso login --profile dev", NULL);
    /* A valid cached token: role credentials from the portal. */
    write_sso_cache(CORP_CACHE, "session-token-1", 3600, NULL);
    creds_chain *c = new_chain("dev");
    time_t now = time(NULL);
    const aws_creds *cr = get_ok(c, now);
    assert_string_equal(cr->source, "sso");
    assert_true(cr->expiration > now + 3000 && cr->expiration <= now + 3601);
    expect_caller(cr, "assumed-role/Admin/");
    /* Refreshed before they expire: a new GetRoleCredentials. */
    char *first = strdup(cr->access_key_id);
    long calls = test_fakeaws_stat(&fake, "by_target.sso:GetRoleCredentials");
    cr = get_ok(c, cr->expiration - 60);
    assert_string_not_equal(cr->access_key_id, first);
    assert_int_equal(test_fakeaws_stat(&fake, "by_target.sso:GetRoleCredentials"), calls + 1);
    free(first);
    creds_chain_free(c);
    /* The legacy form: the cache is named after the start URL. */
    write_sso_cache(LEGACY_CACHE, "session-token-1", 3600, NULL);
    c = new_chain("old");
    expect_caller(get_ok(c, time(NULL)), "assumed-role/ReadOnly/");
    creds_chain_free(c);
    /* A token the portal no longer accepts, and an expired one. */
    write_sso_cache(CORP_CACHE, "revoked-token", 3600, NULL);
    expect_fail("dev", "run: aws sso login --profile dev", "revoked-token");
    write_sso_cache(CORP_CACHE, "session-token-1", -60, NULL);
    expect_fail("dev", "has expired: run: aws sso login --profile dev", "session-token-1");
}

/* A session token about to expire is renewed with CreateToken and the
 * cache rewritten; a refresh token the server refuses means signing in. */
static void test_sso_token_refresh(void **state)
{
    (void)state;
    sso_setup("");
    control("/__config", "{\"sso_access_tokens\": [], \"sso_refresh_token\": \"refresh-1\", "
                         "\"sso_client_id\": \"client-1\", \"sso_client_secret\": \"client-secret-1\"}");
    write_sso_cache(CORP_CACHE, "old-session-token", 300, "refresh-1");
    long before = test_fakeaws_stat(&fake, "by_target.sso-oidc:CreateToken");
    creds_chain *c = new_chain("dev");
    expect_caller(get_ok(c, time(NULL)), "assumed-role/Admin/");
    creds_chain_free(c);
    assert_int_equal(test_fakeaws_stat(&fake, "by_target.sso-oidc:CreateToken"), before + 1);
    /* The cache holds the new token and the rotated refresh token. */
    buf text = BUF_INIT;
    char path[512];
    snprintf(path, sizeof path, "%s/.aws/sso/cache/" CORP_CACHE ".json", dir);
    assert_int_equal(test_read_file(path, &text), 0);
    assert_null(strstr(buf_str(&text), "old-session-token"));
    assert_null(strstr(buf_str(&text), "\"refresh-1\""));
    assert_non_null(strstr(buf_str(&text), "\"clientSecret\":\"client-secret-1\""));
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    /* An expired token whose refresh token is refused: sign in again. */
    write_sso_cache(CORP_CACHE, "old-session-token", -10, "refresh-unknown");
    expect_fail("dev", "has expired: run: aws sso login --profile dev", "refresh-unknown");
    buf_free(&text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_imds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_full_uri, setup, teardown),
        cmocka_unit_test_setup_teardown(test_assume_role, setup, teardown),
        cmocka_unit_test_setup_teardown(test_assume_role_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_web_identity, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_expiring, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sso, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sso_token_refresh, setup, teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
