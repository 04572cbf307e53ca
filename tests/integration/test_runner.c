/* test_runner.c - the migration lifecycle with a sample copy migration
 * (tests/integration/migrations/sample_copy.lua) against dynalite, with the
 * fault-injecting endpoint in front where writes must be counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testassert.h"
#include "testsupport.h"

#define MIGRATION "tests/integration/migrations/sample_copy.lua"

static test_server dynalite, fake;
static char *tmp;



static void eval(const char *code)
{
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"eval", code, NULL};
    int rc = test_mighost(dynalite.url, args, &out, &err);
    if (rc != 0) fail_msg("eval failed (%d): %s", rc, buf_str(&err));
    buf_free(&out);
    buf_free(&err);
}

static void make_table(const char *name, int n)
{
    test_make_table(dynalite.url, name, n);
}

/* A digest of every item of `table`, exact to the byte. */
static void table_digest(const char *table, buf *out)
{
    buf code = BUF_INIT, err = BUF_INIT;
    buf_printf(&code,
        "local ddb, item = require 'mighost.dynamodb', require 'mighost.item'\n"
        "local all = {}\n"
        "for it in ddb.scan{table = '%s', consistent = true} do all[#all + 1] = item.encode(it) end\n"
        "table.sort(all)\n"
        "print(#all, require('mighost.sys').sha256(table.concat(all, '\\n')))\n", table);
    const char *args[] = {"eval", buf_str(&code), NULL};
    assert_int_equal(test_mighost(dynalite.url, args, out, &err), 0);
    buf_free(&code);
    buf_free(&err);
}

/* Number of items in `table` whose version is `stamp`, and in all. */
static void count_table(const char *table, const char *stamp, long *stamped, long *all)
{
    buf code = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
    buf_printf(&code,
        "local ddb = require 'mighost.dynamodb'\n"
        "local s, a = 0, 0\n"
        "for it in ddb.scan{table = '%s', segments = 4} do a = a + 1\n"
        "  if it.version and it.version.S == '%s' then s = s + 1 end end\n"
        "print(s, a)\n", table, stamp);
    const char *args[] = {"eval", buf_str(&code), NULL};
    assert_int_equal(test_mighost(dynalite.url, args, &out, &err), 0);
    assert_int_equal(sscanf(buf_str(&out), "%ld %ld", stamped, all), 2);
    buf_free(&code);
    buf_free(&out);
    buf_free(&err);
}

static int setup(void **state)
{
    (void)state;
    return test_group_setup(&tmp, &dynalite, &fake, NULL);
}

static int teardown(void **state)
{
    (void)state;
    /* Reports sent to /dev/null are written in place, never renamed over it. */
    struct stat st;
    if (stat("/dev/null", &st) != 0 || !S_ISCHR(st.st_mode)) {
        fprintf(stderr, "/dev/null is no longer a device!\n");
        return -1;
    }
    test_group_teardown(&tmp, &dynalite, &fake);
    return 0;
}

static void test_list_describe_check(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *describe[] = {"describe", MIGRATION, NULL};
    assert_int_equal(test_mighost(NULL, describe, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "--source VALUE"));
    assert_non_null(strstr(buf_str(&out), "config key: sourceTableName"));
    assert_non_null(strstr(buf_str(&out), "--stack NAME fills: source, destination"));
    const char *check[] = {"check", MIGRATION, NULL};
    assert_int_equal(test_mighost(NULL, check, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "tests/sample-copy: ok (4 parameters, 2 phases)"));

    char *bad = test_path_join(tmp, "bad_migration.lua");
    test_write_file(bad, "return {name = 'x', phases = {{name = 'a'}}}\n");
    const char *check_bad[] = {"check", bad, NULL};
    assert_int_equal(test_mighost(NULL, check_bad, &out, &err), 4);
    assert_non_null(strstr(buf_str(&err), "phase a: needs exactly one of copy, update, delete, each, run, verify"));
    free(bad);
    const char *list[] = {"list", NULL};
    assert_int_equal(test_mighost(NULL, list, &out, &err), 0);
    buf_free(&out);
    buf_free(&err);
}

