/* item_lean.c - lean items: an item kept as the DynamoDB JSON text it
 * arrived in, each attribute decoded only when a script reads it.
 *
 * A copy that reads two attributes of a twenty-attribute item and writes
 * it on spends most of its CPU making the tables of the other eighteen,
 * then walking them again to encode them. A lean item is one userdata:
 * the item's text and where each attribute's name and value lie in it.
 *   it.x          decodes that one value and keeps it, so it.x.S = "y"
 *                 changes the item, as it would a table;
 *   it.x = v      and it.x = nil are kept beside the text;
 *   pairs(it)     the attributes in encoding order;
 *   item.encode   and the batch writer copy every attribute nobody read
 *                 or set straight from the text and encode the rest, in
 *                 a decoded item's order: names as they arrived (a name
 *                 put back returns to its place), then added ones sorted.
 * item.copy(it) copies one (sharing the values read so far, as a table
 * copy shares them); item.to_table(it) decodes it whole; the other item.*
 * functions take it and decode it whole first.
 *
 * It is not a table: next(it), #it and rawget raise, and type(it) is
 * "userdata", so code written for tables fails loudly rather than seeing
 * an empty item. Scans hand out lean items only when asked (lean = true).
 *
 * An item whose names hold escapes, repeat, or are more than LEAN_MAX_ATTRS,
 * or whose text this scanner does not follow, is decoded as a table
 * instead (item_parse_item), which also gives the exact error for a bad
 * one: values are matched here (strings, brackets, literals), checked when
 * read or by DynamoDB when written as they came.
 */
#include "item_int.h"

#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#define LEAN_MT "mighost.item.lean"
#define LEAN_MAX_ATTRS 256
#define LEAN_MAX_DEPTH 200

const char item_lean_removed = 0;

static void push_metatable(lua_State *L);

static void push_removed(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&item_lean_removed);
}

static int is_removed(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TLIGHTUSERDATA &&
           lua_touserdata(L, idx) == (void *)&item_lean_removed;
}

item_lean *item_lean_get(lua_State *L, int idx)
{
    return luaL_testudata(L, idx, LEAN_MT);
}

int item_lean_find(const item_lean *li, const char *s, size_t len)
{
    const char *text = ITEM_LEAN_TEXT(li);
    for (uint32_t i = 0; i < li->n; i++)
        if (li->attr[i].name_len == len && memcmp(text + li->attr[i].name, s, len) == 0)
            return (int)i;
    return -1;
}

/* ---- scanning the text ---- */

static const char *ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) p++;
    return p;
}

