/* item_plain.c - typed items to plain Lua values and back, and typed
 * equality.
 *
 * to_plain(v):  S, B -> string; N -> integer when the number is whole and
 *   fits in 64 bits (whatever its text: "5", "5.0", "5e0"), else a float
 *   when from_plain() of that float gives back the same number, else the
 *   exact string (so 38-digit numbers are never rounded); BOOL -> boolean;
 *   NULL -> item.null; L, SS, NS, BS -> arrays (NS members converted like
 *   N); M -> table (its recorded key order goes with it).
 * from_plain(v): string -> S; integer -> N; float -> N (shortest text that
 *   reads back exactly; NaN and infinities are errors); boolean -> BOOL;
 *   item.null -> NULL; a sequence 1..n with n >= 1 -> L; any other table,
 *   the empty one included, -> M.
 * Both lose what plain Lua cannot say: B comes back as S, sets as lists,
 * an empty list as an empty map.
 */
#include "item_int.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

typedef struct plain {
    lua_State *L;
    int order;
    item_path path;
} plain;

static void plain_fail(plain *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));

static void plain_fail(plain *p, const char *fmt, ...)
{
    buf err = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    item_path_error(&p->path, &err, fmt, ap);
    va_end(ap);
    lua_pushlstring(p->L, buf_str(&err), err.len);
    buf_free(&err);
    lua_error(p->L);
    abort();  /* not reached */
}

static void plain_init(plain *p, lua_State *L, int value)
{
    p->L = L;
    p->path.n = 0;
    p->path.value = value;
    item_order_push(L);
    p->order = lua_gettop(L);
}

/* Give dst (at -1) the recorded order of src, if it has one; the lists
 * are never changed in place, so sharing is safe. */
static void copy_order(plain *p, int src)
{
    lua_State *L = p->L;
    lua_pushvalue(L, src);
    if (lua_rawget(L, p->order) == LUA_TTABLE) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, p->order);
    } else {
        lua_pop(L, 1);
    }
}

size_t item_fmt_double(double d, char *out)
{
    char tmp[40];
    if (d == 0) {  /* -0 too */
        strcpy(out, "0");
        return 1;
    }
    /* A normal double that some decimal of at most 15 digits reads back
     * as prints as that decimal with "%.15g", so 15 is where the shortest
     * search can start; subnormals hold fewer digits, so they start at 1.
     * (The C locale's '.': mighost never calls setlocale.) */
    for (int prec = fabs(d) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, d);
        if (strtod(tmp, NULL) == d) break;
    }
    /* "1e+21" -> "1e21", "5e-07" -> "5e-7" */
    size_t k = 0;
    for (const char *s = tmp; *s; s++) {
        out[k++] = *s;
        if (*s == 'e') {
            s++;
            if (*s == '-') out[k++] = *s++;
            else if (*s == '+') s++;
            while (*s == '0' && s[1]) s++;
            while (*s) out[k++] = *s++;
            break;
        }
    }
    out[k] = '\0';
    return k;
}

int item_looks_like_value(lua_State *L, int idx)
{
    int r = 0;
    idx = lua_absindex(L, idx);
    if (lua_type(L, idx) != LUA_TTABLE) return 0;
    lua_pushnil(L);
    if (!lua_next(L, idx)) return 0;
    if (lua_type(L, -2) == LUA_TSTRING) {
        int tag = item_tag(lua_tostring(L, -2), lua_rawlen(L, -2));
        r = tag >= 0 && lua_type(L, -1) == item_tag_ltype[tag];
    }
    lua_pop(L, 1);
    if (lua_next(L, idx)) {
        lua_pop(L, 2);
        r = 0;
    }
    return r;
}

/* ---- to_plain ---- */

