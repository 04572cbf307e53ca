/* test_bedrock_v3.c - bedrock-chat/v2-to-v3 on the reference dataset,
 * destination tables compared item by item with the reference's items;
 * each deliberate difference from the reference has its own assertion;
 * an offline --source-dir dry-run plans what a dry-run against the server
 * plans. */
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
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "testassert.h"
#include "testsupport.h"

#define MIGRATION "bedrock-chat/v2-to-v3"
#define DATA "tests/integration/bedrock/"

static test_server dynalite, fake;
static char *tmp;
static int fixtures;

/* A fresh copy of the dataset (tables PREFIX-v2, -v3conv, -v3bots). */
typedef struct fixture {
    char prefix[32];
    char v2[128], conv[128], bots[64];
    char report[512];
    char state[512];
} fixture;

/* cfn: the V2 and V3 conversation tables get the names CloudFormation
 * gives them in the stack {PREFIX}BedrockChatStack (stacks/bedrock-v3.json). */
static void make_fixture_as(fixture *f, const char *variant, int cfn)
{
    snprintf(f->prefix, sizeof f->prefix, "bc3-%d", ++fixtures);
    if (cfn) {
        snprintf(f->v2, sizeof f->v2, "%sBedrockChatStack-DatabaseConversationTable0A1B2C3D-ZXCVBNMLKJHG",
                 f->prefix);
        snprintf(f->conv, sizeof f->conv, "%sBedrockChatStack-DatabaseConversationTableV3C1A2B3D4-1Q2W3E4R5T6Y",
                 f->prefix);
    } else {
        snprintf(f->v2, sizeof f->v2, "%s-v2", f->prefix);
        snprintf(f->conv, sizeof f->conv, "%s-v3conv", f->prefix);
    }
    snprintf(f->bots, sizeof f->bots, "%s-v3bots", f->prefix);
    snprintf(f->report, sizeof f->report, "%s/%s-report.json", tmp, f->prefix);
    snprintf(f->state, sizeof f->state, "%s/%s-state", tmp, f->prefix);
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"run", DATA "v3_fixture.lua", f->prefix, variant, f->v2, f->conv, NULL};
    if (test_mighost(dynalite.url, args, &out, &err) != 0) fail_msg("fixture: %s", buf_str(&err));
    buf_free(&out);
    buf_free(&err);
}

static void make_fixture(fixture *f, const char *variant)
{
    make_fixture_as(f, variant, 0);
}

#define ARGS_MAX 64  /* room in build_args's args */

/* The run's arguments: the migration, the three tables, report, state. */
static int build_args(const fixture *f, const char *const *extra, const char **args)
{
    const char *base[] = {"run", MIGRATION, "--v2-conversation-table", f->v2,
                          "--v3-conversation-table", f->conv, "--v3-bot-table", f->bots,
                          "--report", f->report, "--state-dir", f->state, "--quiet", NULL};
    int n = test_args_join(args, ARGS_MAX, base, extra);
    assert_true(n >= 0);
    return n;
}

/* mighost run bedrock-chat/v2-to-v3 ... EXTRA... through fakeaws. */
static int migrate(const fixture *f, const char *const *extra, buf *out, buf *err)
{
    const char *args[ARGS_MAX];
    build_args(f, extra, args);
    return test_mighost(fake.url, args, out, err);
}

/* Runs a Lua chunk against dynalite (to change destination items). */
static void eval(const char *code)
{
    buf out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"eval", code, NULL};
    if (test_mighost(dynalite.url, args, &out, &err) != 0) fail_msg("eval: %s", buf_str(&err));
    buf_free(&out);
    buf_free(&err);
}

static json_object *user_stat(json_object *doc, const char *uid)
{
    json_object *list = test_json_get(doc, "user_stats");
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *u = json_object_array_get_idx(list, i);
        if (strcmp(json_object_get_string(test_json_get(u, "user_id")), uid) == 0) return u;
    }
    fail_msg("no user_stats entry for %s", uid);
    return NULL;
}

/* bots, aliases, conversations, related documents, skipped aliases of a
 * user_stats entry (the reference's fields), as "b a c r s". */
static void expect_user(json_object *doc, const char *uid, const char *counts, int success)
{
    json_object *u = user_stat(doc, uid);
    char got[64];
    snprintf(got, sizeof got, "%ld %ld %ld %ld %ld", test_json_int(u, "bots_count"), test_json_int(u, "aliases_count"),
             test_json_int(u, "conversations_count"), test_json_int(u, "related_documents_count"),
             test_json_int(u, "skipped_aliases_count"));
    assert_string_equal(got, counts);
    assert_int_equal(json_object_get_boolean(test_json_get(u, "success")), success);
}

/* "b a c r" of an object with the four kinds. */
static void expect_kinds(json_object *o, const char *counts)
{
    char got[64];
    snprintf(got, sizeof got, "%ld %ld %ld %ld", test_json_int(o, "bots"), test_json_int(o, "aliases"),
             test_json_int(o, "conversations"), test_json_int(o, "related_documents"));
    assert_string_equal(got, counts);
}

/* Requests fakeaws recorded whose target ends with op and whose body
 * contains `needle` (NULL: any). */
