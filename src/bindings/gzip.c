/* gzip.c - "mighost.gz": lines of a file, gzip'd or plain, streamed.
 *
 *   gz.lines(path) -> iterator | nil, message
 *       each call returns the next line (without its "\n" or "\r\n"), or
 *       nil at the end; a read error raises. zlib reads plain files as they
 *       are, so one reader serves .json, .jsonl and .gz alike. Lines may be
 *       of any length; one line is held in memory at a time. The file is
 *       closed at the end, or when the iterator is collected.
 *   gz.write(path, text) -> true | nil, message   text gzip'd into path
 *
 * Offline evaluation (mighost.offline) reads DynamoDB exports with it.
 */
#include <errno.h>
#include <string.h>

#include <lauxlib.h>
#include <zlib.h>

#include "bindings.h"

#define GZ_META "mighost.gz.reader"
#define CHUNK 65536

typedef struct gz_reader {
    gzFile f;
} gz_reader;

static int reader_gc(lua_State *L)
{
    gz_reader *r = luaL_checkudata(L, 1, GZ_META);
    if (r->f) {
        gzclose(r->f);
        r->f = NULL;
    }
    return 0;
}

static int next_line(lua_State *L)
{
    gz_reader *r = luaL_checkudata(L, lua_upvalueindex(1), GZ_META);
    if (!r->f) return 0;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int got = 0;
    for (;;) {
        char *p = luaL_prepbuffsize(&b, CHUNK);
        if (!gzgets(r->f, p, CHUNK)) {
            int errnum;
            const char *msg = gzerror(r->f, &errnum);
            /* Z_BUF_ERROR: the compressed stream stops early (a cut
             * copy); its last line would be half a line. */
            if (errnum == Z_BUF_ERROR)
                return luaL_error(L, "gzip read: the file ends early (truncated)");
            if (errnum != Z_OK) return luaL_error(L, "gzip read: %s", msg);  /* __gc closes */
            break;
        }
        size_t n = strlen(p);
        got = 1;
        luaL_addsize(&b, n);
        if (n > 0 && p[n - 1] == '\n') break;
    }
    if (!got) {
        gzclose(r->f);
        r->f = NULL;
        luaL_pushresult(&b);
        return 0;
    }
    luaL_pushresult(&b);
    size_t len;
    const char *s = lua_tolstring(L, -1, &len);
    size_t cut = len;
    if (cut > 0 && s[cut - 1] == '\n') cut--;
    if (cut > 0 && s[cut - 1] == '\r') cut--;
    if (cut != len) lua_pushlstring(L, s, cut);
    return 1;
}

static int l_lines(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    gz_reader *r = lua_newuserdatauv(L, sizeof *r, 0);
    r->f = NULL;
    luaL_setmetatable(L, GZ_META);
    errno = 0;
    r->f = gzopen(path, "rb");
    if (!r->f) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, errno ? strerror(errno) : "cannot open");
        return 2;
    }
    gzbuffer(r->f, 128 * 1024);
    lua_pushcclosure(L, next_line, 1);
    return 1;
}

static int l_write(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    errno = 0;
    gzFile f = gzopen(path, "wb");
    if (!f) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", path, errno ? strerror(errno) : "cannot open");
        return 2;
    }
    int ok = len == 0 || gzwrite(f, text, (unsigned)len) == (int)len;
    if (gzclose(f) != Z_OK) ok = 0;
    if (!ok) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: write failed", path);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

int luaopen_mighost_gz(lua_State *L)
{
    if (luaL_newmetatable(L, GZ_META)) {
        lua_pushcfunction(L, reader_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    static const luaL_Reg funcs[] = {{"lines", l_lines}, {"write", l_write}, {NULL, NULL}};
    luaL_newlib(L, funcs);
    return 1;
}
