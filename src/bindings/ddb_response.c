/* ddb_response.c - json.decode_ddb: a DynamoDB response, from its text
 * straight to Lua, with the items in it in their typed form.
 *
 * One recursive-descent pass over the text, no json-c tree. The fields
 * that hold items go to item_parse.c's parser, which pushes typed items
 * with their names' order recorded, exactly as item.decode does:
 *   Item, Attributes, Key, LastEvaluatedKey, ExclusiveStartKey   an item
 *   Items, Keys                                                  [items]
 *   Responses                                          {table: [items]}
 * when the value has that shape (an object; an array), under any object
 * at any depth, so UnprocessedItems ({table: [{PutRequest={Item=...}}]})
 * and UnprocessedKeys ({table: {Keys=[...], ...}}) need no rule of their
 * own. Everything else is plain JSON, decoded as json-c decoded it for
 * the implementation this replaced: objects -> tables (a repeated name:
 * the last value), arrays -> sequences, null -> json.null, numbers without
 * a fraction or exponent -> integers (saturating at 64 bits), other
 * numbers -> floats, a \u escape of half a surrogate pair -> U+FFFD.
 *
 * Errors, as before: a text that is not JSON is "invalid JSON: <what> at
 * byte <n>" (json-c's limit of 200 nested containers included), and that
 * wins over any other error, even one earlier in the text; then the first
 * item error is the item codec's ("attribute a.b: ..."), and plain JSON
 * more than 64 levels deep is "JSON nested too deeply". Good texts are
 * read once: only a failed decode reads the text again, with validate(),
 * to find a syntax error the parser stopped short of.
 *
 * Where json-c took liberties, this parser is strict RFC 8259: no text
 * after the value, comments, single quotes, trailing commas, leading
 * zeros, NaN, control characters in strings and so on. Also, unlike
 * before: a name with a \u0000 is kept whole (json-c cut it there),
 * astral characters from \u pairs whose low 16 bits fall in D800-DFFF are
 * decoded (json-c gave U+FFFD), items refuse what item.decode refuses (a
 * name twice, two type tags, half a surrogate pair), and a scalar or null
 * alone is decoded (json-c wanted more text after it).
 */
#include "item_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>

#include "bindings.h"

#define PLAIN_MAX_DEPTH 64   /* plain values below the top, as before */
#define JSON_MAX_DEPTH 200   /* json-c's limit on containers around a value */

enum { F_PLAIN, F_ITEM, F_ITEMS, F_RESPONSES };

typedef item_parser parser;

static int parse_value(parser *ps, int field, int depth);

