/* test_creds.c - the credential chain: order, precedence, credential_process,
 * refresh with an injected clock, region, and secrets kept out of messages.
 *
 * Every test runs with HOME, AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE
 * pointing into a temp dir and IMDS disabled; the only network use is
 * connections to closed loopback ports, which fail at once.
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
#include "log.h"
#include "xml.h"

/* Everything the chain reads from the environment. */
static const char *const vars[] = {
    "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
    "AWS_CREDENTIAL_EXPIRATION", "AWS_PROFILE", "AWS_REGION", "AWS_DEFAULT_REGION",
    "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ROLE_ARN", "AWS_ROLE_SESSION_NAME", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_AUTHORIZATION_TOKEN",
    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "AWS_EC2_METADATA_DISABLED",
    "AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE",
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_STS", "HOME", NULL};
#define NVARS (sizeof vars / sizeof *vars)

static char *saved[NVARS];
static char dir[64];
static char config_path[128], creds_path[128];

/* A port on loopback that nothing listens on: connections fail at once. */
#define CLOSED_URL "http://127.0.0.1:1"

static void write_file(const char *name, const char *text, int mode)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    chmod(path, (mode_t)mode);
}

static void write_config(const char *text) { write_file("config", text, 0600); }
static void write_credentials(const char *text) { write_file("credentials", text, 0600); }

