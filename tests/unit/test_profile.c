/* test_profile.c - the shared config / credentials file parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "profile.h"

static char tmpdir[64];

static profile_file *parse(const char *text, profile_kind kind)
{
    buf err = BUF_INIT;
    profile_file *f = profile_file_parse(text, strlen(text), kind, "test", &err);
    if (!f) fail_msg("parse failed: %s", buf_str(&err));
    buf_free(&err);
    return f;
}

static void write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static int setup(void **state)
{
    (void)state;
    strcpy(tmpdir, "/tmp/mighost-profile-XXXXXX");
    return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_credentials_basic(void **state)
{
    (void)state;
    profile_file *f = parse("[default]\n"
                            "aws_access_key_id=AKIDDEFAULT\n"
                            "aws_secret_access_key   =   s3cr3t/with=equals  \t\n"
                            "\n"
                            "[dev]\n"
                            "aws_access_key_id = AKIDDEV\n"
                            "region: eu-west-1\n"
                            "empty =\n",
                            PROFILE_CREDENTIALS);
    assert_int_equal(profile_file_count(f), 2);
    assert_string_equal(profile_file_get(f, "default", "aws_access_key_id"), "AKIDDEFAULT");
    assert_string_equal(profile_file_get(f, "default", "aws_secret_access_key"),
                        "s3cr3t/with=equals");
    assert_string_equal(profile_file_get(f, "dev", "aws_access_key_id"), "AKIDDEV");
    assert_string_equal(profile_file_get(f, "dev", "region"), "eu-west-1");
    assert_string_equal(profile_file_get(f, "dev", "empty"), "");
    assert_null(profile_file_get(f, "dev", "aws_secret_access_key"));
    assert_null(profile_file_get(f, "nope", "region"));
    assert_true(profile_file_has(f, "dev"));
    assert_false(profile_file_has(f, "nope"));
    profile_file_free(f);
}

static void test_comments_and_line_endings(void **state)
{
    (void)state;
    profile_file *f = parse("# a comment\r\n"
                            "; another\r\n"
                            "[default]\r\n"
                            "   # indented comment\r\n"
                            "region = us-east-2\r\n"
                            "output = json # not a comment: botocore keeps it\r\n"
                            "last=no-newline",
                            PROFILE_CREDENTIALS);
    assert_string_equal(profile_file_get(f, "default", "region"), "us-east-2");
    assert_string_equal(profile_file_get(f, "default", "output"),
                        "json # not a comment: botocore keeps it");
    assert_string_equal(profile_file_get(f, "default", "last"), "no-newline");
    profile_file_free(f);
}

static void test_keys_lowercased_last_wins(void **state)
{
    (void)state;
    profile_file *f = parse("[default]\nAWS_Access_Key_ID = A\naws_access_key_id = B\n",
                            PROFILE_CREDENTIALS);
    assert_string_equal(profile_file_get(f, "default", "aws_access_key_id"), "B");
    profile_file_free(f);
}

static void test_nested_sections_ignored(void **state)
{
    (void)state;
    profile_file *f = parse("[profile dev]\n"
                            "s3 =\n"
                            "    max_concurrent_requests = 10\n"
                            "\n"
                            "    addressing_style = path\n"
                            "region = ap-south-1\n"
                            "dynamodb =\n"
                            "\tendpoint_url = http://localhost:8000\n"
                            "[profile other]\n"
                            "  region = us-west-1\n",
                            PROFILE_CONFIG);
    assert_string_equal(profile_file_get(f, "dev", "region"), "ap-south-1");
    assert_string_equal(profile_file_get(f, "dev", "s3"), "");
    assert_null(profile_file_get(f, "dev", "max_concurrent_requests"));
    assert_null(profile_file_get(f, "dev", "addressing_style"));
    assert_null(profile_file_get(f, "dev", "endpoint_url"));
    /* Indentation right after a header is an ordinary key. */
    assert_string_equal(profile_file_get(f, "other", "region"), "us-west-1");
    profile_file_free(f);
}

static void test_config_section_names(void **state)
{
    (void)state;
    profile_file *f = parse("[default]\n"
                            "region = us-east-1\n"
                            "[profile default]\n"
                            "output = text\n"
                            "[profile  dev ]\n"
                            "region = eu-central-1\n"
                            "[profile \"with space\"]\n"
                            "region = sa-east-1\n"
                            "[bare]\n"
                            "region = leaked\n"
                            "[sso-session corp]\n"
                            "sso_region = us-east-1\n"
                            "[services local]\n"
                            "dynamodb =\n"
                            "  endpoint_url = http://localhost:8000\n"
                            "[profile]\n"
                            "region = nameless\n",
                            PROFILE_CONFIG);
    assert_string_equal(profile_file_get(f, "default", "region"), "us-east-1");
    assert_string_equal(profile_file_get(f, "default", "output"), "text");
    assert_string_equal(profile_file_get(f, "dev", "region"), "eu-central-1");
    assert_string_equal(profile_file_get(f, "with space", "region"), "sa-east-1");
    assert_false(profile_file_has(f, "bare"));
    assert_false(profile_file_has(f, "corp"));
    assert_false(profile_file_has(f, "sso-session corp"));
    assert_false(profile_file_has(f, "local"));
    assert_null(profile_file_get(f, "dev", "sso_region"));
    assert_int_equal(profile_file_count(f), 3);
    profile_file_free(f);

    /* In the credentials file the header is the name, "profile" or not. */
    f = parse("[profile dev]\naws_access_key_id = X\n[dev]\naws_access_key_id = Y\n",
              PROFILE_CREDENTIALS);
    assert_string_equal(profile_file_get(f, "profile dev", "aws_access_key_id"), "X");
    assert_string_equal(profile_file_get(f, "dev", "aws_access_key_id"), "Y");
    profile_file_free(f);
}

