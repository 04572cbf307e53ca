/* test_backup.c - backups before the first write: --backup, --require-backup
 * and the pre-flight PITR/backup status, with a copy migration
 * (tests/integration/backup/copy.lua). DynamoDB's data plane is dynalite;
 * tests/fakeaws sits in front of it (one endpoint for the whole service, as
 * AWS has), answering the backup operations itself and recording every
 * request in order, so the tests can see that each backup was AVAILABLE
 * before the first write was sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "testassert.h"
#include "testsupport.h"

#define DIR "tests/integration/backup/"

static test_server dynalite, fake;
static char *tmp;
static int fixtures;

typedef struct fixture {
    char prefix[32];
    char src[64], dst[64], audit[64];
    char report[512];
    char state[512];
} fixture;

/* PREFIX-src with 50 items, PREFIX-dst and PREFIX-audit empty, made on
 * dynalite directly (no backup operation involved). */
static void make_fixture(fixture *f)
{
    snprintf(f->prefix, sizeof f->prefix, "bk-%d", ++fixtures);
    snprintf(f->report, sizeof f->report, "%s/%s-report.json", tmp, f->prefix);
    snprintf(f->state, sizeof f->state, "%s/%s-state", tmp, f->prefix);
    snprintf(f->src, sizeof f->src, "%s-src", f->prefix);
    snprintf(f->dst, sizeof f->dst, "%s-dst", f->prefix);
    snprintf(f->audit, sizeof f->audit, "%s-audit", f->prefix);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"run", DIR "fixture.lua", f->prefix, NULL};
    if (test_mighost(dynalite.url, args, &out, &err) != 0) fail_msg("fixture: %s", buf_str(&err));
    buf_free(&out);
    buf_free(&err);
    assert_int_equal(test_fakeaws_reset(&fake), 0);
}

/* The arguments of mighost run copy.lua on the fixture, plus extra. */
static void copy_args(const fixture *f, const char *const *extra, const char **args, size_t cap)
{
    const char *base[] = {"run", DIR "copy.lua", "--source", f->src, "--destination", f->dst, "--audit",
                          f->audit, "--report", f->report, "--state-dir", f->state, NULL};
    assert_true(test_args_join(args, cap, base, extra) >= 0);
}

/* mighost run copy.lua on the fixture through fakeaws, plus extra. */
static int run_copy(const fixture *f, const char *const *extra, buf *out, buf *err)
{
    const char *args[40];
    copy_args(f, extra, args, sizeof args / sizeof *args);
    return test_mighost(fake.url, args, out, err);
}

/* The requests fakeaws recorded since the last reset (a JSON array). */
static json_object *requests(void)
{
    buf text = BUF_INIT;
    assert_int_equal(test_fakeaws_get(&fake, "/__requests", &text), 200);
    json_object *doc = json_tokener_parse(buf_str(&text));
    assert_non_null(doc);
    buf_free(&text);
    return doc;
}

static const char *target_of(json_object *r)
{
    json_object *t;
    return json_object_object_get_ex(r, "target", &t) ? json_object_get_string(t) : "";
}

static int is_write(const char *target)
{
    static const char *const writes[] = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem",
                                         "TransactWriteItems", NULL};
    const char *dot = strrchr(target, '.');
    for (int i = 0; dot && writes[i]; i++)
        if (strcmp(dot + 1, writes[i]) == 0) return 1;
    return 0;
}

static long count_target(const char *op)
{
    buf path = BUF_INIT;
    buf_printf(&path, "by_target.DynamoDB_20120810.%s", op);
    long n = test_fakeaws_stat(&fake, buf_str(&path));
    buf_free(&path);
    return n;
}

/* The report's backups.tables entry for table `name`. */
static json_object *report_table(json_object *report, const char *name)
{
    json_object *tables = test_json_get(report, "backups.tables");
    assert_non_null(tables);
    for (size_t i = 0; i < json_object_array_length(tables); i++) {
        json_object *t = json_object_array_get_idx(tables, i);
        if (strcmp(json_object_get_string(test_json_get(t, "table")), name) == 0) return t;
    }
    fail_msg("no backups entry for %s", name);
    return NULL;
}

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

