/* item_int.h - what the item_*.c files share, with ddb_response.c (which
 * drives item_parse.c's parser) and json.c (which calls it); not for other
 * modules. */
#ifndef MIGHOST_ITEM_INT_H
#define MIGHOST_ITEM_INT_H

#include <stdarg.h>
#include <stdint.h>
#include <string.h>

#include "item.h"

enum { ITEM_S, ITEM_N, ITEM_B, ITEM_SS, ITEM_NS, ITEM_BS, ITEM_BOOL, ITEM_NULL,
       ITEM_L, ITEM_M, ITEM_NTAGS };

extern const char *const item_tag_names[ITEM_NTAGS];
extern const int item_tag_ltype[ITEM_NTAGS];   /* the Lua type each tag holds */

/* The tag named by s, or -1. */
int item_tag(const char *s, size_t len);

/* Where an error is: a name, or an index when s is NULL. Top-level name +
 * ITEM_MAX_DEPTH levels + one set member, with room to report the level
 * that is one too deep. */
typedef struct item_path {
    int n;
    int value;      /* the root is an attribute value, not an item */
    struct { const char *s; size_t len; long long idx; } seg[ITEM_MAX_DEPTH + 4];
} item_path;

static inline void item_path_name(item_path *p, const char *s, size_t len)
{
    p->seg[p->n].s = s;
    p->seg[p->n].len = len;
    p->n++;
}

static inline void item_path_index(item_path *p, long long i)
{
    p->seg[p->n].s = NULL;
    p->seg[p->n].idx = i;
    p->n++;
}

/* "attribute a.b[3]: <message>" (or "item: ..." at the top) into err. */
void item_path_error(const item_path *p, buf *err, const char *fmt, va_list ap);

/* A number's value as DynamoDB sees it: d.ddd x 10^exp. */
typedef struct item_num {
    int neg;        /* a leading '-' */
    int ndig;       /* significant digits; 0 for zero */
    long exp;       /* exponent of the first significant digit */
    char dig[40];   /* the significant digits, when ndig <= 38 */
} item_num;

#define ITEM_NUM_CANON_MAX 48

/* Parse N text (-?(d+(.d*)?|.d+)([eE][+-]?d+)?) and check DynamoDB's
 * limits: 38 significant digits, magnitude 1e-130 .. <1e126. Returns NULL
 * or what is wrong. */
const char *item_num_parse(const char *s, size_t len, item_num *n);

/* A canonical text ("-123e-2", "0"), equal for equal numbers; returns its
 * length. out holds ITEM_NUM_CANON_MAX bytes. */
size_t item_num_canon(const item_num *n, char *out);

/* The size DynamoDB counts for the number. */
size_t item_num_size(const item_num *n);

/* Push the weak-keyed table: map or item -> array of its names in order. */
void item_order_push(lua_State *L);

/* Call fn for each string key of the table at idx in encoding order
 * (recorded order, then the rest sorted) with the key at -2 and its value
 * at -1; fn must leave the stack as it found it. order is the index of
 * the table item_order_push() pushed. A non-zero return from fn stops the
 * walk and is returned. A key that is not a string stops it with -1 and
 * its Lua type in *badkey. */
typedef int (*item_key_fn)(lua_State *L, void *ud);
int item_each(lua_State *L, int idx, int order, item_key_fn fn, void *ud, int *badkey);

/* Sequence length of the table at idx: n when its keys are exactly 1..n,
 * else -1. */
long long item_seq_len(lua_State *L, int idx);

/* Whether the table at idx looks like an attribute value rather than an
 * item: one key, a type tag, holding the Lua type that tag needs. */
int item_looks_like_value(lua_State *L, int idx);

/* The shortest "%.17g"-style text that reads back as d (finite), with a
 * plain exponent ("1e21", "5e-7"); returns its length. out: 32 bytes. */
size_t item_fmt_double(double d, char *out);

