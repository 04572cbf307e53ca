/* json.c - module "mighost.json": plain JSON for scripts and bindings, and
 * the DynamoDB response decoder that keeps items in their typed form.
 *
 *   json.decode(text) -> value      objects -> tables, arrays -> sequences,
 *                                   null -> json.null
 *   json.encode(value) -> text      compact, object keys sorted
 *   json.quote(s) -> "\"...\""      one JSON string literal
 *   json.decode_ddb(text [, lean]) -> table  a DynamoDB response: Item,
 *                                   Items, Keys, Attributes, LastEvaluatedKey,
 *                                   Responses, UnprocessedItems,
 *                                   UnprocessedKeys hold typed items (see
 *                                   mighost.item); ddb_response.c has the
 *                                   details. lean: a top-level Item or
 *                                   Attributes and Responses' items are lean
 *   json.decode_ddb_lazy(text) -> table, at, end   the same, a top-level
 *                                   Items array left in the text (at..end)
 *   json.decode_ddb_items(text, at, end [, max [, lean]]) -> items [, next]
 *                                   that array decoded (max at a time: next
 *                                   is where to go on; lean: as lean items)
 */
#include <json-c/json.h>
#include <lauxlib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "bindings.h"
#include "item_int.h"

static const char NULL_KEY = 'N';
static const char ARRAY_KEY = 'A';   /* metatable of tables json.array() marked */

static void push_null(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &NULL_KEY);
}

int json_push_plain(lua_State *L, json_object *v, int depth)
{
    luaL_checkstack(L, 4, "JSON nested too deeply");
    if (depth > 200) {
        lua_pushliteral(L, "JSON nested too deeply");
        return -1;
    }
    switch (json_object_get_type(v)) {
    case json_type_null: push_null(L); break;
    case json_type_boolean: lua_pushboolean(L, json_object_get_boolean(v)); break;
    case json_type_int: lua_pushinteger(L, (lua_Integer)json_object_get_int64(v)); break;
    case json_type_double: lua_pushnumber(L, json_object_get_double(v)); break;
    case json_type_string:
        lua_pushlstring(L, json_object_get_string(v), (size_t)json_object_get_string_len(v));
        break;
    case json_type_array: {
        size_t n = json_object_array_length(v);
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            if (json_push_plain(L, json_object_array_get_idx(v, i), depth + 1) != 0) return -1;
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        break;
    }
    case json_type_object: {
        lua_createtable(L, 0, json_object_object_length(v));
        json_object_object_foreach(v, k, child) {
            if (json_push_plain(L, child, depth + 1) != 0) return -1;
            lua_setfield(L, -2, k);
        }
        break;
    }
    }
    return 0;
}

static json_object *parse_or_error(lua_State *L, int idx)
{
    size_t len;
    const char *text = luaL_checklstring(L, idx, &len);
    json_tokener *tok = json_tokener_new_ex(200);
    json_object *doc = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t at = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (e != json_tokener_success || (doc == NULL && len > 0 && strncmp(text, "null", 4) != 0)) {
        json_object_put(doc);
        luaL_error(L, "invalid JSON: %s at byte %d", json_tokener_error_desc(e), (int)at);
    }
    return doc;
}

static int l_decode(lua_State *L)
{
    json_object *doc = parse_or_error(L, 1);
    int rc = json_push_plain(L, doc, 0);
    json_object_put(doc);
    if (rc != 0) return lua_error(L);
    return 1;
}

/* Straight from the text, no json-c tree: see ddb_response.c. */
static int l_decode_ddb(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    int lean = lua_toboolean(L, 2);
    if ((lean ? ddb_decode_response_lean : ddb_decode_response)(L, text, len) != 0)
        return lua_error(L);
    return 1;
}

/* json.decode_ddb_lazy(text) -> response, at, end: the same, but a
 * top-level Items array is not decoded (response.Items is nil); at and end
 * (1-based, inclusive; nil when there is none) are where it is, for
 * json.decode_ddb_items(text, at, end). */
static int l_decode_ddb_lazy(lua_State *L)
{
    size_t len, at, end;
    const char *text = luaL_checklstring(L, 1, &len);
    if (ddb_decode_response_lazy(L, text, len, &at, &end) != 0) return lua_error(L);
    if (end == 0) return 1;
    lua_pushinteger(L, (lua_Integer)at + 1);
    lua_pushinteger(L, (lua_Integer)end);
    return 3;
}

/* json.decode_ddb_items(text, at, end [, max]) -> items [, next]: the
 * items of that array, or at most max of them and, when more follow,
 * where to go on (json.decode_ddb_items(text, next, end, max)). */
static int l_decode_ddb_items(lua_State *L)
{
    size_t len, next;
    const char *text = luaL_checklstring(L, 1, &len);
    lua_Integer at = luaL_checkinteger(L, 2), end = luaL_checkinteger(L, 3);
    lua_Integer max = luaL_optinteger(L, 4, LUA_MAXINTEGER);
    int lean = lua_toboolean(L, 5);
    if (at < 1 || end < at - 1 || (size_t)end > len) return luaL_error(L, "decode_ddb_items: bad range");
    if (max < 1) return luaL_error(L, "decode_ddb_items: max must be at least 1");
    if (ddb_decode_items(L, text, len, (size_t)(at - 1), (size_t)end, max, &next, lean) != 0)
        return lua_error(L);
    if (next == 0) return 1;
    lua_pushinteger(L, (lua_Integer)next + 1);
    return 2;
}