static int fail(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(parser *ps, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    buf_reset(ps->err);
    buf_vprintf(ps->err, fmt, ap);
    va_end(ap);
    return -1;
}

static int syntax(parser *ps, const char *what)
{
    return fail(ps, "invalid JSON: %s at byte %zu", what, (size_t)(ps->p - ps->s));
}

/* What a name says its value holds. */
static int field_kind(const char *k, size_t n)
{
    switch (n) {
    case 3: return memcmp(k, "Key", 3) == 0 ? F_ITEM : F_PLAIN;
    case 4: return memcmp(k, "Item", 4) == 0 ? F_ITEM : memcmp(k, "Keys", 4) == 0 ? F_ITEMS : F_PLAIN;
    case 5: return memcmp(k, "Items", 5) == 0 ? F_ITEMS : F_PLAIN;
    case 9: return memcmp(k, "Responses", 9) == 0 ? F_RESPONSES : F_PLAIN;
    case 10: return memcmp(k, "Attributes", 10) == 0 ? F_ITEM : F_PLAIN;
    case 16: return memcmp(k, "LastEvaluatedKey", 16) == 0 ? F_ITEM : F_PLAIN;
    case 17: return memcmp(k, "ExclusiveStartKey", 17) == 0 ? F_ITEM : F_PLAIN;
    default: return F_PLAIN;
    }
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* The end of the number at p, or NULL if it is not one; *isint when it has
 * neither a fraction nor an exponent. */
static const char *scan_number(const char *p, const char *end, int *isint)
{
    *isint = 1;
    if (p < end && *p == '-') p++;
    if (p >= end || !is_digit(*p)) return NULL;
    if (*p++ != '0')
        while (p < end && is_digit(*p)) p++;
    if (p < end && *p == '.') {
        *isint = 0;
        if (++p >= end || !is_digit(*p)) return NULL;
        while (p < end && is_digit(*p)) p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        *isint = 0;
        if (++p < end && (*p == '+' || *p == '-')) p++;
        if (p >= end || !is_digit(*p)) return NULL;
        while (p < end && is_digit(*p)) p++;
    }
    return p;
}

/* The literal (true, false, null) at p: 1, 0, -1 for null; -2 if none. */
static int scan_literal(parser *ps)
{
    size_t left = (size_t)(ps->end - ps->p);
    if (left >= 4 && memcmp(ps->p, "true", 4) == 0) return ps->p += 4, 1;
    if (left >= 5 && memcmp(ps->p, "false", 5) == 0) return ps->p += 5, 0;
    if (left >= 4 && memcmp(ps->p, "null", 4) == 0) return ps->p += 4, -1;
    return -2;
}

static int push_number(parser *ps)
{
    lua_State *L = ps->L;
    int isint;
    const char *q = scan_number(ps->p, ps->end, &isint);
    if (!q) return syntax(ps, is_digit(*ps->p) || *ps->p == '-' ? "bad number" : "unexpected character");
    if (isint) {
        /* json-c's int64, which saturates */
        const char *d = ps->p + (*ps->p == '-');
        uint64_t v = 0;
        int over = 0;
        for (; d < q; d++) {
            unsigned dig = (unsigned)(*d - '0');
            if (v > (UINT64_MAX - dig) / 10) over = 1;
            else v = v * 10 + dig;
        }
        lua_Integer i;
        if (*ps->p == '-')
            i = over || v > (uint64_t)INT64_MAX ? INT64_MIN : -(lua_Integer)v;
        else
            i = over || v > (uint64_t)INT64_MAX ? INT64_MAX : (lua_Integer)v;
        lua_pushinteger(L, i);
    } else {
        /* strtod in the C locale (json-c's reading), whatever the locale */
        size_t n = (size_t)(q - ps->p);
        char tmp[64];
        const char *z = tmp;
        if (n < sizeof tmp) {
            memcpy(tmp, ps->p, n);
            tmp[n] = '\0';
        } else {
            buf_reset(ps->scratch);
            buf_append(ps->scratch, ps->p, n);
            z = buf_str(ps->scratch);
        }
        if (lua_stringtonumber(L, z) == 0) lua_pushnumber(L, strtod(z, NULL));
    }
    ps->p = q;
    return 0;
}

/* After a member of an array or object: 1 at ',', 0 at the close, -1 on
 * anything else. */
static int next_member(parser *ps, char close)
{
    item_skip_ws(ps);
    if (ps->p < ps->end && *ps->p == ',') {
        ps->p++;
        return 1;
    }
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    if (ps->p >= ps->end) return syntax(ps, "unexpected end of text");
    return syntax(ps, close == ']' ? "expected ',' or ']'" : "expected ',' or '}'");
}

/* After '{' or ',' in an object: the name in quotes, then ':'. */
static int member_name(parser *ps, const char **k, size_t *klen)
{
    item_skip_ws(ps);
    if (ps->p >= ps->end) return syntax(ps, "unexpected end of text");
    if (*ps->p != '"') return syntax(ps, "expected a name in quotes");
    if (item_parse_string(ps, k, klen)) return -1;
    item_skip_ws(ps);
    if (ps->p >= ps->end) return syntax(ps, "unexpected end of text");
    if (*ps->p != ':') return syntax(ps, "expected ':'");
    ps->p++;
    return 0;
}

/* Opening bracket at p: 1 when an element follows, 0 when it was empty. */
static int open_container(parser *ps, char close)
{
    ps->p++;
    item_skip_ws(ps);
    if (ps->p < ps->end && *ps->p == close) {
        ps->p++;
        return 0;
    }
    return 1;
}

/* '[' items ']' (lean: as lean items) */
static int parse_items(parser *ps, int lean)
{
    lua_State *L = ps->L;
    lua_Integer n = 0;
    int more;
    lua_newtable(L);
    for (more = open_container(ps, ']'); more > 0; more = next_member(ps, ']')) {
        if ((lean ? item_lean_parse : item_parse_item)(ps)) return -1;
        lua_rawseti(L, -2, ++n);
    }
    return more;
}

static int parse_array(parser *ps, int depth)
{
    lua_State *L = ps->L;
    lua_Integer n = 0;
    int more;
    if (!lua_checkstack(L, 4)) return fail(ps, "Lua stack overflow");
    lua_newtable(L);
    for (more = open_container(ps, ']'); more > 0; more = next_member(ps, ']')) {
        if (parse_value(ps, F_PLAIN, depth + 1)) return -1;
        lua_rawseti(L, -2, ++n);
    }
    return more;
}

/* Past the string whose opening quote is just before p: its closing quote
 * is the first one after an even run of backslashes. memchr, because a
 * page's items are mostly string bytes (this pass runs over every page). */
static const char *past_string(const char *p, const char *end)
{
    for (;;) {
        const char *q = memchr(p, '"', (size_t)(end - p));
        if (!q) return NULL;
        const char *b = q;
        while (b > p && b[-1] == '\\') b--;
        if ((q - b) % 2 == 0) return q + 1;
        p = q + 1;
    }
}

/* Past the array at p ('['), matching brackets and strings only. */
static int skip_array(parser *ps)
{
    const char *p = ps->p, *end = ps->end;
    int depth = 0;
    while (p < end) {
        char c = *p++;
        if (c == '"') {
            if (!(p = past_string(p, end))) break;
        } else if (c == '[' || c == '{') {
            depth++;
        } else if (c == ']' || c == '}') {
            if (--depth == 0) {
                ps->p = p;
                return 0;
            }
        }
    }
    ps->p = end;
    return syntax(ps, "unexpected end of text");
}

static int parse_object(parser *ps, int field, int depth)
{
    lua_State *L = ps->L;
    const char *k;
    size_t klen;
    int more;
    if (!lua_checkstack(L, 4)) return fail(ps, "Lua stack overflow");
    lua_createtable(L, 0, 4);
    for (more = open_container(ps, '}'); more > 0; more = next_member(ps, '}')) {
        if (member_name(ps, &k, &klen)) return -1;
        int kind = field_kind(k, klen);
        item_skip_ws(ps);
        if (ps->lazy_items && depth == 0 && kind == F_ITEMS && klen == 5) {
            if (ps->p < ps->end && *ps->p == '[') {
                ps->items_at = (size_t)(ps->p - ps->s);
                if (skip_array(ps)) return -1;
                ps->items_end = (size_t)(ps->p - ps->s);
                continue;
            }
            ps->items_at = ps->items_end = 0;   /* a later "Items" that is no array wins */
        }
        lua_pushlstring(L, k, klen);
        /* Responses: {table: [items]} */
        int lean_item = ps->lean && depth == 0 && kind == F_ITEM &&
                        ((klen == 4 && memcmp(k, "Item", 4) == 0) ||
                         (klen == 10 && memcmp(k, "Attributes", 10) == 0));
        int rc = field == F_RESPONSES && ps->p < ps->end && *ps->p == '['
                     ? parse_items(ps, ps->lean)
                     : lean_item ? item_lean_parse(ps) : parse_value(ps, kind, depth + 1);
        if (rc) return -1;
        lua_rawset(L, -3);
    }
    return more;
}

static int parse_value(parser *ps, int field, int depth)
{
    if (depth > PLAIN_MAX_DEPTH) return fail(ps, "JSON nested too deeply");
    item_skip_ws(ps);
    if (ps->p >= ps->end) return syntax(ps, "unexpected end of text");
    switch (*ps->p) {
    case '{': return field == F_ITEM ? item_parse_item(ps) : parse_object(ps, field, depth);
    case '[': return field == F_ITEMS ? parse_items(ps, 0) : parse_array(ps, depth);
    case '"': {
        const char *s;
        size_t len;
        if (item_parse_string(ps, &s, &len)) return -1;
        lua_pushlstring(ps->L, s, len);
        return 0;
    }
    case 't':
    case 'f':
    case 'n': {
        int v = scan_literal(ps);
        if (v == -2) return syntax(ps, "unexpected character");
        if (v < 0)
            item_push_null(ps->L);
        else
            lua_pushboolean(ps->L, v);
        return 0;
    }
    default: return push_number(ps);
    }
}

/* The first syntax error in the text into *err, or 0 when it is JSON that
 * json-c would take (at most 200 containers around any value). */
static int validate(parser *ps)
{
    char open[JSON_MAX_DEPTH];  /* the open containers' closing brackets */
    int depth = 0, isint;
    const char *s;
    size_t len;
    ps->p = ps->s;
    for (;;) {
        /* a value */
        item_skip_ws(ps);
        if (ps->p >= ps->end) return syntax(ps, "unexpected end of text");
        if (depth == JSON_MAX_DEPTH) return syntax(ps, "nesting too deep");
        char c = *ps->p;
        if (c == '{' || c == '[') {
            char close = c == '{' ? '}' : ']';
            if (open_container(ps, close)) {
                open[depth++] = close;
                if (close == '}' && member_name(ps, &s, &len)) return -1;
                continue;
            }
        } else if (c == '"') {
            if (item_parse_string(ps, &s, &len)) return -1;
        } else if (c == 't' || c == 'f' || c == 'n') {
            if (scan_literal(ps) == -2) return syntax(ps, "unexpected character");
        } else {
            const char *q = scan_number(ps->p, ps->end, &isint);
            if (!q) return syntax(ps, is_digit(c) || c == '-' ? "bad number" : "unexpected character");
            ps->p = q;
        }
        /* after it: close containers until the next value, or the end */
        for (;;) {
            if (depth == 0) {
                item_skip_ws(ps);
                return ps->p < ps->end ? syntax(ps, "text after the end") : 0;
            }
            int more = next_member(ps, open[depth - 1]);
            if (more < 0) return -1;
            if (more) {
                if (open[depth - 1] == '}' && member_name(ps, &s, &len)) return -1;
                break;
            }
            depth--;
        }
    }
}

/* The parser's set-up: its buffers and tables pushed (three values). */
static void parser_init(parser *ps, lua_State *L, const char *json, size_t len)
{
    luaL_checkstack(L, 24, "decode_ddb");
    /* GC-owned, so that nothing leaks if Lua raises (out of memory) */
    ps->err = json_new_bufbox(L);
    ps->scratch = json_new_bufbox(L);
    item_order_push(L);
    ps->order = lua_gettop(L);
    lua_createtable(L, ITEM_ORDER_CACHE_LEVELS, 0);
    ps->cache = lua_gettop(L);
    ps->lean = 0;
    for (int i = 0; i < ITEM_ORDER_CACHE_LEVELS; i++) ps->last[i].n = 0;
    ps->L = L;
    ps->s = ps->p = json;
    ps->end = json + len;
    ps->path.n = 0;
    ps->path.value = 0;
    ps->lazy_items = 0;
    ps->items_at = ps->items_end = 0;
}

/* After a parse (r: its result): the value or the message at top + 1. */
static int parser_finish(parser *ps, int top, int r)
{
    lua_State *L = ps->L;
    if (r) {
        ps->end = ps->s + ps->len_all;
        validate(ps);  /* a syntax error anywhere comes first */
        lua_pushlstring(L, buf_str(ps->err), ps->err->len);
    }
    buf_free(ps->err);
    buf_free(ps->scratch);
    lua_replace(L, top + 1);
    lua_settop(L, top + 1);
    return r ? -1 : 0;
}

static int decode_response(lua_State *L, const char *json, size_t len, int lazy, int lean,
                           size_t *at, size_t *end)
{
    parser ps;
    int top = lua_gettop(L), r;
    parser_init(&ps, L, json, len);
    ps.len_all = len;
    ps.lazy_items = lazy;
    ps.lean = lean;
    r = parse_value(&ps, F_PLAIN, 0);
    if (!r) {
        item_skip_ws(&ps);
        if (ps.p < ps.end) r = syntax(&ps, "text after the end");
    }
    if (at) *at = ps.items_at, *end = ps.items_end;
    return parser_finish(&ps, top, r);
}

int ddb_decode_response(lua_State *L, const char *json, size_t len)
{
    return decode_response(L, json, len, 0, 0, NULL, NULL);
}

int ddb_decode_response_lean(lua_State *L, const char *json, size_t len)
{
    return decode_response(L, json, len, 0, 1, NULL, NULL);
}

int ddb_decode_response_lazy(lua_State *L, const char *json, size_t len, size_t *at, size_t *end)
{
    return decode_response(L, json, len, 1, 0, at, end);
}

/* Up to max items of the array, from its '[' or from the ',' where an
 * earlier call stopped: pushed as a sequence; *next is where the next
 * call starts (that ','), 0 at the end of the array. */
static int parse_items_part(parser *ps, lua_Integer max, size_t *next, int lean)
{
    lua_State *L = ps->L;
    lua_Integer n = 0;
    int more;
    *next = 0;
    lua_createtable(L, max < 128 ? (int)max : 128, 0);
    item_skip_ws(ps);
    if (ps->p < ps->end && *ps->p == '[') {
        more = open_container(ps, ']');
    } else if (ps->p < ps->end && *ps->p == ',') {   /* where an earlier call stopped */
        ps->p++;
        more = 1;
    } else {
        return syntax(ps, "expected '['");
    }
    for (; more > 0; more = next_member(ps, ']')) {
        if (n == max) {
            *next = (size_t)(ps->p - 1 - ps->s);   /* the ',' before the next one */
            return 0;
        }
        if ((lean ? item_lean_parse : item_parse_item)(ps)) return -1;
        lua_rawseti(L, -2, ++n);
    }
    return more;
}

int ddb_decode_items(lua_State *L, const char *json, size_t len, size_t at, size_t end,
                     lua_Integer max, size_t *next, int lean)
{
    parser ps;
    int top = lua_gettop(L), r;
    if (at > end || end > len) return lua_pushliteral(L, "decode_ddb_items: bad range"), -1;
    parser_init(&ps, L, json, len);
    ps.len_all = len;
    ps.p = json + at;
    ps.end = json + end;
    r = parse_items_part(&ps, max, next, lean);
    if (!r && *next == 0 && ps.p != ps.end) r = syntax(&ps, "expected ',' or ']'");
    return parser_finish(&ps, top, r);
}