static void push_plain_number(lua_State *L, int idx)
{
    item_num n, m;
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (item_num_parse(s, len, &n)) {
        lua_pushvalue(L, idx);
        return;
    }
    if (n.ndig == 0) {
        lua_pushinteger(L, 0);
        return;
    }
    if (n.exp >= n.ndig - 1 && n.exp <= 18) {  /* whole and below 1e19 < 2^64 */
        uint64_t u = 0;
        for (int i = 0; i < n.ndig; i++) u = u * 10 + (uint64_t)(n.dig[i] - '0');
        for (long i = n.ndig - 1; i < n.exp; i++) u *= 10;
        if (!n.neg && u <= (uint64_t)INT64_MAX) {
            lua_pushinteger(L, (lua_Integer)u);
            return;
        }
        if (n.neg && u <= (uint64_t)INT64_MAX + 1) {
            lua_pushinteger(L, u == (uint64_t)INT64_MAX + 1 ? LUA_MININTEGER
                                                             : -(lua_Integer)u);
            return;
        }
    }
    double d = strtod(s, NULL);
    char txt[40], a[ITEM_NUM_CANON_MAX], b[ITEM_NUM_CANON_MAX];
    size_t tlen = item_fmt_double(d, txt);
    if (isfinite(d) && !item_num_parse(txt, tlen, &m) &&
        strcmp((item_num_canon(&n, a), a), (item_num_canon(&m, b), b)) == 0)
        lua_pushnumber(L, d);
    else
        lua_pushvalue(L, idx);
}

static void to_plain_value(plain *p, int idx, int level);

/* A map converted name by name with convert(value) into a new table
 * (pushed), keeping the source's attribute order; why_not_string says
 * what a non-string name means in this direction. */
static void convert_map(plain *p, int idx, int level, void (*convert)(plain *, int, int),
                        const char *why_not_string)
{
    lua_State *L = p->L;
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            plain_fail(p, "a name is a %s, not a string%s", luaL_typename(L, -2), why_not_string);
        size_t len;
        const char *k = lua_tolstring(L, -2, &len);
        item_path_name(&p->path, k, len);
        convert(p, lua_gettop(L), level);
        p->path.n--;
        lua_remove(L, -2);
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
    }
    copy_order(p, idx);
}

static void to_plain_map(plain *p, int idx, int level)
{
    convert_map(p, idx, level, to_plain_value, "");
}

static void to_plain_value(plain *p, int idx, int level)
{
    lua_State *L = p->L;
    if (!item_looks_like_value(L, idx))
        plain_fail(p, "not an attribute value (a one-tag table such as {S=...})");
    luaL_checkstack(L, 8, "item nesting");
    lua_pushnil(L);
    lua_next(L, idx);
    int v = lua_gettop(L);
    int tag = item_tag(lua_tostring(L, v - 1), lua_rawlen(L, v - 1));
    switch (tag) {
    case ITEM_S:
    case ITEM_B:
    case ITEM_BOOL:
        lua_pushvalue(L, v);
        break;
    case ITEM_N:
        push_plain_number(L, v);
        break;
    case ITEM_NULL:
        item_push_null(L);
        break;
    case ITEM_M:
        if (level + 1 > ITEM_MAX_DEPTH)
            plain_fail(p, "nesting deeper than %d levels", ITEM_MAX_DEPTH);
        to_plain_map(p, v, level + 1);
        break;
    default: {  /* L and the sets */
        lua_Integer n = (lua_Integer)lua_rawlen(L, v);
        if (tag == ITEM_L && level + 1 > ITEM_MAX_DEPTH)
            plain_fail(p, "nesting deeper than %d levels", ITEM_MAX_DEPTH);
        lua_createtable(L, (int)n, 0);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, v, i);
            item_path_index(&p->path, (long long)i - 1);
            if (tag == ITEM_L)
                to_plain_value(p, lua_gettop(L), level + 1);
            else if (tag == ITEM_NS && lua_type(L, -1) == LUA_TSTRING)
                push_plain_number(L, lua_gettop(L));
            else
                lua_pushvalue(L, -1);
            p->path.n--;
            lua_rawseti(L, -3, i);
            lua_pop(L, 1);
        }
    }
    }
    lua_replace(L, v - 1);
    lua_pop(L, 1);
}

static int kind_arg(lua_State *L, int arg)
{
    static const char *const kinds[] = {"auto", "item", "value", NULL};
    return luaL_checkoption(L, arg, "auto", kinds);
}

/* to_plain(v [, kind]): kind "item", "value", or "auto" (the default): a
 * value when v looks like one (see item_looks_like_value), else an item.
 * An item whose only attribute is named SS, NS, BS, L or M and holds a
 * table needs "item". */
