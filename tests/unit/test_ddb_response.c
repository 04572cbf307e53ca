/* test_ddb_response.c - json.decode_ddb, the DynamoDB response decoder:
 * every field that holds items, agreement with the json-c implementation
 * it replaced (kept below as the reference) on 500 generated responses
 * (and of json.decode_ddb_lazy + json.decode_ddb_items, whole or a few
 * items at a time, with json.decode_ddb, there and on damaged texts),
 * nesting limits, \u escapes, invalid JSON, and the speed on a 1 MB Scan
 * page (printed, not asserted). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>
#include <lauxlib.h>
#include <lualib.h>

#include "bindings.h"
#include "item.h"
#include "item_int.h"

static lua_State *S;

/* ---- the reference: decode_ddb as it was, json-c tree + item_push ----
 * Unchanged but for lua_checkstack, which it lacked (past ~18 levels it
 * wrote beyond the Lua stack). */

static int ref_push_items_array(lua_State *L, json_object *arr)
{
    size_t n = json_object_array_length(arr);
    lua_createtable(L, (int)n, 0);
    for (size_t i = 0; i < n; i++) {
        if (item_push(L, json_object_array_get_idx(arr, i)) != 0) return -1;
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 0;
}

static int ref_push_ddb(lua_State *L, json_object *v, const char *field, int depth)
{
    if (depth > 64) {
        lua_pushliteral(L, "JSON nested too deeply");
        return -1;
    }
    if (!lua_checkstack(L, 4)) {
        lua_pushliteral(L, "stack");
        return -1;
    }
    json_type t = json_object_get_type(v);
    if (field && t == json_type_object &&
        (!strcmp(field, "Item") || !strcmp(field, "Attributes") || !strcmp(field, "Key") ||
         !strcmp(field, "LastEvaluatedKey") || !strcmp(field, "ExclusiveStartKey")))
        return item_push(L, v);
    if (field && t == json_type_array && (!strcmp(field, "Items") || !strcmp(field, "Keys")))
        return ref_push_items_array(L, v);
    if (t == json_type_object) {
        int responses = field && !strcmp(field, "Responses");
        lua_createtable(L, 0, json_object_object_length(v));
        json_object_object_foreach(v, k, child) {
            int rc = responses && json_object_is_type(child, json_type_array)
                         ? ref_push_items_array(L, child)
                         : ref_push_ddb(L, child, k, depth + 1);
            if (rc != 0) return -1;
            lua_setfield(L, -2, k);
        }
        return 0;
    }
    if (t == json_type_array) {
        size_t n = json_object_array_length(v);
        lua_createtable(L, (int)n, 0);
        for (size_t i = 0; i < n; i++) {
            if (ref_push_ddb(L, json_object_array_get_idx(v, i), NULL, depth + 1) != 0) return -1;
            lua_rawseti(L, -2, (lua_Integer)i + 1);
        }
        return 0;
    }
    return json_push_plain(L, v, depth);
}

static int l_ref_decode_ddb(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    json_tokener *tok = json_tokener_new_ex(200);
    json_object *doc = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t at = json_tokener_get_parse_end(tok);
    json_tokener_free(tok);
    if (e != json_tokener_success || (doc == NULL && len > 0 && strncmp(text, "null", 4) != 0)) {
        json_object_put(doc);
        return luaL_error(L, "invalid JSON: %s at byte %d", json_tokener_error_desc(e), (int)at);
    }
    int rc = ref_push_ddb(L, doc, NULL, 0);
    json_object_put(doc);
    if (rc != 0) return lua_error(L);
    return 1;
}

/* ---- helpers for the Lua below ---- */

/* order(t): the names' order recorded for t, or nil. */
static int l_order(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    item_order_push(L);
    lua_pushvalue(L, 1);
    lua_rawget(L, -2);
    return 1;
}

static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    lua_pushnumber(L, (lua_Number)ts.tv_sec + (lua_Number)ts.tv_nsec * 1e-9);
    return 1;
}

static const char prelude[] =
    "json = require 'mighost.json'\n"
    "item = require 'mighost.item'\n"
    /* JSON written with ` for its double quotes */
    "function j(s) return (s:gsub('`', '\"')) end\n"
    "function expect_err(f, want)\n"
    "  local ok, e = pcall(f)\n"
    "  assert(not ok, 'no error; wanted: ' .. want)\n"
    "  assert(tostring(e):find(want, 1, true), '\\n got: ' .. tostring(e) .. '\\nwant: ' .. want)\n"
    "  return e\n"
    "end\n"
    /* nil when a and b are the same (Lua types, integer vs float, float
     * bits, strings, null, recorded orders), else where they differ */
    "function diff(a, b, path)\n"
    "  path = path or '$'\n"
    "  if type(a) ~= type(b) then return path .. ': ' .. type(a) .. ' vs ' .. type(b) end\n"
    "  if type(a) == 'number' then\n"
    "    if math.type(a) ~= math.type(b) then return path .. ': ' .. math.type(a) .. ' vs ' .. math.type(b) end\n"
    "    if math.type(a) == 'float' and string.format('%a', a) ~= string.format('%a', b) or\n"
    "       math.type(a) == 'integer' and a ~= b then\n"
    "      return path .. ': ' .. string.format('%a', a) .. ' vs ' .. string.format('%a', b) end\n"
    "    return nil\n"
    "  end\n"
    "  if type(a) ~= 'table' then\n"
    "    if a ~= b then return path .. string.format(': %q vs %q', tostring(a), tostring(b)) end\n"
    "    return nil\n"
    "  end\n"
    "  local oa, ob = order(a), order(b)\n"
    "  if (oa == nil) ~= (ob == nil) then return path .. ': an order recorded on one side only' end\n"
    "  if oa then\n"
    "    if #oa ~= #ob then return path .. ': orders of different lengths' end\n"
    "    for i = 1, #oa do if oa[i] ~= ob[i] then return path .. ': order differs at ' .. i end end\n"
    "  end\n"
    "  for k, v in pairs(a) do\n"
    "    local d = diff(v, b[k], path .. '.' .. tostring(k))\n"
    "    if d then return d end\n"
    "  end\n"
    "  for k in pairs(b) do if a[k] == nil then return path .. '.' .. tostring(k) .. ': only on the right' end end\n"
    "  return nil\n"
    "end\n"
    /* decode with both; they must agree, errors included (message text
     * aside for invalid JSON) */
    /* json.decode_ddb_lazy, then the Items it left in the text */
    /* (max: that many items at a time, the rest from where it stopped) */
    "function lazy(text, max)\n"
    "  local r, at, e = json.decode_ddb_lazy(text)\n"
    "  assert(r.Items == nil or at == nil, 'lazy: Items decoded and left')\n"
    "  if at and not max then r.Items = json.decode_ddb_items(text, at, e) end\n"
    "  if at and max then\n"
    "    local all = {}\n"
    "    repeat\n"
    "      local part\n"
    "      part, at = json.decode_ddb_items(text, at, e, max)\n"
    "      assert(#part <= max and (at == nil or #part == max), 'lazy: a part of the wrong size')\n"
    "      table.move(part, 1, #part, #all + 1, all)\n"
    "    until not at\n"
    "    r.Items = all\n"
    "  end\n"
    "  return r\n"
    "end\n"
    /* the lazy decode agrees with the whole one: the same result, and the
     * same error for invalid JSON (an item error may be another item's:
     * the Items are read last) */
    "function agree_lazy(text, ok1, r1)\n"
    "  agree_lazy_by(text, ok1, r1, nil)\n"
    "  agree_lazy_by(text, ok1, r1, 1)\n"
    "  agree_lazy_by(text, ok1, r1, 2)\n"
    "end\n"
    "function agree_lazy_by(text, ok1, r1, max)\n"
    "  local ok, r = pcall(lazy, text, max)\n"
    "  if ok ~= ok1 then error('lazy: ' .. tostring(ok and 'decoded' or r) .. ' vs ' .. tostring(ok1 and 'decoded' or r1) .. '\\n' .. text, 0) end\n"
    "  if ok then\n"
    "    local d = diff(r, r1)\n"
    "    if d then error('lazy: results differ at ' .. d .. '\\n' .. text, 0) end\n"
    "  elseif r1:match('^invalid JSON: ') and r ~= r1 then\n"
    "    error('lazy: errors differ:\\n lazy: ' .. r .. '\\n whole: ' .. r1 .. '\\n' .. text, 0)\n"
    "  end\n"
    "end\n"
    "function agree(text)\n"
    "  local ok1, r1 = pcall(json.decode_ddb, text)\n"
    "  agree_lazy(text, ok1, r1)\n"
    "  local ok2, r2 = pcall(ref_decode_ddb, text)\n"
    "  if ok1 ~= ok2 then error('one decoder failed: ' .. tostring(ok1 and r2 or r1) .. '\\n' .. text, 0) end\n"
    "  if not ok1 then\n"
    "    local j1, j2 = r1:match('^invalid JSON: '), r2:match('^invalid JSON: ')\n"
    "    if j1 ~= j2 or not j1 and r1 ~= r2 then error('errors differ:\\n new: ' .. r1 .. '\\n ref: ' .. r2 .. '\\n' .. text, 0) end\n"
    "    return nil, r1\n"
    "  end\n"
    "  local d = diff(r1, r2)\n"
    "  if d then error('results differ at ' .. d .. '\\n' .. text, 0) end\n"
    "  return r1\n"
    "end\n";

