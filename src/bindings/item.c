/* item.c - what the item codec shares (tags, paths, numbers, key order)
 * and the "mighost.item" Lua module. */
#include "item_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

const char *const item_tag_names[ITEM_NTAGS] = {
    "S", "N", "B", "SS", "NS", "BS", "BOOL", "NULL", "L", "M"};

const int item_tag_ltype[ITEM_NTAGS] = {
    LUA_TSTRING, LUA_TSTRING, LUA_TSTRING, LUA_TTABLE, LUA_TTABLE, LUA_TTABLE,
    LUA_TBOOLEAN, LUA_TBOOLEAN, LUA_TTABLE, LUA_TTABLE};

int item_tag(const char *s, size_t len)
{
    switch (len) {
    case 1:
        switch (s[0]) {
        case 'S': return ITEM_S;
        case 'N': return ITEM_N;
        case 'B': return ITEM_B;
        case 'L': return ITEM_L;
        case 'M': return ITEM_M;
        }
        return -1;
    case 2:
        if (s[1] != 'S') return -1;
        switch (s[0]) {
        case 'S': return ITEM_SS;
        case 'N': return ITEM_NS;
        case 'B': return ITEM_BS;
        }
        return -1;
    case 4:
        if (memcmp(s, "BOOL", 4) == 0) return ITEM_BOOL;
        if (memcmp(s, "NULL", 4) == 0) return ITEM_NULL;
        return -1;
    }
    return -1;
}

void item_path_error(const item_path *p, buf *err, const char *fmt, va_list ap)
{
    if (!err) return;
    buf_reset(err);
    if (p->value)
        buf_puts(err, "value");
    else if (p->n == 0)
        buf_puts(err, "item");
    else
        buf_puts(err, "attribute ");
    for (int i = 0; i < p->n; i++) {
        if (p->seg[i].s) {
            if (i > 0 || p->value) buf_putc(err, '.');
            buf_append(err, p->seg[i].s, p->seg[i].len);
        } else {
            buf_printf(err, "[%lld]", p->seg[i].idx);
        }
    }
    buf_puts(err, ": ");
    buf_vprintf(err, fmt, ap);
}

/* ---- numbers ---- */

const char *item_num_parse(const char *s, size_t len, item_num *n)
{
    size_t i = 0;
    long pos = 0, intlen = 0, first = -1, last = -1, e10 = 0;
    n->neg = 0;
    n->ndig = 0;
    n->exp = 0;
    if (i < len && s[i] == '-') n->neg = 1, i++;
    /* Digits of the integer and fraction parts as one run; pos counts them.
     * Only those from the first non-zero one on are kept. */
    for (int frac = 0; i < len; i++) {
        char c = s[i];
        if (c == '.' && !frac) {
            frac = 1;
            intlen = pos;
            continue;
        }
        if (c < '0' || c > '9') break;
        if (!frac) intlen = pos + 1;
        if (c != '0') {
            if (first < 0) first = pos;
            last = pos;
        }
        if (first >= 0 && pos - first < (long)sizeof n->dig) n->dig[pos - first] = c;
        pos++;
    }
    if (pos == 0) return "not a number";
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        int eneg = 0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-')) eneg = s[i++] == '-';
        if (i == len || s[i] < '0' || s[i] > '9') return "not a number";
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++)
            if (e10 < 100000000) e10 = e10 * 10 + (s[i] - '0');  /* saturate */
        if (eneg) e10 = -e10;
    }
    if (i != len) return "not a number";
    if (first < 0) return NULL;  /* zero, whatever its exponent */
    if (last - first + 1 > 38) return "more than 38 significant digits";
    n->ndig = (int)(last - first + 1);
    n->exp = intlen - 1 - first + e10;
    if (n->exp > 125) return "number too large (DynamoDB's limit is below 1e126)";
    if (n->exp < -130) return "number too small (DynamoDB's limit is 1e-130)";
    return NULL;
}

size_t item_num_canon(const item_num *n, char *out)
{
    if (n->ndig == 0) {
        out[0] = '0';
        out[1] = '\0';
        return 1;
    }
    size_t k = 0;
    if (n->neg) out[k++] = '-';
    memcpy(out + k, n->dig, (size_t)n->ndig);
    k += (size_t)n->ndig;
    k += (size_t)snprintf(out + k, ITEM_NUM_CANON_MAX - k, "e%ld", n->exp);
    return k;
}

/* DynamoDB stores base-100 digit pairs aligned on the exponent, plus an
 * exponent byte (and a sign byte when negative); dynalite's measurements. */
size_t item_num_size(const item_num *n)
{
    if (n->ndig == 0) return 1;
    return 1 + (size_t)(n->ndig + 1) / 2 + ((n->ndig % 2 || n->exp % 2) ? 0 : 1) +
           (n->neg ? 1 : 0);
}