static int hexdigit(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* From after a string's opening quote to after its closing one; NULL if
 * it does not end, holds a control character or a bad escape. *escaped
 * is set when it has escapes. */
static const char *skip_string(const char *p, const char *end, int *escaped)
{
    for (;;) {
        p += item_plain_run(p, end, 0);
        if (p >= end) return NULL;
        if (*p == '"') return p + 1;
        if (*p != '\\' || end - p < 2) return NULL;
        *escaped = 1;
        switch (p[1]) {
        case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
            p += 2;
            break;
        case 'u':
            if (end - p < 6 || !hexdigit(p[2]) || !hexdigit(p[3]) || !hexdigit(p[4]) ||
                !hexdigit(p[5]))
                return NULL;
            p += 6;
            break;
        default:
            return NULL;
        }
    }
}

static const char *skip_literal(const char *p, const char *end, const char *word, size_t n)
{
    return (size_t)(end - p) >= n && memcmp(p, word, n) == 0 ? p + n : NULL;
}

/* From a value's first byte to just after it; NULL when it is not JSON
 * this scanner follows. */
static const char *skip_value(const char *p, const char *end, int depth)
{
    int escaped;
    if (p >= end) return NULL;
    switch (*p) {
    case '"':
        return skip_string(p + 1, end, &escaped);
    case 't': return skip_literal(p, end, "true", 4);
    case 'f': return skip_literal(p, end, "false", 5);
    case 'n': return skip_literal(p, end, "null", 4);
    case '{':
    case '[': {
        char close = *p == '{' ? '}' : ']';
        if (depth >= LEAN_MAX_DEPTH) return NULL;
        p = ws(p + 1, end);
        if (p < end && *p == close) return p + 1;
        for (;;) {
            if (close == '}') {
                if (p >= end || *p != '"') return NULL;
                if (!(p = skip_string(p + 1, end, &escaped))) return NULL;
                p = ws(p, end);
                if (p >= end || *p != ':') return NULL;
                p = ws(p + 1, end);
            }
            if (!(p = skip_value(p, end, depth + 1))) return NULL;
            p = ws(p, end);
            if (p >= end) return NULL;
            if (*p == close) return p + 1;
            if (*p != ',') return NULL;
            p = ws(p + 1, end);
        }
    }
    default: {
        /* a number: DynamoDB JSON has none at the top of a value, but it is JSON */
        const char *q = p;
        while (q < end && ((*q >= '0' && *q <= '9') || *q == '-' || *q == '+' || *q == '.' ||
                           *q == 'e' || *q == 'E'))
            q++;
        return q > p ? q : NULL;
    }
    }
}

/* Push the lean item whose '{' is at p; NULL when it must be decoded as a
 * table instead. Returns where the item's text ends. */
static const char *push_lean(lua_State *L, const char *p, const char *end)
{
    item_lean_attr at[LEAN_MAX_ATTRS];
    const char *start = p;
    uint32_t n = 0;
    p = ws(p + 1, end);
    if (p < end && *p != '}') {
        for (;;) {
            int escaped = 0;
            if (p >= end || *p != '"' || n == LEAN_MAX_ATTRS) return NULL;
            const char *name = p + 1;
            if (!(p = skip_string(name, end, &escaped)) || escaped) return NULL;
            size_t name_len = (size_t)(p - 1 - name);
            for (uint32_t i = 0; i < n; i++)   /* a name twice: the table decoder refuses it */
                if (at[i].name_len == name_len && memcmp(start + at[i].name, name, name_len) == 0)
                    return NULL;
            p = ws(p, end);
            if (p >= end || *p != ':') return NULL;
            const char *value = ws(p + 1, end);
            if (!(p = skip_value(value, end, 1))) return NULL;
            at[n].name = (uint32_t)(name - start);
            at[n].name_len = (uint32_t)name_len;
            at[n].value = (uint32_t)(value - start);
            at[n].value_len = (uint32_t)(p - value);
            at[n].touched = 0;
            n++;
            p = ws(p, end);
            if (p < end && *p == ',') {
                p = ws(p + 1, end);
                continue;
            }
            break;
        }
    }
    if (p >= end || *p != '}') return NULL;
    p++;
    size_t len = (size_t)(p - start);
    if (len > UINT32_MAX / 2) return NULL;
    item_lean *li = lua_newuserdatauv(L, sizeof *li + n * sizeof at[0] + len, 1);
    li->n = n;
    li->len = (uint32_t)len;
    li->touched = 0;
    li->extra = 0;
    li->removed = 0;
    memcpy(li->attr, at, n * sizeof at[0]);
    memcpy((char *)ITEM_LEAN_TEXT(li), start, len);
    push_metatable(L);
    lua_setmetatable(L, -2);
    return p;
}

int item_lean_parse(item_parser *ps)
{
    item_skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '{') {
        const char *after = push_lean(ps->L, ps->p, ps->end);
        if (after) {
            ps->p = after;
            return 0;
        }
    }
    return item_parse_item(ps);
}

/* ---- reading and changing ---- */

/* The table of values read or set (uservalue 1), made on first use when
 * make is set; pushed (nil when there is none and make is not set). */
static void push_touched(lua_State *L, int idx, int make)
{
    if (lua_getiuservalue(L, idx, 1) == LUA_TTABLE || !make) return;
    lua_pop(L, 1);
    lua_createtable(L, 0, 4);
    lua_pushvalue(L, -1);
    lua_setiuservalue(L, idx, 1);
}