static int setup(void **state)
{
    (void)state;
    S = luaL_newstate();
    luaL_openlibs(S);
    luaL_requiref(S, "mighost.json", luaopen_mighost_json, 0);
    luaL_requiref(S, "mighost.item", luaopen_mighost_item, 0);
    lua_settop(S, 0);
    lua_register(S, "ref_decode_ddb", l_ref_decode_ddb);
    lua_register(S, "order", l_order);
    lua_register(S, "now", l_now);
    return luaL_dostring(S, prelude) == LUA_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    lua_close(S);
    return 0;
}

static void lua_ok(const char *code)
{
    if (luaL_dostring(S, code) != LUA_OK) fail_msg("%s", lua_tostring(S, -1));
    lua_settop(S, 0);
}

/* ---- every field kind, on hand-written responses ---- */

static void test_fields(void **state)
{
    (void)state;
    lua_ok(
        /* Scan / Query */
        "local it1 = j[[{`pk`:{`S`:`u#1`},`n`:{`N`:`12.50`},`tags`:{`SS`:[`b`,`a`]},`ok`:{`BOOL`:true}}]]\n"
        "local it2 = j[[{`z`:{`NULL`:true},`a`:{`B`:`AAE=`},`m`:{`M`:{`y`:{`L`:[{`N`:`1`},{`S`:`x`}]},`b`:{`NS`:[`1`,`2`]}}}}]]\n"
        "local lek = j[[{`pk`:{`S`:`u#9`},`sk`:{`N`:`3`}}]]\n"
        "local text = j[[{`Items`:[]] .. it1 .. ',' .. it2 .. j[[],`Count`:2,`ScannedCount`:5,`LastEvaluatedKey`:]] .. lek ..\n"
        "  j[[,`ConsumedCapacity`:{`TableName`:`t`,`CapacityUnits`:0.5,`Table`:{`CapacityUnits`:1}}}]]\n"
        "local r = agree(text)\n"
        "assert(#r.Items == 2 and r.Count == 2 and math.type(r.Count) == 'integer' and r.ScannedCount == 5)\n"
        "assert(r.Items[1].pk.S == 'u#1' and r.Items[1].n.N == '12.50' and r.Items[1].tags.SS[2] == 'a')\n"
        "assert(r.Items[1].ok.BOOL == true and r.Items[2].z.NULL == true and r.Items[2].a.B == '\\0\\1')\n"
        "assert(r.Items[2].m.M.y.L[2].S == 'x' and r.Items[2].m.M.b.NS[1] == '1')\n"
        "assert(item.encode(r.Items[1]) == it1 and item.encode(r.Items[2]) == it2)\n"
        "assert(item.encode(r.LastEvaluatedKey) == lek)\n"
        "assert(table.concat(item.keys(r.Items[2]), ',') == 'z,a,m')\n"
        "assert(table.concat(item.keys(r.Items[2].m.M), ',') == 'y,b')\n"
        "assert(r.ConsumedCapacity.CapacityUnits == 0.5 and math.type(r.ConsumedCapacity.Table.CapacityUnits) == 'integer')\n"
        "assert(order(r) == nil and order(r.ConsumedCapacity) == nil and order(r.Items) == nil)\n"
        /* items with the same names share an order list: editing one
         * item's order leaves the others' alone */
        "r = json.decode_ddb(j[[{`Items`:[{`b`:{`S`:`1`},`a`:{`S`:`2`}},{`b`:{`S`:`3`},`a`:{`S`:`4`}},\n"
        "  {`a`:{`S`:`5`},`b`:{`S`:`6`}},{`b`:{`S`:`7`},`a`:{`S`:`8`},`c`:{`M`:{`y`:{`N`:`1`},`x`:{`N`:`2`}}}},\n"
        "  {`b`:{`S`:`9`},`a`:{`S`:`0`},`c`:{`M`:{`y`:{`N`:`1`},`x`:{`N`:`2`}}}}]}]])\n"
        "local I = r.Items\n"
        "assert(table.concat(item.keys(I[1]), ',') == 'b,a' and table.concat(item.keys(I[3]), ',') == 'a,b')\n"
        "item.set_order(I[1], {'a', 'b'})\n"
        "I[2].c = {S = 'new'} I[2].b = nil\n"
        "assert(table.concat(item.keys(I[1]), ',') == 'a,b' and table.concat(item.keys(I[2]), ',') == 'a,c')\n"
        "assert(table.concat(item.keys(I[4]), ',') == 'b,a,c' and table.concat(item.keys(I[5]), ',') == 'b,a,c')\n"
        "I[4].c.M.z = {N = '3'}\n"
        "assert(item.encode_value(I[4].c) == j'{`M`:{`y`:{`N`:`1`},`x`:{`N`:`2`},`z`:{`N`:`3`}}}')\n"
        "assert(item.encode_value(I[5].c) == j'{`M`:{`y`:{`N`:`1`},`x`:{`N`:`2`}}}')\n"
        "assert(table.concat(order(I[5]), ',') == 'b,a,c')\n"
        /* GetItem, and an empty one */
        "r = agree(j[[{`Item`:{`b`:{`S`:`2`},`a`:{`S`:`1`}}}]])\n"
        "assert(item.encode(r.Item) == j[[{`b`:{`S`:`2`},`a`:{`S`:`1`}}]])\n"
        "r = agree('{}')\n"
        "assert(next(r) == nil)\n"
        /* PutItem / UpdateItem / DeleteItem */
        "r = agree(j[[{`Attributes`:{`v`:{`N`:`2`},`k`:{`S`:`x`}},`ItemCollectionMetrics`:\n"
        "  {`ItemCollectionKey`:{`k`:{`S`:`x`}},`SizeEstimateRangeGB`:[0.0,1.0]}}]])\n"
        "assert(item.encode(r.Attributes) == j[[{`v`:{`N`:`2`},`k`:{`S`:`x`}}]])\n"
        /* ItemCollectionKey is no item field: plain tables */
        "assert(r.ItemCollectionMetrics.ItemCollectionKey.k.S == 'x' and order(r.ItemCollectionMetrics.ItemCollectionKey) == nil)\n"
        "assert(math.type(r.ItemCollectionMetrics.SizeEstimateRangeGB[1]) == 'float')\n"
        /* Key and ExclusiveStartKey, wherever they are */
        "r = agree(j[[{`TableName`:`t`,`Key`:{`k`:{`S`:`1`},`a`:{`N`:`2`}},`ExclusiveStartKey`:{`k`:{`S`:`2`},`a`:{`N`:`0`}}}]])\n"
        "assert(table.concat(item.keys(r.Key), ',') == 'k,a' and table.concat(item.keys(r.ExclusiveStartKey), ',') == 'k,a')\n"
        /* BatchGetItem: Responses {table: [items]}, UnprocessedKeys {table: {Keys = [...], ...}} */
        "r = agree(j[[{`Responses`:{`T1`:[{`k`:{`S`:`1`},`a`:{`S`:`x`}},{`k`:{`S`:`2`}}],`T2`:[]},\n"
        "  `UnprocessedKeys`:{`T1`:{`Keys`:[{`k`:{`S`:`3`},`b`:{`N`:`1`}}],`ProjectionExpression`:`#a, k`,\n"
        "  `ExpressionAttributeNames`:{`#a`:`a`},`ConsistentRead`:true}},`ConsumedCapacity`:[{`TableName`:`T1`,`CapacityUnits`:1.5}]}]])\n"
        "assert(#r.Responses.T1 == 2 and #r.Responses.T2 == 0 and table.concat(item.keys(r.Responses.T1[1]), ',') == 'k,a')\n"
        "local uk = r.UnprocessedKeys.T1\n"
        "assert(table.concat(item.keys(uk.Keys[1]), ',') == 'k,b' and uk.ProjectionExpression == '#a, k')\n"
        "assert(uk.ExpressionAttributeNames['#a'] == 'a' and uk.ConsistentRead == true and order(uk) == nil)\n"
        "assert(r.ConsumedCapacity[1].CapacityUnits == 1.5)\n"
        /* BatchWriteItem: UnprocessedItems {table: [{PutRequest={Item}} | {DeleteRequest={Key}}]} */
        "r = agree(j[[{`UnprocessedItems`:{`T`:[{`PutRequest`:{`Item`:{`k`:{`S`:`1`},`v`:{`SS`:[`a`]},`a`:{`L`:[]}}}},\n"
        "  {`DeleteRequest`:{`Key`:{`k`:{`S`:`2`},`r`:{`N`:`7`}}}}]}}]])\n"
        "local ui = r.UnprocessedItems.T\n"
        "assert(table.concat(item.keys(ui[1].PutRequest.Item), ',') == 'k,v,a')\n"
        "assert(table.concat(item.keys(ui[2].DeleteRequest.Key), ',') == 'k,r')\n"
        "assert(order(ui[1]) == nil and order(ui[1].PutRequest) == nil)\n"
        /* TransactGetItems: Responses as a list of {Item} */
        "r = agree(j[[{`Responses`:[{`Item`:{`b`:{`S`:`1`},`a`:{`S`:`2`}}},{}]}]])\n"
        "assert(table.concat(item.keys(r.Responses[1].Item), ',') == 'b,a' and next(r.Responses[2]) == nil)\n"
        /* everything else is plain JSON */
        "r = agree(j[[{`a`:null,`b`:[1,-2,3.5,-0.0,1e2,true,false,null,`s`],`c`:{`d`:{}},`e`:[],`big`:123456789012345678901,\n"
        "  `neg`:-123456789012345678901,`min`:-9223372036854775808,`f`:2.5E-3,`z`:-0}]])\n"
        "assert(r.a == json.null and r.a == item.null and r.b[8] == json.null and #r.b == 9)\n"
        "assert(math.type(r.b[1]) == 'integer' and r.b[2] == -2 and math.type(r.b[3]) == 'float')\n"
        "assert(1 / r.b[4] == -math.huge and r.b[5] == 100.0 and math.type(r.b[5]) == 'float')\n"
        "assert(r.big == math.maxinteger and r.neg == math.mininteger and r.min == math.mininteger)\n"
        "assert(r.f == 0.0025 and r.z == 0 and math.type(r.z) == 'integer')\n"
        /* item fields with values of other shapes are plain */
        "r = agree(j[[{`Item`:null,`Items`:{`Item`:{`a`:{`S`:`x`}}},`Keys`:5,`Key`:[{`Key`:{`k`:{`N`:`1`}}}],`Responses`:{`T`:{`x`:1}}}]])\n"
        "assert(r.Item == json.null and r.Items.Item.a.S == 'x' and order(r.Items.Item)[1] == 'a' and r.Keys == 5)\n"
        "assert(order(r.Key[1].Key)[1] == 'k' and r.Responses.T.x == 1)\n"
        /* item errors are the item codec's */
        "local _, e = agree(j[[{`Items`:[{`a`:{`S`:`x`}},5]}]])\n"
        "assert(e == 'item: expected a JSON object, not number', e)\n"
        "_, e = agree(j[[{`Count`:1,`Item`:{`a`:{`M`:{`b`:{`X`:`1`}}}}}]])\n"
        "assert(e == 'attribute a.b: unknown type tag X', e)\n"
        "_, e = agree(j[[{`Item`:{`a`:{`S`:1}}}]])\n"
        "assert(e == 'attribute a: S value must be a JSON string, not number', e)\n"
        "_, e = agree(j[[{`Responses`:{`T`:[{`a`:{`B`:`A`}}]}}]])\n"
        "assert(e == 'attribute a: B value is not canonical base64', e)\n"
        /* raw white space anywhere */
        "r = agree(j' \\t\\r\\n{ `Items` : [ { `a` : { `S` : `x` } } , { } ] , `Count` : 2 } \\n')\n"
        "assert(r.Items[1].a.S == 'x' and r.Count == 2)\n"
        /* a top-level value that is not an object */
        "r = json.decode_ddb(j'[1,{`Item`:{`a`:{`S`:`x`}}}]')\n"
        "assert(r[1] == 1 and order(r[2].Item)[1] == 'a')\n"
        "assert(json.decode_ddb(' null ') == json.null and json.decode_ddb('7') == 7 and json.decode_ddb(j'`s`') == 's')\n");
}

