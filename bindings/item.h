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
 * that were removed, then names added since, sorted bytewise. Tables with
 * no recorded order (built by scripts) encode sorted. So decode -> encode
 * is byte-identical, and output is always deterministic.
 *
 * Nesting: the container holding a top-level attribute's value is level 1;
 * DynamoDB allows 32 levels, and so do encode and decode.
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

/* The same from JSON text. */
int item_decode(lua_State *L, const char *json, size_t len);
int item_decode_value(lua_State *L, const char *json, size_t len);

/* Append the compact DynamoDB JSON of the item (or attribute value) at idx
 * to out. Everything DynamoDB would reject is rejected here: bad UTF-8,
 * bad N text, empty or duplicate sets, malformed values, nesting deeper
 * than ITEM_MAX_DEPTH. Returns 0, or -1 with the message in err (if not
 * NULL) and out as it was before the call. */
int item_encode(lua_State *L, int idx, buf *out, buf *err);
int item_encode_value(lua_State *L, int idx, buf *out, buf *err);

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

/* The "mighost.item" module: null, decode, encode, decode_value,
 * encode_value, to_plain, from_plain, equal, size, keys, set_order,
 * MAX_SIZE, MAX_DEPTH. */
int luaopen_mighost_item(lua_State *L);

#endif