static int setup(void **state)
{
    (void)state;
    for (size_t i = 0; vars[i]; i++) {
        const char *v = getenv(vars[i]);
        saved[i] = v ? strdup(v) : NULL;
        unsetenv(vars[i]);
    }
    strcpy(dir, "/tmp/mighost-creds-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    snprintf(config_path, sizeof config_path, "%s/config", dir);
    snprintf(creds_path, sizeof creds_path, "%s/credentials", dir);
    setenv("HOME", dir, 1);
    setenv("AWS_CONFIG_FILE", config_path, 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", creds_path, 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
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

typedef struct got {
    char akid[128], secret[128], token[128], source[64];
    time_t expiration;
} got;

/* Resolve once with a fresh chain. Returns 0 or -1 (message in err). */
static int process_timeout;   /* 0: the default */

static int resolve(const char *profile, got *g, buf *err)
{
    creds_options opt = {profile, "us-east-1", process_timeout};
    creds_chain *c = creds_chain_new(&opt);
    const aws_creds *cr;
    int rc = creds_chain_get(c, 1700000000, &cr, err);
    memset(g, 0, sizeof *g);
    if (rc == 0) {
        snprintf(g->akid, sizeof g->akid, "%s", cr->access_key_id);
        snprintf(g->secret, sizeof g->secret, "%s", cr->secret_access_key);
        snprintf(g->token, sizeof g->token, "%s", cr->session_token ? cr->session_token : "");
        snprintf(g->source, sizeof g->source, "%s", cr->source);
        g->expiration = cr->expiration;
    }
    creds_chain_free(c);
    return rc;
}

static void expect_akid(const char *profile, const char *akid, const char *source)
{
    buf err = BUF_INIT;
    got g;
    if (resolve(profile, &g, &err) != 0) fail_msg("unexpected error: %s", buf_str(&err));
    assert_string_equal(g.akid, akid);
    assert_string_equal(g.source, source);
    buf_free(&err);
}

/* The error must contain `want` and none of the NULL-terminated secrets. */
static void expect_error(const char *profile, const char *want, const char *const *secrets)
{
    buf err = BUF_INIT;
    got g;
    assert_int_equal(resolve(profile, &g, &err), -1);
    if (!strstr(buf_str(&err), want)) fail_msg("'%s' not in: %s", want, buf_str(&err));
    for (; secrets && *secrets; secrets++)
        if (strstr(buf_str(&err), *secrets)) fail_msg("secret leaked: %s", buf_str(&err));
    buf_free(&err);
}

static void test_nothing_configured(void **state)
{
    (void)state;
    expect_error(NULL, "Unable to locate credentials", NULL);
}

static void test_env_beats_files(void **state)
{
    (void)state;
    write_credentials("[default]\naws_access_key_id = AKIDFILE\naws_secret_access_key = s\n");
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    buf err = BUF_INIT;
    got g;
    assert_int_equal(resolve(NULL, &g, &err), 0);
    assert_string_equal(g.akid, "AKIDENV");
    assert_string_equal(g.secret, "envsecret");
    assert_string_equal(g.token, "envtoken");
    assert_string_equal(g.source, "environment");
    assert_int_equal(g.expiration, 0);
    buf_free(&err);
}

static void test_env_half_set(void **state)
{
    (void)state;
    static const char *const secrets[] = {"HalfSecretValue", NULL};
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    expect_error(NULL, "AWS_SECRET_ACCESS_KEY", NULL);
    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("AWS_SECRET_ACCESS_KEY", "HalfSecretValue", 1);
    expect_error(NULL, "AWS_ACCESS_KEY_ID is not", secrets);
}

static void test_profile_flag_skips_env(void **state)
{
    (void)state;
    write_credentials("[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = s\n");
    setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    expect_akid("dev", "AKIDDEV", "shared-credentials-file");
    /* AWS_PROFILE selects the profile but the environment still wins. */
    setenv("AWS_PROFILE", "dev", 1);
    expect_akid(NULL, "AKIDENV", "environment");
}

static void test_aws_profile_selects(void **state)
{
    (void)state;
    write_credentials("[default]\naws_access_key_id = AKIDDEF\naws_secret_access_key = s\n"
                      "[dev]\naws_access_key_id = AKIDDEV\naws_secret_access_key = s\n");
    expect_akid(NULL, "AKIDDEF", "shared-credentials-file");
    setenv("AWS_PROFILE", "dev", 1);
    expect_akid(NULL, "AKIDDEV", "shared-credentials-file");
    /* --profile beats AWS_PROFILE. */
    expect_akid("default", "AKIDDEF", "shared-credentials-file");
}

static void test_credentials_file_beats_config(void **state)
{
    (void)state;
    write_config("[profile dev]\naws_access_key_id = AKIDCONFIG\naws_secret_access_key = c\n"
                 "[profile cfgonly]\naws_access_key_id = AKIDCFGONLY\n"
                 "aws_secret_access_key = c\naws_session_token = tok\n");
    write_credentials("[dev]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = s\n");
    expect_akid("dev", "AKIDCREDS", "shared-credentials-file");
    expect_akid("cfgonly", "AKIDCFGONLY", "config-file");
}

static void test_missing_profile(void **state)
{
    (void)state;
    write_credentials("[dev]\naws_access_key_id = A\naws_secret_access_key = s\n");
    expect_error("nope", "The config profile (nope) could not be found", NULL);
    setenv("AWS_PROFILE", "alsonope", 1);
    expect_error(NULL, "The config profile (alsonope) could not be found", NULL);
    /* The implicit default need not exist. */
    unsetenv("AWS_PROFILE");
    expect_error(NULL, "Unable to locate credentials", NULL);
}

static void test_partial_file_keys(void **state)
{
    (void)state;
    static const char *const secrets[] = {"PartialSecretValue", NULL};
    write_credentials("[dev]\naws_secret_access_key = PartialSecretValue\n");
    expect_error("dev", "aws_access_key_id is missing", secrets);
}

static void test_malformed_file_no_secret(void **state)
{
    (void)state;
    static const char *const secrets[] = {"PastedSecretValue", NULL};
    write_credentials("[dev]\nPastedSecretValue\n");
    expect_error("dev", "line 2", secrets);
}

static const char good_json[] =
    "{\"Version\": 1, \"AccessKeyId\": \"AKIDPROC\", \"SecretAccessKey\": \"ProcSecretValue\","
    " \"SessionToken\": \"ProcTokenValue\", \"Expiration\": \"2030-01-01T00:00:00.123Z\"}";

static void test_credential_process(void **state)
{
    (void)state;
    buf script = BUF_INIT, cfg = BUF_INIT;
    buf_printf(&script, "#!/bin/sh\necho 'note on stderr' >&2\ncat <<'EOF'\n%s\nEOF\n", good_json);
    write_file("proc.sh", buf_str(&script), 0755);
    buf_printf(&cfg, "[profile proc]\ncredential_process = %s/proc.sh --flag 'quoted arg'\n"
                     "aws_access_key_id = AKIDCONFIG\naws_secret_access_key = c\n", dir);
    write_config(buf_str(&cfg));
    buf err = BUF_INIT;
    got g;
    assert_int_equal(resolve("proc", &g, &err), 0);
    assert_string_equal(g.akid, "AKIDPROC");
    assert_string_equal(g.secret, "ProcSecretValue");
    assert_string_equal(g.token, "ProcTokenValue");
    assert_string_equal(g.source, "credential-process");
    assert_int_equal(g.expiration, 1893456000);   /* 2030-01-01T00:00:00Z */
    /* Static keys in the credentials file come before the process. */
    write_credentials("[proc]\naws_access_key_id = AKIDCREDS\naws_secret_access_key = s\n");
    expect_akid("proc", "AKIDCREDS", "shared-credentials-file");
    buf_free(&script);
    buf_free(&cfg);
    buf_free(&err);
}

static void test_credential_process_failures(void **state)
{
    (void)state;
    static const char *const secrets[] = {"LeakedStdoutSecret", "ProcSecretValue",
                                          "ProcTokenValue", NULL};
    buf cfg = BUF_INIT;
    write_file("fail.sh", "#!/bin/sh\necho '{\"SecretAccessKey\": \"LeakedStdoutSecret\"}'\n"
                          "echo 'token expired, run sso login' >&2\nexit 3\n", 0755);
    write_file("badjson.sh", "#!/bin/sh\necho 'LeakedStdoutSecret not json'\n"
                             "echo 'half-written output' >&2\n", 0755);
    write_file("v2.sh", "#!/bin/sh\necho '{\"Version\": 2, \"AccessKeyId\": \"A\", "
                        "\"SecretAccessKey\": \"ProcSecretValue\"}'\n", 0755);
    buf_printf(&cfg, "[profile fail]\ncredential_process = %s/fail.sh\n"
                     "[profile badjson]\ncredential_process = %s/badjson.sh\n"
                     "[profile v2]\ncredential_process = %s/v2.sh\n"
                     "[profile missing]\ncredential_process = %s/no-such-command\n",
               dir, dir, dir, dir);
    write_config(buf_str(&cfg));
    expect_error("fail", "exit status 3; its stderr begins: token expired, run sso login", secrets);
    expect_error("badjson", "half-written output", secrets);
    expect_error("badjson", "did not return a JSON object", secrets);
    expect_error("v2", "unsupported Version", secrets);
    expect_error("missing", "exit status 127", secrets);
    /* A failing configured provider stops the chain: no fallthrough to
     * the config file keys of the same profile. */
    buf_reset(&cfg);
    buf_printf(&cfg, "[profile fail]\ncredential_process = %s/fail.sh\n"
                     "aws_access_key_id = AKIDCONFIG\naws_secret_access_key = c\n", dir);
    write_config(buf_str(&cfg));
    expect_error("fail", "exit status 3", secrets);
    buf_free(&cfg);
}

/* A command that hangs is stopped after the timeout; the message names
 * the profile and the command, quotes only the first line of stderr, and
 * masks what looks like a secret in both. */
static void test_credential_process_timeout(void **state)
{
    (void)state;
    static const char *const secrets[] = {"AKIAABCDEFGHIJKLMNOP", "Sup3rS3cretPassw0rd",
                                          "abcd1234efgh5678ijkl", "SECONDLINE", NULL};
    buf cfg = BUF_INIT;
    write_file("hang.sh", "#!/bin/sh\necho 'waiting for AKIAABCDEFGHIJKLMNOP token=abcd1234efgh5678ijkl' >&2\n"
                          "echo 'SECONDLINE' >&2\nsleep 30\n", 0755);
    buf_printf(&cfg, "[profile hang]\ncredential_process = %s/hang.sh --password Sup3rS3cretPassw0rd\n",
               dir);
    write_config(buf_str(&cfg));
    process_timeout = 1;
    time_t start = time(NULL);
    expect_error("hang", "credential_process for profile \"hang\" (command: ", secrets);
    assert_true(time(NULL) - start < 10);
    expect_error("hang", "hang.sh --password ****) did not finish within 1 s", secrets);
    expect_error("hang", "its stderr begins: waiting for **** token=****", secrets);
    process_timeout = 0;
    buf_free(&cfg);
}

/* A process whose key changes on every run (a counter file) and that
 * fails while a flag file exists. */
static void write_counting_process(const char *expiration)
{
    buf s = BUF_INIT, cfg = BUF_INIT;
    buf_printf(&s, "#!/bin/sh\n"
                   "cd '%s' || exit 9\n"
                   "if [ -e fail-now ]; then echo 'refresh broken' >&2; exit 1; fi\n"
                   "n=$(cat counter 2>/dev/null || echo 0); n=$((n + 1)); echo $n > counter\n"
                   "printf '{\"Version\":1,\"AccessKeyId\":\"AKID%%s\",\"SecretAccessKey\":"
                   "\"sec%%s\",\"SessionToken\":\"tok\",\"Expiration\":\"%s\"}' $n $n\n",
               dir, expiration);
    write_file("count.sh", buf_str(&s), 0755);
    buf_printf(&cfg, "[default]\ncredential_process = %s/count.sh\n", dir);
    write_config(buf_str(&cfg));
    buf_free(&s);
    buf_free(&cfg);
}

static const aws_creds *get_at(creds_chain *c, time_t now)
{
    buf err = BUF_INIT;
    const aws_creds *cr = NULL;
    if (creds_chain_get(c, now, &cr, &err) != 0) fail_msg("get failed: %s", buf_str(&err));
    buf_free(&err);
    return cr;
}

static void test_refresh_with_injected_clock(void **state)
{
    (void)state;
    const time_t exp = 1893456000;   /* 2030-01-01T00:00:00Z */
    write_counting_process("2030-01-01T00:00:00+00:00");
    creds_options opt = {NULL, "us-east-1", 0};
    creds_chain *c = creds_chain_new(&opt);

    assert_string_equal(get_at(c, exp - 3600)->access_key_id, "AKID1");
    assert_int_equal(get_at(c, exp - 3600)->expiration, exp);
    /* Outside the window: cached. */
    assert_string_equal(get_at(c, exp - CREDS_REFRESH_WINDOW - 1)->access_key_id, "AKID1");
    /* Inside it: refreshed. */
    assert_string_equal(get_at(c, exp - CREDS_REFRESH_WINDOW)->access_key_id, "AKID2");
    /* The new ones are inside the window too (same expiration): no new
     * attempt until CREDS_RETRY_DELAY has passed. */
    time_t t = exp - CREDS_REFRESH_WINDOW;
    assert_string_equal(get_at(c, t + CREDS_RETRY_DELAY - 1)->access_key_id, "AKID2");
    assert_string_equal(get_at(c, t + CREDS_RETRY_DELAY)->access_key_id, "AKID3");
    t += CREDS_RETRY_DELAY;

    /* The refresh fails while the old ones are still valid: keep them
     * (and warn, which is silenced here). */
    write_file("fail-now", "", 0600);
    log_level old_level = log_get_level();
    log_set_level(LOG_ERROR);
    assert_string_equal(get_at(c, t + CREDS_RETRY_DELAY)->access_key_id, "AKID3");
    assert_string_equal(get_at(c, exp - 1)->access_key_id, "AKID3");
    log_set_level(old_level);
    /* Expired and the refresh fails: an error that says why. */
    buf err = BUF_INIT;
    const aws_creds *cr;
    assert_int_equal(creds_chain_get(c, exp, &cr, &err), -1);
    assert_non_null(strstr(buf_str(&err), "expired"));
    assert_non_null(strstr(buf_str(&err), "refresh broken"));
    assert_null(strstr(buf_str(&err), "sec3"));
    /* Fixed: the next call refreshes. */
    char path[128];
    snprintf(path, sizeof path, "%s/fail-now", dir);
    unlink(path);
    assert_string_equal(get_at(c, exp + 5)->access_key_id, "AKID4");
    /* A forced refresh always asks again. */
    buf_reset(&err);
    assert_int_equal(creds_chain_refresh(c, exp - 7200, &cr, &err), 0);
    assert_string_equal(cr->access_key_id, "AKID5");
    buf_free(&err);
    creds_chain_free(c);
}

static void test_static_never_refreshes(void **state)
{
    (void)state;
    write_credentials("[default]\naws_access_key_id = AKIDSTATIC\naws_secret_access_key = s\n");
    creds_options opt = {NULL, NULL, 0};
    creds_chain *c = creds_chain_new(&opt);
    const aws_creds *a = get_at(c, 1000);
    assert_int_equal(a->expiration, 0);
    /* Removing the file does not matter: nothing expires. */
    unlink(creds_path);
    assert_string_equal(get_at(c, 4000000000)->access_key_id, "AKIDSTATIC");
    creds_chain_free(c);
}

static void test_region_precedence(void **state)
{
    (void)state;
    write_config("[default]\nregion = default-region\n[profile dev]\nregion = dev-region\n");
    char *r = creds_resolve_region(NULL, NULL);
    assert_string_equal(r, "default-region");
    free(r);
    r = creds_resolve_region(NULL, "dev");
    assert_string_equal(r, "dev-region");
    free(r);
    setenv("AWS_PROFILE", "dev", 1);
    r = creds_resolve_region(NULL, NULL);
    assert_string_equal(r, "dev-region");
    free(r);
    setenv("AWS_DEFAULT_REGION", "default-env", 1);
    r = creds_resolve_region(NULL, "dev");
    assert_string_equal(r, "default-env");
    free(r);
    setenv("AWS_REGION", "region-env", 1);
    r = creds_resolve_region(NULL, "dev");
    assert_string_equal(r, "region-env");
    free(r);
    r = creds_resolve_region("cli-region", "dev");
    assert_string_equal(r, "cli-region");
    free(r);
    unsetenv("AWS_REGION");
    unsetenv("AWS_DEFAULT_REGION");
    unsetenv("AWS_PROFILE");
    assert_null(creds_resolve_region(NULL, "nope"));
    unlink(config_path);
    assert_null(creds_resolve_region(NULL, NULL));
}

static void test_role_config_errors(void **state)
{
    (void)state;
    write_config("[profile nosource]\nrole_arn = arn:aws:iam::1:role/r\n"
                 "[profile both]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = a\n"
                 "credential_source = Environment\n"
                 "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n"
                 "[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = a\n"
                 "[profile badsource]\nrole_arn = arn:aws:iam::1:role/r\n"
                 "credential_source = Moon\n"
                 "[profile ghost]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = gone\n"
                 "[profile empty]\nregion = us-east-1\n"
                 "[profile fromempty]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = empty\n"
                 "[profile envsource]\nrole_arn = arn:aws:iam::1:role/r\n"
                 "credential_source = Environment\n"
                 "[profile mfa]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = a\n"
                 "mfa_serial = arn:aws:iam::1:mfa/me\n");
    expect_error("nosource", "neither source_profile nor credential_source", NULL);
    expect_error("both", "both source_profile and credential_source", NULL);
    expect_error("a", "Infinite loop in profile configuration: a -> b -> a", NULL);
    expect_error("badsource", "credential_source \"Moon\"", NULL);
    expect_error("ghost", "source_profile \"gone\"", NULL);
    expect_error("fromempty", "The source profile \"empty\" must have credentials", NULL);
    expect_error("envsource", "No credentials found in credential_source Environment", NULL);
    expect_error("mfa", "mfa_serial", NULL);
}

static void test_sts_failures_keep_secrets(void **state)
{
    (void)state;
    static const char *const secrets[] = {"SourceSecretValue", "SourceTokenValue",
                                          "WebIdentityTokenValue", NULL};
    setenv("AWS_ENDPOINT_URL_STS", CLOSED_URL, 1);
    write_credentials("[src]\naws_access_key_id = AKIDSRC\n"
                      "aws_secret_access_key = SourceSecretValue\n"
                      "aws_session_token = SourceTokenValue\n"
                      "[self]\naws_access_key_id = AKIDSELF\n"
                      "aws_secret_access_key = SourceSecretValue\n");
    write_config("[profile role]\nrole_arn = arn:aws:iam::1:role/r\nsource_profile = src\n"
                 "[profile self]\nrole_arn = arn:aws:iam::1:role/self\nsource_profile = self\n");
    /* The role comes before the profile's own static keys; the STS call
     * fails and that stops the chain. */
    expect_error("role", "AssumeRole for arn:aws:iam::1:role/r (profile \"role\") failed", secrets);
    expect_error("self", "AssumeRole for arn:aws:iam::1:role/self", secrets);

    write_file("token", "WebIdentityTokenValue\n", 0600);
    char path[128];
    snprintf(path, sizeof path, "%s/token", dir);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path, 1);
    expect_error(NULL, "no role", secrets);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::1:role/web", 1);
    expect_error(NULL, "AssumeRoleWithWebIdentity for arn:aws:iam::1:role/web failed", secrets);
    snprintf(path, sizeof path, "%s/no-token", dir);
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", path, 1);
    expect_error(NULL, "web identity token file", secrets);
}

static void test_container_failures_keep_secrets(void **state)
{
    (void)state;
    static const char *const secrets[] = {"ContainerTokenValue", "FileTokenValue", NULL};
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "ContainerTokenValue", 1);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", CLOSED_URL "/creds?x=ContainerTokenValue", 1);
    expect_error(NULL, "Cannot load container credentials", secrets);
    expect_error(NULL, "127.0.0.1", secrets);
    write_file("ctoken", "FileTokenValue", 0600);
    char path[128];
    snprintf(path, sizeof path, "%s/ctoken", dir);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", path, 1);
    expect_error(NULL, "Cannot load container credentials", secrets);
    /* Plain http to a host that is neither loopback nor the agent's
     * address is refused before any connection. */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://0.0.0.0:1/creds", 1);
    expect_error(NULL, "must be an https URL", secrets);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "ftp://127.0.0.1/creds", 1);
    expect_error(NULL, "must be an https URL", secrets);
    setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", "/nonexistent/token", 1);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", CLOSED_URL "/creds", 1);
    expect_error(NULL, "container authorization token file", secrets);
}