/* Push attribute name (at name_idx) of the lean item at idx, or nil. */
static void push_attr(lua_State *L, item_lean *li, int idx, int name_idx)
{
    size_t len;
    const char *s = lua_tolstring(L, name_idx, &len);
    int i = item_lean_find(li, s, len);
    if (i >= 0 && !li->attr[i].touched) {
        const item_lean_attr *a = &li->attr[i];
        if (item_decode_value(L, ITEM_LEAN_TEXT(li) + a->value, a->value_len))
            luaL_error(L, "attribute %s: %s", s, lua_tostring(L, -1));
        push_touched(L, idx, 1);
        lua_pushvalue(L, name_idx);
        lua_pushvalue(L, -3);
        lua_rawset(L, -3);
        lua_pop(L, 1);
        li->attr[i].touched = 1;
        li->touched = 1;
        return;
    }
    push_touched(L, idx, 0);
    if (lua_isnil(L, -1)) return;
    lua_pushvalue(L, name_idx);
    lua_rawget(L, -2);
    lua_remove(L, -2);
    if (is_removed(L, -1)) {
        lua_pop(L, 1);
        lua_pushnil(L);
    }
}

static int lean_index(lua_State *L)
{
    item_lean *li = luaL_checkudata(L, 1, LEAN_MT);
    if (lua_type(L, 2) != LUA_TSTRING) return lua_pushnil(L), 1;
    push_attr(L, li, 1, 2);
    return 1;
}

static int lean_newindex(lua_State *L)
{
    item_lean *li = luaL_checkudata(L, 1, LEAN_MT);
    if (lua_type(L, 2) != LUA_TSTRING)
        return luaL_error(L, "an item's attribute names are strings, not %s", luaL_typename(L, 2));
    size_t len;
    const char *s = lua_tolstring(L, 2, &len);
    int i = item_lean_find(li, s, len);
    if (i >= 0) {
        li->attr[i].touched = 1;
        li->touched = 1;
    } else if (!lua_isnil(L, 3)) {
        li->extra = 1;
    }
    if (lua_isnil(L, 3)) li->removed = 1;
    push_touched(L, 1, 1);
    lua_pushvalue(L, 2);
    if (lua_isnil(L, 3))
        push_removed(L);
    else
        lua_pushvalue(L, 3);
    lua_rawset(L, -3);
    return 0;
}

static int collect_extras(lua_State *L, item_lean *li, int touched, item_keyref *out, int cap)
{
    int m = 0;
    if (!li->extra) return 0;
    touched = lua_absindex(L, touched);
    lua_pushnil(L);
    while (lua_next(L, touched)) {
        size_t len;
        int skip = is_removed(L, -1) || lua_type(L, -2) != LUA_TSTRING;
        lua_pop(L, 1);
        if (skip) continue;
        const char *s = lua_tolstring(L, -1, &len);
        if (item_lean_find(li, s, len) >= 0) continue;
        if (m < cap) out[m].s = s, out[m].len = len;
        m++;
    }
    if (m <= cap) qsort(out, (size_t)m, sizeof *out, item_keyref_cmp);
    return m;
}

item_keyref *item_lean_extras(lua_State *L, item_lean *li, int touched, item_keyref *local, int cap,
                              int *count)
{
    touched = lua_absindex(L, touched);
    int m = collect_extras(L, li, touched, local, cap);
    item_keyref *ks = local;
    if (m > cap) {
        ks = lua_newuserdatauv(L, (size_t)m * sizeof *ks, 0);
        collect_extras(L, li, touched, ks, m);
    }
    *count = m;
    return ks;
}

/* The names pairs() gives, in encoding order, as a list at the top. */
static void push_names(lua_State *L, item_lean *li, int idx)
{
    const char *text = ITEM_LEAN_TEXT(li);
    lua_Integer k = 0;
    lua_createtable(L, (int)li->n, 0);
    int list = lua_gettop(L);
    push_touched(L, idx, 0);
    int touched = lua_istable(L, -1) ? lua_gettop(L) : 0;
    for (uint32_t i = 0; i < li->n; i++) {
        lua_pushlstring(L, text + li->attr[i].name, li->attr[i].name_len);
        if (li->attr[i].touched && touched) {
            lua_pushvalue(L, -1);
            lua_rawget(L, touched);
            int gone = is_removed(L, -1);
            lua_pop(L, 1);
            if (gone) {
                lua_pop(L, 1);
                continue;
            }
        }
        lua_rawseti(L, list, ++k);
    }
    if (touched) {
        item_keyref local[32];
        int m;
        item_keyref *ks = item_lean_extras(L, li, touched, local, 32, &m);
        for (int j = 0; j < m; j++) {
            lua_pushlstring(L, ks[j].s, ks[j].len);
            lua_rawseti(L, list, ++k);
        }
    }
    lua_settop(L, list);
}