/* The dry-run sends no write and predicts what the real run then does. */
static void test_dry_run_then_real_run(void **state)
{
    (void)state;
    make_table("rsrc", 3000);
    make_table("rdst", 0);
    buf out = BUF_INIT, err = BUF_INIT;
    char *dry = test_path_join(tmp, "dry.json"), *real = test_path_join(tmp, "real.json");
    char *plan = test_path_join(tmp, "plan.jsonl");
    test_fakeaws_reset(&fake);
    const char *dry_args[] = {"run", MIGRATION, "--source", "rsrc", "--destination", "rdst",
                              "--dry-run", "--plan", plan, "--report", dry, "--state-dir", tmp, NULL};
    assert_int_equal(test_mighost(fake.url, dry_args, &out, &err), 0);
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    json_object *d = test_json_read(dry);
    assert_int_equal(test_json_int(d, "phases.0.scanned"), 3000);
    assert_int_equal(test_json_int(d, "phases.0.would_write"), 2970);
    assert_int_equal(test_json_int(d, "phases.0.skipped.total"), 30);

    const char *real_args[] = {"run", MIGRATION, "--source", "rsrc", "--destination", "rdst",
                               "--yes", "--report", real, "--state-dir", tmp, NULL};
    assert_int_equal(test_mighost(fake.url, real_args, &out, &err), 0);
    assert_true(test_fakeaws_stat(&fake, "writes_forwarded") > 0);
    json_object *r = test_json_read(real);
    assert_int_equal(test_json_int(r, "phases.0.scanned"), test_json_int(d, "phases.0.scanned"));
    assert_int_equal(test_json_int(r, "phases.0.written"), test_json_int(d, "phases.0.would_write"));
    assert_int_equal(test_json_int(r, "phases.0.skipped.total"), test_json_int(d, "phases.0.skipped.total"));
    assert_int_equal(test_json_int(r, "exit_code"), 0);
    long stamped, all;
    count_table("rdst", "v2", &stamped, &all);
    assert_int_equal(stamped, 2970);
    assert_int_equal(all, 2970);
    json_object_put(d);
    json_object_put(r);

    /* Run again: no item changes, to the byte. */
    buf before = BUF_INIT, after = BUF_INIT;
    table_digest("rdst", &before);
    const char *again[] = {"run", MIGRATION, "--source", "rsrc", "--destination", "rdst", "--yes",
                           "--state-dir", tmp, "--report", real, NULL};
    assert_int_equal(test_mighost(fake.url, again, &out, &err), 0);
    table_digest("rdst", &after);
    assert_string_equal(buf_str(&before), buf_str(&after));
    assert_non_null(strstr(buf_str(&after), "2970\t"));
    buf_free(&before);
    buf_free(&after);
    free(dry);
    free(real);
    free(plan);
    buf_free(&out);
    buf_free(&err);
}

/* Slow builds (valgrind) take a while to save a first checkpoint; a
 * signal before that would hit a process that has not installed its
 * handlers yet. */
static void wait_for_state(const char *dir)
{
    if (test_wait_for_state(dir) != 0) fail_msg("no state file appeared in %s", dir);
}

/* A 100k-item copy killed with SIGKILL at three random moments and resumed
 * each time ends with exactly the expected destination, and a resumed run
 * does not read again what an earlier run had finished. */