/* ---- agreement with the json-c implementation on generated responses ---- */

static const char generator[] =
    "local rnd, floor = math.random, math.floor\n"
    "local function pick(t) return t[rnd(#t)] end\n"
    "local function ws() if rnd(10) <= 7 then return '' end return pick{' ', '\\n', '\\t', '\\r\\n', '  ', ' \\t '} end\n"
    "local function hex4(c) local h = string.format('%04x', c) if rnd(2) == 1 then h = h:upper() end return '\\\\u' .. h end\n"
    /* astral characters json-c decodes right from \\u pairs (it gets
     * those whose low 16 bits fall in D800-DFFF wrong) */
    "local astral = {0x1f600, 0x1f389, 0x10000, 0x10ffff, 0x1d11e, 0x2a6d6, 0xe0001}\n"
    "local bmp = {0xe9, 0xfc, 0x3b1, 0x65e5, 0x672c, 0x2028, 0x2029, 0x7f, 0xfeff, 0xffff, 0x800, 0x7ff, 0x80, 0xe000}\n"
    "local function cps(max, name)\n"
    "  local t = {}\n"
    "  for i = 1, rnd(0, max) do\n"
    "    local r, c = rnd(100)\n"
    "    if r <= 60 then c = rnd(0x61, 0x7a) elseif r <= 72 then c = rnd(0x20, 0x7e)\n"
    "    elseif r <= 77 then c = rnd(name and 1 or 0, 0x1f) elseif r <= 90 then c = pick(bmp) else c = pick(astral) end\n"
    "    t[#t + 1] = c\n"
    "  end\n"
    "  return t\n"
    "end\n"
    "local short = {[8] = '\\\\b', [9] = '\\\\t', [10] = '\\\\n', [12] = '\\\\f', [13] = '\\\\r'}\n"
    /* a JSON string literal spelling the code points, escapes chosen at
     * random; plain strings may also get lone surrogates */
    "local function lit(t, plain)\n"
    "  local o = {'\"'}\n"
    "  for _, c in ipairs(t) do\n"
    "    local r = rnd(100)\n"
    "    if plain and rnd(60) == 1 then o[#o + 1] = pick{'\\\\ud800', '\\\\uDBFF', '\\\\udfff', '\\\\uDC00'} end\n"
    "    if c == 0x22 then o[#o + 1] = r <= 80 and '\\\\\"' or hex4(c)\n"
    "    elseif c == 0x5c then o[#o + 1] = r <= 80 and '\\\\\\\\' or hex4(c)\n"
    "    elseif c == 0x2f and r <= 30 then o[#o + 1] = '\\\\/'\n"
    "    elseif c < 0x20 then o[#o + 1] = short[c] and r <= 60 and short[c] or hex4(c)\n"
    "    elseif r <= 80 then o[#o + 1] = utf8.char(c)\n"
    "    elseif c < 0x10000 then o[#o + 1] = hex4(c)\n"
    "    else local v = c - 0x10000 o[#o + 1] = hex4(0xd800 + (v >> 10)) .. hex4(0xdc00 + (v & 0x3ff)) end\n"
    "  end\n"
    "  o[#o + 1] = '\"'\n"
    "  return table.concat(o)\n"
    "end\n"
    "local function str(max, plain) return lit(cps(max), plain) end\n"
    /* names unique in their object: a private-use character ends each */
    "local function name(i) local t = cps(6, true) t[#t + 1] = 0xf000 + i return lit(t) end\n"
    "local function tag(t) if rnd(20) == 1 then return lit({utf8.codepoint(t, 1, -1)}) end return '\"' .. t .. '\"' end\n"
    "local b64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'\n"
    "local function base64(n)\n"
    "  local bytes = {} for i = 1, n do bytes[i] = rnd(0, 255) end\n"
    "  local o = {}\n"
    "  for i = 1, n, 3 do\n"
    "    local a, b, c = bytes[i], bytes[i + 1], bytes[i + 2]\n"
    "    local v = a << 16 | (b or 0) << 8 | (c or 0)\n"
    "    for k = 0, 3 do\n"
    "      if k == 2 and not b or k == 3 and not c then o[#o + 1] = '='\n"
    "      else local x = (v >> (18 - 6 * k)) & 63 o[#o + 1] = b64:sub(x + 1, x + 1) end\n"
    "    end\n"
    "  end\n"
    "  return '\"' .. table.concat(o) .. '\"'\n"
    "end\n"
    "local function ntext()\n"
    "  return '\"' .. pick{tostring(rnd(-1000, 100000)), '0', '-0', '12.50', '1e10', '-3.25E-7',\n"
    "    '12345678901234567890123456789012345678', '.5', string.format('%d.%d', rnd(0, 99999), rnd(0, 999))} .. '\"'\n"
    "end\n"
    "local function arr(list) return '[' .. ws() .. table.concat(list, ws() .. ',' .. ws()) .. ws() .. ']' end\n"
    "local function obj(keys, vals)\n"
    "  local o = {}\n"
    "  for i = 1, #keys do o[i] = keys[i] .. ws() .. ':' .. ws() .. vals[i] end\n"
    "  return '{' .. ws() .. table.concat(o, ws() .. ',' .. ws()) .. ws() .. '}'\n"
    "end\n"
    "local value\n"
    "local function imap(level, max)\n"
    "  local k, v = {}, {}\n"
    "  for i = 1, rnd(0, max) do k[i] = name(i) v[i] = value(level) end\n"
    "  return obj(k, v)\n"
    "end\n"
    "function value(level)\n"
    "  local r = rnd(level < 3 and 12 or 9)\n"
    "  local t, v\n"
    "  if r <= 3 then t, v = 'S', str(12)\n"
    "  elseif r == 4 then t, v = 'N', ntext()\n"
    "  elseif r == 5 then t, v = 'B', base64(rnd(0, 12))\n"
    "  elseif r == 6 then\n"
    "    t = pick{'SS', 'NS', 'BS'}\n"
    "    local m = {} for i = 1, rnd(0, 4) do m[i] = t == 'SS' and str(8) or t == 'NS' and ntext() or base64(rnd(0, 6)) end\n"
    "    v = arr(m)\n"
    "  elseif r == 7 then t, v = 'BOOL', pick{'true', 'false'}\n"
    "  elseif r == 8 then t, v = 'NULL', 'true'\n"
    "  elseif r == 9 then t, v = 'S', str(40)\n"
    "  elseif r <= 11 then\n"
    "    t = 'L' local m = {} for i = 1, rnd(0, 4) do m[i] = value(level + 1) end v = arr(m)\n"
    "  else t, v = 'M', imap(level + 1, 4) end\n"
    "  return obj({tag(t)}, {v})\n"
    "end\n"
    "local function itm() return imap(0, 8) end\n"
    "local function items(n) local l = {} for i = 1, n do l[i] = itm() end return arr(l) end\n"
    "local function q(s) return '\"' .. s .. '\"' end\n"
    "local function number()\n"
    "  return pick{'0', '1', '-1', '42', tostring(rnd(-1000000000, 1000000000)), '9223372036854775807',\n"
    "    '9223372036854775808', '-9223372036854775808', '-9223372036854775809', '18446744073709551616',\n"
    "    '123456789012345678901234567890', '-0', '0.5', '-0.0', '1e5', '1E+5', '2.5e-3', '128.5', '1e400', '-1e400',\n"
    "    '1.7976931348623157e308', '5e-324', '4.9e-325', '0e0', '-0.0e-0', '100000000000000000000.0',\n"
    "    string.format('%d.%de%d', rnd(0, 9999), rnd(0, 9999), rnd(-40, 40))}\n"
    "end\n"
    "local item_fields = {'Item', 'Attributes', 'Key', 'LastEvaluatedKey', 'ExclusiveStartKey'}\n"
    "local plain\n"
    /* n more fields, some of them holding items, into k and v */
    "local function pfields(depth, n, k, v)\n"
    "  for _ = 1, n do\n"
    "    local i, r = #k + 1, rnd(12)\n"
    "    if r == 1 then k[i] = q(pick(item_fields)) v[i] = rnd(4) == 1 and 'null' or itm()\n"
    "    elseif r == 2 then k[i] = q(pick{'Items', 'Keys'}) v[i] = items(rnd(0, 3))\n"
    "    elseif r == 3 and i > 1 and not k[i - 1]:find('^\"[IKLEAR]') then k[i] = k[i - 1] v[i] = plain(depth + 1)\n"  /* a repeated name */
    "    else k[i] = rnd(3) == 1 and lit(cps(6, true), true) or q(pick{'TableName', 'Count', 'a', 'b', 'x\\\\u0041', 'Table'}) v[i] = plain(depth + 1) end\n"
    "  end\n"
    "end\n"
    "local function pobj(depth, n) local k, v = {}, {} pfields(depth, n, k, v) return obj(k, v) end\n"
    "function plain(depth)\n"
    "  local r = rnd(depth < 4 and 10 or 7)\n"
    "  if r <= 2 then return number() elseif r == 3 then return str(10, true)\n"
    "  elseif r == 4 then return pick{'true', 'false', 'null'}\n"
    "  elseif r <= 7 then return rnd(2) == 1 and q(pick{'ACTIVE', 'T', ''}) or number()\n"
    "  elseif r <= 8 then local l = {} for i = 1, rnd(0, 4) do l[i] = plain(depth + 1) end return arr(l)\n"
    "  else return pobj(depth, rnd(0, 4)) end\n"
    "end\n"
    "local function cap(t) return obj({q'TableName', q'CapacityUnits'}, {q(t), pick{'0.5', '1', '128.5', '3.0'}}) end\n"
    "function gen_response()\n"
    "  local k, v = {}, {}\n"
    "  local function f(name, val) k[#k + 1] = q(name) v[#v + 1] = val end\n"
    "  local kind = rnd(8)\n"
    "  if kind <= 2 then\n"
    "    local n = rnd(0, 12)\n"
    "    f('Items', items(n)) f('Count', tostring(n)) f('ScannedCount', tostring(n + rnd(0, 5)))\n"
    "    if rnd(2) == 1 then f('LastEvaluatedKey', itm()) end\n"
    "    if rnd(2) == 1 then f('ConsumedCapacity', cap('T')) end\n"
    "  elseif kind == 3 then\n"
    "    if rnd(5) > 1 then f('Item', itm()) end\n"
    "    if rnd(2) == 1 then f('ConsumedCapacity', cap('T')) end\n"
    "  elseif kind == 4 then\n"
    "    local tk, tv = {}, {}\n"
    "    for i = 1, rnd(0, 3) do tk[i] = name(i) tv[i] = items(rnd(0, 4)) end\n"
    "    f('Responses', obj(tk, tv))\n"
    "    local uk, uv = {}, {}\n"
    "    for i = 1, rnd(0, 2) do\n"
    "      uk[i] = name(i)\n"
    "      uv[i] = obj({q'Keys', q'ProjectionExpression', q'ConsistentRead', q'ExpressionAttributeNames'},\n"
    "                 {items(rnd(1, 3)), str(10), pick{'true', 'false'}, obj({q'#a', q'#b'}, {str(5), str(5)})})\n"
    "    end\n"
    "    f('UnprocessedKeys', obj(uk, uv))\n"
    "  elseif kind == 5 then\n"
    "    local tk, tv = {}, {}\n"
    "    for i = 1, rnd(0, 3) do\n"
    "      local reqs = {}\n"
    "      for r = 1, rnd(1, 4) do\n"
    "        reqs[r] = rnd(2) == 1 and obj({q'PutRequest'}, {obj({q'Item'}, {itm()})})\n"
    "                              or obj({q'DeleteRequest'}, {obj({q'Key'}, {itm()})})\n"
    "      end\n"
    "      tk[i] = name(i) tv[i] = arr(reqs)\n"
    "    end\n"
    "    f('UnprocessedItems', obj(tk, tv))\n"
    "    f('ItemCollectionMetrics', obj({q'T'}, {arr{obj({q'ItemCollectionKey', q'SizeEstimateRangeGB'}, {itm(), arr{'0.0', '1.5'}})}}))\n"
    "  elseif kind == 6 then\n"
    "    f('Attributes', itm())\n"
    "  elseif kind == 7 then\n"
    "    local l = {} for i = 1, rnd(0, 3) do l[i] = rnd(3) == 1 and '{}' or obj({q'Item'}, {itm()}) end\n"
    "    f('Responses', arr(l))\n"
    "  else\n"
    "    f('Key', itm()) f('ExclusiveStartKey', itm()) f('TableName', str(8))\n"
    "  end\n"
    "  pfields(0, rnd(0, 3), k, v)\n"
    "  return ws() .. obj(k, v) .. ws()\n"
    "end\n";

