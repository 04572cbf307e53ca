/* testassert.h - readers and checks for mighost's cmocka tests that fail
 * the running test (cmocka's fail_msg) instead of returning an error: JSON
 * reports and dotted paths into them, sorted lines of a file, canonical
 * dumps of DynamoDB items and exports for offline runs.
 *
 * Only for test programs: these functions need cmocka (the benchmarks link
 * testsupport.c alone). The failure message names what was missing.
 */
#ifndef MIGHOST_TESTASSERT_H
#define MIGHOST_TESTASSERT_H

#include <json-c/json.h>

#include "buf.h"

/* The JSON document in the file at path (the caller json_object_put()s it).
 * Fails the test when the file cannot be read or is not JSON. */
json_object *test_json_read(const char *path);

/* The value at a dotted path below o, e.g. "phases.0.skipped.total" or
 * "verification.ok": a part is a key of an object, or an index into an
 * array. Fails the test when a key is missing, an index is not a number or
 * out of range, or the value is JSON null. Borrowed from o. */
json_object *test_json_get(json_object *o, const char *dotted);

/* json_object_get_int64 of test_json_get(o, dotted), as a long. */
long test_json_int(json_object *o, const char *dotted);

/* The entry of a report's "phases" array whose "name" is name. Fails the
 * test when there is no such phase (or an entry has no name). Borrowed. */
json_object *test_json_phase(json_object *report, const char *name);

/* Reads the report at path into *report (the caller json_object_put()s it)
 * and returns its phase name, as test_json_read and test_json_phase. */
json_object *test_json_read_phase(const char *path, const char *name, json_object **report);

/* The report at path has each parameter of names_values (name, value,
 * name, value, ..., NULL) with that string value, filled from the stack:
 * "parameter_sources" says "stack ..." for it. Fails the test otherwise. */
void test_expect_stack_params(const char *report, const char *const *names_values);

/* The lines of the file at path, sorted (strcmp), each ending in "\n";
 * empty lines left out. out is replaced. Fails the test when the file
 * cannot be read. */
void test_sorted_lines(const char *path, buf *out);

/* Items in a canonical form, one line each, sorted (names sorted at every
 * level), by tests/integration/vams/v25_dump.lua against the DynamoDB at
 * endpoint: what is a table's name, or "@FILE" for a file of expected items
 * (one JSON item a line), less the lines containing drop (NULL: none). out
 * is replaced. Fails the test when the script fails. */
void test_dump_items(const char *endpoint, const char *what, const char *drop, buf *out);

/* The lines of in (e.g. a dump) without those holding drop; out is replaced. */
void test_lines_without(const buf *in, const char *drop, buf *out);

/* mighost call dynamodb OP BODY at endpoint; fails the test unless it exits 0. */
void test_ddb_call(const char *endpoint, const char *op, const char *body);

/* Creates the table `name` (hash key pk, a string) at endpoint and puts n
 * items k1..kn with n = i, and skip = true on every 100th. */
void test_make_table(const char *endpoint, const char *name, int n);

/* The VAMS v2.4 dataset (tests/integration/vams/v25_fixture.lua) under
 * tables PREFIX-... at endpoint, and a config file for vams/v2.4-to-v2.5
 * naming them, written in dir: its path (the caller frees it). */
char *test_vams_v25_dataset(const char *endpoint, const char *dir, const char *prefix);

/* The table's items (test_dump_items) are exactly those of expected_file
 * less the lines containing drop (NULL: none); fails the test otherwise. */
void test_expect_items(const char *endpoint, const char *table, const char *expected_file,
                       const char *drop);

/* Makes the folder dir (mode 0700; it may exist) and exports the tables
 * (NULL-terminated) of the DynamoDB at endpoint into it as DynamoDB export
 * files, for --source-dir (tests/integration/offline/export.lua). Fails
 * the test when the export fails. */
void test_export_tables(const char *endpoint, const char *dir, const char *const *tables);

#endif