/* --backup: one backup per written table (destination and the declared
 * audit table, not the source), each AVAILABLE (fakeaws: after two CREATING
 * answers) before the first write request; the ARNs in the confirmation,
 * the summary and the report; the copy complete. */
static void test_backup_before_first_write(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    assert_int_equal(test_fakeaws_config(&fake, "{\"backup_creating_polls\": 2}"), 0);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *extra[] = {"--backup", "--yes", "--audit-declared", "--write-audit", NULL};
    int rc = run_copy(&f, extra, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_int_equal(count_target("CreateBackup"), 2);

    json_object *report = test_json_read(f.report);
    char dst[64], audit[64];
    snprintf(dst, sizeof dst, "%s-dst", f.prefix);
    snprintf(audit, sizeof audit, "%s-audit", f.prefix);
    const char *arns[2];
    const char *tables[2] = {dst, audit};
    for (int i = 0; i < 2; i++) {
        json_object *t = report_table(report, tables[i]);
        arns[i] = json_object_get_string(test_json_get(t, "backup.arn"));
        assert_non_null(arns[i]);
        assert_string_equal(json_object_get_string(test_json_get(t, "backup.status")), "AVAILABLE");
        char name[128];
        snprintf(name, sizeof name, "mighost-tests-backup-copy-%s-", tables[i]);
        assert_true(strncmp(json_object_get_string(test_json_get(t, "backup.name")), name, strlen(name)) == 0);
        /* In the confirmation and in the summary. */
        buf line = BUF_INIT;
        buf_printf(&line, "backup of %s: %s (AVAILABLE)", tables[i], arns[i]);
        assert_non_null(strstr(buf_str(&err), buf_str(&line)));
        buf_reset(&line);
        buf_printf(&line, "  backup of %s: %s\n", tables[i], arns[i]);
        assert_non_null(strstr(buf_str(&err), buf_str(&line)));
        buf_free(&line);
    }

    /* The order at the endpoint: both CreateBackup requests, and for each
     * backup a DescribeBackup answered AVAILABLE, before the first write. */
    json_object *log = requests();
    size_t n = json_object_array_length(log), first_write = n;
    for (size_t i = 0; i < n && first_write == n; i++)
        if (is_write(target_of(json_object_array_get_idx(log, i)))) first_write = i;
    assert_true(first_write < n);
    int created = 0, available[2] = {0, 0}, creating = 0;
    for (size_t i = 0; i < n; i++) {
        json_object *r = json_object_array_get_idx(log, i), *st;
        const char *t = target_of(r);
        if (strstr(t, "Backup"))   /* signed and checked like every other operation */
            assert_true(json_object_get_boolean(test_json_get(r, "signature_ok")));
        if (strstr(t, ".CreateBackup")) {
            assert_true(i < first_write);
            created++;
        }
        if (strstr(t, ".DescribeBackup") && json_object_object_get_ex(r, "backup_status", &st)) {
            assert_true(i < first_write);
            const char *body = json_object_get_string(test_json_get(r, "body"));
            for (int k = 0; k < 2; k++) {
                if (!strstr(body, arns[k])) continue;
                if (strcmp(json_object_get_string(st), "AVAILABLE") == 0) available[k]++;
                else creating++;
            }
        }
    }
    assert_int_equal(created, 2);
    assert_int_equal(available[0], 1);
    assert_int_equal(available[1], 1);
    assert_int_equal(creating, 4);   /* two CREATING answers per backup: the wait waited */
    json_object_put(log);
    json_object_put(report);

    json_object *doc, *p = test_json_read_phase(f.report, "copy", &doc);
    assert_int_equal(test_json_int(p, "written"), 50);
    json_object_put(doc);
    assert_int_equal(test_fakeaws_config(&fake, "{\"backup_creating_polls\": 1}"), 0);
    buf_free(&out);
    buf_free(&err);
}

/* --require-backup without PITR or --backup: exit 2, no write, no backup.
 * With PITR on for the written table it goes ahead without a backup. */
static void test_require_backup(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *extra[] = {"--require-backup", "--yes", NULL};
    assert_int_equal(run_copy(&f, extra, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "has neither point-in-time recovery nor a backup: pass --backup"));
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    assert_int_equal(count_target("CreateBackup"), 0);

    buf cfg = BUF_INIT;
    buf_printf(&cfg, "{\"pitr_tables\": [\"%s-dst\"]}", f.prefix);
    assert_int_equal(test_fakeaws_config(&fake, buf_str(&cfg)), 0);
    int rc = run_copy(&f, extra, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&err), "PITR on (restorable "));
    assert_int_equal(count_target("CreateBackup"), 0);
    assert_true(test_fakeaws_stat(&fake, "writes_forwarded") > 0);
    json_object *report = test_json_read(f.report);
    buf name = BUF_INIT;
    buf_printf(&name, "%s-dst", f.prefix);
    json_object *t = report_table(report, buf_str(&name));
    assert_string_equal(json_object_get_string(test_json_get(t, "pitr.status")), "ENABLED");
    assert_non_null(test_json_get(t, "pitr.earliest"));
    json_object_put(report);
    assert_int_equal(test_fakeaws_config(&fake, "{\"pitr_tables\": []}"), 0);
    buf_free(&name);
    buf_free(&cfg);
    buf_free(&out);
    buf_free(&err);
}

