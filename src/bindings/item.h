/* item.h - DynamoDB items between DynamoDB JSON (the wire format) and Lua.
 *
 * The Lua form is typed so that copies are exact: an item is a table
 * name -> attribute value, and an attribute value is a one-tag table:
 *   {S="text"}  {N="12.50"}  {B=<raw bytes>}  {BOOL=true}  {NULL=true}
 *   {SS={"a","b"}}  {NS={"1","2"}}  {BS={<raw>,<raw>}}
 *   {L={<value>, ...}}  {M={name=<value>, ...}}
 * N stays the exact text it arrived as; B is the decoded bytes.
 *
 * Key order: decoding records the order in which each item's and each M
 * map's names arrived (in a weak-keyed table, invisible to pairs), and
 * encoding writes the recorded names first, in that order, skipping names
 * that were removed (a name put back returns to its place), then names
 * added since, sorted bytewise. Tables with no recorded order (built by
 * scripts, or deep-copied in Lua: use set_order(copy, keys(orig))) encode
 * sorted. So decode -> encode is byte-identical, and output is always
 * deterministic.
 *
 * Nesting: a top-level attribute's L or M is level 1; DynamoDB allows 32
 * levels, and so do encode and decode.
 *
 * Errors name the attribute path, DynamoDB document-path style with
 * 0-based indexes: "attribute a.b[3]: unknown type tag X".
 */
#ifndef MIGHOST_ITEM_H
#define MIGHOST_ITEM_H

#include <stddef.h>

#include <lua.h>

#include "buf.h"

struct json_object;

#define ITEM_MAX_DEPTH 32        /* nested L/M levels DynamoDB accepts */
#define ITEM_MAX_SIZE  409600    /* bytes, as item_size() counts them */

/* Decode a json-c object holding an item (or one attribute value) and push
 * it. Returns 0 with the table pushed, or -1 with an error message pushed
 * (lua_load style). Only structure is checked here (tags, JSON types,
 * base64, depth); N text, UTF-8 and set rules are checked by encoding. */
int item_push(lua_State *L, struct json_object *item);
int item_push_value(lua_State *L, struct json_object *av);

/* The same from JSON text, parsed directly (no json-c tree; about three
 * times faster than json-c + item_push). Strict RFC 8259 JSON; also
 * refuses a name repeated in one object and a \u escape of half a
 * surrogate pair, which json-c would let through. */
int item_decode(lua_State *L, const char *json, size_t len);
int item_decode_value(lua_State *L, const char *json, size_t len);

/* Append the compact DynamoDB JSON of the item (or attribute value) at idx
 * to out. Everything DynamoDB would reject is rejected here: bad UTF-8,
 * bad N text, empty or duplicate sets, malformed values, nesting deeper
 * than ITEM_MAX_DEPTH. Returns 0, or -1 with the message in err (if not
 * NULL) and out as it was before the call. */
int item_encode(lua_State *L, int idx, buf *out, buf *err);
int item_encode_value(lua_State *L, int idx, buf *out, buf *err);
/* item_encode() that also gives the item's item_size() (0 on failure):
 * one walk instead of two. */
int item_encode_sized(lua_State *L, int idx, buf *out, buf *err, size_t *size);

/* DynamoDB's size of the item (or attribute value) at idx, in bytes:
 * names and S values count their UTF-8 bytes, B its raw bytes, N
 * 1 + ceil(digits / 2) (+1 when the digits do not fill their last base-100
 * pair, +1 if negative; zero is 1), BOOL and NULL 1, sets the sum of their
 * members, L 3 + (1 + size) per element, M 3 + (1 + name + size) per
 * entry. Compare with ITEM_MAX_SIZE. Malformed parts count as 0. */
size_t item_size(lua_State *L, int idx);
size_t item_value_size(lua_State *L, int idx);

/* item.null, the sentinel to_plain() gives for NULL. */
void item_push_null(lua_State *L);
int item_isnull(lua_State *L, int idx);

/* The "mighost.item" module (errors are raised, with the path):
 *   decode(text) -> item            decode_value(text) -> value
 *   encode(item) -> text            encode_value(value) -> text
 *   size(item) -> bytes             size(value, "value")
 *   keys(t) -> {names}              the order encode() would use
 *   set_order(t, {names} | nil) -> t
 *   equal(a, b [, kind])            typed: N by value ("1.50" == "1.5"),
 *                                   sets as sets, maps in any order
 *   to_plain(x [, kind])            S, B -> string; N -> integer if whole
 *                                   and within 64 bits, else float if
 *                                   from_plain gives the same number back,
 *                                   else the exact string; BOOL -> boolean;
 *                                   NULL -> null; L, sets -> arrays; M and
 *                                   items -> tables (order kept)
 *   from_plain(x [, kind])          string -> S, integer -> N, float -> N
 *                                   (shortest exact text; NaN, inf are
 *                                   errors), boolean -> BOOL, null -> NULL,
 *                                   sequence 1..n (n >= 1) -> L, any other
 *                                   table -> M
 *   null, MAX_SIZE, MAX_DEPTH
 * kind is "item", "value" or "auto". to_plain and equal default to auto:
 * x is a value when it is a one-key table whose key is a type tag holding
 * the right Lua type, else an item (so an item whose only attribute is
 * named SS, NS, BS, L or M needs "item"). from_plain defaults to "value";
 * from_plain(t, "item") makes an item of a table of plain values. */
int luaopen_mighost_item(lua_State *L);

#endif