static void test_kill_and_resume(void **state)
{
    (void)state;
    const char *n_text = getenv("MIGHOST_TEST_RESUME_ITEMS") ? getenv("MIGHOST_TEST_RESUME_ITEMS")
                                                              : "100000";
    int n = atoi(n_text);
    make_table("ksrc", n);
    make_table("kdst", 0);
    char *states = test_path_join(tmp, "kstate");
    const char *first[] = {"run", MIGRATION, "--source", "ksrc", "--destination", "kdst", "--yes",
                           "--state-dir", states, "--segments", "8", "--endpoint-url", dynalite.url,
                           "--quiet", "--report", "/dev/null", NULL};
    const char *resume[] = {"run", MIGRATION, "--source", "ksrc", "--destination", "kdst", "--yes",
                            "--state-dir", states, "--resume", "--endpoint-url", dynalite.url,
                            "--quiet", "--report", "/dev/null", NULL};
    srand((unsigned)time(NULL));
    int killed = 0;
    for (int round = 0; round < 3; round++) {
        pid_t pid = test_spawn_mighost(NULL, NULL, round == 0 ? first : resume);
        assert_true(pid > 0);
        /* The first round saves a checkpoint before it dies, so --resume
         * has a run to continue (a --resume that matches none is refused). */
        if (round == 0) wait_for_state(states);
        /* 0.3 to 2.3 seconds in: mid-scan, mid-write. */
        struct timespec t = {0, 300000000L + (long)(rand() % 1000) * 2000000L};
        while (t.tv_nsec >= 1000000000L) { t.tv_sec++; t.tv_nsec -= 1000000000L; }
        nanosleep(&t, NULL);
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        if (WIFSIGNALED(status)) killed++;
    }
    assert_true(killed >= 1);
    /* Checkpoints were saved before the kills... */
    buf listing = BUF_INIT;
    const char *ls[] = {"sh", "-c", "cat \"$0\"/*.json", states, NULL};
    test_run(ls, NULL, NULL, NULL, &listing, NULL);
    int checkpointed = strstr(buf_str(&listing), "\"segments\":{\"") != NULL;
    buf_free(&listing);
    /* Then a resumed run to the end. */
    buf out = BUF_INIT, err = BUF_INIT;
    char *report = test_path_join(tmp, "resumed.json");
    const char *last[] = {"run", MIGRATION, "--source", "ksrc", "--destination", "kdst", "--yes",
                          "--state-dir", states, "--resume", "--report", report, "--quiet", NULL};
    assert_int_equal(test_mighost(dynalite.url, last, &out, &err), 0);
    long stamped, all;
    count_table("kdst", "v2", &stamped, &all);
    assert_int_equal(all, n - n / 100);
    assert_int_equal(stamped, n - n / 100);
    json_object *r = test_json_read(report);
    /* The copy phase was resumed, not redone from the start (unless every
     * kill came before the first checkpoint, which is rare). */
    json_object *phases, *copy_phase, *scanned_v;
    assert_true(json_object_object_get_ex(r, "phases", &phases));
    copy_phase = json_object_array_get_idx(phases, 0);
    long scanned = json_object_object_get_ex(copy_phase, "scanned", &scanned_v)
                       ? (long)json_object_get_int64(scanned_v) : 0;  /* 0: done before */
    printf("killed %d times; the last run scanned %ld of %d items\n", killed, scanned, n);
    /* ...so the last run did not read everything again. */
    if (checkpointed) assert_true(scanned < n);
    else assert_true(scanned <= n);
    json_object_put(r);
    free(report);
    free(states);
    buf_free(&out);
    buf_free(&err);
}

/* SIGINT: stop issuing work, drain, save, exit 130; --resume finishes. */
static void test_interrupt_saves_state(void **state)
{
    (void)state;
    make_table("isrc", 20000);
    make_table("idst", 0);
    char *states = test_path_join(tmp, "istate");
    const char *args[] = {"run", MIGRATION, "--source", "isrc", "--destination", "idst", "--yes",
                          "--state-dir", states, "--endpoint-url", dynalite.url, "--quiet",
                          "--report", "/dev/null", NULL};
    pid_t pid = test_spawn_mighost(NULL, NULL, args);
    assert_true(pid > 0);
    wait_for_state(states);
    kill(pid, SIGINT);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 130);
    /* Without --resume an unfinished run is not silently restarted. */
    buf out = BUF_INIT, err = BUF_INIT;
    const char *plain[] = {"run", MIGRATION, "--source", "isrc", "--destination", "idst", "--yes",
                           "--state-dir", states, "--quiet", NULL};
    assert_int_equal(test_mighost(dynalite.url, plain, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "pass --resume"));
    /* mighost status shows the run interrupted, and the command resuming it. */
    const char *status_text[] = {"status", "--state-dir", states, NULL};
    assert_int_equal(test_mighost(NULL, status_text, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "tests/sample-copy  INTERRUPTED  -/us-east-1  started "));
    assert_non_null(strstr(buf_str(&out), "  stopped in phase copy ("));
    assert_non_null(strstr(buf_str(&out), "  resume: mighost run " MIGRATION " --source isrc"));
    const char *status_json[] = {"status", "tests/sample-copy", "--output", "json", "--state-dir", states, NULL};
    assert_int_equal(test_mighost(NULL, status_json, &out, &err), 0);
    json_object *doc = json_tokener_parse(buf_str(&out));
    assert_non_null(doc);
    assert_string_equal(json_object_get_string(test_json_get(doc, "runs.0.status")), "interrupted");
    assert_string_equal(json_object_get_string(test_json_get(doc, "runs.0.phase")), "copy");
    char *resume_cmd = strdup(json_object_get_string(test_json_get(doc, "runs.0.resume")));
    json_object_put(doc);
    /* Run exactly what it says (no shell quoting is needed for these words). */
    const char *resume[32];
    int n = 0;
    for (char *w = strtok(resume_cmd, " "); w && n < 31; w = strtok(NULL, " "))
        if (n > 0 || strcmp(w, "mighost") != 0) resume[n++] = w;
    resume[n] = NULL;
    assert_string_equal(resume[n - 1], "--resume");
    assert_int_equal(test_mighost(NULL, resume, &out, &err), 0);
    free(resume_cmd);
    long stamped, all;
    count_table("idst", "v2", &stamped, &all);
    assert_int_equal(all, 19800);
    assert_int_equal(test_mighost(NULL, status_text, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "tests/sample-copy  FINISHED  "));
    assert_null(strstr(buf_str(&out), "resume:"));
    /* Another migration's name lists nothing. */
    const char *other[] = {"status", "vams/v2.4-to-v2.5", "--state-dir", states, NULL};
    assert_int_equal(test_mighost(NULL, other, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "no runs in "));
    free(states);
    buf_free(&out);
    buf_free(&err);
}