/* A dry-run with --backup says what it would create and creates nothing;
 * with --require-backup it says a real run would be refused, and is not. */
static void test_dry_run_creates_no_backup(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *extra[] = {"--dry-run", "--backup", NULL};
    int rc = run_copy(&f, extra, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    buf want = BUF_INIT;
    buf_printf(&want, "--backup would create mighost-tests-backup-copy-%s-dst-", f.prefix);
    assert_non_null(strstr(buf_str(&err), buf_str(&want)));
    assert_int_equal(count_target("CreateBackup"), 0);
    assert_int_equal(count_target("DescribeBackup"), 0);
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);

    const char *required[] = {"--dry-run", "--require-backup", NULL};
    rc = run_copy(&f, required, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&err), "a real run would be refused: --require-backup"));
    assert_int_equal(count_target("CreateBackup"), 0);
    buf_free(&want);
    buf_free(&out);
    buf_free(&err);
}

/* The pre-flight lines: in the confirmation (no terminal and no --yes: it
 * is printed, then refused, and --backup makes no backup for a run that
 * cannot go on) and in the report, with the newest on-demand backup. */
static void test_preflight_lines(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    buf out = BUF_INIT, err = BUF_INIT, want = BUF_INIT;
    const char *ask[] = {"--backup", NULL};
    assert_int_equal(run_copy(&f, ask, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "about to run tests/backup-copy"));
    buf_printf(&want, "%s-dst", f.prefix);
    assert_non_null(strstr(buf_str(&err), buf_str(&want)));
    assert_non_null(strstr(buf_str(&err), "destination: PITR off; no on-demand backup"));
    assert_null(strstr(buf_str(&err), "audit: "));   /* read only here: not listed */
    assert_int_equal(count_target("CreateBackup"), 0);

    const char *run[] = {"--backup", "--yes", NULL};
    int rc = run_copy(&f, run, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_int_equal(rc = run_copy(&f, ask, &out, &err), 2);
    buf_reset(&want);
    buf_printf(&want, "destination: PITR off; newest backup mighost-tests-backup-copy-%s-dst-", f.prefix);
    assert_non_null(strstr(buf_str(&err), buf_str(&want)));
    assert_non_null(strstr(buf_str(&err), "(AVAILABLE)"));

    const char *plain[] = {"--yes", NULL};
    rc = run_copy(&f, plain, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    json_object *report = test_json_read(f.report);
    buf_reset(&want);
    buf_printf(&want, "%s-dst", f.prefix);
    json_object *t = report_table(report, buf_str(&want));
    assert_string_equal(json_object_get_string(test_json_get(t, "pitr.status")), "DISABLED");
    assert_int_equal(test_json_int(t, "backups_listed"), 1);
    assert_string_equal(json_object_get_string(test_json_get(t, "newest_backup.status")), "AVAILABLE");
    json_object *none;
    assert_false(json_object_object_get_ex(t, "backup", &none));   /* no --backup: none made */
    json_object_put(report);
    buf_free(&want);
    buf_free(&out);
    buf_free(&err);
}

/* --backup on a resumed run backs up only once: the backups are in the
 * state file from the first run, which stopped after its first phase. */
static void test_resume_backs_up_once(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *first[] = {"--backup", "--yes", "--boom", NULL};
    assert_int_equal(run_copy(&f, first, &out, &err), 4);
    assert_non_null(strstr(buf_str(&err), "stopped on purpose"));
    assert_int_equal(count_target("CreateBackup"), 1);
    json_object *report = test_json_read(f.report);
    buf name = BUF_INIT;
    buf_printf(&name, "%s-dst", f.prefix);
    char arn[512];
    snprintf(arn, sizeof arn, "%s",
             json_object_get_string(test_json_get(report_table(report, buf_str(&name)), "backup.arn")));
    json_object_put(report);

    const char *again[] = {"--backup", "--yes", "--resume", NULL};
    int rc = run_copy(&f, again, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_int_equal(count_target("CreateBackup"), 1);
    buf want = BUF_INIT;
    buf_printf(&want, "backup of %s made before this run's first write: %s", buf_str(&name), arn);
    assert_non_null(strstr(buf_str(&err), buf_str(&want)));
    report = test_json_read(f.report);
    json_object *t = report_table(report, buf_str(&name));
    assert_string_equal(json_object_get_string(test_json_get(t, "backup.arn")), arn);
    assert_true(json_object_get_boolean(test_json_get(t, "backup_from_earlier_run")));
    json_object_put(report);
    buf_free(&want);
    buf_free(&name);
    buf_free(&out);
    buf_free(&err);
}

/* With --backup, a write to a table the migration does not declare (and so
 * did not back up) is refused before it is sent; declared, it is backed up
 * and written. */
static void test_undeclared_write_refused(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    buf out = BUF_INIT, err = BUF_INIT;
    /* --no-history: the history table's PutItems would be counted too. */
    const char *extra[] = {"--backup", "--yes", "--write-audit", "--no-history", NULL};
    assert_int_equal(run_copy(&f, extra, &out, &err), 4);
    assert_non_null(strstr(buf_str(&err), "which this migration does not declare as written"));
    assert_int_equal(count_target("CreateBackup"), 1);
    assert_int_equal(count_target("PutItem"), 0);
    buf_free(&out);
    buf_free(&err);
}

/* A backup that stays CREATING past --backup-timeout: exit 3, nothing written. */
static void test_backup_timeout(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    assert_int_equal(test_fakeaws_config(&fake, "{\"backup_creating_polls\": 1000}"), 0);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *extra[] = {"--backup", "--yes", "--backup-timeout", "1", NULL};
    assert_int_equal(run_copy(&f, extra, &out, &err), 3);
    assert_non_null(strstr(buf_str(&err), "not AVAILABLE after 1 s (--backup-timeout): nothing was written"));
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    assert_int_equal(test_fakeaws_config(&fake, "{\"backup_creating_polls\": 1}"), 0);
    buf_free(&out);
    buf_free(&err);
}

/* Backup names keep to DynamoDB's rule ([A-Za-z0-9_.-], 3 to 255
 * characters) whatever the migration and table names: other characters
 * become '-', a long table name is cut, the time stays whole. */
static void test_backup_names(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"eval", "local b = require 'mighost.runner.backup'\n"
        "local n = b.backup_name('acme/x y', ('t'):rep(300), '20261202T000000Z')\n"
        "print(#n, n:match('^[%w_.%-]+$') ~= nil, n:sub(1, 20), n:sub(-20))\n"
        "print(b.backup_name('vams/v2.3-to-v2.4', 'assets', '20261202T000000Z'))", NULL};
    assert_int_equal(test_mighost(NULL, args, &out, &err), 0);
    assert_string_equal(buf_str(&out), "255\ttrue\tmighost-acme-x-y-ttt\tttt-20261202T000000Z\n"
                                       "mighost-vams-v2.3-to-v2.4-assets-20261202T000000Z\n");
    buf_free(&out);
    buf_free(&err);
}

/* Ctrl-C while waiting for a backup: exit 130, nothing written. */
static void test_interrupted_wait(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f);
    assert_int_equal(test_fakeaws_config(&fake, "{\"backup_creating_polls\": 1000}"), 0);
    const char *extra[] = {"--backup", "--yes", NULL}, *args[40];
    copy_args(&f, extra, args, sizeof args / sizeof *args);
    pid_t pid = test_spawn_mighost(NULL, fake.url, args);
    assert_true(pid > 0);
    for (int i = 0; i < 200 && count_target("DescribeBackup") < 2; i++) usleep(50 * 1000);
    assert_true(count_target("DescribeBackup") >= 2);   /* waiting */
    kill(pid, SIGINT);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 130);
    assert_int_equal(count_target("CreateBackup"), 1);
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    assert_int_equal(test_fakeaws_config(&fake, "{\"backup_creating_polls\": 1}"), 0);
}