/* ---- key order ---- */

static const char item_order_key = 0;
static const char item_null_key = 0;

void item_order_push(lua_State *L)
{
    if (lua_rawgetp(L, LUA_REGISTRYINDEX, &item_order_key) == LUA_TTABLE) return;
    lua_pop(L, 1);
    lua_newtable(L);
    lua_createtable(L, 0, 1);
    lua_pushliteral(L, "k");  /* weak keys: an item's order dies with it */
    lua_setfield(L, -2, "__mode");
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &item_order_key);
}

typedef item_keyref keyref;

int item_keyref_cmp(const void *a, const void *b)
{
    const keyref *x = a, *y = b;
    int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

#define ITEM_EACH_LOCAL 32   /* names kept on the C stack; more go to a userdata */

/* Lua 5.4 keeps one copy of each string up to 40 bytes (LUAI_MAXSHORTLEN,
 * not in its API), so two of them are equal only if they are the same
 * pointer. Checked once on the running Lua: 0 when it does not hold. */
static size_t short_max = (size_t)-1;

static void probe_short_strings(lua_State *L)
{
    char a[40], b[40];
    memset(a, 'q', sizeof a);
    memcpy(b, a, sizeof b);
    const char *x = lua_pushlstring(L, a, sizeof a);
    const char *y = lua_pushlstring(L, b, sizeof b);
    short_max = x == y ? sizeof a : 0;
    lua_pop(L, 2);
}

/* Whether (s, len) is one of the n names in rec. */
static int recorded(const keyref *rec, lua_Integer n, const char *s, size_t len)
{
    if (len <= short_max) {
        for (lua_Integer j = 0; j < n; j++)
            if (rec[j].s == s) return 1;
        return 0;
    }
    for (lua_Integer j = 0; j < n; j++)
        if (rec[j].len == len && (rec[j].s == s || memcmp(rec[j].s, s, len) == 0)) return 1;
    return 0;
}

int item_each(lua_State *L, int idx, int order, item_key_fn fn, void *ud, int *badkey)
{
    int top = lua_gettop(L), keys = 0, r = 0;
    lua_Integer n = 0, nrec = 0;
    keyref rec_local[ITEM_EACH_LOCAL], *rec = rec_local;
    idx = lua_absindex(L, idx);
    order = lua_absindex(L, order);
    luaL_checkstack(L, 8, "item nesting");
    if (short_max == (size_t)-1) probe_short_strings(L);
    lua_pushvalue(L, idx);
    if (lua_rawget(L, order) == LUA_TTABLE) {
        keys = lua_gettop(L);
        n = (lua_Integer)lua_rawlen(L, keys);
        if (n > ITEM_EACH_LOCAL) rec = lua_newuserdatauv(L, (size_t)n * sizeof *rec, 0);
        for (lua_Integer i = 1; i <= n; i++) {
            lua_rawgeti(L, keys, i);
            if (lua_type(L, -1) == LUA_TSTRING) {
                /* the list holds the string: the pointer stays valid */
                rec[nrec].s = lua_tolstring(L, -1, &rec[nrec].len);
                nrec++;
            }
            lua_pushvalue(L, -1);
            if (lua_rawget(L, idx) == LUA_TNIL) {  /* removed since */
                lua_pop(L, 2);
                continue;
            }
            r = fn(L, ud);
            lua_pop(L, 2);
            if (r) goto out;
        }
    }

    /* Names added after the order was recorded (or all of them when none
     * was): sorted, so the output never depends on hash order. One pass
     * finds them (and any name that is not a string); a second one only
     * when there are more than fit on the C stack. */
    keyref local[ITEM_EACH_LOCAL], *ks = local;
    lua_Integer m = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) != LUA_TSTRING) {
            *badkey = lua_type(L, -1);
            r = -1;
            goto out;
        }
        size_t len;
        const char *s = lua_tolstring(L, -1, &len);
        if (keys && recorded(rec, nrec, s, len)) continue;
        if (m < ITEM_EACH_LOCAL) ks[m].s = s, ks[m].len = len;
        m++;
    }
    if (m == 0) goto out;
    if (m > ITEM_EACH_LOCAL) {
        lua_Integer cap = m;
        ks = lua_newuserdatauv(L, (size_t)cap * sizeof *ks, 0);
        m = 0;
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            lua_pop(L, 1);
            size_t len;
            const char *s = lua_tolstring(L, -1, &len);
            if (keys && recorded(rec, nrec, s, len)) continue;
            if (m < cap) ks[m].s = s, ks[m].len = len, m++;
        }
    }
    qsort(ks, (size_t)m, sizeof *ks, item_keyref_cmp);
    for (lua_Integer i = 0; i < m && !r; i++) {
        lua_pushlstring(L, ks[i].s, ks[i].len);
        lua_pushvalue(L, -1);
        lua_rawget(L, idx);
        r = fn(L, ud);
        lua_pop(L, 2);
    }