static long requests(const char *op, const char *needle)
{
    buf text = BUF_INIT;
    assert_int_equal(test_fakeaws_get(&fake, "/__requests", &text), 200);
    json_object *list = json_tokener_parse(buf_str(&text));
    buf_free(&text);
    assert_non_null(list);
    long n = 0;
    for (size_t i = 0; i < json_object_array_length(list); i++) {
        json_object *r = json_object_array_get_idx(list, i), *t, *b;
        if (!json_object_object_get_ex(r, "target", &t) || !json_object_get_string(t)) continue;
        const char *target = json_object_get_string(t);
        size_t tl = strlen(target), ol = strlen(op);
        if (tl < ol || strcmp(target + tl - ol, op) != 0) continue;
        if (needle) {
            if (!json_object_object_get_ex(r, "body", &b) || !strstr(json_object_get_string(b), needle))
                continue;
        }
        n++;
    }
    json_object_put(list);
    return n;
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

/* the reference's five bot-table items exactly; the conversation table
 * holds the copied items; the report's user_stats, summary, verification. */
static void test_full_run(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT;
    test_fakeaws_reset(&fake);
    const char *extra[] = {"--yes", NULL};
    int rc = migrate(&f, extra, &out, &err);
    /* Difference (W15): a failed item makes the exit status 1 (the
     * reference exits 0 whatever happened). */
    if (rc != 1) fail_msg("exit %d: %s", rc, buf_str(&err));
    /* F1-F6: the bot table is exactly the reference's five items. */
    test_expect_items(dynalite.url, f.bots, DATA "v3_expected_bots.jsonl", NULL);
    /* F8 with a difference (W6): Carol's malformed bot fails alone, so her
     * conversation is copied too; every copied item is byte-identical. */
    test_expect_items(dynalite.url, f.conv, DATA "v3_expected_conversations.jsonl", NULL);
    test_dump_items(dynalite.url, f.conv, NULL, &got);
    assert_non_null(strstr(buf_str(&got), "user-carol#CONV#01JCONVC0000000000000000001"));
    assert_non_null(strstr(buf_str(&got), "\"LargeMessagePath\":{\"S\":\"user-alice/01JCONVA0000000000000000002/message_map.json\"}"));
    assert_non_null(strstr(buf_str(&got), "\"PageNumber\":{\"N\":\"3\"}"));

    json_object *doc = test_json_read(f.report);
    /* Difference (W2): user_stats in sorted user order (the reference's
     * depends on string hashing: carol, bob, alice with PYTHONHASHSEED=0). */
    json_object *list = test_json_get(doc, "user_stats");
    assert_int_equal(json_object_array_length(list), 3);
    assert_string_equal(json_object_get_string(test_json_get(json_object_array_get_idx(list, 0), "user_id")), "user-alice");
    assert_string_equal(json_object_get_string(test_json_get(json_object_array_get_idx(list, 2), "user_id")), "user-carol");
    /* F9: the reference's per-user counts. */
    expect_user(doc, "user-alice", "2 1 2 2 0", 1);
    expect_user(doc, "user-bob", "1 1 1 0 2", 1);
    /* F7 with a difference: Carol fails, but only her bot; the reason names
     * the missing attribute, as the reference's error did ('LastExecId'). */
    json_object *carol = user_stat(doc, "user-carol");
    expect_user(doc, "user-carol", "0 0 1 0 0", 0);
    expect_kinds(test_json_get(carol, "failed"), "1 0 0 0");
    expect_kinds(test_json_get(carol, "read"), "1 0 1 0");
    expect_kinds(test_json_get(carol, "written"), "0 0 1 0");
    json_object *reason = json_object_array_get_idx(test_json_get(carol, "reasons"), 0);
    assert_non_null(strstr(json_object_get_string(test_json_get(reason, "reason")), "'LastExecId'"));
    /* F11, with Carol's conversation counted (4, not 3). */
    json_object *s = test_json_get(doc, "summary");
    assert_int_equal(test_json_int(s, "total_users"), 3);
    assert_int_equal(test_json_int(s, "successful_users"), 2);
    assert_int_equal(test_json_int(s, "failed_users"), 1);
    assert_int_equal(test_json_int(s, "total_bots"), 3);
    assert_int_equal(test_json_int(s, "total_aliases"), 2);
    assert_int_equal(test_json_int(s, "total_skipped_aliases"), 2);
    assert_int_equal(test_json_int(s, "total_conversations"), 4);
    assert_int_equal(test_json_int(s, "total_related_documents"), 2);
    expect_kinds(test_json_get(s, "total_read"), "4 4 4 2");
    /* Difference (W14): verification expects what was converted, skipped
     * aliases excluded, so it passes; the reference's compares raw counts
     * (4 4 4 2 against 3 2 3 2) and can never pass with a skipped alias. */
    json_object *v = test_json_get(doc, "verification");
    expect_kinds(test_json_get(v, "source"), "3 2 4 2");
    expect_kinds(test_json_get(v, "destination"), "3 2 4 2");
    assert_true(json_object_get_boolean(test_json_get(v, "success")));
    assert_false(json_object_object_get_ex(v, "error_bots", NULL));
    /* Difference (W5): the aliases left out are listed with their ids. */
    json_object *ia = test_json_get(doc, "inaccessible_aliases");
    assert_int_equal(test_json_int(ia, "count"), 2);
    const char *listed = json_object_to_json_string_ext(ia, JSON_C_TO_STRING_PLAIN);
    assert_non_null(strstr(listed, "\"original_bot_id\":\"01JALICEPRIV000000000000002\""));
    assert_non_null(strstr(listed, "\"original_bot_id\":\"01JDELETED0000000000000009\""));
    json_object_put(doc);

    /* F12's reads: one discovery scan of the PKs (in 4 parallel segments,
     * W2); 4 owner lookups; and (difference, W13) no scan of the V3
     * tables: verification queries per user. */
    /* (Scans of Limit 1 are the undo journal's check that a destination
     * table is empty, not reads of data.) */
    assert_int_equal(requests("Scan", NULL) - requests("Scan", "\"Limit\":1"), 4);
    assert_int_equal(requests("Scan", "\"ProjectionExpression\":\"#pk\""), 4);
    assert_int_equal(requests("Query", "PublicBotIdIndex"), 4);
    assert_int_equal(requests("Scan", "v3") - requests("Scan", "\"Limit\":1"), 0);
    assert_true(requests("Query", "\"ConsistentRead\":true") >= 6);

    /* A plain re-run after failed items says to resume; a resumed run
     * migrates Carol again (her bot fails again) and changes nothing else,
     * to the byte. */
    buf before = BUF_INIT;
    test_dump_items(dynalite.url, f.bots, NULL, &before);
    assert_int_equal(migrate(&f, extra, &out, &err), 2);
    assert_non_null(strstr(buf_str(&err), "--resume"));
    const char *resume[] = {"--yes", "--resume", NULL};
    assert_int_equal(migrate(&f, resume, &out, &err), 1);
    doc = test_json_read(f.report);
    assert_int_equal(test_json_int(test_json_get(doc, "summary"), "resumed_users"), 2);
    expect_user(doc, "user-carol", "0 0 1 0 0", 0);
    json_object_put(doc);
    test_dump_items(dynalite.url, f.bots, NULL, &got);
    assert_string_equal(buf_str(&before), buf_str(&got));
    buf_free(&before);
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
}

/* F13 and the differences of W14/W15: --verify-only prints the
 * verification object; a missing, a changed or a skipped-but-present item
 * fails it with exit 1 (the reference exits 0). */
static void test_verify_only(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf out = BUF_INIT, err = BUF_INIT, code = BUF_INIT;
    const char *run[] = {"--yes", NULL};
    assert_int_equal(migrate(&f, run, &out, &err), 1);
    const char *vo[] = {"--verify-only", NULL};
    int rc = migrate(&f, vo, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&out), "\"source\":{\"aliases\":2,\"bots\":3,\"conversations\":4,\"related_documents\":2}"));
    assert_non_null(strstr(buf_str(&out), "\"success\":true"));
    /* Difference: --verify-only also writes mighost's report (the
     * reference writes none), marked as such. */
    json_object *vr = test_json_read(f.report);
    assert_string_equal(json_object_get_string(test_json_get(vr, "mode")), "verify-only");
    json_object_put(vr);
    /* Alice's private bot deleted, Bob's bot changed, Bob's skipped alias
     * of the deleted bot present. */
    buf_printf(&code,
        "local ddb = require 'mighost.dynamodb'\n"
        "assert(ddb.delete{table = '%1$s', key = {PK = {S = 'user-alice'}, SK = {S = 'BOT#01JALICEPRIV000000000000002'}}})\n"
        "assert(ddb.update{table = '%1$s', key = {PK = {S = 'user-bob'}, SK = {S = 'BOT#01JBOBLEGACY00000000000001'}},\n"
        "  update = 'SET Title = :t', values = {[':t'] = {S = 'edited'}}})\n"
        "assert(ddb.put{table = '%1$s', item = {PK = {S = 'user-bob'}, SK = {S = 'ALIAS#01JDELETED0000000000000009'}}})\n",
        f.bots);
    eval(buf_str(&code));
    rc = migrate(&f, vo, &out, &err);
    if (rc != 1) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&out), "\"error_bots\":\"Source: 3, Destination: 1\""));
    assert_non_null(strstr(buf_str(&out), "\"skipped_aliases_present\":1"));
    assert_non_null(strstr(buf_str(&out), "\"success\":false"));
    json_object *doc = test_json_read(f.report);
    json_object *checks = test_json_get(test_json_phase(doc, "verify"), "verification.checks");
    json_object *bots = json_object_array_get_idx(checks, 0);
    assert_int_equal(test_json_int(bots, "missing"), 1);
    assert_int_equal(test_json_int(bots, "different"), 1);
    /* Per-user counts, for the chosen users only. */
    json_object *users = test_json_get(doc, "verification.per_user");
    assert_int_equal(json_object_array_length(users), 3);
    json_object *alice = json_object_array_get_idx(users, 0);
    assert_string_equal(json_object_get_string(test_json_get(alice, "user_id")), "user-alice");
    expect_kinds(test_json_get(alice, "missing"), "1 0 0 0");
    json_object_put(doc);
    buf_free(&code);
    buf_free(&out);
    buf_free(&err);
}

