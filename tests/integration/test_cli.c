/* test_cli.c - what an operator sees of the command line: every command's
 * --help lists every option its parser accepts (read from the parsers' own
 * tables through `mighost eval`, not copied here), `mighost help COMMAND`
 * is `COMMAND --help`, and mistakes get exit 2 and a suggestion. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testassert.h"
#include "testsupport.h"

static int mighost(const char *const *args, buf *out, buf *err)
{
    return test_mighost(NULL, args, out, err);
}

/* Lines "COMMAND OPTION KIND HELP" for every option every Lua command's
 * parser accepts: the runner's table (params.RUNNER_FLAGS), the options C
 * parses (MIGHOST_ARGS.c_options) and each simple command's table. */
static const char options_lua[] =
    "local cli = require 'mighost.runner.cli'\n"
    "local params = require 'mighost.runner.params'\n"
    "for name, spec in pairs(params.RUNNER_FLAGS) do\n"
    "  local kind, _, help = params.flag_spec(spec)\n"
    "  print('run', name, kind, help or '') end\n"
    "for _, o in ipairs(MIGHOST_ARGS.c_options) do print('run', o.name, 'c', o.help or '') end\n"
    "for cmd, c in pairs(cli.COMMANDS) do\n"
    "  for name, spec in pairs(c.options) do\n"
    "    local kind, _, help = params.flag_spec(spec)\n"
    "    print(cmd, name, kind, help or '') end end\n";

static void test_help_lists_every_option(void **state)
{
    (void)state;
    buf list = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
    const char *args[] = {"eval", options_lua, NULL};
    assert_int_equal(mighost(args, &list, &err), 0);
    int checked = 0, run_options = 0;
    char *text = strdup(buf_str(&list));
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        char cmd[32], name[64], kind[16];
        int used = 0;
        assert_int_equal(sscanf(line, "%31s %63s %15s %n", cmd, name, kind, &used), 3);
        /* Every option has one line of help (a merged "bool" entry fails here). */
        if (line[used] == '\0') fail_msg("%s %s has no help text", cmd, name);
        if (strcmp(kind, "bool") && strcmp(kind, "value") && strcmp(kind, "c"))
            fail_msg("%s %s: kind '%s'", cmd, name, kind);
        const char *help[] = {cmd, "--help", NULL};
        assert_int_equal(mighost(help, &out, &err), 0);
        char want[80];
        snprintf(want, sizeof want, "\n  %s", name);
        const char *at = strstr(buf_str(&out), want);
        if (!at || (at[strlen(want)] != ' ' && at[strlen(want)] != '\n'))
            fail_msg("mighost %s --help does not list %s:\n%s", cmd, name, buf_str(&out));
        if (strcmp(cmd, "run") == 0) run_options++;
        checked++;
    }
    free(text);
    assert_true(run_options >= 25);
    assert_true(checked > run_options);
    buf_free(&list);
    buf_free(&out);
    buf_free(&err);
}

/* `mighost --help` lists every command, and each answers --help. */
static void test_help_alias(void **state)
{
    (void)state;
    buf top = BUF_INIT, a = BUF_INIT, b = BUF_INIT, err = BUF_INIT;
    const char *top_args[] = {"--help", NULL};
    assert_int_equal(mighost(top_args, &top, &err), 0);
    const char *cmds[] = {"run", "list", "describe", "check", "status", "new", "eval", "call", NULL};
    for (const char *const *c = cmds; *c; c++) {
        char want[40];
        snprintf(want, sizeof want, "\n  %s ", *c);
        if (!strstr(buf_str(&top), want)) fail_msg("mighost --help lacks %s:\n%s", *c, buf_str(&top));
        const char *help_cmd[] = {"help", *c, NULL}, *cmd_help[] = {*c, "--help", NULL};
        assert_int_equal(mighost(help_cmd, &a, &err), 0);
        assert_int_equal(mighost(cmd_help, &b, &err), 0);
        assert_string_equal(buf_str(&a), buf_str(&b));
        assert_non_null(strstr(buf_str(&a), "usage: mighost "));
    }
    const char *help_alone[] = {"help", NULL};
    assert_int_equal(mighost(help_alone, &a, &err), 0);
    assert_string_equal(buf_str(&a), buf_str(&top));
    buf_free(&top);
    buf_free(&a);
    buf_free(&b);
    buf_free(&err);
}

