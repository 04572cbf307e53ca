/* item_decode.c - DynamoDB JSON as json-c objects to typed Lua tables
 * (item_parse.c does the same from text).
 *
 * Decoding trusts what DynamoDB sends as far as values go (N text, UTF-8,
 * set rules are checked when encoding) and checks structure only, so a
 * scan of millions of items pays for one pass and no copies beyond the
 * Lua strings themselves.
 */
#include "item_int.h"

#include <string.h>

#include <json-c/json.h>
#include <lauxlib.h>

#include "base64.h"

typedef struct dec {
    lua_State *L;
    int order;        /* stack index of the order table */
    item_path path;
    buf err;
} dec;

static int dec_value(dec *d, struct json_object *av, int level);

static int dec_fail(dec *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int dec_fail(dec *d, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    item_path_error(&d->path, &d->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* Named as item_parse.c names them. */
static const char *json_typename(struct json_object *o)
{
    switch (json_object_get_type(o)) {
    case json_type_int:
    case json_type_double: return "number";
    default: return json_type_to_name(json_object_get_type(o));
    }
}

static int dec_string(dec *d, struct json_object *o, int tag)
{
    if (!json_object_is_type(o, json_type_string))
        return dec_fail(d, "%s value must be a JSON string, not %s", item_tag_names[tag],
                        json_typename(o));
    lua_pushlstring(d->L, json_object_get_string(o), (size_t)json_object_get_string_len(o));
    return 0;
}

static int dec_binary(dec *d, struct json_object *o, int tag)
{
    if (!json_object_is_type(o, json_type_string))
        return dec_fail(d, "%s value must be a JSON string, not %s", item_tag_names[tag],
                        json_typename(o));
    const char *s = json_object_get_string(o);
    size_t len = (size_t)json_object_get_string_len(o);
    luaL_Buffer b;
    char *p = luaL_buffinitsize(d->L, &b, BASE64_DECODED_MAX(len));
    long n = base64_decode(p, s, len);
    if (n < 0) return dec_fail(d, "%s value is not canonical base64", item_tag_names[tag]);
    luaL_pushresultsize(&b, (size_t)n);
    return 0;
}

static int dec_set(dec *d, struct json_object *o, int tag)
{
    lua_State *L = d->L;
    if (!json_object_is_type(o, json_type_array))
        return dec_fail(d, "%s value must be a JSON array, not %s", item_tag_names[tag],
                        json_typename(o));
    size_t n = json_object_array_length(o);
    int member = tag == ITEM_SS ? ITEM_S : tag == ITEM_NS ? ITEM_N : ITEM_B;
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        struct json_object *m = json_object_array_get_idx(o, i);
        item_path_index(&d->path, (long long)i);
        if ((member == ITEM_B ? dec_binary : dec_string)(d, m, member)) return -1;
        d->path.n--;
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 0;
}

/* Push the map (or item) o, recording its names' order. */
static int dec_map(dec *d, struct json_object *o, int level)
{
    lua_State *L = d->L;
    int n = json_object_object_length(o);
    lua_createtable(L, 0, n);
    if (n == 0) return 0;  /* nothing to order: adding names sorts them */
    int map = lua_gettop(L);
    lua_createtable(L, n, 0);
    lua_Integer i = 0;
    json_object_object_foreach(o, key, val) {
        size_t klen = strlen(key);
        lua_pushlstring(L, key, klen);
        lua_pushvalue(L, -1);
        lua_rawseti(L, map + 1, ++i);
        item_path_name(&d->path, key, klen);
        if (dec_value(d, val, level)) return -1;
        d->path.n--;
        lua_rawset(L, map);
    }
    lua_pushvalue(L, map);
    lua_insert(L, -2);
    lua_rawset(L, d->order);
    return 0;
}

static int dec_value(dec *d, struct json_object *av, int level)
{
    lua_State *L = d->L;
    if (!json_object_is_type(av, json_type_object))
        return dec_fail(d, "expected an object with one type tag, not %s", json_typename(av));
    struct lh_entry *e = json_object_get_object(av)->head;
    if (!e) return dec_fail(d, "no type tag");
    if (e->next)
        return dec_fail(d, "more than one type tag (%s and %s)", (const char *)lh_entry_k(e),
                        (const char *)lh_entry_k(e->next));
    const char *name = lh_entry_k(e);
    struct json_object *v = (struct json_object *)lh_entry_v(e);
    int tag = item_tag(name, strlen(name));
    lua_createtable(L, 0, 1);
    switch (tag) {
    case ITEM_S:
    case ITEM_N:
        if (dec_string(d, v, tag)) return -1;
        break;
    case ITEM_B:
        if (dec_binary(d, v, tag)) return -1;
        break;
    case ITEM_SS:
    case ITEM_NS:
    case ITEM_BS:
        if (dec_set(d, v, tag)) return -1;
        break;
    case ITEM_BOOL:
        if (!json_object_is_type(v, json_type_boolean))
            return dec_fail(d, "BOOL value must be true or false, not %s", json_typename(v));
        lua_pushboolean(L, json_object_get_boolean(v));
        break;
    case ITEM_NULL:
        if (!json_object_is_type(v, json_type_boolean) || !json_object_get_boolean(v))
            return dec_fail(d, "NULL value must be true");
        lua_pushboolean(L, 1);
        break;
    case ITEM_L:
    case ITEM_M:
        if (level + 1 > ITEM_MAX_DEPTH)
            return dec_fail(d, "nesting deeper than %d levels", ITEM_MAX_DEPTH);
        if (!lua_checkstack(L, 8)) return dec_fail(d, "Lua stack overflow");
        if (tag == ITEM_M) {
            if (!json_object_is_type(v, json_type_object))
                return dec_fail(d, "M value must be a JSON object, not %s", json_typename(v));
            if (dec_map(d, v, level + 1)) return -1;
        } else {
            if (!json_object_is_type(v, json_type_array))
                return dec_fail(d, "L value must be a JSON array, not %s", json_typename(v));
            size_t n = json_object_array_length(v);
            lua_createtable(L, (int)n, 0);
            for (size_t i = 0; i < n; i++) {
                item_path_index(&d->path, (long long)i);
                if (dec_value(d, json_object_array_get_idx(v, i), level + 1)) return -1;
                d->path.n--;
                lua_rawseti(L, -2, (lua_Integer)i + 1);
            }
        }
        break;
    default:
        return dec_fail(d, "unknown type tag %s", name);
    }
    lua_setfield(L, -2, item_tag_names[tag]);
    return 0;
}

static int dec_run(lua_State *L, struct json_object *o, int value)
{
    dec d;
    int top = lua_gettop(L), r;
    d.L = L;
    d.path.n = 0;
    d.path.value = value;
    d.err = (buf)BUF_INIT;
    luaL_checkstack(L, 16, "item decode");
    item_order_push(L);
    d.order = lua_gettop(L);
    if (value)
        r = dec_value(&d, o, 0);
    else if (!json_object_is_type(o, json_type_object))
        r = dec_fail(&d, "expected a JSON object, not %s", json_typename(o));
    else
        r = dec_map(&d, o, 0);
    if (r) {
        lua_settop(L, top);
        lua_pushlstring(L, buf_str(&d.err), d.err.len);
        buf_free(&d.err);
        return -1;
    }
    lua_remove(L, d.order);
    return 0;
}

int item_push(lua_State *L, struct json_object *item)
{
    return dec_run(L, item, 0);
}

int item_push_value(lua_State *L, struct json_object *av)
{
    return dec_run(L, av, 1);
}
