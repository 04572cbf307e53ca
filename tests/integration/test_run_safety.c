/* test_run_safety.c - a run is tied to the account, region and endpoint
 * it acts in; the config's aws_profile is used; every output path is
 * checked before the first write. Against fakeaws (STS GetCallerIdentity)
 * in front of dynalite, with tests/integration/migrations/safety_copy.lua. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testassert.h"
#include "testsupport.h"

#define MIGRATION "tests/integration/migrations/safety_copy.lua"

static test_server dynalite, fake;
static char *tmp;

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

static void eval(const char *code, buf *out)
{
    buf err = BUF_INIT;
    const char *args[] = {"eval", code, NULL};
    int rc = test_mighost(dynalite.url, args, out, &err);
    if (rc != 0) fail_msg("eval failed (%d): %s", rc, buf_str(&err));
    buf_free(&err);
}

/* Creates `name` with n items k1..kn; item `bad` (0: none) is marked bad. */
static void make_table(const char *name, int n, int bad)
{
    buf code = BUF_INIT;
    buf_printf(&code,
        "local ddb = require 'mighost.dynamodb'\n"
        "assert(ddb.create_table({TableName = '%s', AttributeDefinitions = "
        "{{AttributeName = 'pk', AttributeType = 'S'}}, KeySchema = {{AttributeName = 'pk', "
        "KeyType = 'HASH'}}, BillingMode = 'PAY_PER_REQUEST'}))\n"
        "local w = ddb.writer{table = '%s'}\n"
        "for i = 1, %d do w:put{pk = {S = 'k' .. i}, n = {N = tostring(i)},"
        " bad = i == %d and {BOOL = true} or nil} end\n"
        "w:flush()\n", name, name, n, bad);
    eval(buf_str(&code), NULL);
    buf_free(&code);
}

/* Every item of dst is its source item plus version = stamp, and there
 * are exactly n of them. */
static void assert_copied(const char *src, const char *dst, int n, const char *stamp)
{
    buf code = BUF_INIT, out = BUF_INIT;
    buf_printf(&code,
        "local ddb, item = require 'mighost.dynamodb', require 'mighost.item'\n"
        "local seen, bad = 0, 0\n"
        "for it in ddb.scan{table = '%s', consistent = true} do\n"
        "  seen = seen + 1\n"
        "  local got = ddb.get{table = '%s', key = {pk = it.pk}, consistent = true}\n"
        "  it.version = {S = '%s'}\n"
        "  if not got or item.encode(got) ~= item.encode(it) then bad = bad + 1 end\n"
        "end\n"
        "local all = 0\n"
        "for _ in ddb.scan{table = '%s', consistent = true} do all = all + 1 end\n"
        "print(seen, bad, all)\n", src, dst, stamp, dst);
    eval(buf_str(&code), &out);
    int seen, bad, all;
    assert_int_equal(sscanf(buf_str(&out), "%d %d %d", &seen, &bad, &all), 3);
    assert_int_equal(seen, n);
    assert_int_equal(bad, 0);
    assert_int_equal(all, n);
    buf_free(&code);
    buf_free(&out);
}

static long count_items(const char *table)
{
    buf code = BUF_INIT, out = BUF_INIT;
    buf_printf(&code, "local n = 0 for _ in require('mighost.dynamodb').scan{table = '%s'} do "
                      "n = n + 1 end print(n)", table);
    eval(buf_str(&code), &out);
    long n = atol(buf_str(&out));
    buf_free(&code);
    buf_free(&out);
    return n;
}

/* mighost run MIGRATION ARGS... against fakeaws, region us-east-1. */
static int run(const char *const *args, buf *out, buf *err)
{
    const char *argv[40] = {"run", MIGRATION};
    int n = 2;
    for (const char *const *a = args; *a && n < 38; a++) argv[n++] = *a;
    argv[n] = NULL;
    return test_mighost(fake.url, argv, out, err);
}