/* F14: --users user-alice on empty V3 tables; then several users after
 * one flag. Verification looks at the chosen users only. */
static void test_users(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT;
    test_fakeaws_reset(&fake);
    const char *alice[] = {"--yes", "--users", "user-alice", NULL};
    int rc = migrate(&f, alice, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    json_object *doc = test_json_read(f.report);
    json_object *v = test_json_get(doc, "verification");
    expect_kinds(test_json_get(v, "source"), "2 1 2 2");
    expect_kinds(test_json_get(v, "destination"), "2 1 2 2");
    assert_true(json_object_get_boolean(test_json_get(v, "success")));
    json_object *s = test_json_get(doc, "summary");
    assert_int_equal(test_json_int(s, "total_users"), 1);
    assert_int_equal(test_json_int(s, "successful_users"), 1);
    assert_int_equal(test_json_int(s, "failed_users"), 0);
    assert_int_equal(test_json_int(s, "total_bots"), 2);
    assert_int_equal(test_json_int(s, "total_aliases"), 1);
    assert_int_equal(test_json_int(s, "total_skipped_aliases"), 0);
    assert_int_equal(test_json_int(s, "total_conversations"), 2);
    assert_int_equal(test_json_int(s, "total_related_documents"), 2);
    json_object_put(doc);
    /* No discovery scan (only the undo journal's empty-table checks), and
     * nothing of the other users read or written. */
    assert_int_equal(requests("Scan", NULL) - requests("Scan", "\"Limit\":1"), 0);
    assert_int_equal(requests("Query", "user-bob"), 0);
    test_dump_items(dynalite.url, f.bots, NULL, &got);
    assert_int_equal(test_count_lines(buf_str(&got)), 3);
    test_dump_items(dynalite.url, f.conv, NULL, &got);
    assert_int_equal(test_count_lines(buf_str(&got)), 4);

    /* --users U1 U2: every value up to the next option. */
    const char *two[] = {"--users", "user-bob", "user-carol", "--yes", NULL};
    assert_int_equal(migrate(&f, two, &out, &err), 1);
    doc = test_json_read(f.report);
    assert_int_equal(test_json_int(test_json_get(doc, "summary"), "total_users"), 2);
    expect_user(doc, "user-bob", "1 1 1 0 2", 1);
    json_object_put(doc);
    test_expect_items(dynalite.url, f.bots, DATA "v3_expected_bots.jsonl", NULL);
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
}

/* with the difference (W6): the dry-run previews every user, Carol
 * included (the reference crashes there), and writes nothing. */
static void test_dry_run(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT;
    test_fakeaws_reset(&fake);
    const char *all[] = {"--dry-run", NULL};
    int rc = migrate(&f, all, &out, &err);
    /* Carol's bot would fail: exit 1, as the real run. */
    if (rc != 1) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&err), "user-carol: 1 bots, 0 aliases (0 would be skipped), 1 conversations"));
    assert_non_null(strstr(buf_str(&err), "'LastExecId'"));
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    json_object *doc = test_json_read(f.report);
    assert_int_equal(test_json_int(test_json_phase(doc, "migrate"), "would_write"), 11);
    json_object_put(doc);
    test_dump_items(dynalite.url, f.bots, NULL, &got);
    assert_string_equal(buf_str(&got), "");

    const char *two[] = {"--dry-run", "--users", "user-alice", "user-bob", "--sample", "1", NULL};
    rc = migrate(&f, two, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&err), "user-alice: 2 bots, 1 aliases (0 would be skipped), 2 conversations, 2 related documents"));
    assert_non_null(strstr(buf_str(&err), "user-bob: 1 bots, 3 aliases (2 would be skipped), 1 conversations, 0 related documents"));
    assert_non_null(strstr(buf_str(&err), "--- sample 1 (migrate)"));
    assert_int_equal(test_fakeaws_stat(&fake, "writes_forwarded"), 0);
    /* --limit N: a trial on the first N users in order. */
    const char *limited[] = {"--dry-run", "--limit", "1", NULL};
    assert_int_equal(migrate(&f, limited, &out, &err), 0);
    assert_non_null(strstr(buf_str(&err), "user-alice: 2 bots"));
    assert_null(strstr(buf_str(&err), "user-bob:"));
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
}

