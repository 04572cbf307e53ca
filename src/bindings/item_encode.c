/* item_encode.c - typed Lua tables to compact DynamoDB JSON, and sizes.
 *
 * The encoder is also the validator: it rejects whatever DynamoDB would,
 * naming the attribute path, so a bad item fails here with a message that
 * says where instead of failing a whole batch at the service. Output is
 * appended straight into the caller's buf; nothing is allocated per
 * attribute except when a set is large enough to need a Lua table for
 * its duplicate check, or a map has no recorded order and many names.
 */
#include "item_int.h"

#include <string.h>

#include <lauxlib.h>

#include "base64.h"

#define UTF8_OK ((size_t)-1)

typedef struct enc {
    lua_State *L;
    buf *out;
    buf *err;
    int order;        /* stack index of the order table */
    item_path path;
} enc;

/* Each enc_* function that succeeds adds the DynamoDB size (as item_size()
 * counts it) of what it wrote to *sz: an item that encodes has the size
 * item_size() gives, so a caller that needs both walks the item once. */
static int enc_value(enc *e, int idx, int level, size_t *sz);

static int enc_fail(enc *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int enc_fail(enc *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    item_path_error(&e->path, e->err, fmt, ap);
    va_end(ap);
    return -1;
}

/* Length of the valid UTF-8 sequence at p, or 0: no overlongs, no
 * surrogates, nothing above U+10FFFF (what DynamoDB accepts). */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0];
    size_t avail = (size_t)(end - p);
    if (c >= 0xC2 && c <= 0xDF) return avail >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if (avail < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
        if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] > 0x9F)) return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if (avail < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 ||
            (p[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] > 0x8F)) return 0;
        return 4;
    }
    return 0;
}

/* Append s as a JSON string, escaped exactly as JSON.stringify does (what
 * dynalite and the SDKs send): '"', '\\', the five short escapes, other
 * control characters as \u00xx, everything else raw. Returns UTF8_OK, or
 * the offset of the first byte that is not valid UTF-8. */
static size_t put_string(buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + len, *run = p;
    buf_reserve(b, len + 2);
    b->data[b->len++] = '"';
    while (p < end) {
        p += item_plain_run((const char *)p, (const char *)end, 1);
        if (p >= end) break;
        unsigned c = *p;
        if (c >= 0x80) {
            size_t n = utf8_seq(p, end);
            if (!n) return (size_t)(p - (const unsigned char *)s);
            p += n;
            continue;
        }
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t elen = 2;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc + 1, "u00", 3);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            elen = 6;
        }
        buf_append(b, run, (size_t)(p - run));
        buf_append(b, esc, elen);
        run = ++p;
    }
    buf_append(b, run, (size_t)(p - run));
    buf_putc(b, '"');
    return UTF8_OK;
}

static void put_tag(buf *b, int tag)
{
    size_t n = strlen(item_tag_names[tag]);
    buf_reserve(b, n + 5);
    char *d = b->data + b->len;
    d[0] = '{';
    d[1] = '"';
    memcpy(d + 2, item_tag_names[tag], n);
    d[n + 2] = '"';
    d[n + 3] = ':';
    b->len += n + 4;
    b->data[b->len] = '\0';
}

static int put_number(enc *e, const char *s, size_t len, item_num *num)
{
    const char *why = item_num_parse(s, len, num);
    if (why) {
        if (len > 64) return enc_fail(e, "invalid number \"%.64s...\": %s", s, why);
        return enc_fail(e, "invalid number \"%s\": %s", s, why);
    }
    buf_reserve(e->out, len + 2);  /* number text never needs escapes */
    buf_putc(e->out, '"');
    buf_append(e->out, s, len);
    buf_putc(e->out, '"');
    return 0;
}

static void put_binary(buf *b, const char *s, size_t len)
{
    buf_reserve(b, BASE64_ENCODED_LEN(len) + 2);
    b->data[b->len++] = '"';
    b->len += base64_encode(b->data + b->len, s, len);
    b->data[b->len++] = '"';
    b->data[b->len] = '\0';
}

/* Sets up to this size are checked for duplicates pairwise, without a
 * Lua table. */
#define SMALL_SET 32