static void test_resume_is_tied_to_account_region_endpoint(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    make_table("rsrc", 60, 37);
    make_table("rdst", 0, 0);
    char *states = test_path_join(tmp, "rstate");
    char *report = test_path_join(tmp, "r.json");
    const char *first[] = {"--source", "rsrc", "--destination", "rdst", "--yes", "--quiet",
                           "--state-dir", states, "--report", report, "--segments", "1", NULL};
    assert_int_equal(run(first, &out, &err), 4);
    assert_non_null(strstr(buf_str(&err), "bad item k37"));
    json_object *r = test_json_read(report);
    assert_string_equal(json_object_get_string(test_json_get(r, "account")), "123456789012");
    assert_string_equal(json_object_get_string(test_json_get(r, "principal")),
                        "arn:aws:iam::123456789012:user/test");
    assert_string_equal(json_object_get_string(test_json_get(r, "region")), "us-east-1");
    assert_string_equal(json_object_get_string(test_json_get(r, "credential_source")),
                        "environment");
    assert_non_null(strstr(json_object_get_string(test_json_get(r, "endpoints")), fake.url));
    json_object_put(r);
    assert_null(strstr(buf_str(&err), "test-secret"));

    /* Another region: refused by name, nothing written. */
    long before = count_items("rdst");
    const char *other_region[] = {"--source", "rsrc", "--destination", "rdst", "--yes", "--quiet",
                                  "--state-dir", states, "--resume", "--region", "eu-west-1",
                                  "--report", "/dev/null", NULL};
    assert_int_equal(run(other_region, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "refusing to resume"));
    assert_non_null(strstr(buf_str(&err), "region us-east-1 (this run: eu-west-1)"));
    assert_int_equal(count_items("rdst"), before);

    /* Another account behind the same endpoint: refused by name. */
    assert_int_equal(test_fakeaws_config(&fake, "{\"caller_account\": \"210987654321\"}"), 0);
    const char *resume[] = {"--source", "rsrc", "--destination", "rdst", "--yes", "--quiet",
                            "--state-dir", states, "--resume", "--report", "/dev/null", NULL};
    assert_int_equal(run(resume, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "account 123456789012 (this run: 210987654321)"));
    assert_int_equal(test_fakeaws_config(&fake, "{\"caller_account\": null}"), 0);
    assert_int_equal(count_items("rdst"), before);

    /* Other parameters: nothing matches; the unfinished runs are listed. */
    const char *other_params[] = {"--source", "rsrc", "--destination", "rdst", "--yes", "--quiet",
                                  "--state-dir", states, "--resume", "--stamp", "v3",
                                  "--report", "/dev/null", NULL};
    assert_int_equal(run(other_params, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "nothing to resume"));
    assert_non_null(strstr(buf_str(&err), "tests/safety-copy, account 123456789012, "
                                          "region us-east-1"));
    assert_int_equal(count_items("rdst"), before);

    /* Options declared identity = false do not change the run: the bad
     * item fixed, --resume with another log level and batch size ends it. */
    eval("require('mighost.dynamodb').put{table = 'rsrc', item = {pk = {S = 'k37'}, "
         "n = {N = '37'}}}", NULL);
    char *config = test_path_join(tmp, "rconfig.json");
    assert_int_equal(test_write_file(config, "{\"log_level\": \"DEBUG\", \"batch_size\": 10}"), 0);
    const char *finish[] = {"--source", "rsrc", "--destination", "rdst", "--yes", "--quiet",
                            "--state-dir", states, "--resume", "--config", config,
                            "--report", report, NULL};
    int rc = run(finish, &out, &err);
    if (rc != 0) fail_msg("resume failed (%d): %s", rc, buf_str(&err));
    assert_copied("rsrc", "rdst", 60, "v2");
    free(config);
    free(report);
    free(states);
    buf_free(&out);
    buf_free(&err);
}