/* with the difference (W8): UnprocessedItems are re-sent with backoff
 * until accepted, once or on every request; every item lands, the counts
 * are what was accepted, and verification passes. */
static void test_unprocessed_items(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf out = BUF_INIT, err = BUF_INIT;
    const char *alice[] = {"--yes", "--users", "user-alice", NULL};
    test_fakeaws_reset(&fake);
    assert_int_equal(test_fakeaws_config(&fake, "{\"fault_next\": [\"unprocessed\"], \"fault_ops\": [\"BatchWriteItem\"]}"), 0);
    int rc = migrate(&f, alice, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_int_equal(test_fakeaws_stat(&fake, "faults.unprocessed"), 1);
    fixture g;
    make_fixture(&g, "");
    test_fakeaws_reset(&fake);
    assert_int_equal(test_fakeaws_config(&fake, "{\"fault_rate\": 1, \"faults\": [\"unprocessed\"], "
                                                "\"fault_ops\": [\"BatchWriteItem\"]}"), 0);
    rc = migrate(&g, alice, &out, &err);
    test_fakeaws_config(&fake, "{\"fault_rate\": 0, \"fault_ops\": null}");
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_true(test_fakeaws_stat(&fake, "faults.unprocessed") >= 2);
    json_object *doc = test_json_read(g.report);
    expect_user(doc, "user-alice", "2 1 2 2 0", 1);
    assert_true(json_object_get_boolean(test_json_get(doc, "verification.success")));
    json_object_put(doc);
    buf got = BUF_INIT;
    test_dump_items(dynalite.url, g.bots, NULL, &got);
    assert_int_equal(test_count_lines(buf_str(&got)), 3);
    test_dump_items(dynalite.url, g.conv, NULL, &got);
    assert_int_equal(test_count_lines(buf_str(&got)), 4);
    buf_free(&got);
    buf_free(&out);
    buf_free(&err);
}

/* Writes DynamoDB keeps refusing (500 on every BatchWriteItem, past the
 * retries) are failures of their user, counted per kind with the reason:
 * nothing is reported as written, verification fails, exit 1 (the
 * reference reports the user successful with the items submitted). */
static void test_rejected_writes_are_counted(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(test_fakeaws_config(&fake, "{\"fault_rate\": 1, \"faults\": [\"500\"], "
                                                "\"fault_ops\": [\"BatchWriteItem\"]}"), 0);
    const char *alice[] = {"--yes", "--users", "user-alice", "--max-attempts", "2", NULL};
    int rc = migrate(&f, alice, &out, &err);
    test_fakeaws_config(&fake, "{\"fault_rate\": 0, \"fault_ops\": null}");
    if (rc != 1) fail_msg("exit %d: %s", rc, buf_str(&err));
    json_object *doc = test_json_read(f.report);
    json_object *u = user_stat(doc, "user-alice");
    expect_user(doc, "user-alice", "0 0 0 0 0", 0);
    expect_kinds(test_json_get(u, "failed"), "2 1 2 2");
    assert_non_null(strstr(json_object_to_json_string_ext(test_json_get(u, "reasons"), JSON_C_TO_STRING_PLAIN),
                           "InternalFailure"));
    assert_int_equal(test_json_int(test_json_phase(doc, "migrate"), "failed.count"), 7);
    assert_false(json_object_get_boolean(test_json_get(doc, "verification.success")));
    json_object_put(doc);
    buf_free(&out);
    buf_free(&err);
}

/* The contract's option: an alias of a private bot is written with
 * IsOriginAccessible=false and the owner from the bot's V2 key; an alias
 * of a deleted bot is still left out (no owner), and both are listed. */
static void test_keep_inaccessible_aliases(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "");
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT;
    const char *extra[] = {"--yes", "--keep-inaccessible-aliases", "--users", "user-bob", NULL};
    int rc = migrate(&f, extra, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    test_dump_items(dynalite.url, f.bots, NULL, &got);
    assert_non_null(strstr(buf_str(&got),
        "\"IsOriginAccessible\":{\"BOOL\":false},\"ItemType\":{\"S\":\"user-bob#ALIAS\"},"
        "\"LastUsedTime\":{\"N\":\"1731500000000\"},\"OriginalBotId\":{\"S\":\"01JALICEPRIV000000000000002\"},"
        "\"OwnerUserId\":{\"S\":\"user-alice\"},\"PK\":{\"S\":\"user-bob\"},\"SK\":{\"S\":\"ALIAS#01JALICEPRIV000000000000002\"}"));
    assert_null(strstr(buf_str(&got), "01JDELETED"));
    assert_int_equal(test_count_lines(buf_str(&got)), 3);
    json_object *doc = test_json_read(f.report);
    expect_user(doc, "user-bob", "1 2 1 0 1", 1);
    json_object *ia = test_json_get(doc, "inaccessible_aliases");
    assert_int_equal(test_json_int(ia, "count"), 2);
    assert_non_null(strstr(json_object_to_json_string_ext(ia, JSON_C_TO_STRING_PLAIN), "\"written\":true"));
    assert_true(json_object_get_boolean(test_json_get(doc, "verification.success")));
    json_object_put(doc);
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
}

/* Difference (W6, and the empty index key): malformed items fail alone,
 * each with its reason; the rest of the user is migrated. The bot with an
 * empty SyncStatus is expected and missing, so verification fails too. */
static void test_malformed_items_fail_alone(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "edge");
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT;
    const char *extra[] = {"--yes", "--users", "user-erin", NULL};
    int rc = migrate(&f, extra, &out, &err);
    if (rc != 1) fail_msg("exit %d: %s", rc, buf_str(&err));
    json_object *doc = test_json_read(f.report);
    json_object *erin = user_stat(doc, "user-erin");
    expect_user(doc, "user-erin", "1 0 1 0 0", 0);
    expect_kinds(test_json_get(erin, "read"), "2 1 1 0");
    expect_kinds(test_json_get(erin, "failed"), "1 1 0 0");
    const char *reasons = json_object_to_json_string_ext(test_json_get(erin, "reasons"), JSON_C_TO_STRING_PLAIN);
    assert_non_null(strstr(reasons, "index key attribute 'SyncStatus' is an empty string"));
    assert_non_null(strstr(reasons, "malformed alias: required attribute 'Title' is missing"));
    assert_int_equal(test_json_int(test_json_phase(doc, "migrate"), "failed.count"), 2);
    json_object *v = test_json_get(doc, "verification");
    assert_false(json_object_get_boolean(test_json_get(v, "success")));
    assert_string_equal(json_object_get_string(test_json_get(v, "error_bots")), "Source: 2, Destination: 1");
    json_object_put(doc);
    test_dump_items(dynalite.url, f.bots, NULL, &got);
    assert_int_equal(test_count_lines(buf_str(&got)), 1);
    assert_non_null(strstr(buf_str(&got), "BOT#01JALICEPRIV000000000000002"));
    test_dump_items(dynalite.url, f.conv, NULL, &got);
    assert_int_equal(test_count_lines(buf_str(&got)), 1);
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
}

