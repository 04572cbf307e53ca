/* test_vams_ab.c - vams/ab-deployment against real local servers: dynalite
 * (tables), s3rver behind fakeaws (buckets; fakeaws checks S3's signature
 * and adds the two operations s3rver lacks) and cognito-local (user
 * pools). Stack A (5 tables with VAMS's key schemas and GSIs, 2 buckets of
 * 2,301 objects with metadata and tags, one copied in parts under a
 * lowered threshold, a pool of 50 users in 3 groups) is built once; each
 * test moves it into a new, empty stack B and compares B with A with
 * tests/integration/vams/ab_compare.lua, which reads both sides itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testassert.h"
#include "testsupport.h"

#define PREFIX "ab"
#define OBJECTS 2301
#define ITEMS 1170
#define USERS 50

static test_server dyn, s3, cog, fake;
static char *tmp;
static char pool_a[128];
static char env_fake[96], env_cognito[128], env_home[600];
static const char *env[8];
static int stacks;

/* mighost ARGS with the test credentials, every service at fakeaws but
 * Cognito at cognito-local. */
static int mighost(const char *const *args, buf *out, buf *err)
{
    return test_mighost_env(NULL, env, args, out, err);
}

/* Runs a fixture script or node helper; fails the test on error. */
static void must_run(const char *const *args, buf *out)
{
    buf err = BUF_INIT;
    int rc = mighost(args, out, &err);
    if (rc != 0) fail_msg("%s: exit %d: %s", args[1], rc, buf_str(&err));
    buf_free(&err);
}

/* A stack's tables, buckets and pool; its pool id in pool (may be NULL). */
static void make_stack(const char *side, const char *mode, char *pool, size_t cap)
{
    buf out = BUF_INIT, err = BUF_INIT;
    const char *fx[] = {"run", "tests/integration/vams/ab_fixture.lua", PREFIX, side, mode, NULL};
    must_run(fx, &out);
    const char *p = strstr(buf_str(&out), "POOL ");
    assert_non_null(p);
    if (pool) snprintf(pool, cap, "%.*s", (int)strcspn(p + 5, "\n"), p + 5);
    const char *seed[] = {test_node_path(), "tests/integration/vams/ab_seed_s3.js", s3.url, PREFIX,
                          side, strcmp(mode, "source") == 0 ? "source" : "empty", NULL};
    int rc = test_run(seed, NULL, NULL, NULL, &out, &err);
    if (rc != 0) fail_msg("ab_seed_s3: exit %d: %s", rc, buf_str(&err));
    buf_free(&out);
    buf_free(&err);
}

/* A new empty stack B: its side name in side, its pool in pool. */
static void new_stack_b(char *side, size_t scap, char *pool, size_t pcap, const char *mode)
{
    snprintf(side, scap, "b%d", ++stacks);
    make_stack(side, mode, pool, pcap);
}

/* The old MigrationSchema JSON for A -> side, as VAMS shipped it. */
static void write_mapping(const char *path, const char *side)
{
    static const char *const tables[] = {"databaseStorageTable", "assetStorageTable",
        "commentStorageTable", "pipelineStorageTable", "metadataStorageTable"};
    buf b = BUF_INIT;
    buf_printf(&b, "{\n  \"regionFrom\": \"us-east-1\",\n  \"regionTo\": \"us-east-1\",\n"
                   "  \"VAMS_S3Bucket_Mapping\": [\n"
                   "    {\"bucketDescriptor\": \"assetStorageBucket\", \"buckets\": {\"from\": \"%1$s-a-assets\", \"to\": \"%1$s-%2$s-assets\"}},\n"
                   "    {\"bucketDescriptor\": \"assetAuxiliaryStorageBucket\", \"buckets\": {\"from\": \"%1$s-a-aux\", \"to\": \"%1$s-%2$s-aux\"}}\n"
                   "  ],\n  \"VAMS_DynamoDBTable_Mapping\": [\n", PREFIX, side);
    for (size_t i = 0; i < 5; i++)
        buf_printf(&b, "    {\"tableDescriptor\": \"%1$s\", \"tables\": {\"from\": \"%2$s-a-%1$s\", "
                       "\"to\": \"%2$s-%3$s-%1$s\"}, \"attributes\": [{\"from\": \"\", \"to\": \"\"}]}%4$s\n",
                   tables[i], PREFIX, side, i < 4 ? "," : "");
    buf_puts(&b, "  ]\n}\n");
    assert_int_equal(test_write_file(path, buf_str(&b)), 0);
    buf_free(&b);
}

