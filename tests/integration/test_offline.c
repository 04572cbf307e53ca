/* test_offline.c - offline evaluation (mighost run ... --source-dir DIR):
 * reads from DynamoDB export files, no AWS at all. The VAMS v2.4 -> v2.5
 * spec fixture, exported from dynalite, gives the same plan and the same
 * counts offline as a dry-run against dynalite; and the operations the
 * bindings use (segmented scans, GetItem, Query, BatchGetItem) answer as
 * DynamoDB would. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

#include "testassert.h"
#include "testsupport.h"

static test_server dynalite;
static char *tmp;

/* mighost ARGS against dynalite (endpoint != NULL), or with no region, no
 * credentials and no endpoint at all. */
static int mighost(const char *endpoint, const char *const *args, buf *out, buf *err)
{
    buf home = BUF_INIT;
    buf_printf(&home, "HOME=%s", tmp);
    const char *offline_env[] = {buf_str(&home), "AWS_EC2_METADATA_DISABLED=true", NULL};
    int rc = test_mighost_env(endpoint, endpoint ? test_fake_aws_env : offline_env, args, out, err);
    buf_free(&home);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    tmp = test_tempdir();
    if (!tmp) return -1;
    return test_dynalite_start(&dynalite);
}

static int teardown(void **state)
{
    (void)state;
    test_server_stop(&dynalite);
    test_rmtree(tmp);
    free(tmp);
    return 0;
}

/* "name: scanned=N would_write=N ... skipped=N" per phase of a report. */
static void report_counts(const char *path, buf *out)
{
    json_object *doc = test_json_read(path), *phases = test_json_get(doc, "phases");
    buf_reset(out);
    for (size_t i = 0; i < json_object_array_length(phases); i++) {
        json_object *p = json_object_array_get_idx(phases, i), *x;
        assert_true(json_object_object_get_ex(p, "name", &x));
        buf_printf(out, "%s:", json_object_get_string(x));
        static const char *const fields[][2] = {{"scanned", NULL}, {"would_write", NULL},
            {"would_delete", NULL}, {"written", NULL},
            {"deleted", NULL}, {"orphaned", "count"}, {"failed", "count"}, {"skipped", "total"}};
        for (size_t k = 0; k < sizeof fields / sizeof fields[0]; k++) {
            json_object *v = NULL;
            if (json_object_object_get_ex(p, fields[k][0], &v) && fields[k][1])
                json_object_object_get_ex(v, fields[k][1], &v);
            buf_printf(out, " %s=%s", fields[k][0], v ? json_object_to_json_string(v) : "-");
        }
        buf_puts(out, "\n");
    }
    json_object_put(doc);
}