/* Difference (W4): the owner of an original bot is looked up once, however
 * many aliases point at it (user-dave adds aliases of A1 and B1). */
static void test_owner_lookup_once_per_bot(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "shared");
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT;
    test_fakeaws_reset(&fake);
    const char *extra[] = {"--yes", NULL};
    assert_int_equal(migrate(&f, extra, &out, &err), 1);
    /* Six aliases, four original bots (the reference: six lookups). */
    assert_int_equal(requests("Query", "PublicBotIdIndex"), 4);
    test_dump_items(dynalite.url, f.bots, NULL, &got);
    assert_non_null(strstr(buf_str(&got), "\"OwnerUserId\":{\"S\":\"user-alice\"},\"PK\":{\"S\":\"user-dave\"}"));
    assert_non_null(strstr(buf_str(&got), "\"OwnerUserId\":{\"S\":\"user-bob\"},\"PK\":{\"S\":\"user-dave\"}"));
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
}

/* --stack NAME fills the three tables from the stack as v3.0.0 deploys it
 * (tests/integration/stacks/bedrock-v3.json): the V3 tables from its
 * outputs, the V2 table, which the V3 deploy dropped from the stack but
 * kept, by CloudFormation's name for it (the V3 table's name starts the
 * same way and is not taken). --region is the operator's flag. */