int item_l_to_plain(lua_State *L)
{
    plain p;
    int kind = kind_arg(L, 2);
    item_lean_arg(L, 1);
    luaL_checktype(L, 1, LUA_TTABLE);
    int value = kind == 2 || (kind == 0 && item_looks_like_value(L, 1));
    lua_settop(L, 1);
    plain_init(&p, L, value);
    if (value)
        to_plain_value(&p, 1, 0);
    else
        to_plain_map(&p, 1, 0);
    return 1;
}

/* ---- from_plain ---- */

static void from_plain_value(plain *p, int idx, int level);

static void from_plain_map(plain *p, int idx, int level)
{
    convert_map(p, idx, level, from_plain_value,
                " (a table with names and list positions cannot be converted)");
}

static void from_plain_value(plain *p, int idx, int level)
{
    lua_State *L = p->L;
    char txt[40];
    luaL_checkstack(L, 8, "item nesting");
    lua_createtable(L, 0, 1);
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
        lua_pushvalue(L, idx);
        lua_setfield(L, -2, "S");
        return;
    case LUA_TBOOLEAN:
        lua_pushvalue(L, idx);
        lua_setfield(L, -2, "BOOL");
        return;
    case LUA_TNUMBER:
        if (lua_isinteger(L, idx)) {
            lua_pushfstring(L, "%I", (LUAI_UACINT)lua_tointeger(L, idx));
        } else {
            double d = (double)lua_tonumber(L, idx);
            if (!isfinite(d)) plain_fail(p, "%g cannot be a DynamoDB number", d);
            lua_pushlstring(L, txt, item_fmt_double(d, txt));
        }
        lua_setfield(L, -2, "N");
        return;
    case LUA_TLIGHTUSERDATA:
        if (!item_isnull(L, idx)) break;
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "NULL");
        return;
    case LUA_TTABLE: {
        if (level + 1 > ITEM_MAX_DEPTH)
            plain_fail(p, "nesting deeper than %d levels", ITEM_MAX_DEPTH);
        long long n = item_seq_len(L, idx);
        if (n <= 0) {
            from_plain_map(p, idx, level + 1);
            lua_setfield(L, -2, "M");
            return;
        }
        lua_createtable(L, (int)n, 0);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, idx, i);
            item_path_index(&p->path, (long long)i - 1);
            from_plain_value(p, lua_gettop(L), level + 1);
            p->path.n--;
            lua_rawseti(L, -3, i);
            lua_pop(L, 1);
        }
        lua_setfield(L, -2, "L");
        return;
    }
    }
    plain_fail(p, "a %s has no DynamoDB type", luaL_typename(L, idx));
}

/* from_plain(v [, kind]): kind "value" (the default) or "item", for a
 * table of name -> plain value. */
int item_l_from_plain(lua_State *L)
{
    plain p;
    int kind = kind_arg(L, 2);
    luaL_checkany(L, 1);
    lua_settop(L, 1);
    plain_init(&p, L, kind != 1);
    if (kind == 1) {
        luaL_checktype(L, 1, LUA_TTABLE);
        from_plain_map(&p, 1, 0);
    } else {
        from_plain_value(&p, 1, 0);
    }
    return 1;
}

/* ---- equal ---- */

static int eq_value(lua_State *L, int a, int b, int level);

/* The members of the sets (or N texts) at a and b, as canonical keys. */
static void push_member_key(lua_State *L, int idx, int numeric)
{
    item_num n;
    char c[ITEM_NUM_CANON_MAX];
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (numeric && !item_num_parse(s, len, &n))
        lua_pushlstring(L, c, item_num_canon(&n, c));
    else
        lua_pushvalue(L, idx);
}