static int enc_set(enc *e, int idx, int tag, size_t *sz)
{
    lua_State *L = e->L;
    buf *b = e->out;
    const char *what = item_tag_names[tag];
    long long n = item_seq_len(L, idx);
    if (n < 0) return enc_fail(e, "%s value must be a list (keys 1..n)", what);
    if (n == 0) return enc_fail(e, "an %s set cannot be empty", what);
    const char *ks[SMALL_SET];
    size_t kl[SMALL_SET];
    char canon[SMALL_SET][ITEM_NUM_CANON_MAX], one[ITEM_NUM_CANON_MAX];
    int seen = 0;
    if (n > SMALL_SET) {
        lua_createtable(L, 0, (int)n);
        seen = lua_gettop(L);
    }
    buf_putc(b, '[');
    for (lua_Integer i = 1; i <= n; i++) {
        size_t len, klen;
        const char *key;
        item_path_index(&e->path, (long long)i - 1);
        if (lua_rawgeti(L, idx, i) != LUA_TSTRING)
            return enc_fail(e, "%s members must be strings, not %s", what,
                            luaL_typename(L, -1));
        const char *s = lua_tolstring(L, -1, &len);
        if (i > 1) buf_putc(b, ',');
        key = s;
        klen = len;
        if (tag == ITEM_SS) {
            size_t bad = put_string(b, s, len);
            if (bad != UTF8_OK)
                return enc_fail(e, "SS member is not valid UTF-8 (byte %zu)", bad);
            *sz += len;
        } else if (tag == ITEM_BS) {
            put_binary(b, s, len);
            *sz += len;
        } else {
            item_num num;
            if (put_number(e, s, len, &num)) return -1;
            *sz += item_num_size(&num);
            /* NS members are duplicates when numerically equal */
            char *ckey = n > SMALL_SET ? one : canon[i - 1];
            klen = item_num_canon(&num, ckey);
            key = ckey;
        }
        if (seen) {
            lua_pushlstring(L, key, klen);
            lua_pushvalue(L, -1);
            if (lua_rawget(L, seen) != LUA_TNIL)
                return enc_fail(e, "duplicate member in %s set (equal to [%d])", what,
                                (int)lua_tointeger(L, -1));
            lua_pop(L, 1);
            lua_pushinteger(L, i - 1);
            lua_rawset(L, seen);
        } else {
            for (lua_Integer j = 0; j < i - 1; j++)
                if (kl[j] == klen && memcmp(ks[j], key, klen) == 0)
                    return enc_fail(e, "duplicate member in %s set (equal to [%d])", what,
                                    (int)j);
            ks[i - 1] = key;  /* the string stays alive in the set table */
            kl[i - 1] = klen;
        }
        lua_pop(L, 1);
        e->path.n--;
    }
    buf_putc(b, ']');
    if (seen) lua_pop(L, 1);
    return 0;
}

typedef struct pairctx { enc *e; int level; int first; size_t size; } pairctx;

static int enc_pair(lua_State *L, void *ud)
{
    pairctx *c = ud;
    enc *e = c->e;
    size_t len;
    const char *k = lua_tolstring(L, -2, &len);
    if (!c->first) buf_putc(e->out, ',');
    c->first = 0;
    size_t bad = put_string(e->out, k, len);
    if (bad != UTF8_OK) return enc_fail(e, "a name is not valid UTF-8 (byte %zu)", bad);
    buf_putc(e->out, ':');
    item_path_name(&e->path, k, len);
    size_t vsz = 0;
    if (enc_value(e, lua_gettop(L), c->level, &vsz)) return -1;
    e->path.n--;
    /* an item: name + value; an M: 1 + name + value per entry */
    c->size += len + vsz + (c->level > 0 ? 1 : 0);
    return 0;
}

/* {"name":value,...} for an item (level 0) or an M map. */
static int enc_map(enc *e, int idx, int level, size_t *sz)
{
    pairctx c = {e, level, 1, level > 0 ? 3 : 0};
    int badkey = 0;
    buf_putc(e->out, '{');
    if (item_each(e->L, idx, e->order, enc_pair, &c, &badkey)) {
        if (badkey) return enc_fail(e, "a name is a %s, not a string", lua_typename(e->L, badkey));
        return -1;
    }
    buf_putc(e->out, '}');
    *sz += c.size;
    return 0;
}

static const char *key_text(lua_State *L, int idx)
{
    return lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : luaL_typename(L, idx);
}

