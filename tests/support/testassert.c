/* testassert.c - readers and checks that fail the running cmocka test. */
#include "testassert.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "testsupport.h"

#define DUMP_SCRIPT "tests/integration/vams/v25_dump.lua"
#define EXPORT_SCRIPT "tests/integration/offline/export.lua"

json_object *test_json_read(const char *path)
{
    buf text = BUF_INIT;
    if (test_read_file(path, &text) != 0) fail_msg("cannot read %s", path);
    json_object *doc = json_tokener_parse(buf_str(&text));
    buf_free(&text);
    if (!doc) fail_msg("%s is not JSON", path);
    return doc;
}

/* An array index: digits only, below len. */
static int parse_index(const char *s, size_t len, size_t *index)
{
    if (!*s) return 0;
    size_t v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9' || v > len) return 0;
        v = v * 10 + (size_t)(*p - '0');
    }
    *index = v;
    return v < len;
}

json_object *test_json_get(json_object *o, const char *dotted)
{
    char *copy = xstrdup(dotted);
    json_object *cur = o;
    for (char *save = NULL, *k = strtok_r(copy, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
        json_object *next = NULL;
        size_t i;
        if (json_object_is_type(cur, json_type_array)) {
            if (parse_index(k, json_object_array_length(cur), &i)) next = json_object_array_get_idx(cur, i);
        } else if (json_object_is_type(cur, json_type_object)) {
            json_object_object_get_ex(cur, k, &next);
        }
        if (!next) fail_msg("no %s (at %s)", dotted, k);
        cur = next;
    }
    free(copy);
    if (!cur) fail_msg("no %s", dotted);
    return cur;
}

long test_json_int(json_object *o, const char *dotted)
{
    return (long)json_object_get_int64(test_json_get(o, dotted));
}

json_object *test_json_phase(json_object *report, const char *name)
{
    json_object *phases = test_json_get(report, "phases");
    if (!json_object_is_type(phases, json_type_array)) fail_msg("the report's phases are not an array");
    for (size_t i = 0; i < json_object_array_length(phases); i++) {
        json_object *p = json_object_array_get_idx(phases, i), *n;
        if (!json_object_object_get_ex(p, "name", &n) || !json_object_is_type(n, json_type_string))
            fail_msg("phase %zu of the report has no name", i);
        if (strcmp(json_object_get_string(n), name) == 0) return p;
    }
    fail_msg("no phase %s in the report", name);
    return NULL;
}

json_object *test_json_read_phase(const char *path, const char *name, json_object **report)
{
    *report = test_json_read(path);
    return test_json_phase(*report, name);
}

void test_sorted_lines(const char *path, buf *out)
{
    buf text = BUF_INIT;
    if (test_read_file(path, &text) != 0) fail_msg("cannot read %s", path);
    char *s = buf_detach(&text);
    size_t n = 0, cap = 64;
    char **lines = xmalloc(cap * sizeof *lines);
    for (char *save = NULL, *l = strtok_r(s, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (n == cap) lines = xrealloc(lines, (cap *= 2) * sizeof *lines);
        lines[n++] = l;
    }
    qsort(lines, n, sizeof *lines, test_cmp_strings);
    buf_reset(out);
    for (size_t i = 0; i < n; i++) buf_printf(out, "%s\n", lines[i]);
    free(lines);
    free(s);
}

void test_dump_items(const char *endpoint, const char *what, const char *drop, buf *out)
{
    buf err = BUF_INIT;
    const char *args[] = {"run", DUMP_SCRIPT, what, drop, NULL};
    if (test_mighost(endpoint, args, out, &err) != 0) fail_msg("dump %s: %s", what, buf_str(&err));
    buf_free(&err);
}

void test_lines_without(const buf *in, const char *drop, buf *out)
{
    buf_reset(out);
    for (const char *p = in->len ? in->data : ""; *p;) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p + 1) : strlen(p);
        if (!memmem(p, len, drop, strlen(drop))) buf_append(out, p, len);
        p += len;
    }
}

void test_ddb_call(const char *endpoint, const char *op, const char *body)
{
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"call", "dynamodb", op, body, NULL};
    int rc = test_mighost(endpoint, args, &out, &err);
    if (rc != 0) fail_msg("%s: exit %d: %s", op, rc, buf_str(&err));
    buf_free(&out);
    buf_free(&err);
}