static void expect_config_error(const char *config_text, const char *const *extra, const char *want)
{
    buf out = BUF_INIT, err = BUF_INIT;
    char *cfg = test_path_join(tmp, "config.json");
    if (config_text) test_write_file(cfg, config_text);
    const char *args[24] = {"run", MIGRATION, "--yes", "--state-dir", tmp};
    int n = 5;
    if (config_text) {
        args[n++] = "--config";
        args[n++] = cfg;
    }
    for (; extra && *extra; extra++) args[n++] = *extra;
    args[n] = NULL;
    test_fakeaws_reset(&fake);
    int rc = test_mighost(fake.url, args, &out, &err);
    if (rc != 2 || !strstr(buf_str(&err), want))
        fail_msg("want exit 2 with '%s', got %d: %s", want, rc, buf_str(&err));
    /* One clear message, nothing touched. */
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    free(cfg);
    buf_free(&out);
    buf_free(&err);
}

static void test_bad_configs(void **state)
{
    (void)state;
    make_table("wrongkey_src", 0);
    eval("local ddb = require 'mighost.dynamodb'\n"
         "assert(ddb.create_table({TableName = 'wrongkey', AttributeDefinitions = "
         "{{AttributeName = 'id', AttributeType = 'S'}}, KeySchema = {{AttributeName = 'id', "
         "KeyType = 'HASH'}}, BillingMode = 'PAY_PER_REQUEST'}))\n");
    expect_config_error("{\"sourceTableName\": \"rsrc\"}", NULL,
                        "missing parameter destination");
    expect_config_error("{\"sourceTableName\": 12, \"destinationTableName\": \"rdst\"}", NULL,
                        "key \"sourceTableName\" (parameter source) must be a string, not number");
    expect_config_error("{\"sourceTableName\": \"nope\", \"destinationTableName\": \"rdst\"}", NULL,
                        "table nope (parameter source) does not exist");
    expect_config_error("{\"sourceTableName\": \"wrongkey\", \"destinationTableName\": \"rdst\"}", NULL,
                        "has the key (id), but this migration expects (pk)");
    expect_config_error("{\"sourceTableName\": \"rsrc\",", NULL, "is not valid JSON");
    expect_config_error(NULL, (const char *const[]){"--config", "/nonexistent/c.json", NULL},
                        "cannot read the config file");
    expect_config_error("{\"sourceTableName\": \"rsrc\", \"destinationTableName\": \"rdst\"}",
                        (const char *const[]){"--limit", "zero", NULL}, "--limit expects");
    expect_config_error(NULL, (const char *const[]){"--source", "rsrc", "--destination", "rdst",
                                                    "--bogus", NULL}, "unknown option --bogus");

    /* _comment keys are ignored, unknown keys are warned about. */
    buf out = BUF_INIT, err = BUF_INIT;
    char *cfg = test_path_join(tmp, "ok.json");
    test_write_file(cfg, "{\"_comment1\": \"x\", \"comments\": [\"y\"], \"sourceTableName\": "
                         "\"rsrc\", \"destinationTableName\": \"rdst\", \"colour\": \"red\"}");
    const char *args[] = {"run", MIGRATION, "--config", cfg, "--dry-run", "--state-dir", tmp,
                          "--report", "/dev/null", NULL};
    assert_int_equal(test_mighost(fake.url, args, &out, &err), 0);
    assert_non_null(strstr(buf_str(&err), "unknown key \"colour\" ignored"));
    assert_null(strstr(buf_str(&err), "_comment1"));
    free(cfg);
    buf_free(&out);
    buf_free(&err);
}