/* Exit 2 and the message (with the suggestion) on stderr. */
static void expect_usage(const char *const *args, const char *message)
{
    buf out = BUF_INIT, err = BUF_INIT;
    int rc = mighost(args, &out, &err);
    if (rc != 2 || !strstr(buf_str(&err), message))
        fail_msg("mighost %s ...: exit %d, stderr: %s (wanted: %s)", args[0], rc, buf_str(&err), message);
    buf_free(&out);
    buf_free(&err);
}

static void test_mistakes_suggest(void **state)
{
    (void)state;
    const char *cmd[] = {"lsit", NULL};
    expect_usage(cmd, "unknown command 'lsit': did you mean list?");
    const char *help_cmd[] = {"help", "descibe", NULL};
    expect_usage(help_cmd, "unknown command 'descibe': did you mean describe?");
    const char *list_opt[] = {"list", "--outptu", "json", NULL};
    expect_usage(list_opt, "list: unknown option --outptu: did you mean --output?");
    const char *list_far[] = {"list", "--everything", NULL};
    expect_usage(list_far, "list: unknown option --everything (see mighost list --help)");
    const char *list_arg[] = {"list", "extra", NULL};
    expect_usage(list_arg, "list: unexpected argument 'extra'");
    const char *describe_opt[] = {"describe", "vams/v2.4-to-v2.5", "--dry-run", NULL};
    expect_usage(describe_opt, "describe: unknown option --dry-run");
    const char *output[] = {"describe", "--output", "yaml", "vams/v2.4-to-v2.5", NULL};
    expect_usage(output, "--output must be text or json, not 'yaml'");
    const char *run_opt[] = {"run", "tests/integration/migrations/sample_copy.lua", "--dry-rnu", NULL};
    expect_usage(run_opt, "unknown option --dry-rnu: did you mean --dry-run?");
    const char *param[] = {"run", "tests/integration/migrations/sample_copy.lua", "--destinaton", "x", NULL};
    expect_usage(param, "unknown option --destinaton: did you mean --destination?");
    const char *call_opt[] = {"call", "--regoin", "us-east-1", "sts", "GetCallerIdentity", NULL};
    expect_usage(call_opt, "unknown option --regoin: did you mean --region?");
}

/* --output json parses, and holds what the text form shows. */
static void test_json_outputs(void **state)
{
    (void)state;
    buf text = BUF_INIT, js = BUF_INIT, err = BUF_INIT;
    const char *list_text[] = {"list", NULL}, *list_json[] = {"list", "--output", "json", NULL};
    assert_int_equal(mighost(list_text, &text, &err), 0);
    assert_int_equal(mighost(list_json, &js, &err), 0);
    json_object *doc = json_tokener_parse(buf_str(&js));
    assert_non_null(doc);
    size_t n = json_object_array_length(doc);
    assert_int_equal(n, test_count_lines(buf_str(&text)));
    for (size_t i = 0; i < n; i++) {
        json_object *m = json_object_array_get_idx(doc, i);
        assert_non_null(strstr(buf_str(&text), json_object_get_string(test_json_get(m, "name"))));
        assert_non_null(strstr(buf_str(&text), json_object_get_string(test_json_get(m, "description"))));
    }
    json_object_put(doc);

    const char *migs[] = {"vams/v2.4-to-v2.5", "bedrock-chat/v2-to-v3", NULL};
    for (const char *const *m = migs; *m; m++) {
        const char *d_text[] = {"describe", *m, NULL}, *d_json[] = {"describe", "--output=json", *m, NULL};
        assert_int_equal(mighost(d_text, &text, &err), 0);
        assert_int_equal(mighost(d_json, &js, &err), 0);
        doc = json_tokener_parse(buf_str(&js));
        assert_non_null(doc);
        json_object *params = test_json_get(doc, "parameters"), *v;
        assert_true(json_object_array_length(params) > 3);
        for (size_t i = 0; i < json_object_array_length(params); i++) {
            json_object *p = json_object_array_get_idx(params, i);
            const char *fields[] = {"option", "doc", "stack_output", "stack_resource", NULL};
            for (const char *const *f = fields; *f; f++)
                if (json_object_object_get_ex(p, *f, &v) && !strstr(buf_str(&text), json_object_get_string(v)))
                    fail_msg("describe %s: %s \"%s\" not in the text form", *m, *f, json_object_get_string(v));
        }
        json_object *phases = test_json_get(doc, "phases");
        for (size_t i = 0; i < json_object_array_length(phases); i++)
            assert_non_null(strstr(buf_str(&text),
                json_object_get_string(test_json_get(json_object_array_get_idx(phases, i), "name"))));
        json_object_put(doc);
    }
    const char *check_json[] = {"check", "tests/integration/migrations/sample_copy.lua", "--output", "json", NULL};
    assert_int_equal(mighost(check_json, &js, &err), 0);
    doc = json_tokener_parse(buf_str(&js));
    assert_true(json_object_get_boolean(test_json_get(doc, "ok")));
    assert_string_equal(json_object_get_string(test_json_get(doc, "name")), "tests/sample-copy");
    json_object_put(doc);
    buf_free(&text);
    buf_free(&js);
    buf_free(&err);
}

