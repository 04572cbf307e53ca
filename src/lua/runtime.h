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

struct runtime_options;

/* The host's own Lua modules. The layer above (bindings) provides them;
 * the runtime only calls these at the right moments. */
typedef struct runtime_libs {
    /* After the standard libraries: register modules (package.preload). */
    void (*open)(lua_State *L, const struct runtime_options *opt);
    /* After the main task ended: nonzero means output was lost (exit 3). */
    int (*finish)(lua_State *L);
    /* Before the state is closed. */
    void (*close)(lua_State *L);
} runtime_libs;

typedef struct runtime_options {
    aws_client *aws;            /* NULL: no AWS (check, eval of pure code) */
    int dry_run;
    const char *plan_file;      /* dry-run: write would-be writes here (JSON lines) */
    const char *script_dir;     /* added to package.path */
    const runtime_libs *libs;   /* NULL: the standard libraries only */
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


#endif