out:
    lua_settop(L, top);
    return r;
}

long long item_seq_len(lua_State *L, int idx)
{
    lua_Integer n = (lua_Integer)lua_rawlen(L, idx), count = 0;
    idx = lua_absindex(L, idx);
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        /* n distinct integer keys, all within 1..n, are exactly 1..n */
        if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1 ||
            lua_tointeger(L, -1) > n) {
            lua_pop(L, 1);
            return -1;
        }
        count++;
    }
    return count == n ? n : -1;
}

/* ---- null ---- */

void item_push_null(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&item_null_key);
}

int item_isnull(lua_State *L, int idx)
{
    return lua_touserdata(L, idx) == (void *)&item_null_key &&
           lua_type(L, idx) == LUA_TLIGHTUSERDATA;
}

/* ---- the Lua module ---- */

static int l_decode_common(lua_State *L, int value)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if ((value ? item_decode_value : item_decode)(L, s, len)) return lua_error(L);
    return 1;
}

static int l_decode(lua_State *L) { return l_decode_common(L, 0); }
static int l_decode_value(lua_State *L) { return l_decode_common(L, 1); }

/* The encoders' output buffer, kept between calls (an upvalue of encode,
 * encode_value and _writer_entry) so that encoding an item allocates
 * nothing but its string. Encoding never runs Lua code (raw access only),
 * so no call can reach the buffer while another uses it. A buffer grown
 * past SCRATCH_KEEP by a large item is let go after the call. */
typedef struct scratch { buf out, id; } scratch;

#define SCRATCH_KEEP (64 * 1024)

static int scratch_gc(lua_State *L)
{
    scratch *sc = lua_touserdata(L, 1);
    buf_free(&sc->out);
    buf_free(&sc->id);
    return 0;
}

static scratch *scratch_get(lua_State *L)
{
    scratch *sc = lua_touserdata(L, lua_upvalueindex(1));
    buf_reset(&sc->out);
    buf_reset(&sc->id);
    return sc;
}

static void scratch_trim(scratch *sc)
{
    if (sc->out.cap > SCRATCH_KEEP) buf_free(&sc->out);
    if (sc->id.cap > SCRATCH_KEEP) buf_free(&sc->id);
}

static int l_encode_common(lua_State *L, int value)
{
    buf err = BUF_INIT;
    luaL_checkany(L, 1);
    scratch *sc = scratch_get(L);
    if ((value ? item_encode_value : item_encode)(L, 1, &sc->out, &err)) {
        scratch_trim(sc);
        lua_pushlstring(L, buf_str(&err), err.len);
        buf_free(&err);
        return lua_error(L);
    }
    lua_pushlstring(L, buf_str(&sc->out), sc->out.len);
    scratch_trim(sc);
    return 1;
}

/* item._writer_entry(it, hash [, range]) -> text, id, size, or nothing.
 * The batch writer's one call per item (mighost.dynamodb_writer): the
 * item's text (item.encode), its key's id (the key attributes' encode_value,
 * joined by a NUL when there is a range key) and its item.size, in one walk.
 * Nothing when any of them would fail: the writer then takes the path of
 * separate calls, which says why. The key attributes are read with normal
 * indexing first (as the writer's Lua did), then everything else raw. */
static int l_writer_entry(lua_State *L)
{
    size_t size = 0;
    lua_settop(L, 3);
    if ((lua_type(L, 1) != LUA_TTABLE && !item_lean_get(L, 1)) || lua_type(L, 2) != LUA_TSTRING)
        return 0;
    int ranged = lua_type(L, 3) == LUA_TSTRING;
    lua_pushvalue(L, 2);
    lua_gettable(L, 1);                                        /* 4 */
    lua_pushvalue(L, 3);
    if (ranged) lua_gettable(L, 1);                            /* 5 */
    scratch *sc = scratch_get(L);
    int bad = item_encode_sized(L, 1, &sc->out, NULL, &size) ||
              item_encode_value(L, 4, &sc->id, NULL);
    if (!bad && size > ITEM_MAX_SIZE && item_lean_get(L, 1)) {
        /* a lean item's size from its text is an upper bound: the exact one */
        item_lean_push_table(L, 1);
        size = item_size(L, -1);
        lua_pop(L, 1);
    }
    if (!bad && ranged) {
        buf_putc(&sc->id, '\0');
        bad = item_encode_value(L, 5, &sc->id, NULL);
    }
    if (bad) {
        scratch_trim(sc);
        return 0;
    }
    lua_pushlstring(L, buf_str(&sc->out), sc->out.len);
    lua_pushlstring(L, buf_str(&sc->id), sc->id.len);
    lua_pushinteger(L, (lua_Integer)size);
    scratch_trim(sc);
    return 3;
}