/* A config file's "aws_profile" chooses the profile; --profile wins. */
static void test_config_aws_profile(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    make_table("psrc", 5, 0);
    make_table("pdst", 0, 0);
    char *home = test_path_join(tmp, "phome");
    char *cfg = test_path_join(tmp, "aws-config"), *cred = test_path_join(tmp, "aws-credentials");
    char *config = test_path_join(tmp, "pconfig.json"), *report = test_path_join(tmp, "p.json");
    assert_int_equal(test_write_file(cfg, "[profile cfgprof]\nregion = us-east-1\n"), 0);
    assert_int_equal(test_write_file(cred, "[cfgprof]\naws_access_key_id = AKIDTEST\n"
                                           "aws_secret_access_key = test-secret\n"
                                           "[other]\naws_access_key_id = AKIDOTHER\n"
                                           "aws_secret_access_key = other-secret\n"), 0);
    assert_int_equal(test_write_file(config, "{\"aws_profile\": \"cfgprof\"}"), 0);
    buf henv = BUF_INIT, cenv = BUF_INIT, kenv = BUF_INIT;
    buf_printf(&henv, "HOME=%s", tmp);
    buf_printf(&cenv, "AWS_CONFIG_FILE=%s", cfg);
    buf_printf(&kenv, "AWS_SHARED_CREDENTIALS_FILE=%s", cred);
    const char *env[] = {buf_str(&henv), buf_str(&cenv), buf_str(&kenv),
                         "AWS_EC2_METADATA_DISABLED=true", NULL};
    const char *args[] = {"run", MIGRATION, "--source", "psrc", "--destination", "pdst", "--yes",
                          "--quiet", "--config", config, "--report", report, "--state-dir", home,
                          NULL};
    int rc = test_mighost_env(fake.url, env, args, &out, &err);
    if (rc != 0) fail_msg("run with the config's profile failed (%d): %s", rc, buf_str(&err));
    json_object *r = test_json_read(report);
    assert_string_equal(json_object_get_string(test_json_get(r, "profile")), "cfgprof");
    assert_string_equal(json_object_get_string(test_json_get(r, "credential_source")),
                        "shared-credentials-file");
    assert_string_equal(json_object_get_string(test_json_get(r, "account")), "123456789012");
    json_object_put(r);
    buf text = BUF_INIT;
    assert_int_equal(test_read_file(report, &text), 0);
    assert_null(strstr(buf_str(&text), "test-secret"));
    assert_non_null(strstr(buf_str(&err), "profile cfgprof"));
    assert_copied("psrc", "pdst", 5, "v2");

    /* --profile wins, with a warning; its keys are unknown to the endpoint. */
    const char *cli[] = {"run", MIGRATION, "--source", "psrc", "--destination", "pdst", "--yes",
                         "--quiet", "--config", config, "--report", "/dev/null", "--profile",
                         "other", "--state-dir", home, NULL};
    rc = test_mighost_env(fake.url, env, cli, &out, &err);
    if (rc != 2) fail_msg("--profile other: %d: %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&err), "--profile other overrides the config file's "
                                          "\"aws_profile\": \"cfgprof\""));
    assert_null(strstr(buf_str(&err), "other-secret"));
    buf_free(&text);
    buf_free(&henv);
    buf_free(&cenv);
    buf_free(&kenv);
    free(home);
    free(cfg);
    free(cred);
    free(config);
    free(report);
    buf_free(&out);
    buf_free(&err);
}

static void test_paths_checked_before_writing(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    make_table("wsrc", 20, 0);
    make_table("wdst", 0, 0);
    char *states = test_path_join(tmp, "wstate");
    char *not_dir = test_path_join(tmp, "a-file");
    assert_int_equal(test_write_file(not_dir, "x"), 0);

    const char *bad_report[] = {"--source", "wsrc", "--destination", "wdst", "--yes", "--quiet",
                                "--state-dir", states, "--report", "/nonexistent/r.json", NULL};
    assert_int_equal(run(bad_report, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "--report /nonexistent/r.json"));
    assert_int_equal(count_items("wdst"), 0);

    const char *bad_state[] = {"--source", "wsrc", "--destination", "wdst", "--yes", "--quiet",
                               "--state-dir", not_dir, "--report", "/dev/null", NULL};
    assert_int_equal(run(bad_state, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "--state-dir"));
    assert_int_equal(count_items("wdst"), 0);

    const char *bad_plan[] = {"--source", "wsrc", "--destination", "wdst", "--dry-run",
                              "--plan", "/nonexistent/p.jsonl", "--report", "/dev/null", NULL};
    assert_int_equal(run(bad_plan, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "--plan"));

    /* --plan is a dry-run's; with --yes alone it is refused, not a silent dry-run. */
    char *plan = test_path_join(tmp, "p.jsonl");
    const char *plan_yes[] = {"--source", "wsrc", "--destination", "wdst", "--yes", "--plan", plan,
                              "--report", "/dev/null", NULL};
    assert_int_equal(run(plan_yes, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "add --dry-run"));
    assert_int_equal(count_items("wdst"), 0);

    /* The report's folder disappears during the run: the run is not "ok". */
    char *gone = test_path_join(tmp, "gone");
    const char *mk[] = {"mkdir", gone, NULL};
    assert_int_equal(test_run(mk, NULL, NULL, NULL, NULL, NULL), 0);
    char *report = test_path_join(gone, "r.json");
    const char *lost[] = {"--source", "wsrc", "--destination", "wdst", "--yes", "--quiet",
                          "--state-dir", states, "--report", report, "--remove-dir", gone, NULL};
    assert_int_not_equal(run(lost, &out, &err), 0);
    assert_non_null(strstr(buf_str(&err), "cannot write the report"));
    assert_copied("wsrc", "wdst", 20, "v2");
    free(report);
    free(gone);
    free(plan);
    free(not_dir);
    free(states);
    buf_free(&out);
    buf_free(&err);
}