static void test_generated(void **state)
{
    (void)state;
    lua_ok(generator);
    lua_ok("math.randomseed(20240611)\n"
           "local bytes, items, errors = 0, 0, 0\n"
           "local function count(x)\n"
           "  if type(x) ~= 'table' then return end\n"
           "  if order(x) then items = items + 1 end\n"
           "  for _, v in pairs(x) do count(v) end\n"
           "end\n"
           "for i = 1, 500 do\n"
           "  local text = gen_response()\n"
           "  bytes = bytes + #text\n"
           "  local r, e = agree(text)\n"
           "  if r then count(r) else errors = errors + 1 end\n"
           "end\n"
           "print(string.format('  500 generated responses: %d bytes, %d items and maps', bytes, items))\n"
           "assert(errors == 0 and bytes > 200000 and items > 2000)\n");
}

/* ---- nesting ---- */

static void test_depth(void **state)
{
    (void)state;
    lua_ok(/* 32 levels of L and M inside Items decode, and come back the same */
           "local function deep(n)\n"
           "  local v = j'{`S`:`x`}'\n"
           "  for i = 1, n do v = i % 2 == 1 and j('{`L`:[{`N`:`1`},' .. v .. ']}') or j('{`M`:{`k`:' .. v .. ',`z`:{`S`:`z`}}}') end\n"
           "  return j'{`a`:' .. v .. '}'\n"
           "end\n"
           "local it = deep(32)\n"
           "local r = agree(j'{`Items`:[{},' .. it .. ']}')\n"
           "assert(item.encode(r.Items[2]) == it)\n"
           "local v = r.Items[2].a\n"
           "for i = 32, 1, -1 do v = i % 2 == 1 and v.L[2] or v.M.k end\n"
           "assert(v.S == 'x')\n"
           "local _, e = agree(j'{`Items`:[' .. deep(33) .. ']}')\n"
           "assert(e:find('nesting deeper than 32 levels', 1, true), e)\n"
           /* the same under Item, Responses, UnprocessedItems */
           "agree(j'{`Item`:' .. it .. '}')\n"
           "agree(j'{`Responses`:{`T`:[' .. it .. ']}}')\n"
           "agree(j'{`UnprocessedItems`:{`T`:[{`PutRequest`:{`Item`:' .. it .. '}}]}}')\n"
           /* plain JSON: 64 levels below the top, then JSON nested too deeply */
           "for _, n in ipairs{1, 17, 20, 63, 64, 65, 66, 100, 198, 199} do\n"
           "  local a = string.rep('[', n) .. '1' .. string.rep(']', n)\n"
           "  local o = string.rep(j'{`a`:', n) .. '1' .. string.rep('}', n)\n"
           "  local e0 = string.rep('[', n) .. string.rep(']', n)\n"
           "  for _, t in ipairs{a, o, e0} do\n"
           "    local r, e = agree(t)\n"
           "    assert((r ~= nil) == (n <= (t == e0 and 65 or 64)), n .. ': ' .. tostring(e))\n"
           "    assert(r or e == 'JSON nested too deeply', e)\n"
           "  end\n"
           "end\n"
           /* json-c's limit: a value inside 200 containers is invalid JSON */
           "for _, n in ipairs{200, 201, 5000} do\n"
           "  local _, e = agree(string.rep('[', n) .. '1' .. string.rep(']', n))\n"
           "  assert(e == 'invalid JSON: nesting too deep at byte 200', e)\n"
           "  _, e = agree(string.rep(j'{`a`:', n) .. '1' .. string.rep('}', n))\n"
           "  assert(e == 'invalid JSON: nesting too deep at byte 1000', e)\n"
           "end\n"
           /* ... even when an item error comes first */
           "local _, e = agree(j'{`Item`:{`a`:{`X`:1}},`b`:' .. string.rep('[', 300) .. string.rep(']', 300) .. '}')\n"
           "assert(e:find('^invalid JSON: nesting too deep'), e)\n"
           "_, e = agree(j'{`Item`:{`a`:{`X`:1}},`b`:' .. string.rep('[', 150) .. string.rep(']', 150) .. '}')\n"
           "assert(e == 'attribute a: unknown type tag X', e)\n"
           "_, e = agree(string.rep('[', 70) .. string.rep(']', 69))\n"
           "assert(e:find('^invalid JSON: '), e)\n");
}