static void test_stack_outputs(void **state)
{
    (void)state;
    fixture f;
    make_fixture_as(&f, "", 1);
    buf stack = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(test_fakeaws_stacks(&fake, "tests/integration/stacks/bedrock-v3.json", f.prefix), 0);
    buf_printf(&stack, "%sBedrockChatStack", f.prefix);
    const char *args[] = {"run", MIGRATION, "--stack", buf_str(&stack), "--region", "us-east-1",
                          "--dry-run", "--users", "user-alice", "--report", f.report, "--quiet", NULL};
    int rc = test_mighost(fake.url, args, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    json_object *doc = test_json_read(f.report);
    const char *want[] = {"v2_conversation_table", f.v2, "v3_conversation_table", f.conv,
                          "v3_bot_table", f.bots, NULL};
    test_expect_stack_params(f.report, want);
    assert_int_equal(test_json_int(test_json_phase(doc, "migrate"), "would_write"), 7);
    json_object_put(doc);
    buf_free(&stack);
    buf_free(&out);
    buf_free(&err);
}

/* Starts mighost in the background (output to /dev/null), fake-AWS env. */
static pid_t spawn_migrate(const fixture *f, const char *const *extra)
{
    const char *args[ARGS_MAX];
    build_args(f, extra, args);
    pid_t pid = test_spawn_mighost(NULL, fake.url, args);
    assert_true(pid > 0);
    return pid;
}

/* Per-user checkpoints: interrupted once some users are finished, the run
 * resumes without migrating them again, and ends complete. */
static void test_interrupt_and_resume(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "many=40");
    /* Slow reads, so that the interruption comes mid-run. */
    assert_int_equal(test_fakeaws_config(&fake, "{\"fault_rate\": 1, \"faults\": [\"slow\"], "
                                                "\"fault_ops\": [\"Query\"], \"slow_ms\": 40}"), 0);
    const char *first[] = {"--yes", "--user-concurrency", "2", NULL};
    pid_t pid = spawn_migrate(&f, first);
    buf listing = BUF_INIT;
    /* A finished user is a line of the migrate phase's journal of
     * finished units, beside the state. */
    const char *cat[] = {"sh", "-c", "cat \"$0\"/*.migrate-*.done.jsonl 2>/dev/null", f.state, NULL};
    for (int i = 0; i < 600; i++) {
        test_run(cat, NULL, NULL, NULL, &listing, NULL);
        if (strstr(buf_str(&listing), "user-")) break;
        struct timespec t = {0, 20000000L};
        nanosleep(&t, NULL);
    }
    assert_non_null(strstr(buf_str(&listing), "user-"));
    kill(pid, SIGINT);
    int status;
    waitpid(pid, &status, 0);
    test_fakeaws_config(&fake, "{\"fault_rate\": 0, \"fault_ops\": null}");
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 130);
    buf out = BUF_INIT, err = BUF_INIT, got = BUF_INIT;
    /* The same parameters (they name the run), plus --resume. */
    const char *resume[] = {"--yes", "--user-concurrency", "2", "--resume", NULL};
    int rc = migrate(&f, resume, &out, &err);
    if (rc != 1) fail_msg("exit %d: %s", rc, buf_str(&err));
    json_object *doc = test_json_read(f.report);
    json_object *s = test_json_get(doc, "summary");
    long resumed = test_json_int(s, "resumed_users");
    assert_true(resumed >= 1);
    assert_int_equal(test_json_int(s, "total_users"), 43);
    assert_int_equal(test_json_int(s, "total_bots"), 43);
    /* This run's user_stats hold only the users it migrated. */
    assert_int_equal((long)json_object_array_length(test_json_get(doc, "user_stats")),
                     43 - resumed);
    assert_true(json_object_get_boolean(test_json_get(doc, "verification.success")));
    json_object_put(doc);
    test_dump_items(dynalite.url, f.bots, NULL, &got);
    assert_int_equal(test_count_lines(buf_str(&got)), 45);
    buf_free(&listing);
    buf_free(&out);
    buf_free(&err);
    buf_free(&got);
}