static int l_encode(lua_State *L) { return l_encode_common(L, 0); }
static int l_encode_value(lua_State *L) { return l_encode_common(L, 1); }

static int l_size(lua_State *L)
{
    static const char *const kinds[] = {"item", "value", NULL};
    int value = luaL_checkoption(L, 2, "item", kinds);
    luaL_checkany(L, 1);
    item_lean_arg(L, 1);
    lua_pushinteger(L, (lua_Integer)(value ? item_value_size(L, 1) : item_size(L, 1)));
    return 1;
}

static int append_key(lua_State *L, void *ud)
{
    int list = *(int *)ud;
    lua_pushvalue(L, -2);
    lua_rawseti(L, list, (lua_Integer)lua_rawlen(L, list) + 1);
    return 0;
}

static int l_keys(lua_State *L)
{
    int badkey = 0;
    item_lean_arg(L, 1);
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    item_order_push(L);
    lua_newtable(L);
    int list = lua_gettop(L);
    if (item_each(L, 1, 2, append_key, &list, &badkey))
        return luaL_error(L, "keys: a name is a %s, not a string", lua_typename(L, badkey));
    return 1;
}

/* set_order(t, names) records names as t's order (a copy, so later edits
 * of the list do not change it); set_order(t, nil) forgets it. */
static int l_set_order(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    item_order_push(L);                          /* 3 */
    lua_pushvalue(L, 1);
    if (lua_isnil(L, 2)) {
        lua_pushnil(L);
    } else {
        luaL_checktype(L, 2, LUA_TTABLE);
        long long n = item_seq_len(L, 2);
        luaL_argcheck(L, n >= 0, 2, "expected a list of names");
        lua_createtable(L, (int)n, 0);           /* 5: the copy */
        lua_createtable(L, 0, (int)n);           /* 6: names seen */
        for (lua_Integer i = 1; i <= n; i++) {
            if (lua_rawgeti(L, 2, i) != LUA_TSTRING)
                return luaL_error(L, "set_order: name %d is a %s, not a string", (int)i,
                                  luaL_typename(L, -1));
            lua_pushvalue(L, -1);
            if (lua_rawget(L, 6) != LUA_TNIL)
                return luaL_error(L, "set_order: name '%s' appears twice", lua_tostring(L, -2));
            lua_pop(L, 1);
            lua_pushvalue(L, -1);
            lua_pushboolean(L, 1);
            lua_rawset(L, 6);
            lua_rawseti(L, 5, i);
        }
        lua_pop(L, 1);
    }
    lua_rawset(L, 3);
    lua_settop(L, 1);
    return 1;
}

/* item.str(value [, nonempty]) -> the string of an {S = "..."} value, or
 * nil for any other value (and for "" when nonempty): the field helper
 * every migration needs. */
static int l_str(lua_State *L)
{
    lua_settop(L, 2);
    if (lua_type(L, 1) != LUA_TTABLE || lua_getfield(L, 1, "S") != LUA_TSTRING) {
        lua_pushnil(L);
        return 1;
    }
    if (lua_toboolean(L, 2) && lua_rawlen(L, -1) == 0) lua_pushnil(L);
    return 1;
}

static const luaL_Reg item_funcs[] = {
    {"str", l_str},
    {"decode", l_decode},
    {"decode_value", l_decode_value},
    {"to_plain", item_l_to_plain},
    {"from_plain", item_l_from_plain},
    {"equal", item_l_equal},
    {"size", l_size},
    {"keys", l_keys},
    {"set_order", l_set_order},
    {"copy", item_l_copy},
    {"to_table", item_l_to_table},
    {"is_lean", item_l_is_lean},
    {"decode_lean", item_l_decode_lean},
    {NULL, NULL}};

static const luaL_Reg item_scratch_funcs[] = {
    {"encode", l_encode},
    {"encode_value", l_encode_value},
    {"_writer_entry", l_writer_entry},
    {NULL, NULL}};

int luaopen_mighost_item(lua_State *L)
{
    luaL_newlib(L, item_funcs);
    scratch *sc = lua_newuserdatauv(L, sizeof *sc, 0);
    sc->out = (buf)BUF_INIT;
    sc->id = (buf)BUF_INIT;
    lua_createtable(L, 0, 1);
    lua_pushcfunction(L, scratch_gc);
    lua_setfield(L, -2, "__gc");
    lua_setmetatable(L, -2);
    luaL_setfuncs(L, item_scratch_funcs, 1);
    item_push_null(L);
    lua_setfield(L, -2, "null");
    lua_pushinteger(L, ITEM_MAX_SIZE);
    lua_setfield(L, -2, "MAX_SIZE");
    lua_pushinteger(L, ITEM_MAX_DEPTH);
    lua_setfield(L, -2, "MAX_DEPTH");
    return 1;
}