/* ---- \u escapes ---- */

static void test_escapes(void **state)
{
    (void)state;
    lua_ok(/* pairs, in items and in plain strings */
           "local r = agree(j[[{`Items`:[{`e`:{`S`:`\\ud83d\\ude00 \\uD83C\\uDF89\\u00e9\\/\\u0000`},"
           "`\\ud83d\\ude00`:{`SS`:[`\\udbff\\udfff`]}}],`Msg`:`\\ud800\\udc00-\\u2028`}]])\n"
           "local it = r.Items[1]\n"
           "assert(it.e.S == '\\u{1F600} \\u{1F389}\\u{E9}/\\0' and it['\\u{1F600}'].SS[1] == '\\u{10FFFF}')\n"
           "assert(r.Msg == '\\u{10000}-\\u{2028}')\n"
           "assert(table.concat(item.keys(it), ',') == 'e,\\u{1F600}')\n"
           /* every escape, in names too */
           "r = agree(j[[{`Item`:{`k\\`\\\\\\/\\b\\f\\n\\r\\t\\u0001`:{`S`:`\\`\\\\\\/\\b\\f\\n\\r\\t\\u001f`}},"
           "`\\u0041\\u00DF`:`\\u0041`}]])\n"
           "assert(r.Item['k\"\\\\/\\b\\f\\n\\r\\t\\1'].S == '\"\\\\/\\b\\f\\n\\r\\t\\31' and r['A\\u{DF}'] == 'A')\n"
           /* lone halves: U+FFFD in plain strings, as json-c gives */
           "r = agree(j[==[[`\\ud800`,`\\udc00x`,`\\ud800\\u0041`,`\\ud800\\ud83d\\ude00`,`\\udbff\\n`,`a\\udfff\\ud800`]]==])\n"
           "local R = '\\u{FFFD}'\n"
           "assert(r[1] == R and r[2] == R .. 'x' and r[3] == R .. 'A' and r[4] == R .. '\\u{1F600}')\n"
           "assert(r[5] == R .. '\\n' and r[6] == 'a' .. R .. R)\n"
           /* ... and an error in items, which hold UTF-8 */
           "local e = expect_err(function() json.decode_ddb(j[[{`Item`:{`a`:{`S`:`\\ud800x`}}}]]) end,"
           "  'attribute a: invalid JSON at byte 19: \\\\u escape of half a surrogate pair')\n"
           /* json-c 0.16 turns U+1D800 (\\ud836\\udc00) into U+FFFD; this decoder does not */
           "r = json.decode_ddb(j[[{`s`:`\\ud836\\udc00`,`Item`:{`a`:{`S`:`\\ud836\\udc00`}}}]])\n"
           "assert(r.s == '\\u{1D800}' and r.Item.a.S == '\\u{1D800}')\n"
           /* raw UTF-8 passes through, as before */
           "agree(j'{`a`:`\\xc3\\xa9\\xe6\\x97\\xa5\\xf0\\x9f\\x98\\x80`,`Item`:{`\\xc3\\xa9`:{`S`:`\\xe6\\x97\\xa5`}}}')\n");
}