/* A packaged migration: vams/v2.3-to-v2.4 writes its three v2.4 tables,
 * and with --delete-old-data deletes in its three v2.3 tables too (their
 * access depends on that option): six backups, then the migration's own
 * writes and deletes, none refused by the write guard. */
static void test_packaged_migration_tables(void **state)
{
    (void)state;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "bk-v24-%d", ++fixtures);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *fix[] = {"run", "tests/integration/vams/v24_fixture.lua", prefix, NULL};
    if (test_mighost(dynalite.url, fix, &out, &err) != 0) fail_msg("fixture: %s", buf_str(&err));
    static const char *const suffixes[] = {"auth", "constraints", "meta-old", "meta-new", "schema-old",
                                           "schema-new"};
    static const char *const flags[] = {"--auth-table", "--constraints-table", "--old-metadata-table",
                                        "--new-metadata-table", "--old-schema-table", "--new-schema-table"};
    char names[6][64], report[512], state_dir[512];
    const char *args[40] = {"run", "vams/v2.3-to-v2.4", "--reindexer-function", "vams-reindexer", "--skip-reindex",
                            "--yes", "--quiet"};
    int n = 7;
    for (int i = 0; i < 6; i++) {
        snprintf(names[i], sizeof names[i], "%s-%s", prefix, suffixes[i]);
        args[n++] = flags[i];
        args[n++] = names[i];
    }
    snprintf(report, sizeof report, "%s/%s-report.json", tmp, prefix);
    snprintf(state_dir, sizeof state_dir, "%s/%s-state", tmp, prefix);
    args[n++] = "--report";
    args[n++] = report;
    args[n++] = "--state-dir";
    args[n++] = state_dir;
    args[n++] = "--backup";
    args[n] = "--delete-old-data";
    args[n + 1] = NULL;

    assert_int_equal(test_fakeaws_reset(&fake), 0);
    args[n] = "--dry-run";   /* without --delete-old-data: the three v2.4 tables */
    int rc = test_mighost(fake.url, args, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    for (int i = 0; i < 6; i++) {
        buf want = BUF_INIT;
        buf_printf(&want, "--backup would create mighost-vams-v2.3-to-v2.4-%s-", names[i]);
        assert_int_equal(strstr(buf_str(&err), buf_str(&want)) != NULL, i % 2 == 1);
        buf_free(&want);
    }

    args[n] = "--delete-old-data";
    rc = test_mighost(fake.url, args, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_int_equal(count_target("CreateBackup"), 6);
    json_object *report_doc = test_json_read(report);
    for (int i = 0; i < 6; i++) {
        json_object *t = report_table(report_doc, names[i]);
        assert_string_equal(json_object_get_string(test_json_get(t, "backup.status")), "AVAILABLE");
    }
    json_object_put(report_doc);
    json_object *doc, *p = test_json_read_phase(report, "constraints", &doc);
    assert_int_equal(test_json_int(p, "written"), 4);
    assert_int_equal(test_json_int(p, "deleted"), 3);
    json_object_put(doc);
    buf_free(&out);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backup_before_first_write),
        cmocka_unit_test(test_require_backup),
        cmocka_unit_test(test_dry_run_creates_no_backup),
        cmocka_unit_test(test_preflight_lines),
        cmocka_unit_test(test_resume_backs_up_once),
        cmocka_unit_test(test_undeclared_write_refused),
        cmocka_unit_test(test_backup_timeout),
        cmocka_unit_test(test_backup_names),
        cmocka_unit_test(test_interrupted_wait),
        cmocka_unit_test(test_packaged_migration_tables),
    };
    return cmocka_run_group_tests_name("backup", tests, setup, teardown);
}