/* How many bytes from p on (up to end) need no JSON escaping: no '"', no
 * '\\', no control character below 0x20 and, when high is set, no byte
 * of 0x80 or more (what the encoder checks as UTF-8). Eight bytes at a
 * time while they all pass, then byte by byte: the string scanners'
 * common case (plain text) costs a few instructions per eight bytes. */
static inline size_t item_plain_run(const char *p, const char *end, int high)
{
    const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
    const char *q = p;
    while (end - q >= 8) {
        uint64_t w;
        memcpy(&w, q, 8);
        uint64_t quote = w ^ (ones * '"'), bs = w ^ (ones * '\\');
        uint64_t bad = ((w - ones * 0x20) & ~w) |           /* a byte below 0x20 */
                       ((quote - ones) & ~quote) |          /* a '"' */
                       ((bs - ones) & ~bs) |                /* a '\\' */
                       (high ? w : 0);                      /* a byte >= 0x80 */
        if (bad & highs) break;
        q += 8;
    }
    while (q < end) {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20 || c == '"' || c == '\\' || (high && c >= 0x80)) break;
        q++;
    }
    return (size_t)(q - p);
}

/* ---- item_parse.c's parser, which ddb_response.c drives too ---- */

#define ITEM_ORDER_CACHE_LEVELS 4
#define ITEM_ORDER_CACHE_NAMES  64

typedef struct item_parser {
    lua_State *L;
    const char *s, *p, *end;   /* the text, and where the parser is */
    int order;                 /* stack index of item_order_push()'s table */
    item_path path;
    buf *err;                  /* the message when a call fails */
    buf *scratch;              /* the last string that had escapes */
    /* Sharing of order lists, for many items (0 turns it off): at stack
     * index cache, a table of the order list last recorded at each of the
     * first levels (at level + 1), and in last[] its names (interned, so
     * the same name is the same pointer). A map whose names are those of
     * the last one at its level gets the same list: the items of a Scan
     * page mostly have the same names, and order lists are never changed
     * in place. */
    int cache;
    /* json.decode_ddb_lazy: the top-level "Items" array is skipped, not
     * decoded; where it is (byte offsets in the text) is kept here. */
    int lazy_items;
    size_t items_at, items_end;
    /* ddb_decode_response_lean: a top-level Item or Attributes, and the
     * arrays of Responses, as lean items (item_lean.c); keys stay tables. */
    int lean;
    size_t len_all;            /* the whole text's length (for validate) */
    struct {
        int n;
        const char *name[ITEM_ORDER_CACHE_NAMES];
    } last[ITEM_ORDER_CACHE_LEVELS];
} item_parser;

