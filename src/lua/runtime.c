/* runtime.c - the Lua state, its module path and protected calls. */
#include "runtime.h"

#include <lauxlib.h>
#include <lualib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exit.h"
#include "log.h"
#include "paths.h"

struct runtime {
    lua_State *L;
    scheduler *sched;
    runtime_options opt;
    int errors;                /* failed tasks nobody waited for */
};

static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int runtime_pcall(lua_State *L, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    return status;
}

/* As text, or a JSON line with --log-format json. */
static void script_error(const char *msg)
{
    if (log_is_json()) log_error("script error: %s", msg);
    else fprintf(stderr, "mighost: script error: %s\n", msg);
}

static void report_orphan(const char *msg, void *ud)
{
    runtime *rt = ud;
    rt->errors++;
    script_error(msg);
}

runtime *runtime_new(const runtime_options *opt)
{
    runtime *rt = xcalloc(1, sizeof *rt);
    rt->opt = *opt;
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "mighost: cannot create the Lua state\n");
        abort();
    }
    rt->L = L;
    luaL_openlibs(L);
    /* Scans make garbage fast (every item is a few tables): start each
     * collection at 1.5x the live heap instead of 2x, for a lower peak at
     * about the same CPU (measured in bench/RESULTS.md). */
    lua_gc(L, LUA_GCINC, 150, 0, 0);
#if defined(__GLIBC__)
    /* Page texts (up to a few hundred KB each) are made and dropped all
     * the time. Left to glibc's sliding threshold, once one such block is
     * freed they all come from the heap, which then stays as large as the
     * largest moment of the run, in pieces. A fixed threshold keeps them
     * in their own mappings, given back when freed. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif

    http_loop *loop = opt->aws ? aws_client_loop(opt->aws) : NULL;
    if (!loop) {
        http_options ho;
        http_options_default(&ho);
        loop = http_loop_new(&ho);
    }
    rt->sched = scheduler_new(L, loop);
    scheduler_on_orphan_error(rt->sched, report_orphan, rt);

    /* package.path: the script's folder first, then the packaged migrations. */
    const char *mig = paths_migrations_dir();
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/?.lua;%s/?/init.lua",
                    opt->script_dir ? opt->script_dir : ".", opt->script_dir ? opt->script_dir : ".",
                    mig, mig);
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");   /* no native modules from scripts */
    lua_pop(L, 1);

    if (opt->libs) opt->libs->open(L, &rt->opt);
    return rt;
}

void runtime_free(runtime *rt)
{
    if (!rt) return;
    http_loop *loop = scheduler_loop(rt->sched);
    if (rt->opt.libs) rt->opt.libs->close(rt->L);
    scheduler_free(rt->sched);
    lua_close(rt->L);
    if (!rt->opt.aws) http_loop_free(loop);
    free(rt);
}

lua_State *runtime_lua(runtime *rt) { return rt->L; }
scheduler *runtime_scheduler(runtime *rt) { return rt->sched; }

/* The chunk on top of the stack runs as the main task; returns the exit code. */
static int run_main(runtime *rt, int nargs)
{
    lua_State *L = rt->L;
    task *main_task = task_spawn(L, nargs);
    (void)main_task;
    int rc = scheduler_run(rt->sched);
    lua_pop(L, 1);  /* the task */
    if (rt->opt.libs && rt->opt.libs->finish(L) != 0) return EXIT_AWS;
    return rc == 0 && rt->errors == 0 ? EXIT_OK : EXIT_SCRIPT;
}

static int load_failed(lua_State *L)
{
    script_error(lua_tostring(L, -1));
    lua_pop(L, 1);
    return EXIT_SCRIPT;
}

int runtime_run_file(runtime *rt, const char *path, int argc, char **argv)
{
    lua_State *L = rt->L;
    lua_createtable(L, argc, 1);
    lua_pushstring(L, path);
    lua_rawseti(L, -2, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");
    if (luaL_loadfilex(L, path, "t") != LUA_OK) return load_failed(L);
    for (int i = 0; i < argc; i++) lua_pushstring(L, argv[i]);
    return run_main(rt, argc);
}

int runtime_run_string(runtime *rt, const char *code, const char *chunkname)
{
    lua_State *L = rt->L;
    if (luaL_loadbufferx(L, code, strlen(code), chunkname, "t") != LUA_OK) return load_failed(L);
    return run_main(rt, 0);
}