/* JSON.stringify's escaping: only what must be escaped. */
void json_append_string(buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    buf_reserve(b, len + 2);
    buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': buf_puts(b, "\\\""); break;
        case '\\': buf_puts(b, "\\\\"); break;
        case '\b': buf_puts(b, "\\b"); break;
        case '\f': buf_puts(b, "\\f"); break;
        case '\n': buf_puts(b, "\\n"); break;
        case '\r': buf_puts(b, "\\r"); break;
        case '\t': buf_puts(b, "\\t"); break;
        default: {
            char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
            buf_puts(b, u);
        }
        }
    }
    buf_append(b, s + run, len - run);
    buf_putc(b, '"');
}

static int l_quote(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    return bindings_push_converted(L, s, len, json_append_string);
}

static int cmp_keys(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void encode(lua_State *L, int idx, buf *b, int depth)
{
    if (depth > 200) luaL_error(L, "json.encode: value nested too deeply (a cycle?)");
    idx = lua_absindex(L, idx);
    switch (lua_type(L, idx)) {
    case LUA_TNIL: buf_puts(b, "null"); return;
    case LUA_TBOOLEAN: buf_puts(b, lua_toboolean(L, idx) ? "true" : "false"); return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            buf_printf(b, "%lld", (long long)lua_tointeger(L, idx));
        } else {
            double d = lua_tonumber(L, idx);
            if (!isfinite(d)) luaL_error(L, "json.encode: %f has no JSON form", d);
            /* The shortest text that reads back as the same number. */
            char text[32];
            for (int prec = 15; prec <= 17; prec++) {
                snprintf(text, sizeof text, "%.*g", prec, d);
                if (strtod(text, NULL) == d) break;
            }
            buf_puts(b, text);
        }
        return;
    case LUA_TSTRING: {
        size_t len;
        const char *s = lua_tolstring(L, idx, &len);
        json_append_string(b, s, len);
        return;
    }
    case LUA_TLIGHTUSERDATA:
        push_null(L);
        if (lua_rawequal(L, -1, idx)) {
            lua_pop(L, 1);
            buf_puts(b, "null");
            return;
        }
        lua_pop(L, 1);
        break;
    case LUA_TTABLE: {
        lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
        size_t count = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            count++;
            lua_pop(L, 1);
        }
        int marked_array = 0;
        if (lua_getmetatable(L, idx)) {
            lua_rawgetp(L, LUA_REGISTRYINDEX, &ARRAY_KEY);
            marked_array = lua_rawequal(L, -1, -2);
            lua_pop(L, 2);
        }
        if ((n > 0 && (size_t)n == count) || (marked_array && count == (size_t)n)) {
            buf_putc(b, '[');
            for (lua_Integer i = 1; i <= n; i++) {
                if (i > 1) buf_putc(b, ',');
                lua_rawgeti(L, idx, i);
                encode(L, -1, b, depth + 1);
                lua_pop(L, 1);
            }
            buf_putc(b, ']');
            return;
        }
        /* GC-owned, so an error below cannot leak it. */
        const char **keys = lua_newuserdatauv(L, (count ? count : 1) * sizeof *keys, 0);
        size_t k = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            if (lua_type(L, -1) != LUA_TSTRING)
                luaL_error(L, "json.encode: object keys must be strings");
            keys[k++] = lua_tostring(L, -1);  /* the table keeps them alive */
        }
        qsort(keys, k, sizeof *keys, cmp_keys);
        buf_putc(b, '{');
        for (size_t i = 0; i < k; i++) {
            if (i) buf_putc(b, ',');
            json_append_string(b, keys[i], strlen(keys[i]));
            buf_putc(b, ':');
            lua_getfield(L, idx, keys[i]);
            encode(L, -1, b, depth + 1);
            lua_pop(L, 1);
        }
        buf_putc(b, '}');
        lua_pop(L, 1);  /* keys */
        return;
    }
    default: break;
    }
    luaL_error(L, "json.encode: a %s value has no JSON form", luaL_typename(L, idx));
}

static int bufbox_gc(lua_State *L)
{
    buf_free(lua_touserdata(L, 1));
    return 0;
}

/* A buf owned by a userdata: freed by the GC even if an error unwinds. */
buf *json_new_bufbox(lua_State *L)
{
    buf *b = lua_newuserdatauv(L, sizeof(buf), 0);
    *b = (buf)BUF_INIT;
    if (luaL_newmetatable(L, "mighost.bufbox")) {
        lua_pushcfunction(L, bufbox_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return b;
}

/* json.array(t): t encodes as a JSON array even when empty. */
static int l_array(lua_State *L)
{
    if (lua_isnoneornil(L, 1)) lua_newtable(L);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ARRAY_KEY);
    lua_setmetatable(L, 1);
    return 1;
}

static int l_encode(lua_State *L)
{
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    buf *b = json_new_bufbox(L);
    encode(L, 1, b, 0);
    lua_pushlstring(L, buf_str(b), b->len);
    return 1;
}

int luaopen_mighost_json(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"decode", l_decode},
                                     {"decode_ddb", l_decode_ddb},
                                     {"decode_ddb_lazy", l_decode_ddb_lazy},
                                     {"decode_ddb_items", l_decode_ddb_items},
                                     {"encode", l_encode},
                                     {"quote", l_quote},
                                     {"array", l_array},
                                     {NULL, NULL}};
    luaL_newlib(L, funcs);
    push_null(L);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        item_push_null(L);  /* one null for JSON and items alike */
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &NULL_KEY);
    }
    lua_setfield(L, -2, "null");
    lua_rawgetp(L, LUA_REGISTRYINDEX, &ARRAY_KEY);
    if (lua_isnil(L, -1)) {
        lua_pop(L, 1);
        lua_newtable(L);
        lua_pushvalue(L, -1);
        lua_rawsetp(L, LUA_REGISTRYINDEX, &ARRAY_KEY);
    }
    lua_pop(L, 1);
    return 1;
}