/* Ctrl-C at "Proceed?": exit 130 (interrupted), nothing written. */
static void test_ctrl_c_at_the_prompt(void **state)
{
    (void)state;
    buf term = BUF_INIT;
    make_table("csrc", 10, 0);
    make_table("cdst", 0, 0);
    char *states = test_path_join(tmp, "cstate");
    const char *args[] = {"run", MIGRATION, "--source", "csrc", "--destination", "cdst",
                          "--state-dir", states, "--report", "/dev/null", NULL};
    int rc = test_mighost_in_pty(fake.url, args, "\x03", &term);
    if (rc != 130) fail_msg("exit %d: [%s]", rc, buf_str(&term) + (term.len > 300 ? term.len - 300 : 0));
    assert_non_null(strstr(buf_str(&term), "account 123456789012"));
    assert_non_null(strstr(buf_str(&term), "interrupted; nothing was changed"));
    assert_int_equal(count_items("cdst"), 0);
    free(states);
    buf_free(&term);
}

/* Runs ARGS, sends SIGINT twice once "holding" is on stderr; returns the
 * exit status and the whole stderr in err. */
static int interrupt_twice(const char *const *args, buf *err)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        /* A second Ctrl-C exits at once, skipping every free by design, so
         * under `make valgrind` this run uses the plain binary. */
        test_exec_mighost(getenv("MIGHOST_REAL_BIN"), fake.url, args);
    }
    close(fds[1]);
    buf_reset(err);
    int sent = 0;
    for (;;) {
        struct pollfd p = {fds[0], POLLIN, 0};
        if (poll(&p, 1, 60000) <= 0) break;
        char chunk[4096];
        ssize_t n = read(fds[0], chunk, sizeof chunk);
        if (n <= 0) break;
        buf_append(err, chunk, (size_t)n);
        if (!sent && strstr(buf_str(err), "holding")) {
            sent = 1;
            kill(pid, SIGINT);
            usleep(200000);
            kill(pid, SIGINT);
        }
    }
    close(fds[0]);
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A second Ctrl-C says the state is kept only when a state file exists. */
static void test_second_interrupt_tells_the_truth(void **state)
{
    (void)state;
    buf err = BUF_INIT;
    make_table("isrc", 10, 0);
    make_table("idst", 0, 0);
    char *states = test_path_join(tmp, "istate");
    const char *before[] = {"run", MIGRATION, "--source", "isrc", "--destination", "idst", "--yes",
                            "--state-dir", states, "--report", "/dev/null", "--hold", "20", NULL};
    assert_int_equal(interrupt_twice(before, &err), 130);
    assert_non_null(strstr(buf_str(&err), "no state was saved"));
    assert_null(strstr(buf_str(&err), "state is saved"));
    assert_null(strstr(buf_str(&err), "is kept"));
    const char *after[] = {"run", MIGRATION, "--source", "isrc", "--destination", "idst", "--yes",
                           "--state-dir", states, "--report", "/dev/null", "--hold", "20",
                           "--hold-after", NULL};
    assert_int_equal(interrupt_twice(after, &err), 130);
    assert_non_null(strstr(buf_str(&err), "the state saved at the last checkpoint is kept"));
    free(states);
    buf_free(&err);
}

