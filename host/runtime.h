/* runtime.h - the Lua state that runs scripts.
 *
 * One state; scripts loaded in text mode only; package.path over the
 * script's own folder and the packaged migrations; the host's modules in
 * package.preload; every call from C into Lua protected with a traceback.
 */
#ifndef MIGHOST_RUNTIME_H
#define MIGHOST_RUNTIME_H

#include <lua.h>

#include "aws.h"
#include "task.h"

typedef struct runtime_options {
    aws_client *aws;            /* NULL: no AWS (check, eval of pure code) */
    int dry_run;
    const char *plan_file;      /* dry-run: write would-be writes here (JSON lines) */
    const char *script_dir;     /* added to package.path */
} runtime_options;

typedef struct runtime runtime;

runtime *runtime_new(const runtime_options *opt);
void runtime_free(runtime *rt);
lua_State *runtime_lua(runtime *rt);
scheduler *runtime_scheduler(runtime *rt);

/* Run a script file (or a code string for eval) as the main task, with
 * `arg` set like lua.c does, until every task has finished. Errors are
 * printed as "file:line: message" plus a traceback. Returns an exit code:
 * 0, or 4 for a script error. */
int runtime_run_file(runtime *rt, const char *path, int argc, char **argv);
int runtime_run_string(runtime *rt, const char *code, const char *chunkname);

/* lua_pcall with the traceback message handler. On error the message
 * (with traceback) is left on the stack. */
int runtime_pcall(lua_State *L, int nargs, int nresults);

/* Where packaged migrations live: $MIGHOST_MIGRATIONS, ./migrations
 * beside the executable's source tree, or PREFIX/share/mighost/migrations. */
const char *runtime_migrations_dir(void);

#endif