/* upvalues: the names, the position reached */
static int lean_pairs_next(lua_State *L)
{
    item_lean *li = luaL_checkudata(L, 1, LEAN_MT);
    lua_Integer i = lua_tointeger(L, lua_upvalueindex(2)) + 1;
    lua_pushinteger(L, i);
    lua_replace(L, lua_upvalueindex(2));
    if (lua_rawgeti(L, lua_upvalueindex(1), i) == LUA_TNIL) return 1;
    int name = lua_gettop(L);
    push_attr(L, li, 1, name);
    return 2;
}

static int lean_pairs(lua_State *L)
{
    item_lean *li = luaL_checkudata(L, 1, LEAN_MT);
    push_names(L, li, 1);
    lua_pushinteger(L, 0);
    lua_pushcclosure(L, lean_pairs_next, 2);
    lua_pushvalue(L, 1);
    lua_pushnil(L);
    return 3;
}

static int lean_tostring(lua_State *L)
{
    item_lean *li = luaL_checkudata(L, 1, LEAN_MT);
    lua_pushfstring(L, "lean item (%d attributes as read): %p", (int)li->n, (void *)li);
    return 1;
}

static void push_metatable(lua_State *L)
{
    static const luaL_Reg meta[] = {
        {"__index", lean_index},
        {"__newindex", lean_newindex},
        {"__pairs", lean_pairs},
        {"__tostring", lean_tostring},
        {NULL, NULL}};
    if (luaL_newmetatable(L, LEAN_MT)) {
        luaL_setfuncs(L, meta, 0);
        lua_pushliteral(L, LEAN_MT);
        lua_setfield(L, -2, "__metatable");
    }
}

/* ---- whole items ---- */

void item_lean_push_table(lua_State *L, int idx)
{
    item_lean *li = luaL_checkudata(L, idx, LEAN_MT);
    idx = lua_absindex(L, idx);
    if (item_decode(L, ITEM_LEAN_TEXT(li), li->len)) lua_error(L);
    int t = lua_gettop(L);
    push_touched(L, idx, 0);
    if (lua_istable(L, -1)) {
        int touched = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, touched)) {
            lua_pushvalue(L, -2);
            if (is_removed(L, -2))
                lua_pushnil(L);
            else
                lua_pushvalue(L, -2);
            lua_rawset(L, t);
            lua_pop(L, 1);
        }
    }
    lua_settop(L, t);
}

void item_lean_arg(lua_State *L, int idx)
{
    if (!item_lean_get(L, idx)) return;
    idx = lua_absindex(L, idx);
    item_lean_push_table(L, idx);
    lua_replace(L, idx);
}

/* item.copy(it): a lean item's copy is lean (its text copied, the values
 * read or set so far shared); a table's copy keeps its recorded order. */
int item_l_copy(lua_State *L)
{
    item_lean *li = item_lean_get(L, 1);
    lua_settop(L, 1);
    if (li) {
        size_t size = sizeof *li + li->n * sizeof li->attr[0] + li->len;
        item_lean *cp = lua_newuserdatauv(L, size, 1);
        memcpy(cp, li, size);
        push_metatable(L);
        lua_setmetatable(L, -2);
        push_touched(L, 1, 0);
        if (lua_istable(L, -1)) {
            int from = lua_gettop(L);
            lua_createtable(L, 0, 4);
            lua_pushnil(L);
            while (lua_next(L, from)) {
                lua_pushvalue(L, -2);
                lua_insert(L, -2);
                lua_rawset(L, -4);
            }
            lua_setiuservalue(L, 2, 1);
        }
        lua_settop(L, 2);
        return 1;
    }
    luaL_argexpected(L, lua_type(L, 1) == LUA_TTABLE, 1, "item");
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, 1)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, 2);
    }
    item_order_push(L);              /* order lists are never changed in place: share it */
    lua_pushvalue(L, 1);
    if (lua_rawget(L, 3) == LUA_TTABLE) {
        lua_pushvalue(L, 2);
        lua_insert(L, -2);
        lua_rawset(L, 3);
    }
    lua_settop(L, 2);
    return 1;
}