static void test_vams_offline_matches_online(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT, a = BUF_INIT, b = BUF_INIT, path = BUF_INIT;
    const char *fix[] = {"run", "tests/integration/vams/v25_fixture.lua", "off", NULL};
    if (mighost(dynalite.url, fix, &out, &err) != 0) fail_msg("fixture: %s", buf_str(&err));
    buf_printf(&path, "%s/export", tmp);
    test_export_tables(dynalite.url, buf_str(&path),
                       (const char *const[]){"off-assets", "off-versions-v1", "off-versions-v2",
                                             "off-files-v1", "off-files-v2", "off-metadata", NULL});
    char config[512], plan_a[512], plan_b[512], rep_a[512], rep_b[512];
    snprintf(config, sizeof config, "%s/off.json", tmp);
    snprintf(plan_a, sizeof plan_a, "%s/A.jsonl", tmp);
    snprintf(plan_b, sizeof plan_b, "%s/B.jsonl", tmp);
    snprintf(rep_a, sizeof rep_a, "%s/A-report.json", tmp);
    snprintf(rep_b, sizeof rep_b, "%s/B-report.json", tmp);
    test_write_file(config,
        "{\"asset_storage_table_name\": \"off-assets\",\n"
        " \"asset_versions_storage_table_name_v1\": \"off-versions-v1\",\n"
        " \"asset_versions_storage_table_name_v2\": \"off-versions-v2\",\n"
        " \"asset_file_versions_storage_table_name_v1\": \"off-files-v1\",\n"
        " \"asset_file_versions_storage_table_name_v2\": \"off-files-v2\",\n"
        " \"asset_file_metadata_versions_storage_table_name\": \"off-metadata\"}\n");
    /* Offline: no --dry-run (implied, and said), no endpoint, no region. */
    const char *offline[] = {"run", "vams/v2.4-to-v2.5", "--source-dir", buf_str(&path),
                             "--plan", plan_a, "--report", rep_a, "--duplicate-assets=skip",
                             "--config", config, "--quiet", NULL};
    int rc = mighost(NULL, offline, &out, &err);
    if (rc != 0) fail_msg("offline: exit %d: %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&err), "--dry-run implied"));
    assert_non_null(strstr(buf_str(&err), "no AWS access"));
    const char *online[] = {"run", "vams/v2.4-to-v2.5", "--dry-run", "--plan", plan_b,
                            "--report", rep_b, "--duplicate-assets=skip", "--config", config,
                            "--quiet", NULL};
    rc = mighost(dynalite.url, online, &out, &err);
    if (rc != 0) fail_msg("online: exit %d: %s", rc, buf_str(&err));
    test_sorted_lines(plan_a, &a);
    test_sorted_lines(plan_b, &b);
    assert_true(a.len > 0);
    assert_non_null(strstr(buf_str(&a), "\"op\":\"PutItem\""));
    assert_string_equal(buf_str(&a), buf_str(&b));
    report_counts(rep_a, &a);
    report_counts(rep_b, &b);
    assert_non_null(strstr(buf_str(&a), "asset_versions: scanned=7 would_write=5"));
    assert_string_equal(buf_str(&a), buf_str(&b));

    /* A table the migration names but the folder lacks: a usage error. */
    char gone[600];
    snprintf(gone, sizeof gone, "%s/off-metadata", buf_str(&path));
    test_rmtree(gone);
    const char *missing[] = {"run", "vams/v2.4-to-v2.5", "--source-dir", buf_str(&path),
                             "--dry-run", "--duplicate-assets=skip", "--config", config,
                             "--quiet", NULL};
    assert_int_equal(mighost(NULL, missing, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "off-metadata"));
    assert_non_null(strstr(buf_str(&err), "has no export in"));
    buf_free(&out);
    buf_free(&err);
    buf_free(&a);
    buf_free(&b);
    buf_free(&path);
}

static void write_gz(const char *path, const char *text)
{
    gzFile f = gzopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(gzputs(f, text), (int)strlen(text));
    assert_int_equal(gzclose(f), Z_OK);
}

static void test_operations(void **state)
{
    (void)state;
    buf dir = BUF_INIT, text = BUF_INIT, p = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
    buf_printf(&dir, "%s/ops", tmp);
    mkdir(buf_str(&dir), 0700);
    /* plain: unwrapped lines, a blank line, no schema (inferred pk/sk). */
    for (int i = 0; i < 10; i++) {
        buf_printf(&text, "{\"pk\":{\"S\":\"p%d\"},\"sk\":{\"N\":\"%d\"},\"v\":{\"S\":\"x%d\"}%s}\n",
                   i % 3, i, i, i % 2 ? ",\"odd\":{\"BOOL\":true}" : "");
        if (i == 4) buf_puts(&text, "\n");
    }
    buf_printf(&p, "%s/plain.jsonl", buf_str(&dir));
    test_write_file(buf_str(&p), buf_str(&text));
    /* wrapped: an S3 export's gzip'd lines, key from tables.json. */
    buf_reset(&text);
    for (int i = 0; i < 7; i++)
        buf_printf(&text, "{\"Item\":{\"id\":{\"S\":\"k%d\"},\"n\":{\"N\":\"%d\"}}}\n", i, i);
    buf_reset(&p);
    buf_printf(&p, "%s/wrapped.json.gz", buf_str(&dir));
    write_gz(buf_str(&p), buf_str(&text));
    /* folder: an S3 export's layout, two data files and a manifest. */
    buf_reset(&p);
    buf_printf(&p, "%s/folder", buf_str(&dir));
    mkdir(buf_str(&p), 0700);
    buf_puts(&p, "/data");
    mkdir(buf_str(&p), 0700);
    for (int j = 0; j < 2; j++) {
        buf_reset(&text);
        for (int i = 0; i < 3; i++) buf_printf(&text, "{\"Item\":{\"h\":{\"S\":\"f%d-%d\"}}}\n", j, i);
        buf_reset(&p);
        buf_printf(&p, "%s/folder/data/part-%d.json.gz", buf_str(&dir), j);
        write_gz(buf_str(&p), buf_str(&text));
    }
    buf_reset(&p);
    buf_printf(&p, "%s/folder/manifest-summary.json", buf_str(&dir));
    test_write_file(buf_str(&p), "{\"itemCount\": 6}\n");
    buf_reset(&p);
    buf_printf(&p, "%s/tables.json", buf_str(&dir));
    test_write_file(buf_str(&p), "{\"wrapped\": {\"hash\": \"id\", \"types\": {\"id\": \"S\"}}}\n");

    const char *args[] = {"run", "tests/integration/offline/probe.lua", buf_str(&dir), NULL};
    int rc = mighost(NULL, args, &out, &err);
    if (rc != 0) fail_msg("probe: exit %d: %s", rc, buf_str(&err));
    assert_string_equal(buf_str(&out),
        "scan plain segments=1: 10 items, 0 twice\n"
        "scan plain segments=3: 10 items, 0 twice\n"
        "scan wrapped segments=1: 7 items, 0 twice\n"
        "scan wrapped segments=3: 7 items, 0 twice\n"
        "scan folder segments=1: 6 items, 0 twice\n"
        "scan folder segments=3: 6 items, 0 twice\n"
        "segment 1 of 3: 3 items\n"
        "count: 9\n"
        "schema plain: pk sk S N\n"
        "schema wrapped: id nil S\n"
        "get: {\"pk\":{\"S\":\"p1\"},\"sk\":{\"N\":\"4\"},\"v\":{\"S\":\"x4\"}}\n"
        "get missing: nil\n"
        "get projected: {\"v\":{\"S\":\"x8\"}}\n"
        "query: 9,6,3\n"
        "query filtered: 1,7\n"
        "batch_get: 2\n"
        "missing: nil ResourceNotFoundException\n"
        "refused: false ValidationException: offline: FilterExpression 'a.b = :x': '.b = :x' "
        "is not supported offline (top-level attributes only)\n");
    /* The inferred schemas are stated; the given one is not. */
    assert_non_null(strstr(buf_str(&err), "offline: table plain: no key schema given; assuming "
                                          "hash key 'pk' (S), range key 'sk' (N) from the first item"));
    assert_non_null(strstr(buf_str(&err), "offline: table folder: no key schema given; assuming "
                                          "hash key 'h' (S) from the first item"));
    assert_null(strstr(buf_str(&err), "table wrapped: no key schema"));
    buf_free(&dir);
    buf_free(&text);
    buf_free(&p);
    buf_free(&out);
    buf_free(&err);
}

/* A gzip file of n items, damaged: "method" (the header names an unknown
 * compression method: the first read fails), "crc" (the trailer's check
 * is wrong: the last read fails) or "truncated" (cut at 70%). */
static void write_damaged_gz(const char *path, int n, const char *how)
{
    buf text = BUF_INIT, bytes = BUF_INIT;
    for (int i = 0; i < n; i++)
        buf_printf(&text, "{\"Item\":{\"pk\":{\"S\":\"k%d\"},\"r\":{\"S\":\"%08x\"}}}\n", i,
                   (unsigned)(i * 2654435761u));
    write_gz(path, buf_str(&text));
    assert_int_equal(test_read_file(path, &bytes), 0);
    size_t len = bytes.len;
    if (strcmp(how, "method") == 0) bytes.data[2] = 9;
    else if (strcmp(how, "crc") == 0) bytes.data[len - 8] ^= 0x55;
    else len = len * 7 / 10;
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(bytes.data, 1, len, f), len);
    fclose(f);
    buf_free(&text);
    buf_free(&bytes);
}