/* An offline --source-dir dry-run on export files of the fixture plans the
 * same writes, with the same counts, as a dry-run against the server. */
static void test_offline_matches_online(void **state)
{
    (void)state;
    fixture f;
    make_fixture(&f, "shared");
    buf out = BUF_INIT, err = BUF_INIT, a = BUF_INIT, b = BUF_INIT, dir = BUF_INIT, tj = BUF_INIT;
    buf_printf(&dir, "%s/%s-export", tmp, f.prefix);
    test_export_tables(dynalite.url, buf_str(&dir), (const char *const[]){f.v2, f.conv, f.bots, NULL});
    /* The index the owner lookups query is known offline from tables.json. */
    buf_printf(&tj, "{\"%s\": {\"hash\": \"PK\", \"range\": \"SK\", \"indexes\": "
                    "{\"PublicBotIdIndex\": {\"hash\": \"PublicBotId\"}}}}", f.v2);
    char *tables = test_path_join(buf_str(&dir), "tables.json");
    test_write_file(tables, buf_str(&tj));
    char plan_a[512], plan_b[512], rep_a[512], rep_b[512];
    snprintf(plan_a, sizeof plan_a, "%s/%s-A.jsonl", tmp, f.prefix);
    snprintf(plan_b, sizeof plan_b, "%s/%s-B.jsonl", tmp, f.prefix);
    snprintf(rep_a, sizeof rep_a, "%s/%s-A.json", tmp, f.prefix);
    snprintf(rep_b, sizeof rep_b, "%s/%s-B.json", tmp, f.prefix);
    const char *offline[] = {"run", MIGRATION, "--v2-conversation-table", f.v2,
                             "--v3-conversation-table", f.conv, "--v3-bot-table", f.bots,
                             "--source-dir", buf_str(&dir), "--plan", plan_a, "--report", rep_a,
                             "--quiet", NULL};
    const char *no_aws_env[] = {"AWS_EC2_METADATA_DISABLED=true", NULL};
    int rc = test_mighost_env(NULL, no_aws_env, offline, &out, &err);
    if (rc != 1) fail_msg("offline: exit %d: %s", rc, buf_str(&err));
    assert_non_null(strstr(buf_str(&err), "no AWS access"));
    const char *online[] = {"run", MIGRATION, "--v2-conversation-table", f.v2,
                            "--v3-conversation-table", f.conv, "--v3-bot-table", f.bots,
                            "--dry-run", "--plan", plan_b, "--report", rep_b, "--quiet", NULL};
    rc = test_mighost(dynalite.url, online, &out, &err);
    if (rc != 1) fail_msg("online: exit %d: %s", rc, buf_str(&err));
    test_sorted_lines(plan_a, &a);
    test_sorted_lines(plan_b, &b);
    assert_int_equal(test_count_lines(buf_str(&a)), 13);
    assert_non_null(strstr(buf_str(&a), "ALIAS#01JBOBLEGACY00000000000001"));
    assert_string_equal(buf_str(&a), buf_str(&b));
    /* The same report facts: per-user counts and the summary. */
    json_object *ra = test_json_read(rep_a), *rb = test_json_read(rep_b);
    json_object *sa = test_json_get(ra, "summary");
    json_object *sb = test_json_get(rb, "summary");
    json_object_object_del(sa, "total_duration_seconds");
    json_object_object_del(sb, "total_duration_seconds");
    assert_string_equal(json_object_to_json_string(sa), json_object_to_json_string(sb));
    assert_int_equal(test_json_int(sa, "total_users"), 4);
    assert_int_equal(test_json_int(test_json_phase(ra, "migrate"), "would_write"), test_json_int(test_json_phase(rb, "migrate"), "would_write"));
    json_object_put(ra);
    json_object_put(rb);
    free(tables);
    buf_free(&tj);
    buf_free(&out);
    buf_free(&err);
    buf_free(&a);
    buf_free(&b);
    buf_free(&dir);
}

/* Alice's items in f's two V3 tables equal those of an uninterrupted run
 * (`clean`), to the byte. */