/* A 5 MB value from a config file is echoed capped, with an ellipsis. */
static void test_long_values_are_capped(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT, cfg = BUF_INIT;
    buf_puts(&cfg, "{\"source\": \"");
    for (int i = 0; i < 5 * 1024 * 1024 / 8; i++) buf_puts(&cfg, "abcdefgh");
    buf_puts(&cfg, "\", \"destination\": \"x\"}");
    char *config = test_path_join(tmp, "long.json");
    assert_int_equal(test_write_file(config, buf_str(&cfg)), 0);
    const char *args[] = {"--config", config, "--yes", "--report", "/dev/null", NULL};
    assert_int_equal(run(args, &out, &err), 2);
    assert_true(err.len < 1000);
    assert_non_null(strstr(buf_str(&err), "abcdefgh\xe2\x80\xa6"));
    /* the same for an option on the command line */
    char *longopt = calloc(1, 100001);
    memset(longopt, 'o', 100000);
    memcpy(longopt, "--o", 3);
    const char *opt[] = {"--source", "a", "--destination", "b", longopt, NULL};
    assert_int_equal(run(opt, &out, &err), 2);
    assert_true(err.len < 1000);
    assert_non_null(strstr(buf_str(&err), "unknown option --ooo"));
    free(longopt);
    free(config);
    buf_free(&cfg);
    buf_free(&out);
    buf_free(&err);
}

/* An SSO profile without a usable sign-in: one line saying what to run, exit 2. */
static void test_sso_login_needed(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT, henv = BUF_INIT, cenv = BUF_INIT, portal = BUF_INIT;
    char *home = test_path_join(tmp, "ssohome"), *cfg = test_path_join(tmp, "sso-config");
    const char *mk[] = {"mkdir", "-p", home, NULL};
    assert_int_equal(test_run(mk, NULL, NULL, NULL, NULL, NULL), 0);
    assert_int_equal(test_write_file(cfg, "[profile dev]\nsso_session = corp\n"
                                          "sso_account_id = 123456789012\nsso_role_name = Admin\n"
                                          "region = us-east-1\n[sso-session corp]\n"
                                          "sso_start_url = https://example.awsapps.com/start\n"
                                          "sso_region = us-east-1\n"), 0);
    buf_printf(&henv, "HOME=%s", home);
    buf_printf(&cenv, "AWS_CONFIG_FILE=%s", cfg);
    buf_printf(&portal, "AWS_ENDPOINT_URL_SSO=%s", fake.url);
    const char *env[] = {buf_str(&henv), buf_str(&cenv), buf_str(&portal),
                         "AWS_SHARED_CREDENTIALS_FILE=/nonexistent", "AWS_EC2_METADATA_DISABLED=true",
                         NULL};
    const char *args[] = {"run", MIGRATION, "--source", "psrc", "--destination", "pdst", "--yes",
                          "--profile", "dev", "--report", "/dev/null", "--state-dir", home, NULL};
    assert_int_equal(test_mighost_env(fake.url, env, args, &out, &err), 2);
    assert_int_equal(test_count_lines(buf_str(&err)), 1);
    assert_non_null(strstr(buf_str(&err), "run: aws sso login --profile dev"));
    free(home);
    free(cfg);
    buf_free(&henv);
    buf_free(&cenv);
    buf_free(&portal);
    buf_free(&out);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_is_tied_to_account_region_endpoint),
        cmocka_unit_test(test_config_aws_profile),
        cmocka_unit_test(test_paths_checked_before_writing),
        cmocka_unit_test(test_ctrl_c_at_the_prompt),
        cmocka_unit_test(test_second_interrupt_tells_the_truth),
        cmocka_unit_test(test_long_values_are_capped),
        cmocka_unit_test(test_sso_login_needed),
    };
    return cmocka_run_group_tests_name("run_safety", tests, setup, teardown);
}