static void expect_parse_error(const char *text, const char *line_no)
{
    buf err = BUF_INIT;
    assert_null(profile_file_parse(text, strlen(text), PROFILE_CREDENTIALS, "/x/credentials", &err));
    assert_non_null(strstr(buf_str(&err), "/x/credentials"));
    assert_non_null(strstr(buf_str(&err), line_no));
    /* The offending line may be a secret pasted in the wrong place. */
    assert_null(strstr(buf_str(&err), "SeCrEt"));
    buf_free(&err);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_parse_error("aws_secret_access_key = SeCrEt\n[default]\n", "line 1");
    expect_parse_error("[default]\nregion = x\nSeCrEtWithoutEquals\n", "line 3");
    expect_parse_error("[default]\n= SeCrEt\n", "line 2");
    expect_parse_error("[default\nregion = SeCrEt\n", "line 1");
}

static void test_missing_and_directory(void **state)
{
    (void)state;
    buf err = BUF_INIT;
    char path[128];
    snprintf(path, sizeof path, "%s/does-not-exist", tmpdir);
    profile_file *f = profile_file_load(path, PROFILE_CONFIG, &err);
    assert_non_null(f);
    assert_int_equal(profile_file_count(f), 0);
    assert_int_equal(err.len, 0);
    profile_file_free(f);
    f = profile_file_load(tmpdir, PROFILE_CONFIG, &err);   /* a directory */
    assert_non_null(f);
    assert_int_equal(profile_file_count(f), 0);
    profile_file_free(f);
    buf_free(&err);
}

static void test_tilde_and_store(void **state)
{
    (void)state;
    char aws[128], path[160];
    snprintf(aws, sizeof aws, "%s/.aws", tmpdir);
    mkdir(aws, 0700);
    snprintf(path, sizeof path, "%s/config", aws);
    write_file(path, "[profile dev]\nregion = from-config\nrole_arn = arn:config\n"
                     "[default]\nregion = default-region\n");
    snprintf(path, sizeof path, "%s/credentials", aws);
    write_file(path, "[dev]\nregion = from-credentials\naws_access_key_id = AKID\n");

    char *old_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    setenv("HOME", tmpdir, 1);
    unsetenv("AWS_CONFIG_FILE");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    char *expanded = profile_expand_path("~/.aws/config");
    snprintf(path, sizeof path, "%s/.aws/config", tmpdir);
    assert_string_equal(expanded, path);
    free(expanded);
    expanded = profile_expand_path("/abs/~/x");
    assert_string_equal(expanded, "/abs/~/x");
    free(expanded);

    buf err = BUF_INIT;
    profile_store *s = profile_store_load(&err);
    assert_non_null(s);
    assert_true(profile_exists(s, "dev"));
    assert_true(profile_exists(s, "default"));
    assert_false(profile_exists(s, "prod"));
    /* The credentials file wins in the merged view, as in botocore. */
    assert_string_equal(profile_get(s, "dev", "region"), "from-credentials");
    assert_string_equal(profile_get(s, "dev", "role_arn"), "arn:config");
    assert_string_equal(profile_get_in(s, PROFILE_CONFIG, "dev", "region"), "from-config");
    assert_null(profile_get_in(s, PROFILE_CONFIG, "dev", "aws_access_key_id"));
    profile_store_free(s);

    /* The variables point elsewhere; missing files are empty. */
    setenv("AWS_CONFIG_FILE", "~/nothing-here", 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/config", 1);
    s = profile_store_load(&err);
    assert_non_null(s);
    assert_int_equal(profile_file_count(s->config), 0);
    /* The config file read as a credentials file: "profile dev" literally. */
    assert_true(profile_exists(s, "profile dev"));
    profile_store_free(s);
    unsetenv("AWS_CONFIG_FILE");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    if (old_home) setenv("HOME", old_home, 1);
    free(old_home);
    buf_free(&err);
}

static void test_selected(void **state)
{
    (void)state;
    int explicit_name;
    unsetenv("AWS_PROFILE");
    assert_string_equal(profile_selected(NULL, &explicit_name), "default");
    assert_false(explicit_name);
    setenv("AWS_PROFILE", "envprof", 1);
    assert_string_equal(profile_selected(NULL, &explicit_name), "envprof");
    assert_true(explicit_name);
    assert_string_equal(profile_selected("cli", &explicit_name), "cli");
    assert_true(explicit_name);
    setenv("AWS_PROFILE", "", 1);
    assert_string_equal(profile_selected(NULL, &explicit_name), "default");
    assert_false(explicit_name);
    unsetenv("AWS_PROFILE");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_credentials_basic),
        cmocka_unit_test(test_comments_and_line_endings),
        cmocka_unit_test(test_keys_lowercased_last_wins),
        cmocka_unit_test(test_nested_sections_ignored),
        cmocka_unit_test(test_config_section_names),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_missing_and_directory),
        cmocka_unit_test(test_tilde_and_store),
        cmocka_unit_test(test_selected),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