/* The command line the report keeps: secret parameters (as options, with =,
 * or through --set) and URL passwords masked, quoted for a shell. */
static void test_command_line_masks_secrets(void **state)
{
    (void)state;
    static const char code[] =
        "local cli = require 'mighost.runner.cli'\n"
        "local mig = {params = {{name = 'api_token', secret = true, config = 'API_TOKEN'}, {name = 'table'}}}\n"
        "print(cli.command_line({'run', 'x.lua', '--api-token', 's3cret', '--api-token=s3cret',\n"
        "  '--set', 'API_TOKEN=s3cret', '--set=api_token=s3cret', '--table', 'my table',\n"
        "  '--endpoint-url', 'http://me:s3cret@127.0.0.1:8000'}, mig))\n";
    const char *args[] = {"eval", code, NULL};
    buf out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(mighost(args, &out, &err), 0);
    assert_string_equal(buf_str(&out),
        "mighost run x.lua --api-token **** --api-token=**** --set API_TOKEN=**** "
        "--set=api_token=**** --table 'my table' --endpoint-url http://me:****@127.0.0.1:8000\n");
    buf_free(&out);
    buf_free(&err);
}

/* docs/commands.md's command reference is the help the commands print. */
static void test_readme_reference(void **state)
{
    (void)state;
    buf readme = BUF_INIT, out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(test_read_file("docs/commands.md", &readme), 0);
    const char *cmds[] = {"run", "list", "describe", "check", "status", "new", "eval", "call", NULL};
    for (const char *const *c = cmds; *c; c++) {
        const char *args[] = {*c, "--help", NULL};
        assert_int_equal(mighost(args, &out, &err), 0);
        if (!strstr(buf_str(&readme), buf_str(&out)))
            fail_msg("docs/commands.md's reference lacks `mighost %s --help` as it is now: "
                     "run scripts/readme-help.sh", *c);
    }
    const char *top[] = {"--help", NULL};
    assert_int_equal(mighost(top, &out, &err), 0);
    const char *commands = strstr(buf_str(&out), "commands:\n");
    assert_non_null(commands);
    if (!strstr(buf_str(&readme), commands)) fail_msg("docs/commands.md lacks the command list: run scripts/readme-help.sh");
    buf_free(&readme);
    buf_free(&out);
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_help_lists_every_option),
        cmocka_unit_test(test_help_alias),
        cmocka_unit_test(test_mistakes_suggest),
        cmocka_unit_test(test_json_outputs),
        cmocka_unit_test(test_command_line_masks_secrets),
        cmocka_unit_test(test_readme_reference),
    };
    return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
