/* cli_run.c - the commands that run Lua: `run` (a migration or a plain
 * script), `eval`, `list`, `describe`, `check`. C handles what the engine
 * needs (AWS options, dry-run, the plan file, signals); the migration
 * runner, in Lua (bindings/lua/mighost/runner.lua), does the rest. */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bindings.h"
#include "cli.h"
#include "runtime.h"

static const char eval_help[] =
    "usage: mighost eval [options] CODE\n"
    "\n"
    "Runs a chunk of Lua code as a mighost task, with the AWS bindings.\n"
    "\n"
    "options:\n"
    "  --dry-run                validate and record writes instead of sending them\n"
    "  --plan FILE              with --dry-run: write the would-be writes (JSON lines)\n";

/* Packaged name ("vams/v2.4-to-v2.5") or a path to a .lua file. */
static char *find_script(const char *name)
{
    if (access(name, R_OK) == 0) return xstrdup(name);
    if (strstr(name, ".lua") || strchr(name, '/') == NULL || name[0] == '.' || name[0] == '/') {
        if (access(name, R_OK) == 0) return xstrdup(name);
    }
    buf path = BUF_INIT;
    buf_printf(&path, "%s/%s.lua", runtime_migrations_dir(), name);
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

/* cmd is "run", "eval", "list", "describe" or "check". */
int cmd_lua(int argc, char **argv, const char *cmd)
{
    cli_common common;
    memset(&common, 0, sizeof common);
    int dry_run = 0, source_dir = 0, eval = strcmp(cmd, "eval") == 0;
    const char *plan = NULL;
    /* What the runner sees: everything C does not consume. */
    char **rest = xcalloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0, positional = 0;
    if (eval && wants_help(argc, argv)) {
        fputs(eval_help, stdout);
        fputs(cli_common_help, stdout);
        free(rest);
        return EXIT_OK;
    }
    for (int i = 1; i < argc; i++) {
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
        if (strcmp(argv[i], "--plan") == 0 || strncmp(argv[i], "--plan=", 7) == 0) {
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
    if (plan) dry_run = 1;  /* a plan is only ever written by a dry-run */

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
        if (k < nrest) {
            script = find_script(rest[k]);
            if (!script) {
                fprintf(stderr, "mighost: no migration or script named '%s' (see mighost list)\n",
                        rest[k]);
                free(rest);
                return EXIT_USAGE;
            }
        }
    }

    aws_client *aws = NULL;
    if (cli_has_region(&common)) {
        aws = cli_make_client(&common);
        if (!aws) {
            free(script);
            free(rest);
            return EXIT_USAGE;
        }
        aws_client_set_interrupted(aws, sys_interrupted);
    }
    char *dir = xstrdup(script ? script : ".");
    runtime_options ro = {aws, dry_run, plan, script ? dirname(dir) : "."};
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
    free(script);
    free(rest);
    fflush(stdout);
    return rc;
}