static int enc_value(enc *e, int idx, int level, size_t *sz)
{
    lua_State *L = e->L;
    buf *b = e->out;
    size_t len, bad;
    if (lua_type(L, idx) != LUA_TTABLE)
        return enc_fail(e, "expected a one-tag table such as {S=...}, not %s",
                        luaL_typename(L, idx));
    if (!lua_checkstack(L, 8)) return enc_fail(e, "Lua stack overflow");
    lua_pushnil(L);
    if (!lua_next(L, idx)) return enc_fail(e, "empty table, no type tag");
    int k = lua_gettop(L) - 1, v = k + 1;
    lua_pushvalue(L, k);
    if (lua_next(L, idx))
        return enc_fail(e, "more than one type tag (%s and %s)", key_text(L, k),
                        key_text(L, -2));
    if (lua_type(L, k) != LUA_TSTRING)
        return enc_fail(e, "type tag must be a string, not %s", luaL_typename(L, k));
    const char *name = lua_tolstring(L, k, &len);
    int tag = item_tag(name, len);
    if (tag < 0) return enc_fail(e, "unknown type tag %s", name);
    int want = item_tag_ltype[tag];
    if (lua_type(L, v) != want)
        return enc_fail(e, "%s value must be a %s, not %s", name, lua_typename(L, want),
                        luaL_typename(L, v));
    put_tag(b, tag);
    switch (tag) {
    case ITEM_S: {
        const char *s = lua_tolstring(L, v, &len);
        if ((bad = put_string(b, s, len)) != UTF8_OK)
            return enc_fail(e, "S value is not valid UTF-8 (byte %zu)", bad);
        *sz += len;
        break;
    }
    case ITEM_N: {
        item_num num;
        const char *s = lua_tolstring(L, v, &len);
        if (put_number(e, s, len, &num)) return -1;
        *sz += item_num_size(&num);
        break;
    }
    case ITEM_B: {
        const char *s = lua_tolstring(L, v, &len);
        put_binary(b, s, len);
        *sz += len;
        break;
    }
    case ITEM_SS:
    case ITEM_NS:
    case ITEM_BS:
        if (enc_set(e, v, tag, sz)) return -1;
        break;
    case ITEM_BOOL:
        if (lua_toboolean(L, v))
            buf_append(b, "true", 4);
        else
            buf_append(b, "false", 5);
        *sz += 1;
        break;
    case ITEM_NULL:
        if (!lua_toboolean(L, v)) return enc_fail(e, "NULL value must be true");
        buf_append(b, "true", 4);
        *sz += 1;
        break;
    case ITEM_L:
    case ITEM_M:
        if (level + 1 > ITEM_MAX_DEPTH)
            return enc_fail(e, "nesting deeper than %d levels", ITEM_MAX_DEPTH);
        if (tag == ITEM_M) {
            if (enc_map(e, v, level + 1, sz)) return -1;
            break;
        }
        long long n = item_seq_len(L, v);
        if (n < 0) return enc_fail(e, "L value must be a list (keys 1..n)");
        buf_putc(b, '[');
        *sz += 3;
        for (lua_Integer i = 1; i <= n; i++) {
            if (i > 1) buf_putc(b, ',');
            lua_rawgeti(L, v, i);
            item_path_index(&e->path, (long long)i - 1);
            *sz += 1;
            if (enc_value(e, lua_gettop(L), level + 1, sz)) return -1;
            e->path.n--;
            lua_pop(L, 1);
        }
        buf_putc(b, ']');
        break;
    }
    buf_putc(b, '}');
    lua_pop(L, 2);
    return 0;
}

/* A lean item (item_lean.c): attributes nobody read or set are copied
 * from its text, and count their text's length, which is never less than
 * their size (so *sz is an upper bound of item_size() for such an item);
 * the others are encoded and counted as for a table. */
static int enc_lean_pair(enc *e, int touched, pairctx *c)
{
    /* the name is at the top; leave it there */
    lua_pushvalue(e->L, -1);
    lua_rawget(e->L, touched);
    if (lua_type(e->L, -1) == LUA_TLIGHTUSERDATA &&
        lua_touserdata(e->L, -1) == (void *)&item_lean_removed) {
        lua_pop(e->L, 1);
        return 0;
    }
    int r = enc_pair(e->L, c);
    lua_pop(e->L, 1);
    return r;
}

static int enc_lean(enc *e, int idx, item_lean *li, size_t *sz)
{
    lua_State *L = e->L;
    const char *text = ITEM_LEAN_TEXT(li);
    pairctx c = {e, 0, 1, 0};
    int touched = 0;
    if (li->touched || li->extra) {
        lua_getiuservalue(L, idx, 1);
        touched = lua_gettop(L);
    }
    buf_reserve(e->out, li->len + 2);
    buf_putc(e->out, '{');
    for (uint32_t i = 0; i < li->n; i++) {
        const item_lean_attr *a = &li->attr[i];
        if (a->touched && touched) {
            lua_pushlstring(L, text + a->name, a->name_len);
            int r = enc_lean_pair(e, touched, &c);
            lua_pop(L, 1);
            if (r) return -1;
            continue;
        }
        if (!c.first) buf_putc(e->out, ',');
        c.first = 0;
        buf_append(e->out, text + a->name - 1, a->name_len + 2);   /* with its quotes */
        buf_putc(e->out, ':');
        buf_append(e->out, text + a->value, a->value_len);
        c.size += a->name_len + a->value_len;
    }
    if (li->extra && touched) {
        item_keyref local[32];
        int m;
        item_keyref *ks = item_lean_extras(L, li, touched, local, 32, &m);
        for (int j = 0; j < m; j++) {
            lua_pushlstring(L, ks[j].s, ks[j].len);
            int r = enc_lean_pair(e, touched, &c);
            lua_pop(L, 1);
            if (r) return -1;
        }
    }
    buf_putc(e->out, '}');
    *sz += c.size;
    return 0;
}