static void test_script_error_exit_4(void **state)
{
    (void)state;
    char *path = test_path_join(tmp, "broken.lua");
    test_write_file(path, "return {name = 'broken', params = {}, phases = {\n"
                          "  {name = 'boom', run = function(ctx)\n"
                          "    local t = nil\n"
                          "    return t.field\n"
                          "  end}}}\n");
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"run", path, "--yes", "--state-dir", tmp, "--report", "/dev/null", NULL};
    assert_int_equal(test_mighost(fake.url, args, &out, &err), 4);
    buf want = BUF_INIT;
    buf_printf(&want, "%s:4: attempt to index a nil value", path);
    assert_non_null(strstr(buf_str(&err), buf_str(&want)));
    free(path);
    buf_free(&want);
    buf_free(&out);
    buf_free(&err);
}

/* A parameter from --stack: the report's value for it. */
static void expect_stack_values(const test_server *cfn, const char *stack, const char *source,
                                const char *destination)
{
    buf out = BUF_INIT, err = BUF_INIT;
    char *report = test_path_join(tmp, "stack.json");
    const char *args[] = {"run", MIGRATION, "--stack", stack, "--dry-run", "--report", report, NULL};
    int rc = test_mighost(cfn->url, args, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    json_object *r = test_json_read(report), *p, *v;
    assert_true(json_object_object_get_ex(r, "parameters", &p));
    assert_true(json_object_object_get_ex(p, "source", &v));
    assert_string_equal(json_object_get_string(v), source);
    assert_true(json_object_object_get_ex(p, "destination", &v));
    assert_string_equal(json_object_get_string(v), destination);
    json_object_put(r);
    free(report);
    buf_free(&out);
    buf_free(&err);
}

/* Stacks shaped as CDK makes them: an output on the stack keeps its id, one
 * inside a construct gets the construct path and eight hex digits; tables
 * with no output are resources, possibly of a nested stack, matched by
 * construct id exactly (SourceTableV2 is a different construct). */
static void test_stack_fills_parameters(void **state)
{
    (void)state;
    char *stacks = test_path_join(tmp, "stacks.json");
    test_write_file(stacks,
        "{\"prod\": {\"SourceTable\": \"rsrc\", \"SourceTableV2\": \"wrong\", "
        "            \"StorageDestinationTable1A2B3C4D\": \"rdst\", \"Other\": \"x\"},\n"
        " \"nested\": {\"Outputs\": {\"SourceTableV2Name\": \"wrong\"}, \"Resources\": [\n"
        "   {\"LogicalResourceId\": \"SourceTableV20F1E2D3C\", \"ResourceType\": \"AWS::DynamoDB::Table\", \"PhysicalResourceId\": \"wrong\"},\n"
        "   {\"LogicalResourceId\": \"SourceTableaaaa0000\", \"ResourceType\": \"AWS::DynamoDB::Table\", \"PhysicalResourceId\": \"wrong\"},\n"
        "   {\"LogicalResourceId\": \"SourceTableRole9A8B7C6D\", \"ResourceType\": \"AWS::IAM::Role\", \"PhysicalResourceId\": \"wrong\"},\n"
        "   {\"LogicalResourceId\": \"SourceTable5E6F7A8B\", \"ResourceType\": \"AWS::DynamoDB::Table\", \"PhysicalResourceId\": \"rsrc\"},\n"
        "   {\"LogicalResourceId\": \"StorageNestedStackStorageNestedStackResource11223344\", \"ResourceType\": \"AWS::CloudFormation::Stack\", \"PhysicalResourceId\": \"nested-Storage-ABC\"}]},\n"
        " \"nested-Storage-ABC\": {\"Resources\": [\n"
        "   {\"LogicalResourceId\": \"StorageDestinationTableV2CAFEF00D\", \"ResourceType\": \"AWS::DynamoDB::Table\", \"PhysicalResourceId\": \"wrong\"},\n"
        "   {\"LogicalResourceId\": \"StorageDestinationTableDEADBEEF\", \"ResourceType\": \"AWS::DynamoDB::Table\", \"PhysicalResourceId\": \"rdst\"}]},\n"
        " \"twice\": {\"Resources\": [\n"
        "   {\"LogicalResourceId\": \"SourceTable11111111\", \"ResourceType\": \"AWS::DynamoDB::Table\", \"PhysicalResourceId\": \"a\"},\n"
        "   {\"LogicalResourceId\": \"SourceTable22222222\", \"ResourceType\": \"AWS::DynamoDB::Table\", \"PhysicalResourceId\": \"b\"}]}}\n");
    test_server cfn = {0};
    const char *fargs[] = {"--upstream", dynalite.url, "--stacks-file", stacks, NULL};
    assert_int_equal(test_fakeaws_start(&cfn, fargs), 0);
    expect_stack_values(&cfn, "prod", "rsrc", "rdst");
    assert_int_equal(test_fakeaws_stat(&cfn, "by_target.cloudformation:DescribeStacks"), 1);
    assert_int_equal(test_fakeaws_stat(&cfn, "by_target.cloudformation:ListStackResources"), 0);
    /* Resources over pages of two, the nested stack followed. */
    assert_int_equal(test_fakeaws_config(&cfn, "{\"stack_resource_page\": 2}"), 0);
    expect_stack_values(&cfn, "nested", "rsrc", "rdst");
    assert_int_equal(test_fakeaws_stat(&cfn, "by_target.cloudformation:ListStackResources"), 4);
    assert_int_equal(test_fakeaws_stat(&cfn, "signature_failures"), 0);
    buf out = BUF_INIT, err = BUF_INIT;
    /* Two resources of one construct id: an error naming both, exit 2. */
    const char *twice[] = {"run", MIGRATION, "--stack", "twice", "--dry-run", NULL};
    assert_int_equal(test_mighost(cfn.url, twice, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "SourceTable11111111 and SourceTable22222222 both match SourceTable"));
    /* An unknown stack is a clear error. */
    const char *missing[] = {"run", MIGRATION, "--stack", "nope", "--dry-run", NULL};
    assert_int_equal(test_mighost(cfn.url, missing, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "Stack with id nope does not exist"));
    test_server_stop(&cfn);
    free(stacks);
    buf_free(&out);
    buf_free(&err);
}

/* A second Ctrl-C exits at once, and the state is still consistent: a
 * resumed run finishes the copy exactly. */
static void test_second_interrupt_exits_at_once(void **state)
{
    (void)state;
    make_table("i2src", 20000);
    make_table("i2dst", 0);
    char *states = test_path_join(tmp, "i2state");
    const char *args[] = {"run", MIGRATION, "--source", "i2src", "--destination", "i2dst", "--yes",
                          "--state-dir", states, "--endpoint-url", dynalite.url, "--quiet",
                          "--report", "/dev/null", NULL};
    /* A second Ctrl-C exits at once, skipping every free by design, so
     * under `make valgrind` this one run uses the plain binary. */
    const char *real = getenv("MIGHOST_REAL_BIN");
    pid_t pid = test_spawn_mighost(real, NULL, args);
    assert_true(pid > 0);
    struct timespec gap = {0, 20000000L};
    wait_for_state(states);
    kill(pid, SIGINT);
    nanosleep(&gap, NULL);
    kill(pid, SIGINT);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 130);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *resume[] = {"run", MIGRATION, "--source", "i2src", "--destination", "i2dst",
                            "--yes", "--state-dir", states, "--resume", "--quiet", "--report",
                            "/dev/null", NULL};
    assert_int_equal(test_mighost(dynalite.url, resume, &out, &err), 0);
    long stamped, all;
    count_table("i2dst", "v2", &stamped, &all);
    assert_int_equal(all, 19800);
    assert_int_equal(stamped, 19800);
    free(states);
    buf_free(&out);
    buf_free(&err);
}