/* A damaged export file: one clear line naming it, exit 2, whether zlib
 * fails at the first read (pre-flight) or deep inside the scan. */
static void test_damaged_gzip(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT, dir = BUF_INIT, src = BUF_INIT, dst = BUF_INIT;
    buf_printf(&dir, "%s/damaged", tmp);
    buf_printf(&src, "%s/src", buf_str(&dir));
    buf_printf(&dst, "%s/dst", buf_str(&dir));
    assert_int_equal(mkdir(buf_str(&dir), 0700), 0);
    assert_int_equal(mkdir(buf_str(&src), 0700), 0);
    assert_int_equal(mkdir(buf_str(&dst), 0700), 0);
    buf_puts(&dst, "/part.json.gz");
    write_gz(buf_str(&dst), "{\"Item\":{\"pk\":{\"S\":\"z\"}}}\n");
    buf_puts(&src, "/part.json.gz");
    static const char *const hows[] = {"method", "crc", "truncated"};
    for (size_t i = 0; i < 3; i++) {
        write_damaged_gz(buf_str(&src), 30000, hows[i]);
        const char *args[] = {"run", "tests/integration/migrations/sample_copy.lua", "--source", "src",
                              "--destination", "dst", "--source-dir", buf_str(&dir), "--report",
                              "/dev/null", "--quiet", NULL};
        int rc = mighost(NULL, args, &out, &err);
        if (rc != 2) fail_msg("damaged (%s): exit %d: %s", hows[i], rc, buf_str(&err));
        assert_non_null(strstr(buf_str(&err), "part.json.gz cannot be read"));
        assert_null(strstr(buf_str(&err), "traceback"));
        assert_null(strstr(buf_str(&err), "script error"));
    }
    buf_free(&out);
    buf_free(&err);
    buf_free(&dir);
    buf_free(&src);
    buf_free(&dst);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vams_offline_matches_online),
        cmocka_unit_test(test_operations),
        cmocka_unit_test(test_damaged_gzip),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