typedef struct run {
    char side[16], pool[128];
    char mapping[600], report[600], state[600];
} run;

static void new_run(run *r, const char *mode)
{
    new_stack_b(r->side, sizeof r->side, r->pool, sizeof r->pool, mode);
    snprintf(r->mapping, sizeof r->mapping, "%s/%s-mapping.json", tmp, r->side);
    snprintf(r->report, sizeof r->report, "%s/%s-report.json", tmp, r->side);
    snprintf(r->state, sizeof r->state, "%s/%s-state", tmp, r->side);
    write_mapping(r->mapping, r->side);
}

/* mighost run vams/ab-deployment --mapping ... EXTRA... */
static void migrate_args(const run *r, const char *const *extra, const char **args, size_t cap)
{
    const char *base[] = {"run", "vams/ab-deployment", "--mapping", r->mapping, "--from-user-pool",
                          pool_a, "--to-user-pool", r->pool, "--multipart-threshold", "8388608",
                          "--part-size", "5242880", "--report", r->report, "--state-dir", r->state,
                          "--quiet", "--no-history", NULL};   /* writes are counted */
    assert_true(test_args_join(args, cap, base, extra) >= 0);
}

static int migrate(const run *r, const char *const *extra, buf *out, buf *err)
{
    const char *args[40];
    migrate_args(r, extra, args, sizeof args / sizeof *args);
    return mighost(args, out, err);
}

/* B equals A, by the independent comparison. */
static void expect_equal(const run *r)
{
    buf out = BUF_INIT;
    const char *cmp[] = {"run", "tests/integration/vams/ab_compare.lua", PREFIX, "a", r->side, pool_a,
                         r->pool, NULL};
    must_run(cmp, &out);
    char want[96];
    snprintf(want, sizeof want, "EQUAL tables=%d objects=%d users=%d", ITEMS, OBJECTS, USERS);
    assert_non_null(strstr(buf_str(&out), want));
    buf_free(&out);
}

static long phase_int(const char *report, const char *phase, const char *field)
{
    json_object *doc, *p = test_json_read_phase(report, phase, &doc);
    long v = test_json_int(p, field);
    json_object_put(doc);
    return v;
}

static int setup(void **state)
{
    (void)state;
    tmp = test_tempdir();
    if (!tmp) return -1;
    char dir[700];
    snprintf(dir, sizeof dir, "%s/s3rver", tmp);
    if (test_dynalite_start(&dyn) != 0) return -1;
    if (test_s3rver_start(&s3, dir) != 0) return -1;
    snprintf(dir, sizeof dir, "%s/cognito", tmp);
    if (test_cognito_local_start(&cog, dir) != 0) return -1;
    const char *fargs[] = {"--upstream", dyn.url, "--s3-upstream", s3.url, NULL};
    if (test_fakeaws_start(&fake, fargs) != 0) return -1;
    snprintf(env_fake, sizeof env_fake, "AWS_ENDPOINT_URL=%s", fake.url);
    snprintf(env_cognito, sizeof env_cognito, "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER=%s", cog.url);
    snprintf(env_home, sizeof env_home, "HOME=%s", tmp);
    size_t n = 0;
    for (const char *const *e = test_fake_aws_env; *e; e++) env[n++] = *e;
    env[n++] = env_fake;
    env[n++] = env_cognito;
    env[n++] = env_home;
    env[n] = NULL;
    make_stack("a", "source", pool_a, sizeof pool_a);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    test_server_stop(&fake);
    test_server_stop(&cog);
    test_server_stop(&s3);
    test_server_stop(&dyn);
    if (tmp) test_rmtree(tmp);
    free(tmp);
    tmp = NULL;
    return 0;
}

/* The old MigrationSchema JSON, with S3 faults on the way: B equals A;
 * the report lists every user who must reset a password; a re-run copies
 * nothing (no CopyObject, no table write, no user created). */