/* `mighost new` writes a migration that passes check as written and runs. */
static void test_new_passes_check_and_runs(void **state)
{
    (void)state;
    char *file = test_path_join(tmp, "acme-stamp.lua");
    buf out = BUF_INIT, err = BUF_INIT;
    const char *gen[] = {"new", "acme/stamp", file, NULL};
    assert_int_equal(test_mighost(NULL, gen, &out, &err), 0);
    assert_int_equal(test_mighost(NULL, gen, &out, &err), 2);     /* never overwrites */
    assert_non_null(strstr(buf_str(&err), "already exists"));
    const char *check[] = {"check", file, NULL};
    assert_int_equal(test_mighost(NULL, check, &out, &err), 0);
    assert_non_null(strstr(buf_str(&out), "acme/stamp: ok (3 parameters, 2 phases)"));
    make_table("nsrc", 300);
    make_table("ndst", 0);
    const char *dry[] = {"run", file, "--source", "nsrc", "--destination", "ndst", "--dry-run",
                         "--sample", "1", "--report", "/dev/null", NULL};
    assert_int_equal(test_mighost(dynalite.url, dry, &out, &err), 0);
    if (!strstr(buf_str(&err), "+ version: {\"S\":\"v2\"}")) fail_msg("%s", buf_str(&err));
    const char *real[] = {"run", file, "--source", "nsrc", "--destination", "ndst", "--yes",
                          "--state-dir", tmp, "--report", "/dev/null", NULL};
    assert_int_equal(test_mighost(dynalite.url, real, &out, &err), 0);
    long stamped, all;
    count_table("ndst", "v2", &stamped, &all);
    assert_int_equal(stamped, 300);
    free(file);
    buf_free(&out);
    buf_free(&err);
}