void test_make_table(const char *endpoint, const char *name, int n)
{
    buf code = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
    buf_printf(&code,
        "local ddb = require 'mighost.dynamodb'\n"
        "assert(ddb.create_table({TableName = '%s', AttributeDefinitions = "
        "{{AttributeName = 'pk', AttributeType = 'S'}}, KeySchema = {{AttributeName = 'pk', "
        "KeyType = 'HASH'}}, BillingMode = 'PAY_PER_REQUEST'}))\n"
        "local w = ddb.writer{table = '%s'}\n"
        "for i = 1, %d do w:put{pk = {S = 'k' .. i}, n = {N = tostring(i)},"
        " skip = i %% 100 == 0 and {BOOL = true} or nil} end\n"
        "assert(w:flush().put == %d)\n", name, name, n, n);
    const char *args[] = {"eval", buf_str(&code), NULL};
    int rc = test_mighost(endpoint, args, &out, &err);
    if (rc != 0) fail_msg("making table %s failed (%d): %s", name, rc, buf_str(&err));
    buf_free(&code);
    buf_free(&out);
    buf_free(&err);
}

char *test_vams_v25_dataset(const char *endpoint, const char *dir, const char *prefix)
{
    buf out = BUF_INIT, err = BUF_INIT, cfg = BUF_INIT, name = BUF_INIT;
    const char *fix[] = {"run", "tests/integration/vams/v25_fixture.lua", prefix, "", NULL};
    if (test_mighost(endpoint, fix, &out, &err) != 0) fail_msg("fixture: %s", buf_str(&err));
    buf_printf(&cfg, "{\"asset_storage_table_name\": \"%1$s-assets\",\n"
                     " \"asset_versions_storage_table_name_v1\": \"%1$s-versions-v1\",\n"
                     " \"asset_versions_storage_table_name_v2\": \"%1$s-versions-v2\",\n"
                     " \"asset_file_versions_storage_table_name_v1\": \"%1$s-files-v1\",\n"
                     " \"asset_file_versions_storage_table_name_v2\": \"%1$s-files-v2\",\n"
                     " \"asset_file_metadata_versions_storage_table_name\": \"%1$s-metadata\"}\n",
               prefix);
    buf_printf(&name, "%s.json", prefix);
    char *config = test_path_join(dir, buf_str(&name));
    if (test_write_file(config, buf_str(&cfg)) != 0) fail_msg("cannot write %s", config);
    buf_free(&name);
    buf_free(&cfg);
    buf_free(&out);
    buf_free(&err);
    return config;
}

void test_expect_items(const char *endpoint, const char *table, const char *expected_file,
                       const char *drop)
{
    buf got = BUF_INIT, want = BUF_INIT, at = BUF_INIT;
    buf_printf(&at, "@%s", expected_file);
    test_dump_items(endpoint, table, NULL, &got);
    test_dump_items(endpoint, buf_str(&at), drop, &want);
    assert_string_equal(buf_str(&got), buf_str(&want));
    buf_free(&got);
    buf_free(&want);
    buf_free(&at);
}

void test_export_tables(const char *endpoint, const char *dir, const char *const *tables)
{
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) fail_msg("mkdir %s: %s", dir, strerror(errno));
    size_t n = 0;
    while (tables[n]) n++;
    const char **args = xcalloc(n + 4, sizeof *args);
    args[0] = "run";
    args[1] = EXPORT_SCRIPT;
    args[2] = dir;
    for (size_t i = 0; i < n; i++) args[3 + i] = tables[i];
    buf out = BUF_INIT, err = BUF_INIT;
    int rc = test_mighost(endpoint, args, &out, &err);
    free(args);
    buf_free(&out);
    if (rc != 0) fail_msg("export: %s", buf_str(&err));
    buf_free(&err);
}

void test_expect_stack_params(const char *report, const char *const *names_values)
{
    json_object *doc = test_json_read(report);
    for (const char *const *nv = names_values; nv[0] && nv[1]; nv += 2) {
        char path[256];
        snprintf(path, sizeof path, "parameters.%s", nv[0]);
        const char *got = json_object_get_string(test_json_get(doc, path));
        if (strcmp(got, nv[1]) != 0) fail_msg("parameter %s: \"%s\", not \"%s\"", nv[0], got, nv[1]);
        snprintf(path, sizeof path, "parameter_sources.%s", nv[0]);
        const char *from = json_object_get_string(test_json_get(doc, path));
        if (strncmp(from, "stack ", 6) != 0) fail_msg("parameter %s comes from %s, not the stack", nv[0], from);
    }
    json_object_put(doc);
}