static void expect_same_tables(const fixture *f, const fixture *clean)
{
    buf a = BUF_INIT, b = BUF_INIT;
    test_dump_items(dynalite.url, f->bots, NULL, &a);
    test_dump_items(dynalite.url, clean->bots, NULL, &b);
    assert_string_equal(buf_str(&a), buf_str(&b));
    test_dump_items(dynalite.url, f->conv, NULL, &a);
    test_dump_items(dynalite.url, clean->conv, NULL, &b);
    assert_string_equal(buf_str(&a), buf_str(&b));
    assert_true(test_count_lines(buf_str(&a)) >= 4);
    buf_free(&a);
    buf_free(&b);
}

/* The per-user phase under an endpoint that stops answering, and with
 * writes that fail (user-alice: 7 items):
 *  - a 2 s outage while her writes fly is waited out: exit 0;
 *  - with --max-outage 1 the run gives up: exit 3, one line; --resume
 *    once it answers migrates her: exit 0;
 *  - writes refused (500): exit 1; --resume while they still fail: exit 1,
 *    naming them; fixed: --resume migrates her again, verifies, exit 0.
 * Each ends with the tables of an uninterrupted run. */
static void test_outage_and_failures(void **state)
{
    (void)state;
    buf out = BUF_INIT, err = BUF_INIT;
    const char *alice[] = {"--yes", "--users", "user-alice", NULL};
    const char *resume[] = {"--yes", "--users", "user-alice", "--resume", NULL};
    fixture clean;
    make_fixture(&clean, "");
    assert_int_equal(migrate(&clean, alice, &out, &err), 0);

    fixture a;
    make_fixture(&a, "");
    test_fakeaws_reset(&fake);
    assert_int_equal(test_fakeaws_config(&fake, "{\"outage_ops\": [\"BatchWriteItem\"], "
                                                "\"outage_after\": 1, \"outage_ms\": 2000}"), 0);
    int rc = migrate(&a, alice, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    assert_true(test_fakeaws_stat(&fake, "faults.outage") >= 1);
    assert_non_null(strstr(buf_str(&err), "waiting for 127.0.0.1:"));
    json_object *doc = test_json_read(a.report);
    assert_int_equal(test_json_int(test_json_phase(doc, "migrate"), "failed.count"), 0);
    json_object_put(doc);
    expect_same_tables(&a, &clean);

    fixture b;
    make_fixture(&b, "");
    assert_int_equal(test_fakeaws_config(&fake, "{\"outage_ops\": [\"BatchWriteItem\"], "
                                                "\"outage_after\": 1, \"outage_ms\": 3000}"), 0);
    time_t began = time(NULL);
    const char *give_up[] = {"--yes", "--users", "user-alice", "--max-outage", "1", NULL};
    assert_int_equal(migrate(&b, give_up, &out, &err), 3);
    assert_non_null(strstr(buf_str(&err), "mighost: giving up in phase migrate: 127.0.0.1:"));
    assert_null(strstr(buf_str(&err), "traceback"));
    doc = test_json_read(b.report);
    assert_int_equal(test_json_int(doc, "exit_code"), 3);
    json_object_put(doc);
    while (time(NULL) - began < 4) sleep(1);
    rc = migrate(&b, resume, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    expect_same_tables(&b, &clean);

    fixture c;
    make_fixture(&c, "");
    assert_int_equal(test_fakeaws_config(&fake, "{\"fault_rate\": 1, \"faults\": [\"500\"], "
                                                "\"fault_ops\": [\"BatchWriteItem\"]}"), 0);
    const char *refused[] = {"--yes", "--users", "user-alice", "--max-attempts", "2", NULL};
    assert_int_equal(migrate(&c, refused, &out, &err), 1);
    const char *still[] = {"--yes", "--users", "user-alice", "--max-attempts", "2", "--resume",
                           NULL};
    assert_int_equal(migrate(&c, still, &out, &err), 1);
    assert_non_null(strstr(buf_str(&err), "user-alice"));
    assert_non_null(strstr(buf_str(&err), "InternalFailure"));
    test_fakeaws_config(&fake, "{\"fault_rate\": 0, \"fault_ops\": null}");
    rc = migrate(&c, resume, &out, &err);
    if (rc != 0) fail_msg("exit %d: %s", rc, buf_str(&err));
    doc = test_json_read(c.report);
    expect_user(doc, "user-alice", "2 1 2 2 0", 1);
    assert_true(json_object_get_boolean(test_json_get(doc, "verification.success")));
    json_object_put(doc);
    expect_same_tables(&c, &clean);
    buf_free(&out);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_run),
        cmocka_unit_test(test_verify_only),
        cmocka_unit_test(test_users),
        cmocka_unit_test(test_dry_run),
        cmocka_unit_test(test_unprocessed_items),
        cmocka_unit_test(test_rejected_writes_are_counted),
        cmocka_unit_test(test_keep_inaccessible_aliases),
        cmocka_unit_test(test_malformed_items_fail_alone),
        cmocka_unit_test(test_owner_lookup_once_per_bot),
        cmocka_unit_test(test_stack_outputs),
        cmocka_unit_test(test_interrupt_and_resume),
        cmocka_unit_test(test_offline_matches_online),
        cmocka_unit_test(test_outage_and_failures),
    };
    return cmocka_run_group_tests_name("bedrock-chat-v2-to-v3", tests, setup, teardown);
}