static inline void item_skip_ws(item_parser *ps)
{
    while (ps->p < ps->end &&
           (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t'))
        ps->p++;
}

/* Parse the item at p (white space first) and push it, with its names'
 * order recorded, exactly as item_decode() does; anything but a JSON
 * object is "item: expected a JSON object, not <kind>". Returns 0, or -1
 * with the message in *err (errors say where in the item, and syntax
 * errors where in the whole text) and the stack above where it started
 * left for the caller to clear. */
int item_parse_item(item_parser *ps);

/* The plain JSON string at p (white space first): its bytes, in the text
 * when it has no escapes, else in *scratch (valid until the next string).
 * Unlike strings inside items, a \u escape of half a surrogate pair is
 * taken, as json-c takes it: it becomes U+FFFD. Returns 0, or -1 with
 * "invalid JSON: <what> at byte <n>" in *err. */
int item_parse_string(item_parser *ps, const char **out, size_t *len);

/* json.decode_ddb (ddb_response.c): decode the DynamoDB response in json
 * and push it. Returns 0, or -1 with the error message pushed. */
int ddb_decode_response(lua_State *L, const char *json, size_t len);

/* The same, with a top-level Item or Attributes and the item arrays of
 * Responses as lean items (item_lean.c), for callers that only encode or
 * compare them; keys (Key, LastEvaluatedKey, UnprocessedKeys) stay tables. */
int ddb_decode_response_lean(lua_State *L, const char *json, size_t len);

/* The same, except that a top-level "Items" array is left in the text:
 * *at and *end get its byte range (both 0 when there is none) for
 * ddb_decode_items() to decode later. A page waiting in a queue is then
 * its text, not thousands of Lua tables. The array's brackets and
 * strings are matched, not checked: ddb_decode_items() finds any error. */
int ddb_decode_response_lazy(lua_State *L, const char *json, size_t len, size_t *at, size_t *end);

/* Decode and push (as a sequence) up to max items of the items array at
 * [at, end) of the text (what ddb_decode_response_lazy() left); at is the
 * array's '[' or, to go on, the *next an earlier call gave (0 once the
 * array is done). Returns 0, or -1 with the error message pushed (a syntax
 * error anywhere in the text comes first, as for a whole response). With
 * lean set, items are pushed as lean items where they can be (item_lean.c). */
int ddb_decode_items(lua_State *L, const char *json, size_t len, size_t at, size_t end,
                     lua_Integer max, size_t *next, int lean);

/* ---- item_lean.c: items kept as their text ---- */

typedef struct item_lean_attr {
    uint32_t name, name_len;     /* where in the text (the name without quotes) */
    uint32_t value, value_len;
    uint32_t touched;            /* read or set: its value is in the uservalue table */
} item_lean_attr;

typedef struct item_lean {
    uint32_t n, len;             /* attributes; bytes of text */
    int touched;                 /* some attribute was read or set */
    int extra;                   /* some name not in the text was set */
    int removed;                 /* some attribute was set to nil */
    item_lean_attr attr[];       /* then the text */
} item_lean;

#define ITEM_LEAN_TEXT(li) ((const char *)((li)->attr + (li)->n))

/* What a removed attribute's entry in the uservalue table holds. */
extern const char item_lean_removed;

typedef struct item_keyref { const char *s; size_t len; } item_keyref;
int item_keyref_cmp(const void *a, const void *b);   /* bytewise, for qsort */

/* The lean item at idx, or NULL when it is anything else. */
item_lean *item_lean_get(lua_State *L, int idx);

/* Index of the attribute named (s, len) in the text, or -1. */
int item_lean_find(const item_lean *li, const char *s, size_t len);

/* Like item_parse_item(), but pushes a lean item when it can. */
int item_lean_parse(item_parser *ps);

/* The names set that the text does not have (from the uservalue table at
 * touched), sorted, *count of them: in local when they fit in cap, else in
 * a userdata pushed on the stack (the caller's to pop with the rest). */
item_keyref *item_lean_extras(lua_State *L, item_lean *li, int touched, item_keyref *local, int cap,
                              int *count);

/* Push the lean item at idx decoded whole, as a table (raises if its text
 * does not decode); item_lean_arg() puts that in its place when idx holds
 * a lean item, and does nothing otherwise. */
void item_lean_push_table(lua_State *L, int idx);
void item_lean_arg(lua_State *L, int idx);

/* item.equal for two lean items with nothing set or removed (values read
 * are fine): attribute by attribute, texts first, decoding a value only
 * when its text differs. Returns 1 or 0, or -1 when it does not apply. */
int item_lean_equal(lua_State *L, int a, int b);

/* item.copy, item.to_table, item.is_lean, item.decode_lean */
int item_l_copy(lua_State *L);
int item_l_to_table(lua_State *L);
int item_l_is_lean(lua_State *L);
int item_l_decode_lean(lua_State *L);

/* item_plain.c's typed comparison of the values at a and b. */
int item_eq_value(lua_State *L, int a, int b);

/* Lua functions in item_plain.c. */
int item_l_to_plain(lua_State *L);
int item_l_from_plain(lua_State *L);
int item_l_equal(lua_State *L);

#endif