/* --max-write-rate holds the consumed write capacity to the given rate. */
static void test_max_write_rate(void **state)
{
    (void)state;
    make_table("msrc", 2000);
    make_table("mdst", 0);
    buf out = BUF_INIT, err = BUF_INIT;
    char *report = test_path_join(tmp, "rate.json");
    const char *args[] = {"run", MIGRATION, "--source", "msrc", "--destination", "mdst", "--yes",
                          "--state-dir", tmp, "--max-write-rate", "600", "--report", report,
                          "--quiet", NULL};
    assert_int_equal(test_mighost(dynalite.url, args, &out, &err), 0);
    json_object *r = test_json_read(report), *phases, *copy_phase, *cc, *w, *dur, *cpu;
    assert_true(json_object_object_get_ex(r, "phases", &phases));
    copy_phase = json_object_array_get_idx(phases, 0);
    assert_true(json_object_object_get_ex(copy_phase, "consumed_capacity", &cc));
    assert_true(json_object_object_get_ex(cc, "write", &w));
    assert_true(json_object_object_get_ex(copy_phase, "duration_seconds", &dur));
    double units = json_object_get_double(w), seconds = json_object_get_double(dur);
    /* The phase's CPU: some, and no more than its two threads (the loop
     * and the journal's writer) can use in its wall time. */
    assert_true(json_object_object_get_ex(copy_phase, "cpu_seconds", &cpu));
    double cpu_s = json_object_get_double(cpu);
    printf("copy phase: %.3f s CPU in %.2f s\n", cpu_s, seconds);
    assert_true(cpu_s > 0);
    assert_true(cpu_s <= 2 * seconds + 0.1);
    /* The peak memory so far: a real figure for a small process. */
    json_object *rss;
    assert_true(json_object_object_get_ex(copy_phase, "peak_rss_mb", &rss));
    printf("peak rss after the copy phase: %.1f MB\n", json_object_get_double(rss));
    assert_true(json_object_get_double(rss) > 2 && json_object_get_double(rss) < 1024);
    printf("%.0f write units in %.2f s = %.0f/s (limit 600, burst 600)\n", units, seconds,
           units / seconds);
    assert_true(units >= 1980);
    /* 1,980 units at 600/s after a 600-unit burst: at least 2.3 s. */
    assert_true(seconds >= 2.2);
    json_object_put(r);
    free(report);
    buf_free(&out);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_describe_check),
        cmocka_unit_test(test_dry_run_then_real_run),
        cmocka_unit_test(test_bad_configs),
        cmocka_unit_test(test_script_error_exit_4),
        cmocka_unit_test(test_stack_fills_parameters),
        cmocka_unit_test(test_interrupt_saves_state),
        cmocka_unit_test(test_second_interrupt_exits_at_once),
        cmocka_unit_test(test_max_write_rate),
        cmocka_unit_test(test_new_passes_check_and_runs),
        cmocka_unit_test(test_kill_and_resume),
    };
    return cmocka_run_group_tests_name("runner", tests, setup, teardown);
}