int item_l_to_table(lua_State *L)
{
    if (item_lean_get(L, 1)) {
        item_lean_push_table(L, 1);
        return 1;
    }
    luaL_argexpected(L, lua_type(L, 1) == LUA_TTABLE, 1, "item");
    lua_settop(L, 1);
    return 1;
}

int item_l_is_lean(lua_State *L)
{
    lua_pushboolean(L, item_lean_get(L, 1) != NULL);
    return 1;
}

/* item.decode_lean(text): the item in text as a lean item (a table when
 * item_lean_parse() would give one); raises when it does not decode. */
int item_l_decode_lean(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    const char *p = ws(text, text + len);
    const char *after = p < text + len && *p == '{' ? push_lean(L, p, text + len) : NULL;
    if (after && ws(after, text + len) == text + len) return 1;
    if (after) lua_pop(L, 1);
    if (item_decode(L, text, len)) return lua_error(L);
    return 1;
}

/* Attribute i of the lean item at idx: its text in *s, *len (returns 0),
 * or its value read or set, pushed (returns 1). */
static int attr_value(lua_State *L, item_lean *li, int touched, uint32_t i, const char **s,
                      size_t *len)
{
    const item_lean_attr *a = &li->attr[i];
    if (!a->touched || !touched) {
        *s = ITEM_LEAN_TEXT(li) + a->value;
        *len = a->value_len;
        return 0;
    }
    lua_pushlstring(L, ITEM_LEAN_TEXT(li) + a->name, a->name_len);
    lua_rawget(L, touched);
    return 1;
}

static int decode_or_fail(lua_State *L, const char *s, size_t len)
{
    if (item_decode_value(L, s, len)) {
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

int item_lean_equal(lua_State *L, int a, int b)
{
    item_lean *x = item_lean_get(L, a), *y = item_lean_get(L, b);
    if (!x || !y || x->extra || y->extra || x->removed || y->removed) return -1;
    if (x->n != y->n) return 0;
    int top = lua_gettop(L), r = 1;
    a = lua_absindex(L, a);
    b = lua_absindex(L, b);
    lua_getiuservalue(L, a, 1);
    int tx = lua_istable(L, -1) ? lua_gettop(L) : 0;
    lua_getiuservalue(L, b, 1);
    int ty = lua_istable(L, -1) ? lua_gettop(L) : 0;
    int base = lua_gettop(L);
    const char *xt = ITEM_LEAN_TEXT(x);
    for (uint32_t i = 0; i < x->n && r == 1; i++) {
        lua_settop(L, base);
        const item_lean_attr *an = &x->attr[i];
        /* the same place first: items of one table mostly share an order */
        int j = i < y->n && y->attr[i].name_len == an->name_len &&
                        memcmp(ITEM_LEAN_TEXT(y) + y->attr[i].name, xt + an->name, an->name_len) == 0
                    ? (int)i
                    : item_lean_find(y, xt + an->name, an->name_len);
        if (j < 0) {
            r = 0;
            break;
        }
        const char *s1 = NULL, *s2 = NULL;
        size_t l1 = 0, l2 = 0;
        int p1 = attr_value(L, x, tx, i, &s1, &l1);
        int v1 = lua_gettop(L);
        int p2 = attr_value(L, y, ty, (uint32_t)j, &s2, &l2);
        int v2 = lua_gettop(L);
        if (!p1 && !p2 && l1 == l2 && memcmp(s1, s2, l1) == 0) continue;
        /* spelt otherwise (or read): compare the values typed */
        if (!p1) {
            if (decode_or_fail(L, s1, l1)) { r = -1; break; }
            v1 = lua_gettop(L);
        }
        if (!p2) {
            if (decode_or_fail(L, s2, l2)) { r = -1; break; }
            v2 = lua_gettop(L);
        }
        r = item_eq_value(L, v1, v2);
    }
    lua_settop(L, top);
    return r;
}