/* ---- invalid JSON ---- */

static void test_invalid(void **state)
{
    (void)state;
    /* {text, the error, whether json-c took it} */
    lua_ok("local cases = {\n"
           "  {'', 'invalid JSON: unexpected end of text at byte 0'},\n"
           "  {'   ', 'invalid JSON: unexpected end of text at byte 3'},\n"
           "  {j'{`Items`:[{`a`:{`S`:`x`}},]}', 'invalid JSON: unexpected character at byte 26', true},\n"
           "  {j'{`Items`:[{`a`:{`S`:`x`}} {}]}', \"invalid JSON: expected ',' or ']' at byte 26\"},\n"
           "  {j'{`Count`:1,}', 'invalid JSON: expected a name in quotes at byte 11', true},\n"
           "  {j'{`Count` 1}', \"invalid JSON: expected ':' at byte 9\"},\n"
           "  {j'{`Count`:1 `b`:2}', \"invalid JSON: expected ',' or '}' at byte 11\"},\n"
           "  {j'{`Count`:01}', \"invalid JSON: expected ',' or '}' at byte 10\", true},\n"
           "  {j'{`Count`:-}', 'invalid JSON: bad number at byte 9'},\n"
           "  {j'{`Count`:1.}', 'invalid JSON: bad number at byte 9', true},\n"
           "  {j'{`Count`:.5}', 'invalid JSON: unexpected character at byte 9'},\n"
           "  {j'{`Count`:1e}', 'invalid JSON: bad number at byte 9', true},\n"
           "  {j'{`Count`:tru}', 'invalid JSON: unexpected character at byte 9'},\n"
           "  {j'{`Count`:True}', 'invalid JSON: unexpected character at byte 9', true},\n"
           "  {j'{`Count`:NaN}', 'invalid JSON: unexpected character at byte 9', true},\n"
           "  {j'{`a`:`x\\ty`}', 'invalid JSON: control character in a string at byte 7', true},\n"
           "  {j'{`a`:`x\\\\qy`}', 'invalid JSON: bad escape at byte 7'},\n"
           "  {j'{`a`:`\\\\u12G4`}', 'invalid JSON: bad \\\\u escape at byte 6'},\n"
           "  {j'{`a`:`open', 'invalid JSON: unterminated string at byte 10'},\n"
           "  {j'{`Items`:[{`a`:{`S`:`x`}}', 'invalid JSON: unexpected end of text at byte 25'},\n"
           "  {j'{} x', 'invalid JSON: text after the end at byte 3', true},\n"
           "  {j'{}{}', 'invalid JSON: text after the end at byte 2', true},\n"
           "  {j\"{'a':1}\", 'invalid JSON: expected a name in quotes at byte 1', true},\n"
           "  {'\\xef\\xbb\\xbf{}', 'invalid JSON: unexpected character at byte 0'},\n"
           /* a syntax error anywhere wins over an item error before it */
           "  {j'{`Item`:{`a`:{`S`:1}},`b`:[1 2]}', \"invalid JSON: expected ',' or ']' at byte 29\"},\n"
           "  {j'{`Items`:[5],`b`:x}', 'invalid JSON: unexpected character at byte 17'},\n"
           "  {j'{`a`:' .. string.rep('[', 80) .. ']}', \"invalid JSON: expected ',' or ']' at byte 86\"},\n"
           "}\n"
           "local bad = {}\n"
           "for _, c in ipairs(cases) do\n"
           "  local ok, e = pcall(json.decode_ddb, c[1])\n"
           "  if ok or e ~= c[2] then bad[#bad + 1] = string.format('%q\\n got: %s\\nwant: %s', c[1], tostring(e), c[2]) end\n"
           "  for _, max in ipairs{false, 1} do\n"
           "    ok, e = pcall(lazy, c[1], max or nil)\n"
           "    if ok or e ~= c[2] then bad[#bad + 1] = string.format('lazy %q\\n got: %s\\nwant: %s', c[1], tostring(e), c[2]) end\n"
           "  end\n"
           "end\n"
           "assert(#bad == 0, table.concat(bad, '\\n'))\n"
           "for _, c in ipairs(cases) do\n"
           "  assert(pcall(ref_decode_ddb, c[1]) == (c[3] == true), c[1])\n"
           "end\n"
           /* every proper prefix of a response is invalid, for both */
           "local text = j[[{`Items`:[{`a`:{`S`:`x\\u00e9`},`b`:{`L`:[{`N`:`1`},{`BOOL`:false}]}},{`c`:{`NULL`:true}}],\n"
           "  `Count`:2,`LastEvaluatedKey`:{`a`:{`S`:`x`}},`ConsumedCapacity`:{`CapacityUnits`:0.5},`n`:null}]]\n"
           /* escaped quotes and runs of backslashes before a closing quote,
            * with brackets inside strings: the lazy pass skips the Items */
           "local esc = j[[{`Items`:[{`a`:{`S`:`q\\`x\\\\`},`b`:{`S`:`\\\\\\`]}`}},{`c`:{`S`:`\\\\\\\\`}}],\n"
           "  `Count`:2,`LastEvaluatedKey`:{`a`:{`S`:`]`}}}]]\n"
           "agree(esc)\n"
           "local r = lazy(esc, 1)\n"
           "assert(#r.Items == 2 and r.Count == 2 and r.LastEvaluatedKey.a.S == ']')\n"
           "assert(r.Items[1].a.S == 'q\"x\\\\' and r.Items[1].b.S == '\\\\\"]}' and r.Items[2].c.S == '\\\\\\\\')\n"
           "agree(text)\n"
           "for n = 0, #text - 1 do\n"
           "  local p = text:sub(1, n)\n"
           "  local ok, e = pcall(json.decode_ddb, p)\n"
           "  local at = not ok and tonumber(e:match('^invalid JSON: .- at byte (%d+)$'))\n"
           "  assert(at and at <= n, string.format('%q: %s', p, tostring(e)))\n"
           "  assert(not pcall(ref_decode_ddb, p))\n"
           "end\n"
           /* damaged responses: never a crash; where both decode, the same;
            * where both fail on a valid text, the same error */
           "math.randomseed(7)\n"
           "local both, failed, lenient = 0, 0, 0\n"
           "local junk = {'{', '}', '[', ']', ',', ':', '\"', '\\\\', 'u', '0', '-', 'e', '.', 'S', 'N', 'L', 'M', ' ', 't', 'n', '\\0', '\\xff', '5'}\n"
           "for i = 1, 3000 do\n"
           "  local t = text\n"
           "  for k = 1, math.random(1, 3) do\n"
           "    local p = math.random(1, #t)\n"
           "    local r = math.random(3)\n"
           "    local c = junk[math.random(#junk)]\n"
           "    if r == 1 then t = t:sub(1, p - 1) .. c .. t:sub(p + 1)\n"
           "    elseif r == 2 then t = t:sub(1, p - 1) .. c .. t:sub(p)\n"
           "    else t = t:sub(1, p - 1) .. t:sub(p + 1) end\n"
           "  end\n"
           "  local ok1, r1 = pcall(json.decode_ddb, t)\n"
           "  local ok2, r2 = pcall(ref_decode_ddb, t)\n"
           "  agree_lazy(t, ok1, r1)\n"
           "  if ok1 and ok2 then\n"
           "    local d = diff(r1, r2)\n"
           "    assert(not d, string.format('%q: %s', t, tostring(d)))\n"
           "    both = both + 1\n"
           "  elseif ok1 then\n"
           "    error(string.format('only the new decoder accepts %q', t))\n"
           "  elseif ok2 then\n"
           "    lenient = lenient + 1\n"  /* json-c's leniencies, or the item parser's refusals */
           "  else\n"
           "    failed = failed + 1\n"
           "    local s1, s2 = r1:match('^invalid JSON: '), r2:match('^invalid JSON: ')\n"
           "    assert(s1 or not s2, string.format('%q\\n new: %s\\n ref: %s', t, r1, r2))\n"
           "    assert(s1 or s2 or r1 == r2, string.format('%q\\n new: %s\\n ref: %s', t, r1, r2))\n"
           "    if s1 then assert(r1:find(' at byte %d+$'), r1) end\n"
           "  end\n"
           "end\n"
           "print(string.format('  3000 damaged responses: %d decoded alike, %d failed in both, %d only json-c took', both, failed, lenient))\n");
}

