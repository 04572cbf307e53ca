/* plan.c - the dry-run recorder. */
#include "plan.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "buf.h"
#include "log.h"

typedef struct plan {
    FILE *out;
    char *path;
    unsigned long total;
    int failed;
} plan;

static const char PLAN_KEY = 'P';
static const char COUNTS_KEY = 'K';

static plan *get_plan(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &PLAN_KEY);
    plan *p = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return p;
}

void plan_open(lua_State *L, const char *path)
{
    plan *p = lua_newuserdatauv(L, sizeof *p, 0);
    memset(p, 0, sizeof *p);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &PLAN_KEY);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &COUNTS_KEY);
    if (path) {
        p->path = xstrdup(path);
        p->out = fopen(path, "w");
        if (!p->out) {
            log_error("cannot write the plan file %s: %m", path);
            p->failed = 1;
        }
    }
}

static void json_string(buf *b, const char *s)
{
    buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf_putc(b, '\\');
            buf_putc(b, (char)c);
        } else if (c < 0x20) {
            buf_printf(b, "\\u%04x", c);
        } else {
            buf_putc(b, (char)c);
        }
    }
    buf_putc(b, '"');
}

void plan_record(lua_State *L, const char *op, const char *table, const char *body, size_t len)
{
    plan *p = get_plan(L);
    if (!p) return;
    p->total++;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &COUNTS_KEY);
    if (lua_getfield(L, -1, table) != LUA_TTABLE) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, table);
    }
    lua_getfield(L, -1, op);
    lua_Integer n = lua_tointeger(L, -1) + 1;
    lua_pop(L, 1);
    lua_pushinteger(L, n);
    lua_setfield(L, -2, op);
    lua_pop(L, 2);
    if (!p->out) return;
    buf line = BUF_INIT;
    buf_puts(&line, "{\"op\":");
    json_string(&line, op);
    buf_puts(&line, ",\"table\":");
    json_string(&line, table);
    buf_puts(&line, ",\"request\":");
    buf_append(&line, body, len);
    buf_puts(&line, "}\n");
    if (fwrite(line.data, 1, line.len, p->out) != line.len) p->failed = 1;
    buf_free(&line);
}

int plan_push_counts(lua_State *L)
{
    plan *p = get_plan(L);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &COUNTS_KEY);
    lua_pushinteger(L, p ? (lua_Integer)p->total : 0);
    return 2;
}

int plan_flush(lua_State *L)
{
    plan *p = get_plan(L);
    if (!p) return 0;
    if (p->out && fflush(p->out) != 0) p->failed = 1;
    if (p->failed) log_error("the plan file %s could not be written completely", p->path);
    return p->failed ? -1 : 0;
}

void plan_close(lua_State *L)
{
    plan *p = get_plan(L);
    if (!p) return;
    if (p->out) fclose(p->out);
    p->out = NULL;
    free(p->path);
    p->path = NULL;
}

/* plan.record(op, table, json) / plan.counts() -> {table = {op = n}}, total */
static int l_record(lua_State *L)
{
    size_t len;
    const char *op = luaL_checkstring(L, 1), *table = luaL_checkstring(L, 2);
    const char *body = luaL_checklstring(L, 3, &len);
    plan_record(L, op, table, body, len);
    return 0;
}

static int l_counts(lua_State *L)
{
    return plan_push_counts(L);
}

int luaopen_mighost_plan(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"record", l_record}, {"counts", l_counts}, {NULL, NULL}};
    luaL_newlib(L, funcs);
    return 1;
}
