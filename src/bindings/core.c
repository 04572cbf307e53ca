/* core.c - module "mighost": tasks, logging and the run mode, plus the
 * registration of every host module. */
#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bindings.h"
#include "embedded.h"
#include "exit.h"
#include "clock.h"
#include "log.h"
#include "plan.h"
#include "task.h"

static const char CTX_KEY = 'C';

const bindings_context *bindings_ctx(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &CTX_KEY);
    const bindings_context *c = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return c;
}

static int l_log(lua_State *L, log_level level)
{
    int n = lua_gettop(L);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int i = 1; i <= n; i++) {
        if (i > 1) luaL_addchar(&b, ' ');
        luaL_tolstring(L, i, NULL);
        luaL_addvalue(&b);
    }
    luaL_pushresult(&b);
    log_msg(level, "%s", lua_tostring(L, -1));
    return 0;
}

static int l_info(lua_State *L) { return l_log(L, LOG_INFO); }
static int l_warn(lua_State *L) { return l_log(L, LOG_WARN); }
static int l_error(lua_State *L) { return l_log(L, LOG_ERROR); }
static int l_debug(lua_State *L) { return l_log(L, LOG_DEBUG); }

/* ISO 8601 UTC with microseconds, the format most migrations stamp. */
static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char out[40];
    size_t n = strftime(out, sizeof out, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, sizeof out - n, ".%06ldZ", ts.tv_nsec / 1000);
    lua_pushstring(L, out);
    return 1;
}

static int l_clock(lua_State *L)
{
    lua_pushnumber(L, clock_mono());
    return 1;
}

int luaopen_mighost(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"info", l_info},   {"warn", l_warn}, {"error", l_error},
                                     {"debug", l_debug}, {"now", l_now},   {"clock", l_clock},
                                     {NULL, NULL}};
    luaopen_mighost_task(L);            /* spawn, sleep, wait */
    luaL_setfuncs(L, funcs, 0);
    const bindings_context *ctx = bindings_ctx(L);
    lua_pushboolean(L, ctx && ctx->dry_run);
    lua_setfield(L, -2, "dry_run");
    lua_pushliteral(L, MIGHOST_VERSION);
    lua_setfield(L, -2, "version");
    /* mighost.EXIT: the exit codes, defined once in cli.h. */
    static const struct { const char *name; int code; } exits[] = {
        {"OK", EXIT_OK},         {"FAILED", EXIT_VERIFY_FAILED}, {"USAGE", EXIT_USAGE},
        {"AWS", EXIT_AWS},       {"SCRIPT", EXIT_SCRIPT},        {"INTERRUPTED", EXIT_INTERRUPTED}};
    lua_createtable(L, 0, 6);
    for (size_t i = 0; i < sizeof exits / sizeof exits[0]; i++) {
        lua_pushinteger(L, exits[i].code);
        lua_setfield(L, -2, exits[i].name);
    }
    lua_setfield(L, -2, "EXIT");
    lua_pushboolean(L, log_is_json());
    lua_setfield(L, -2, "log_json");
    return 1;
}

/* package.preload loader of a module compiled into the executable. */
static int load_embedded(lua_State *L)
{
    const embedded_module *m = lua_touserdata(L, lua_upvalueindex(1));
    lua_pushfstring(L, "@%s", m->path);
    if (luaL_loadbufferx(L, m->code, m->len, lua_tostring(L, -1), "t") != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, m->name);
    lua_call(L, 1, 1);
    return 1;
}

static void open_libs(lua_State *L, const runtime_options *opt)
{
    const bindings_context c = {opt->aws, opt->dry_run, opt->plan_file};
    const bindings_context *ctx = &c;
    bindings_context *copy = lua_newuserdatauv(L, sizeof *copy, 0);
    *copy = *ctx;
    lua_rawsetp(L, LUA_REGISTRYINDEX, &CTX_KEY);  /* anchored by the registry */
    plan_open(L, ctx->dry_run ? ctx->plan_file : NULL);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    static const luaL_Reg mods[] = {{"mighost", luaopen_mighost},
                                    {"mighost.item", luaopen_mighost_item},
                                    {"mighost.aws", luaopen_mighost_aws},
                                    {"mighost.plan", luaopen_mighost_plan},
                                    {"mighost.json", luaopen_mighost_json},
                                    {"mighost.sys", luaopen_mighost_sys},
                                    {"mighost.xml", luaopen_mighost_xml},
                                    {"mighost.gz", luaopen_mighost_gz},
                                    {"mighost.ctl", luaopen_mighost_ctl},
                                    {NULL, NULL}};
    for (const luaL_Reg *m = mods; m->name; m++) {
        lua_pushcfunction(L, m->func);
        lua_setfield(L, -2, m->name);
    }
    for (const embedded_module *m = embedded_modules; m->name; m++) {
        lua_pushlightuserdata(L, (void *)m);
        lua_pushcclosure(L, load_embedded, 1);
        lua_setfield(L, -2, m->name);
    }
    lua_pop(L, 1);
}

static int finish_libs(lua_State *L)
{
    return plan_flush(L);
}

static void close_libs(lua_State *L)
{
    plan_close(L);
}

void bindings_push_buf(lua_State *L, buf *b)
{
    lua_pushlstring(L, buf_str(b), b->len);
    buf_free(b);
}

int bindings_push_converted(lua_State *L, const char *s, size_t len,
                            void (*convert)(buf *, const char *, size_t))
{
    buf b = BUF_INIT;
    convert(&b, s, len);
    bindings_push_buf(L, &b);
    return 1;
}

const runtime_libs bindings_libs = {open_libs, finish_libs, close_libs};