/* ---- out of memory: Lua raises, nothing leaks (ASan, valgrind) ---- */

static long allocs_left = -1;  /* allocations that may still succeed; -1: all */

static void *limited_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    if (ptr == NULL || nsize > osize) {  /* shrinking must not fail */
        if (allocs_left == 0) return NULL;
        if (allocs_left > 0) allocs_left--;
    }
    return realloc(ptr, nsize);
}

static void test_out_of_memory(void **state)
{
    (void)state;
    static const char *const texts[] = {
        /* escapes (the scratch buffer), floats, plain and typed values */
        "{\"Items\":[{\"a\":{\"S\":\"x\\u00e9\\n\"},\"b\":{\"SS\":[\"p\",\"q\"]}},"
        "{\"a\":{\"S\":\"y\"},\"b\":{\"SS\":[\"r\"]}},{\"m\":{\"M\":{\"k\":{\"L\":[{\"N\":\"1\"}]}}}}],"
        "\"Count\":3,\"Cap\":0.5,\"T\":\"n\\u0041me\",\"x\":[null,true,[]]}",
        /* an item error, then the validator */
        "{\"Items\":[{\"a\":{\"S\":\"x\"}},{\"a\":{\"Q\":\"\\u0041\"}}],\"b\":[1,2,{\"c\":\"\\t\"}]}",
        /* invalid JSON after good items */
        "{\"Items\":[{\"a\":{\"S\":\"x\\u00e9\"}}],\"b\":[1 2]}",
    };
    lua_State *M = lua_newstate(limited_alloc, NULL);
    assert_non_null(M);
    luaL_openlibs(M);
    luaL_requiref(M, "mighost.json", luaopen_mighost_json, 0);
    for (size_t t = 0; t < sizeof texts / sizeof texts[0]; t++) {
        int failures = 0, rc = LUA_ERRMEM;
        for (long budget = 0; rc == LUA_ERRMEM; budget++) {
            lua_settop(M, 1);
            lua_getfield(M, 1, "decode_ddb");
            lua_pushstring(M, texts[t]);
            allocs_left = budget;
            rc = lua_pcall(M, 1, 1, 0);
            allocs_left = -1;
            if (rc == LUA_ERRMEM) failures++;
            else if (t == 0) assert_int_equal(rc, LUA_OK);
            else assert_int_equal(rc, LUA_ERRRUN);
        }
        assert_true(failures > 10);  /* there were allocations to fail */
        if (t == 1) assert_string_equal(lua_tostring(M, -1), "attribute a: unknown type tag Q");
        if (t == 2) assert_string_equal(lua_tostring(M, -1), "invalid JSON: expected ',' or ']' at byte 40");
        lua_gc(M, LUA_GCCOLLECT);
    }
    lua_close(M);
}