static void test_imds_failure_is_silent(void **state)
{
    (void)state;
    /* IMDS that does not answer means "not on EC2": the usual message. */
    unsetenv("AWS_EC2_METADATA_DISABLED");
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", CLOSED_URL "/", 1);
    expect_error(NULL, "Unable to locate credentials", NULL);
}

static void test_container_loopback_allowed(void **state)
{
    (void)state;
    /* Loopback in any spelling passes the http check (and then fails to
     * connect, because nothing listens on port 1). */
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://[::1]:1/creds", 1);
    expect_error(NULL, "GET http://[::1]:1/creds", NULL);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://localhost:1/creds", 1);
    expect_error(NULL, "GET http://localhost:1/creds", NULL);
    setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://127.9.9.9:1/creds", 1);
    expect_error(NULL, "GET http://127.9.9.9:1/creds", NULL);
}

static void test_sts_xml(void **state)
{
    (void)state;
    static const char ok[] =
        "<?xml version=\"1.0\"?>\n"
        "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n"
        "  <AssumeRoleResult>\n"
        "    <AssumedRoleUser><Arn>arn:x</Arn></AssumedRoleUser>\n"
        "    <sts:Credentials xmlns:sts=\"urn:x\">\n"
        "      <sts:AccessKeyId>ASIAX</sts:AccessKeyId>\n"
        "      <sts:SessionToken>a+b/c=&amp;</sts:SessionToken>\n"
        "    </sts:Credentials>\n"
        "  </AssumeRoleResult>\n"
        "</AssumeRoleResponse>\n";
    static const char *const paths[] = {"Credentials/AccessKeyId", "Credentials/SessionToken",
                                        "AssumedRoleUser/Arn", "Credentials/Expiration", "Arn"};
    char *v[5];
    buf err = BUF_INIT;
    assert_int_equal(xml_extract(ok, strlen(ok), paths, 5, v, &err), 0);
    assert_string_equal(v[0], "ASIAX");
    assert_string_equal(v[1], "a+b/c=&");
    assert_string_equal(v[2], "arn:x");
    assert_null(v[3]);
    assert_string_equal(v[4], "arn:x");
    xml_free_texts(v, 5);
    static const char bad[] = "<Error><Code>Throttling</Code>";
    assert_int_equal(xml_extract(bad, strlen(bad), paths, 5, v, &err), -1);
    assert_non_null(strstr(buf_str(&err), "malformed XML"));
    for (int i = 0; i < 5; i++) assert_null(v[i]);
    buf_free(&err);
}

static void test_describe_url(void **state)
{
    (void)state;
    buf b = BUF_INIT;
    fetch_describe_url(&b, "http://user:SeCrEt@127.0.0.1:8080/path/x?token=SeCrEt#frag");
    assert_string_equal(buf_str(&b), "http://127.0.0.1:8080/path/x");
    buf_reset(&b);
    fetch_describe_url(&b, "https://sts.amazonaws.com?Action=x");
    assert_string_equal(buf_str(&b), "https://sts.amazonaws.com");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_nothing_configured, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_beats_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_env_half_set, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profile_flag_skips_env, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aws_profile_selects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credentials_file_beats_config, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_profile, setup, teardown),
        cmocka_unit_test_setup_teardown(test_partial_file_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_file_no_secret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credential_process, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credential_process_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credential_process_failures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refresh_with_injected_clock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_static_never_refreshes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_region_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_role_config_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sts_failures_keep_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_failures_keep_secrets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_imds_failure_is_silent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_container_loopback_allowed, setup, teardown),
        cmocka_unit_test(test_sts_xml),
        cmocka_unit_test(test_describe_url),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