static int enc_run(lua_State *L, int idx, buf *out, buf *err, int value, size_t *size)
{
    enc e;
    int top = lua_gettop(L), r;
    size_t start = out->len;
    idx = lua_absindex(L, idx);
    e.L = L;
    e.out = out;
    e.err = err;
    e.path.n = 0;
    e.path.value = value;
    luaL_checkstack(L, 16, "item encode");
    item_order_push(L);
    e.order = lua_gettop(L);
    size_t sz = 0;
    item_lean *li = value ? NULL : item_lean_get(L, idx);
    if (li)
        r = enc_lean(&e, idx, li, &sz);
    else if (value)
        r = enc_value(&e, idx, 0, &sz);
    else if (lua_type(L, idx) != LUA_TTABLE)
        r = enc_fail(&e, "expected a table, not %s", luaL_typename(L, idx));
    else
        r = enc_map(&e, idx, 0, &sz);
    if (size) *size = r ? 0 : sz;
    lua_settop(L, top);
    if (r) {
        out->len = start;  /* leave out as the caller gave it */
        if (out->data) out->data[start] = '\0';
    }
    return r;
}

int item_encode(lua_State *L, int idx, buf *out, buf *err)
{
    return enc_run(L, idx, out, err, 0, NULL);
}

int item_encode_value(lua_State *L, int idx, buf *out, buf *err)
{
    return enc_run(L, idx, out, err, 1, NULL);
}

int item_encode_sized(lua_State *L, int idx, buf *out, buf *err, size_t *size)
{
    return enc_run(L, idx, out, err, 0, size);
}

/* ---- size ---- */

static size_t size_value(lua_State *L, int idx, int level);

static size_t size_number(lua_State *L, int idx)
{
    item_num num;
    size_t len;
    const char *s = lua_tolstring(L, idx, &len);
    if (item_num_parse(s, len, &num)) return (len + 1) / 2 + 1;  /* a guess: invalid */
    return item_num_size(&num);
}

/* An item: the sum of names and values. An M: 3 + (1 + name + value) per
 * entry. */
static size_t size_map(lua_State *L, int idx, int level, int item)
{
    size_t total = item ? 0 : 3, len;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING) {
            lua_tolstring(L, -2, &len);
            total += len + size_value(L, lua_gettop(L), level) + (item ? 0 : 1);
        }
        lua_pop(L, 1);
    }
    return total;
}

static size_t size_value(lua_State *L, int idx, int level)
{
    size_t total = 0, len;
    /* the level check also stops cycles */
    if (lua_type(L, idx) != LUA_TTABLE || level > ITEM_MAX_DEPTH + 1) return 0;
    luaL_checkstack(L, 6, "item size");
    lua_pushnil(L);
    if (!lua_next(L, idx)) return 0;
    int v = lua_gettop(L), t = lua_type(L, v);
    int tag = lua_type(L, v - 1) == LUA_TSTRING ? item_tag(lua_tostring(L, v - 1),
                                                          lua_rawlen(L, v - 1)) : -1;
    switch (tag) {
    case ITEM_S:
    case ITEM_B:
        if (t == LUA_TSTRING) total = lua_rawlen(L, v);
        break;
    case ITEM_N:
        if (t == LUA_TSTRING) total = size_number(L, v);
        break;
    case ITEM_BOOL:
    case ITEM_NULL:
        total = 1;
        break;
    case ITEM_SS:
    case ITEM_NS:
    case ITEM_BS:
        if (t != LUA_TTABLE) break;
        for (lua_Integer i = 1; lua_rawgeti(L, v, i) == LUA_TSTRING; i++) {
            total += tag == ITEM_NS ? size_number(L, -1) : (lua_tolstring(L, -1, &len), len);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        break;
    case ITEM_L:
        if (t != LUA_TTABLE) break;
        total = 3;
        for (lua_Integer i = 1; lua_rawgeti(L, v, i) != LUA_TNIL; i++) {
            total += 1 + size_value(L, lua_gettop(L), level + 1);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        break;
    case ITEM_M:
        if (t == LUA_TTABLE) total = size_map(L, v, level + 1, 0);
        break;
    }
    lua_pop(L, 2);
    return total;
}

size_t item_size(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    return lua_type(L, idx) == LUA_TTABLE ? size_map(L, idx, 0, 1) : 0;
}

size_t item_value_size(lua_State *L, int idx)
{
    return size_value(L, lua_absindex(L, idx), 0);
}