/* ---- speed on a Scan page ---- */

static void test_speed(void **state)
{
    (void)state;
    lua_ok("local parts = {}\n"
           "local st = {'PENDING', 'SHIPPED', 'DELIVERED', 'RETURNED'}\n"
           "local tags = {'gift', 'priority', 'eu', 'fragile', 'bulk', 'promo'}\n"
           "math.randomseed(42)\n"
           "local n = 4000\n"
           "for i = 1, n do\n"
           "  local t1, t2 = math.random(#tags), math.random(#tags)\n"
           "  parts[i] = string.format(j('{`pk`:{`S`:`customer#%07d`},`sk`:{`S`:`order#2023-%02d-%02dT%02d:%02d:%02d.%03dZ`},'\n"
           "    .. '`status`:{`S`:`%s`},`total`:{`N`:`%d.%02d`},`qty`:{`N`:`%d`},`tags`:{`SS`:[`%s`,`%s2`,`x%d`]},'\n"
           "    .. '`paid`:{`BOOL`:%s},`email`:{`S`:`customer%d@example.com`},`created`:{`N`:`%d`}}'),\n"
           "    math.random(1, 9999999), math.random(12), math.random(28), math.random(0, 23), math.random(0, 59),\n"
           "    math.random(0, 59), math.random(0, 999), st[math.random(#st)], math.random(0, 99999), math.random(0, 99),\n"
           "    math.random(1, 20), tags[t1], tags[t2], i, math.random(2) == 1 and 'true' or 'false', i,\n"
           "    1690000000 + math.random(0, 20000000))\n"
           "end\n"
           "local page = j'{`Items`:[' .. table.concat(parts, ',') .. j'],`Count`:' .. n .. j',`ScannedCount`:' .. n ..\n"
           "  j',`LastEvaluatedKey`:{`pk`:{`S`:`customer#0000001`},`sk`:{`S`:`order#1`}},'\n"
           "  .. j'`ConsumedCapacity`:{`TableName`:`orders`,`CapacityUnits`:128.5}}'\n"
           "local r, e = agree(page)\n"
           "assert(r, e)\n"
           "assert(#r.Items == n)\n"
           "r = nil\n"
           "local function rate(f)\n"
           "  local once = now()\n"
           "  f(page)\n"
           "  once = now() - once\n"
           /* about half a second each (one page under valgrind) */
           "  local reps = tonumber(os.getenv('DDB_SPEED_REPS') or '') or math.max(1, math.min(20, math.floor(0.5 / once)))\n"
           "  collectgarbage() collectgarbage()\n"
           "  local t0 = now()\n"
           "  for i = 1, reps do local x = f(page) end\n"
           "  collectgarbage()\n"  /* the garbage is part of the cost */
           "  local dt = now() - t0\n"
           "  return n * reps / dt, #page * reps / dt / 1e6\n"
           "end\n"
           "local a, am = rate(json.decode_ddb)\n"
           "local b, bm = rate(ref_decode_ddb)\n"
           "print(string.format('  Scan page: %d items, %d bytes (%.0f bytes/item)', n, #page, #page / n))\n"
           "print(string.format('  json.decode_ddb:     %9.0f items/s  %6.1f MB/s', a, am))\n"
           "print(string.format('  json-c + item_push:  %9.0f items/s  %6.1f MB/s  (%.2fx)', b, bm, a / b))\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fields),
        cmocka_unit_test(test_generated),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_escapes),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_out_of_memory),
        cmocka_unit_test(test_speed),
    };
    if (getenv("DDB_TEST")) cmocka_set_test_filter(getenv("DDB_TEST"));  /* e.g. test_speed */
    return cmocka_run_group_tests_name("ddb_response", tests, setup, teardown);
}