static void test_mapping_then_rerun(void **state)
{
    (void)state;
    run r;
    new_run(&r, "empty");
    assert_int_equal(test_fakeaws_reset(&fake), 0);
    assert_int_equal(test_fakeaws_config(&fake, "{\"s3_faults_next\":[\"500\",\"slowdown\",\"500\"]}"), 0);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *yes[] = {"--yes", NULL};
    int rc = migrate(&r, yes, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    expect_equal(&r);
    assert_int_equal(test_fakeaws_stat(&fake, "faults.s3-500"), 2);
    assert_int_equal(test_fakeaws_stat(&fake, "faults.s3-slowdown"), 1);
    assert_int_equal(test_fakeaws_stat(&fake, "signature_failures"), 0);
    assert_int_equal(phase_int(r.report, "tables", "written"), ITEMS);
    assert_int_equal(phase_int(r.report, "buckets", "written"), OBJECTS);
    assert_int_equal(phase_int(r.report, "buckets", "notes.objects.multipart_copies"), 1);
    assert_int_equal(phase_int(r.report, "users", "written"), USERS);
    assert_true(test_fakeaws_stat(&fake, "by_target.s3:UploadPartCopy") >= 3);
    json_object *doc = test_json_read(r.report);
    assert_int_equal(test_json_int(doc, "password_resets.count"), USERS);
    assert_int_equal(json_object_array_length(test_json_get(doc, "password_resets.users")), USERS);
    assert_true(json_object_get_boolean(test_json_get(doc, "verification.ok")));
    json_object_put(doc);

    assert_int_equal(test_fakeaws_reset(&fake), 0);
    rc = migrate(&r, yes, &out, &err);
    if (rc != 0) fail_msg("re-run: exit %d: %s", rc, buf_str(&err));
    assert_int_equal(test_fakeaws_stat(&fake, "by_target.s3:CopyObject"), 0);
    assert_int_equal(test_fakeaws_stat(&fake, "by_target.s3:CreateMultipartUpload"), 0);
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    assert_int_equal(phase_int(r.report, "buckets", "skipped.total"), OBJECTS);
    assert_int_equal(phase_int(r.report, "users", "written"), 0);
    assert_int_equal(phase_int(r.report, "users", "skipped.total"), USERS);
    assert_int_equal(phase_int(r.report, "tables", "skipped.total"), 5);
    expect_equal(&r);
    buf_free(&out);
    buf_free(&err);
}

/* SIGKILL in the middle of the bucket copies, then --resume: B equals A,
 * and the resumed run did not start the buckets over. */
static void test_kill_and_resume(void **state)
{
    (void)state;
    run r;
    new_run(&r, "empty");
    assert_int_equal(test_fakeaws_reset(&fake), 0);
    const char *args[40];
    const char *yes[] = {"--yes", "--window", "8", NULL};
    migrate_args(&r, yes, args, sizeof args / sizeof *args);
    char **child_env = NULL;
    (void)child_env;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* mighost with our environment, its output discarded. */
        size_t n = 0;
        while (args[n]) n++;
        const char *argv[44];
        argv[0] = test_mighost_path();
        for (size_t i = 0; i <= n; i++) argv[i + 1] = args[i];
        FILE *null = freopen("/dev/null", "w", stdout);
        (void)null;
        null = freopen("/dev/null", "w", stderr);
        for (const char *const *u = test_aws_env_unset; *u; u++) unsetenv(*u);
        for (const char *const *e = env; *e; e++) putenv((char *)*e);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    /* Kill it once a quarter of the objects are copied. */
    long copies = 0;
    for (int i = 0; i < 1200 && copies < OBJECTS / 4; i++) {
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
        copies = test_fakeaws_stat(&fake, "by_target.s3:CopyObject");
    }
    kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    assert_true(WIFSIGNALED(status));
    assert_true(copies >= OBJECTS / 4);
    long before = test_fakeaws_stat(&fake, "by_target.s3:CopyObject");
    assert_true(before < OBJECTS);

    buf out = BUF_INIT, err = BUF_INIT;
    const char *resume[] = {"--yes", "--resume", NULL};
    int rc = migrate(&r, resume, &out, &err);
    if (rc != 0) fail_msg("resume: exit %d: %s", rc, buf_str(&err));
    expect_equal(&r);
    /* The resumed run redid at most the pages in flight (1,000 keys each). */
    long total = test_fakeaws_stat(&fake, "by_target.s3:CopyObject");
    assert_true(total < OBJECTS + 1000);
    assert_true(phase_int(r.report, "buckets", "written") < OBJECTS);
    buf_free(&out);
    buf_free(&err);
}

/* Key schemas differ: exit 2 naming the table and both schemas, before
 * anything is written. */
static void test_key_schema_mismatch(void **state)
{
    (void)state;
    run r;
    new_run(&r, "mismatch");
    assert_int_equal(test_fakeaws_reset(&fake), 0);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *yes[] = {"--yes", NULL};
    assert_int_equal(migrate(&r, yes, &out, &err), 2);
    const char *e = buf_str(&err);
    assert_non_null(strstr(e, "table commentStorageTable: key schemas differ"));
    assert_non_null(strstr(e, "assetId (S, HASH), assetVersionId:commentId (S, RANGE)"));
    assert_non_null(strstr(e, "assetId (S, HASH), commentId (S, RANGE)"));
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    assert_int_equal(test_fakeaws_stat(&fake, "by_target.s3:CopyObject"), 0);
    buf_free(&out);
    buf_free(&err);
}

/* A destination table that holds other items is refused (exit 2), and
 * taken with --allow-nonempty, the overwritten items counted. A dry-run
 * lists every pair and writes nothing. */
static void test_nonempty_and_dry_run(void **state)
{
    (void)state;
    run r;
    new_run(&r, "empty");
    buf out = BUF_INIT, err = BUF_INIT;
    char table[64], code[512];
    snprintf(table, sizeof table, "%s-%s-assetStorageTable", PREFIX, r.side);
    snprintf(code, sizeof code,
             "local ddb = require 'mighost.dynamodb'\n"
             "assert(ddb.put{table = '%s', item = {databaseId = {S = 'db-01'}, assetId = {S = 'x00001'}, old = {BOOL = true}}})\n"
             "assert(ddb.put{table = '%s', item = {databaseId = {S = 'db-b'}, assetId = {S = 'only-in-b'}}})\n",
             table, table);
    char script[700];
    snprintf(script, sizeof script, "%s/%s-put.lua", tmp, r.side);
    assert_int_equal(test_write_file(script, code), 0);
    const char *put[] = {"run", script, NULL};
    must_run(put, &out);

    assert_int_equal(test_fakeaws_reset(&fake), 0);
    const char *dry[] = {"--dry-run", NULL};
    int rc = migrate(&r, dry, &out, &err);
    assert_int_equal(rc, 2);   /* the dry-run refuses what the run would refuse */
    assert_non_null(strstr(buf_str(&err), "is not empty and differs"));
    const char *dry_ok[] = {"--dry-run", "--allow-nonempty", NULL};
    rc = migrate(&r, dry_ok, &out, &err);
    if (rc != 0) fail_msg("dry-run: exit %d: %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&err), "bucket assetStorageBucket"));
    assert_non_null(strstr(buf_str(&err), "users  user pool"));
    assert_non_null(strstr(buf_str(&err), "1 items with the same key overwritten"));
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    assert_int_equal(test_fakeaws_stat(&fake, "by_target.s3:CopyObject"), 0);

    const char *yes[] = {"--yes", "--allow-nonempty", "--skip", "buckets,users", NULL};
    rc = migrate(&r, yes, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    json_object *doc, *p = test_json_read_phase(r.report, "plan", &doc);
    assert_int_equal(test_json_int(p, "notes.overwritten.count"), 1);
    assert_int_equal(test_json_int(doc, "verification.ok"), 1);
    json_object_put(doc);
    buf_free(&out);
    buf_free(&err);
}

/* The stacks as VAMS's CDK code deploys them: bucket and user-pool
 * outputs on the main stack, the tables resources of the nested storage
 * stack (logical id = construct id + 8 hex digits). A has a table B lacks
 * (listed and skipped); both have a web app bucket, which is not data. */
static void stack_json(buf *b, const char *side, const char *pool, int extra_table)
{
    static const char *const tables[][2] = {
        {"DatabaseStorageTable", "databaseStorageTable"}, {"AssetStorageTable", "assetStorageTable"},
        {"CommentStorageTable", "commentStorageTable"}, {"PipelineStorageTable", "pipelineStorageTable"},
        {"MetadataStorageTable", "metadataStorageTable"}};
    buf_printf(b, "\"%1$s-vams-%2$s\": {\"Outputs\": {\"AssetS3BucketNameOutput0\": \"%1$s-%2$s-assets\", "
                  "\"AssetAuxiliaryS3BucketNameOutput\": \"%1$s-%2$s-aux\", \"AuthCognito_UserPoolId\": \"%3$s\", "
                  "\"WebAppS3BucketNameOutput\": \"%1$s-%2$s-webapp\"}, \"Resources\": ["
                  "{\"LogicalResourceId\": \"StorageResourcesBuilderNestedStackStorageResourcesBuilderNestedStackResource1D2E3F4A\", "
                  "\"ResourceType\": \"AWS::CloudFormation::Stack\", \"PhysicalResourceId\": \"%1$s-vams-%2$s-storage\"}]},\n"
                  "\"%1$s-vams-%2$s-storage\": {\"Outputs\": {}, \"Resources\": [", PREFIX, side, pool);
    for (size_t i = 0; i < 5; i++)
        buf_printf(b, "{\"LogicalResourceId\": \"%s%08X\", \"ResourceType\": \"AWS::DynamoDB::Table\", "
                      "\"PhysicalResourceId\": \"%s-%s-%s\"},", tables[i][0], 0x1A2B3C40u + (unsigned)i,
                   PREFIX, side, tables[i][1]);
    if (extra_table)
        buf_printf(b, "{\"LogicalResourceId\": \"AssetLinksStorageTable9F8E7D6C\", \"ResourceType\": "
                      "\"AWS::DynamoDB::Table\", \"PhysicalResourceId\": \"%s-%s-assetLinks\"},", PREFIX, side);
    buf_puts(b, "{\"LogicalResourceId\": \"AccessLogsBucket0A1B2C3D\", \"ResourceType\": \"AWS::S3::Bucket\", "
                "\"PhysicalResourceId\": \"logs\"}]}");
}

/* --from-stack A --to-stack B: the pairs come from the stacks (a dry-run
 * lists them and the table only A has), and B ends equal to A, as with the
 * MigrationSchema JSON. */
static void test_from_stack(void **state)
{
    (void)state;
    run r;
    new_run(&r, "empty");
    buf cfg = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
    buf_puts(&cfg, "{\"stacks\": {");
    stack_json(&cfg, "a", pool_a, 1);
    buf_puts(&cfg, ",\n");
    stack_json(&cfg, r.side, r.pool, 0);
    buf_puts(&cfg, "}}");
    assert_int_equal(test_fakeaws_config(&fake, buf_str(&cfg)), 0);
    char from[64], to[64];
    snprintf(from, sizeof from, "%s-vams-a", PREFIX);
    snprintf(to, sizeof to, "%s-vams-%s", PREFIX, r.side);
    const char *base[] = {"run", "vams/ab-deployment", "--from-stack", from, "--to-stack", to,
                          "--multipart-threshold", "8388608", "--part-size", "5242880",
                          "--report", r.report, "--state-dir", r.state, "--quiet",
                          "--no-history", NULL};   /* writes are counted */
    const char *dry[] = {"--dry-run", NULL}, *yes[] = {"--yes", NULL};
    const char *args[32];
    assert_true(test_args_join(args, 32, base, dry) >= 0);
    int rc = mighost(args, &out, &err);
    if (rc != 0) fail_msg("dry-run: exit %d: %s", rc, buf_str(&err));
    const char *e = buf_str(&err);
    assert_non_null(strstr(e, "table  AssetStorageTable"));
    assert_non_null(strstr(e, "bucket AssetS3BucketNameOutput0"));
    assert_non_null(strstr(e, "bucket AssetAuxiliaryS3BucketNameOutput"));
    assert_non_null(strstr(e, "users  AuthCognito_UserPoolId"));
    assert_non_null(strstr(e, "table AssetLinksStorageTable is in stack A (ab-vams-a) only: skipped"));
    assert_null(strstr(e, "webapp"));
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);

    assert_true(test_args_join(args, 32, base, yes) >= 0);
    rc = mighost(args, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    expect_equal(&r);
    json_object *doc, *p = test_json_read_phase(r.report, "plan", &doc);
    assert_int_equal(test_json_int(p, "notes.pairs.tables"), 5);
    assert_int_equal(test_json_int(p, "notes.pairs.buckets"), 2);
    assert_int_equal(test_json_int(p, "notes.unpaired.count"), 1);
    json_object_put(doc);
    buf_free(&cfg);
    buf_free(&out);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_key_schema_mismatch),
        cmocka_unit_test(test_nonempty_and_dry_run),
        cmocka_unit_test(test_mapping_then_rerun),
        cmocka_unit_test(test_from_stack),
        cmocka_unit_test(test_kill_and_resume),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
