/* cli_run.c - the commands that run Lua: `run` (a migration or a plain
 * script), `eval`, `list`, `describe`, `check`. C handles what the engine
 * needs (AWS options, dry-run, the plan file, signals); the migration
 * runner, in Lua (lua/mighost/runner.lua), does the rest. */
#include <json-c/json.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bindings.h"
#include "cli.h"
#include "paths.h"
#include "runtime.h"

static const char eval_help[] =
    "usage: mighost eval [options] CODE\n"
    "\n"
    "Runs a chunk of Lua code as a mighost task, with the AWS bindings.\n"
    "\n"
    "options:\n";

/* The options C parses for run and eval; the runner's own (Lua) options
 * are in lua/mighost/runner/params.lua. */
static const cli_option plan_option[] = {
    {"--plan", "FILE", "with --dry-run: write every would-be write as a JSON line"},
    {NULL, NULL, NULL}
};
static const cli_option eval_options[] = {
    {"--dry-run", NULL, "validate and record writes instead of sending them"},
    {"--plan", "FILE", "with --dry-run: write the would-be writes (JSON lines)"},
    {"--help", NULL, "this help"},
    {NULL, NULL, NULL}
};

/* MIGHOST_ARGS.c_options: the options C parsed, for the runner's help and
 * suggestions. */
static void push_options(lua_State *L, const cli_option *const *tables)
{
    lua_newtable(L);
    int n = 0;
    for (const cli_option *const *t = tables; *t; t++) {
        for (const cli_option *o = *t; o->name; o++) {
            lua_createtable(L, 0, 3);
            lua_pushstring(L, o->name);
            lua_setfield(L, -2, "name");
            if (o->arg) {
                lua_pushstring(L, o->arg);
                lua_setfield(L, -2, "arg");
            }
            lua_pushstring(L, o->help);
            lua_setfield(L, -2, "help");
            lua_rawseti(L, -2, ++n);
        }
    }
}

/* Packaged name ("vams/v2.4-to-v2.5") or a path to a .lua file. */
static char *find_script(const char *name)
{
    if (access(name, R_OK) == 0) return xstrdup(name);
    if (strstr(name, ".lua") || strchr(name, '/') == NULL || name[0] == '.' || name[0] == '/') {
        if (access(name, R_OK) == 0) return xstrdup(name);
    }
    buf path = BUF_INIT;
    buf_printf(&path, "%s/%s.lua", paths_migrations_dir(), name);
    if (access(buf_str(&path), R_OK) == 0) return buf_detach(&path);
    buf_free(&path);
    return NULL;
}

static int wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0) return 0;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return 1;
    }
    return 0;
}

/* The reference configs name the AWS profile in "aws_profile": the
 * client is made with it unless --profile was given (which wins, with a
 * warning when they differ). A config that cannot be read is left to the
 * runner, which says why. Returns a heap string or NULL. */
static char *config_profile(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) path = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0) path = argv[i] + 9;
    }
    if (!path) return NULL;
    json_object *doc = json_object_from_file(path), *v;
    char *profile = NULL;
    if (doc && json_object_is_type(doc, json_type_object) &&
        json_object_object_get_ex(doc, "aws_profile", &v) && json_object_is_type(v, json_type_string) &&
        json_object_get_string_len(v) > 0)
        profile = xstrdup(json_object_get_string(v));
    json_object_put(doc);
    return profile;
}

/* cmd is "run", "eval", "list", "describe", "check", "status", "new",
 * "launch", "history", "undo" or "ctl". */