/* Sets compare as multisets: count b's members up, a's down. */
static int eq_set(lua_State *L, int a, int b, int numeric)
{
    long long n = item_seq_len(L, a);
    if (n < 0 || n != item_seq_len(L, b)) return 0;
    lua_createtable(L, 0, (int)n);
    int counts = lua_gettop(L), r = 1;
    for (int pass = 0; pass < 2 && r; pass++) {
        for (lua_Integer i = 1; i <= n && r; i++) {
            if (lua_rawgeti(L, pass ? a : b, i) != LUA_TSTRING) {
                r = 0;
                break;
            }
            push_member_key(L, lua_gettop(L), numeric);
            lua_pushvalue(L, -1);
            lua_Integer c = (lua_rawget(L, counts), lua_tointeger(L, -1)) + (pass ? -1 : 1);
            lua_pop(L, 1);
            if (c < 0) r = 0;
            lua_pushinteger(L, c);
            lua_rawset(L, counts);
            lua_pop(L, 1);
        }
    }
    lua_settop(L, counts - 1);
    return r;
}

static int eq_map(lua_State *L, int a, int b, int level)
{
    lua_Integer na = 0, nb = 0;
    if (lua_type(L, a) != LUA_TTABLE || lua_type(L, b) != LUA_TTABLE) return 0;
    lua_pushnil(L);
    while (lua_next(L, a)) {
        lua_pushvalue(L, -2);
        lua_rawget(L, b);
        if (!eq_value(L, lua_gettop(L) - 1, lua_gettop(L), level)) {
            lua_pop(L, 3);
            return 0;
        }
        lua_pop(L, 2);
        na++;
    }
    lua_pushnil(L);
    while (lua_next(L, b)) lua_pop(L, 1), nb++;
    return na == nb;
}

static int eq_value(lua_State *L, int a, int b, int level)
{
    if (lua_rawequal(L, a, b)) return 1;
    if (level > ITEM_MAX_DEPTH + 1 || !item_looks_like_value(L, a) ||
        !item_looks_like_value(L, b))
        return 0;
    luaL_checkstack(L, 10, "item nesting");
    int top = lua_gettop(L), r = 0;
    lua_pushnil(L);
    lua_next(L, a);
    lua_pushnil(L);
    lua_next(L, b);
    int ka = top + 1, va = top + 2, kb = top + 3, vb = top + 4;
    if (!lua_rawequal(L, ka, kb)) goto out;
    int tag = item_tag(lua_tostring(L, ka), lua_rawlen(L, ka));
    switch (tag) {
    case ITEM_N:
        push_member_key(L, va, 1);
        push_member_key(L, vb, 1);
        r = lua_rawequal(L, -1, -2);
        break;
    case ITEM_SS:
    case ITEM_NS:
    case ITEM_BS:
        r = eq_set(L, va, vb, tag == ITEM_NS);
        break;
    case ITEM_L: {
        long long n = item_seq_len(L, va);
        if (n < 0 || n != item_seq_len(L, vb)) break;
        r = 1;
        for (lua_Integer i = 1; i <= n && r; i++) {
            lua_rawgeti(L, va, i);
            lua_rawgeti(L, vb, i);
            r = eq_value(L, lua_gettop(L) - 1, lua_gettop(L), level + 1);
            lua_pop(L, 2);
        }
        break;
    }
    case ITEM_M:
        r = eq_map(L, va, vb, level + 1);
        break;
    default:  /* S, B, BOOL, NULL */
        r = lua_rawequal(L, va, vb);
    }
out:
    lua_settop(L, top);
    return r;
}

/* equal(a, b [, kind]): typed equality; N compares as numbers ("1.50" ==
 * "1.5"), sets as sets, maps ignore key order. kind as for to_plain,
 * decided on a. */
int item_eq_value(lua_State *L, int a, int b)
{
    return eq_value(L, lua_absindex(L, a), lua_absindex(L, b), 0);
}

int item_l_equal(lua_State *L)
{
    int kind = kind_arg(L, 3);
    luaL_checkany(L, 1);
    luaL_checkany(L, 2);
    lua_settop(L, 2);
    int lean = item_lean_equal(L, 1, 2);
    if (lean >= 0) {
        lua_pushboolean(L, lean);
        return 1;
    }
    item_lean_arg(L, 1);
    item_lean_arg(L, 2);
    int value = kind == 2 || (kind == 0 && item_looks_like_value(L, 1));
    lua_pushboolean(L, value ? eq_value(L, 1, 2, 0) : eq_map(L, 1, 2, 0));
    return 1;
}
