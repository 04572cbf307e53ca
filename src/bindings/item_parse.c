/* item_parse.c - DynamoDB JSON text straight to typed Lua tables.
 *
 * item_decode() does not build a json-c tree first: parsing a ~1 KB item
 * with json-c costs about twice as much as turning the tree into Lua, so
 * this parser reads the text once and pushes strings straight from it
 * (only strings with escapes are copied, into one reused scratch buffer).
 * Containers are collected on the Lua stack and then moved into a table
 * created at its final size, so no table is ever rehashed.
 *
 * It accepts exactly RFC 8259 JSON, with two refusals json-c does not
 * make: a name repeated in one object, and a \u escape that is half of a
 * surrogate pair (DynamoDB strings are UTF-8 and cannot hold either).
 *
 * ddb_response.c drives the same parser over a whole DynamoDB response
 * (item_parse_item, item_parse_string in item_int.h), so a Scan page is
 * read once, items and all.
 */
#include "item_int.h"

#include <stdint.h>
#include <string.h>

#include <lauxlib.h>

#include "base64.h"

typedef item_parser parser;

static int parse_value(parser *ps, int level);

static int pfail(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int pfail(parser *ps, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    item_path_error(&ps->path, ps->err, fmt, ap);
    va_end(ap);
    return -1;
}

static int syntax(parser *ps, const char *what)
{
    return pfail(ps, "invalid JSON at byte %zu: %s", (size_t)(ps->p - ps->s), what);
}

/* Skip white space, then take c if it is next. */
static int take(parser *ps, char c)
{
    item_skip_ws(ps);
    if (ps->p < ps->end && *ps->p == c) {
        ps->p++;
        return 1;
    }
    return 0;
}

static int expect(parser *ps, char c)
{
    if (take(ps, c)) return 0;
    return pfail(ps, "invalid JSON at byte %zu: expected '%c'", (size_t)(ps->p - ps->s), c);
}

/* What kind of JSON value comes next, for messages. */
static const char *next_kind(parser *ps)
{
    item_skip_ws(ps);
    if (ps->p >= ps->end) return "the end of the text";
    switch (*ps->p) {
    case '{': return "object";
    case '[': return "array";
    case '"': return "string";
    case 't': case 'f': return "boolean";
    case 'n': return "null";
    case '-': return "number";
    default: return *ps->p >= '0' && *ps->p <= '9' ? "number" : "invalid JSON";
    }
}

static int hex4(const char *p, const char *end, uint32_t *out)
{
    uint32_t v = 0;
    if (end - p < 4) return -1;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

static void put_utf8(buf *b, uint32_t c)
{
    char u[4];
    size_t n;
    if (c < 0x80) {
        u[0] = (char)c, n = 1;
    } else if (c < 0x800) {
        u[0] = (char)(0xC0 | c >> 6), u[1] = (char)(0x80 | (c & 63)), n = 2;
    } else if (c < 0x10000) {
        u[0] = (char)(0xE0 | c >> 12), u[1] = (char)(0x80 | ((c >> 6) & 63));
        u[2] = (char)(0x80 | (c & 63)), n = 3;
    } else {
        u[0] = (char)(0xF0 | c >> 18), u[1] = (char)(0x80 | ((c >> 12) & 63));
        u[2] = (char)(0x80 | ((c >> 6) & 63)), u[3] = (char)(0x80 | (c & 63)), n = 4;
    }
    buf_append(b, u, n);
}

/* A syntax error in a string: an item's, or plain JSON's (as
 * json.decode_ddb words them). */
static int str_syntax(parser *ps, int plain, const char *what)
{
    if (!plain) return syntax(ps, what);
    buf_reset(ps->err);
    buf_printf(ps->err, "invalid JSON: %s at byte %zu", what, (size_t)(ps->p - ps->s));
    return -1;
}

/* The string at p (after white space): its bytes, in the input when it
 * has no escapes, else in scratch (valid until the next string). In an
 * item, a \u escape of half a surrogate pair is an error; in plain JSON it
 * is U+FFFD, as json-c decodes it (a high half not followed by a \u escape
 * of a low one is replaced, and what follows is read as usual). */
static int scan_string(parser *ps, const char **out, size_t *len, int plain)
{
    if (!take(ps, '"')) return str_syntax(ps, plain, "expected a string");
    const char *p = ps->p, *end = ps->end, *run = p;
    p += item_plain_run(p, end, 0);
    if (p < end && *p == '"') {
        *out = run;
        *len = (size_t)(p - run);
        ps->p = p + 1;
        return 0;
    }
    buf *b = ps->scratch;
    buf_reset(b);
    for (;;) {
        while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20) p++;
        buf_append(b, run, (size_t)(p - run));
        ps->p = p;
        if (p >= end) return str_syntax(ps, plain, "unterminated string");
        if (*p == '"') break;
        if (*p != '\\') return str_syntax(ps, plain, "control character in a string");
        if (++p >= end) return str_syntax(ps, plain, "unterminated string");
        uint32_t c, lo;
        switch (*p++) {
        case '"': buf_putc(b, '"'); break;
        case '\\': buf_putc(b, '\\'); break;
        case '/': buf_putc(b, '/'); break;
        case 'b': buf_putc(b, '\b'); break;
        case 'f': buf_putc(b, '\f'); break;
        case 'n': buf_putc(b, '\n'); break;
        case 'r': buf_putc(b, '\r'); break;
        case 't': buf_putc(b, '\t'); break;
        case 'u':
            if (hex4(p, end, &c)) return str_syntax(ps, plain, "bad \\u escape");
            p += 4;
            if (c >= 0xD800 && c <= 0xDBFF && end - p >= 6 && p[0] == '\\' && p[1] == 'u' &&
                !hex4(p + 2, end, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
                c = 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            } else if (c >= 0xD800 && c <= 0xDFFF) {
                if (!plain) return syntax(ps, "\\u escape of half a surrogate pair");
                c = 0xFFFD;
            }
            put_utf8(b, c);
            break;
        default:
            ps->p = p - 2;
            return str_syntax(ps, plain, "bad escape");
        }
        run = p;
    }
    ps->p = p + 1;
    *out = buf_str(b);
    *len = b->len;
    return 0;
}

static int parse_string(parser *ps, const char **out, size_t *len)
{
    return scan_string(ps, out, len, 0);
}

int item_parse_string(item_parser *ps, const char **out, size_t *len)
{
    return scan_string(ps, out, len, 1);
}

static int parse_literal(parser *ps, int *val)
{
    item_skip_ws(ps);
    size_t left = (size_t)(ps->end - ps->p);
    if (left >= 4 && memcmp(ps->p, "true", 4) == 0) {
        ps->p += 4;
        *val = 1;
        return 0;
    }
    if (left >= 5 && memcmp(ps->p, "false", 5) == 0) {
        ps->p += 5;
        *val = 0;
        return 0;
    }
    return -1;
}

/* A JSON string holding tag's value: pushed as is, or base64-decoded. */
static int push_string(parser *ps, int tag)
{
    const char *s;
    size_t len;
    if (next_kind(ps)[0] != 's')
        return pfail(ps, "%s value must be a JSON string, not %s", item_tag_names[tag],
                     next_kind(ps));
    if (parse_string(ps, &s, &len)) return -1;
    if (tag != ITEM_B) {
        lua_pushlstring(ps->L, s, len);
        return 0;
    }
    luaL_Buffer b;
    char *out = luaL_buffinitsize(ps->L, &b, BASE64_DECODED_MAX(len));
    long n = base64_decode(out, s, len);
    if (n < 0) return pfail(ps, "B value is not canonical base64");
    luaL_pushresultsize(&b, (size_t)n);
    return 0;
}

/* Move the n values above base into a new sequence at base + 1. */
static void collect_list(lua_State *L, int base, int n)
{
    lua_createtable(L, n, 0);
    if (n == 0) return;
    for (int i = 1; i <= n; i++) {
        lua_pushvalue(L, base + i);
        lua_rawseti(L, -2, i);
    }
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
}

/* '[' elements ']' of a set (member tag) or an L (member -1). */
static int parse_array(parser *ps, int tag, int level)
{
    lua_State *L = ps->L;
    int base = lua_gettop(L), n = 0;
    if (next_kind(ps)[0] != 'a')
        return pfail(ps, "%s value must be a JSON array, not %s", item_tag_names[tag],
                     next_kind(ps));
    int member = tag == ITEM_SS ? ITEM_S : tag == ITEM_NS ? ITEM_N : ITEM_B;
    ps->p++;
    if (!take(ps, ']')) {
        do {
            if (!lua_checkstack(L, 4)) return pfail(ps, "too many elements");
            item_path_index(&ps->path, n);
            if (tag == ITEM_L ? parse_value(ps, level) : push_string(ps, member)) return -1;
            ps->path.n--;
            n++;
        } while (take(ps, ','));
        if (expect(ps, ']')) return -1;
    }
    collect_list(L, base, n);
    return 0;
}

/* '{' "name": value, ... '}' for an item or an M, with its order. */
static int parse_map(parser *ps, int level)
{
    lua_State *L = ps->L;
    int base = lua_gettop(L), n = 0;
    const char *s;
    size_t len;
    if (expect(ps, '{')) return -1;
    if (!take(ps, '}')) {
        do {
            if (!lua_checkstack(L, 6)) return pfail(ps, "too many names");
            if (parse_string(ps, &s, &len)) return -1;
            s = lua_pushlstring(L, s, len);  /* the path may point at it */
            if (expect(ps, ':')) return -1;
            item_path_name(&ps->path, s, len);
            if (parse_value(ps, level)) return -1;
            ps->path.n--;
            n++;
        } while (take(ps, ','));
        if (expect(ps, '}')) return -1;
    }
    lua_createtable(L, 0, n);
    if (n == 0) return 0;  /* nothing to order: adding names sorts them */
    int map = lua_gettop(L);
    int cached = ps->cache && level < ITEM_ORDER_CACHE_LEVELS && n <= ITEM_ORDER_CACHE_NAMES;
    if (cached && ps->last[level].n == n) {
        const char *const *name = ps->last[level].name;
        int i = 0;
        while (i < n && lua_tolstring(L, base + 2 * i + 1, NULL) == name[i]) i++;
        if (i == n) {  /* the names of the last map here: no duplicates, the same list */
            for (i = 0; i < n; i++) {
                lua_pushvalue(L, base + 2 * i + 1);
                lua_pushvalue(L, base + 2 * i + 2);
                lua_rawset(L, map);
            }
            lua_pushvalue(L, map);
            lua_rawgeti(L, ps->cache, level + 1);
            lua_rawset(L, ps->order);
            lua_replace(L, base + 1);
            lua_settop(L, base + 1);
            return 0;
        }
    }
    lua_createtable(L, n, 0);
    for (int i = 0; i < n; i++) {
        int k = base + 2 * i + 1;
        lua_pushvalue(L, k);
        if (lua_rawget(L, map) != LUA_TNIL)
            return pfail(ps, "name \"%s\" appears twice", lua_tostring(L, k));
        lua_pop(L, 1);
        lua_pushvalue(L, k);
        lua_rawseti(L, map + 1, i + 1);
        lua_pushvalue(L, k);
        lua_pushvalue(L, k + 1);
        lua_rawset(L, map);
    }
    if (cached) {
        lua_pushvalue(L, -1);
        lua_rawseti(L, ps->cache, level + 1);
        ps->last[level].n = n;
        for (int i = 0; i < n; i++)
            ps->last[level].name[i] = lua_tolstring(L, base + 2 * i + 1, NULL);
    }
    lua_pushvalue(L, map);
    lua_insert(L, -2);
    lua_rawset(L, ps->order);
    lua_replace(L, base + 1);
    lua_settop(L, base + 1);
    return 0;
}

static int parse_value(parser *ps, int level)
{
    lua_State *L = ps->L;
    const char *s;
    size_t len;
    int b;
    if (next_kind(ps)[0] != 'o')
        return pfail(ps, "expected an object with one type tag, not %s", next_kind(ps));
    ps->p++;
    if (take(ps, '}')) return pfail(ps, "no type tag");
    if (parse_string(ps, &s, &len)) return -1;
    int tag = item_tag(s, len);
    if (tag < 0) return pfail(ps, "unknown type tag %.*s", (int)len, s);
    if (expect(ps, ':')) return -1;
    lua_createtable(L, 0, 1);
    switch (tag) {
    case ITEM_S:
    case ITEM_N:
    case ITEM_B:
        if (push_string(ps, tag)) return -1;
        break;
    case ITEM_BOOL:
        if (parse_literal(ps, &b))
            return pfail(ps, "BOOL value must be true or false, not %s", next_kind(ps));
        lua_pushboolean(L, b);
        break;
    case ITEM_NULL:
        if (parse_literal(ps, &b) || !b) return pfail(ps, "NULL value must be true");
        lua_pushboolean(L, 1);
        break;
    case ITEM_SS:
    case ITEM_NS:
    case ITEM_BS:
        if (parse_array(ps, tag, level)) return -1;
        break;
    default:  /* L, M */
        if (level + 1 > ITEM_MAX_DEPTH)
            return pfail(ps, "nesting deeper than %d levels", ITEM_MAX_DEPTH);
        if (!lua_checkstack(L, 8)) return pfail(ps, "Lua stack overflow");
        if (tag == ITEM_M && next_kind(ps)[0] != 'o')
            return pfail(ps, "M value must be a JSON object, not %s", next_kind(ps));
        if (tag == ITEM_M ? parse_map(ps, level + 1) : parse_array(ps, tag, level + 1))
            return -1;
    }
    if (take(ps, ',')) {
        if (parse_string(ps, &s, &len)) return -1;
        return pfail(ps, "more than one type tag (%s and %.*s)", item_tag_names[tag], (int)len, s);
    }
    if (expect(ps, '}')) return -1;
    lua_setfield(L, -2, item_tag_names[tag]);
    return 0;
}

int item_parse_item(item_parser *ps)
{
    ps->path.n = 0;
    ps->path.value = 0;
    if (next_kind(ps)[0] != 'o')
        return pfail(ps, "expected a JSON object, not %s", next_kind(ps));
    return parse_map(ps, 0);
}

static int parse_run(lua_State *L, const char *json, size_t len, int value)
{
    parser ps;
    buf err = BUF_INIT, scratch = BUF_INIT;
    int top = lua_gettop(L), r;
    ps.L = L;
    ps.s = ps.p = json;
    ps.end = json + len;
    ps.path.n = 0;
    ps.path.value = value;
    ps.err = &err;
    ps.scratch = &scratch;
    ps.cache = 0;
    luaL_checkstack(L, 16, "item decode");
    item_order_push(L);
    ps.order = lua_gettop(L);
    if (!value && next_kind(&ps)[0] != 'o')
        r = pfail(&ps, "expected a JSON object, not %s", next_kind(&ps));
    else
        r = value ? parse_value(&ps, 0) : parse_map(&ps, 0);
    if (!r) {
        item_skip_ws(&ps);
        if (ps.p < ps.end) r = syntax(&ps, "text after the end");
    }
    buf_free(&scratch);
    if (r) {
        lua_settop(L, top);
        lua_pushlstring(L, buf_str(&err), err.len);
        buf_free(&err);
        return -1;
    }
    lua_remove(L, ps.order);
    return 0;
}

int item_decode(lua_State *L, const char *json, size_t len)
{
    return parse_run(L, json, len, 0);
}

int item_decode_value(lua_State *L, const char *json, size_t len)
{
    return parse_run(L, json, len, 1);
}