int cmd_lua(int argc, char **argv, const char *cmd)
{
    cli_common common;
    memset(&common, 0, sizeof common);
    int dry_run = 0, source_dir = 0, eval = strcmp(cmd, "eval") == 0;
    /* Only run, eval, launch, status (--coordinate TABLE), history and undo
     * reach AWS; the other commands' options are all the runner's, and it
     * refuses unknown ones. */
    int launch = strcmp(cmd, "launch") == 0;
    int aws_cmd = eval || launch || strcmp(cmd, "run") == 0 || strcmp(cmd, "status") == 0 ||
                  strcmp(cmd, "history") == 0 || strcmp(cmd, "undo") == 0;
    const char *plan = NULL;
    /* What the runner sees: everything C does not consume. */
    char **rest = xcalloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0, positional = 0;
    if (eval && wants_help(argc, argv)) {
        fputs(eval_help, stdout);
        cli_print_options(stdout, eval_options);
        cli_print_options(stdout, cli_common_options);
        free(rest);
        return EXIT_OK;
    }
    for (int i = 1; i < argc && !aws_cmd; i++) {
        if (argv[i][0] != '-') positional++;
        rest[nrest++] = argv[i];
    }
    for (int i = 1; i < argc && aws_cmd; i++) {
        /* launch: what follows "--" is the workers' command, untouched. */
        if (launch && strcmp(argv[i], "--") == 0) {
            while (i < argc) rest[nrest++] = argv[i++];
            break;
        }
        /* After a plain script's name, everything is the script's. */
        if (positional && (eval || strcmp(cmd, "run") == 0) && !strstr(argv[i], "--")) {
            rest[nrest++] = argv[i];
            continue;
        }
        if (strcmp(argv[i], "--dry-run") == 0) {
            dry_run = 1;
            rest[nrest++] = argv[i];
            continue;
        }
        /* --source-dir DIR (offline evaluation, the runner reads DIR) is
         * always a dry-run: reads come from files, writes are recorded. */
        if (!eval && (strcmp(argv[i], "--source-dir") == 0 ||
                      strncmp(argv[i], "--source-dir=", 13) == 0)) {
            source_dir = 1;
            rest[nrest++] = argv[i];
            if (argv[i][12] != '=' && i + 1 < argc) rest[nrest++] = argv[++i];
            continue;
        }
        if (cli_find_option(plan_option, argv[i])) {
            plan = argv[i][6] == '=' ? argv[i] + 7 : (i + 1 < argc ? argv[++i] : NULL);
            if (!plan) {
                fprintf(stderr, "mighost: --plan needs a file name\n");
                free(rest);
                return EXIT_USAGE;
            }
            continue;
        }
        int r = cli_common_option(&common, argc, argv, &i);
        if (r < 0) {
            free(rest);
            return EXIT_USAGE;
        }
        if (r > 0) {
            /* the runner wants to know the segment and concurrency values */
            continue;
        }
        if (argv[i][0] != '-') positional++;
        rest[nrest++] = argv[i];
    }
    if (source_dir && !dry_run && !wants_help(argc, argv))
        fprintf(stderr, "mighost: --source-dir: offline evaluation is a dry-run (--dry-run implied)\n");
    if (source_dir) dry_run = 1;
    if (plan && !dry_run && !wants_help(argc, argv)) {
        /* Silently turning a real run into a dry-run would surprise whoever
         * added --yes to run it for real. */
        fprintf(stderr, "mighost: --plan records the writes of a dry-run: add --dry-run (or drop "
                        "--plan for a real run)\n");
        free(rest);
        return EXIT_USAGE;
    }
    if (plan) {
        buf perr = BUF_INIT;
        if (path_can_create(plan, 0, "--plan", &perr) != 0) {
            fprintf(stderr, "mighost: %s\n", buf_str(&perr));
            buf_free(&perr);
            free(rest);
            return EXIT_USAGE;
        }
    }

    char *script = NULL;
    if (eval) {
        if (nrest == 0) {
            fputs(eval_help, stderr);
            free(rest);
            return EXIT_USAGE;
        }
    } else if ((strcmp(cmd, "run") == 0 || strcmp(cmd, "describe") == 0 ||
                strcmp(cmd, "check") == 0) && !wants_help(argc, argv)) {
        int k = 0;
        while (k < nrest && rest[k][0] == '-') k++;
        /* describe and check: the first argument that names a script (an
         * option's value such as --output json comes before it). */
        for (int j = k; !aws_cmd && j < nrest && !script; j++)
            if (rest[j][0] != '-') script = find_script(rest[j]);
        if (k < nrest && !script && aws_cmd) {
            script = find_script(rest[k]);
            if (!script) {
                buf sh = BUF_INIT;
                fprintf(stderr, "mighost: no migration or script named '%s' (see mighost list)\n",
                        buf_shown(&sh, rest[k]));
                buf_free(&sh);
                free(rest);
                return EXIT_USAGE;
            }
        }
    }

    char *cfg_profile = strcmp(cmd, "run") == 0 ? config_profile(argc, argv) : NULL;
    if (cfg_profile && common.profile && strcmp(cfg_profile, common.profile) != 0)
        fprintf(stderr, "mighost: warning: --profile %.200s overrides the config file's "
                        "\"aws_profile\": \"%.200s\"\n", common.profile, cfg_profile);
    else if (cfg_profile)
        common.profile = cfg_profile;
    aws_client *aws = NULL;
    if (cli_has_region(&common)) {
        aws = cli_make_client(&common);
        if (!aws) {
            free(cfg_profile);
            free(script);
            free(rest);
            return EXIT_USAGE;
        }
        aws_client_set_interrupted(aws, sys_interrupted);
    }
    char *dir = xstrdup(script ? script : ".");
    runtime_options ro = {aws, dry_run, plan, script ? dirname(dir) : ".", &bindings_libs};
    runtime *rt = runtime_new(&ro);
    lua_State *L = runtime_lua(rt);
    lua_createtable(L, nrest, 4);
    for (int k = 0; k < nrest; k++) {
        lua_pushstring(L, rest[k]);
        lua_rawseti(L, -2, k + 1);
    }
    if (script) {
        lua_pushstring(L, script);
        lua_setfield(L, -2, "script");
    }
    lua_pushinteger(L, common.segments);
    lua_setfield(L, -2, "segments");
    lua_pushinteger(L, common.max_in_flight);
    lua_setfield(L, -2, "concurrency");
    lua_pushboolean(L, aws != NULL);
    lua_setfield(L, -2, "aws");
    const cli_option *const c_options[] = {plan_option, cli_common_options, NULL};
    push_options(L, c_options);
    lua_setfield(L, -2, "c_options");
    /* The whole command line (for the report and the resume command). */
    lua_createtable(L, argc, 0);
    for (int k = 0; k < argc; k++) {
        lua_pushstring(L, argv[k]);
        lua_rawseti(L, -2, k + 1);
    }
    lua_setfield(L, -2, "argv");
    lua_setglobal(L, "MIGHOST_ARGS");
    sys_install_signal_handlers();
    buf code = BUF_INIT;
    if (eval)
        buf_printf(&code, "return require('mighost.runner').eval(MIGHOST_ARGS)");
    else
        buf_printf(&code, "return require('mighost.runner').main('%s', MIGHOST_ARGS)", cmd);
    int rc = runtime_run_string(rt, buf_str(&code), "=mighost");
    /* The runner's code is the one its report states; a task error nobody
     * saw (rc 4) only overrides a run that ended "ok". */
    if (sys_exit_code() != EXIT_OK) rc = sys_exit_code();
    buf_free(&code);
    runtime_free(rt);
    aws_client_free(aws);
    free(dir);
    free(cfg_profile);
    free(script);
    free(rest);
    fflush(stdout);
    return rc;
}
