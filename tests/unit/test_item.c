/* test_item.c - the DynamoDB item codec: exact round trips (a corpus and
 * 2,000 generated items), validation errors with paths, sizes, key order,
 * the plain-value helpers, and lean items (item_lean.c) against tables. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>
#include <lauxlib.h>
#include <lualib.h>

#include "item.h"
#include "item_int.h"
#include "bindings.h"

static lua_State *L;
static buf rt_out;     /* what roundtrip() returns */

/* Lua helpers the snippets below use. */
static const char prelude[] =
    "item = require 'mighost.item'\n"
    "function expect_err(f, want)\n"
    "  local ok, e = pcall(f)\n"
    "  assert(not ok, 'no error; wanted: ' .. want)\n"
    "  assert(e:find(want, 1, true), '\\n got: ' .. tostring(e) .. '\\nwant: ' .. want)\n"
    "end\n"
    "function same(a, b)\n"  /* deep plain equality */
    "  if type(a) ~= 'table' or type(b) ~= 'table' then return a == b end\n"
    "  for k, v in pairs(a) do if not same(v, b[k]) then return false end end\n"
    "  for k in pairs(b) do if a[k] == nil then return false end end\n"
    "  return true\n"
    "end\n";

static int setup(void **state)
{
    (void)state;
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "mighost.item", luaopen_mighost_item, 0);
    lua_pop(L, 1);
    luaL_requiref(L, "mighost.json", luaopen_mighost_json, 0);
    lua_pop(L, 1);
    return luaL_dostring(L, prelude) == LUA_OK ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    lua_close(L);
    buf_free(&rt_out);
    return 0;
}

static void lua_ok(const char *code)
{
    if (luaL_dostring(L, code) != LUA_OK) fail_msg("%s", lua_tostring(L, -1));
    lua_settop(L, 0);
}

/* json-c's parser, deep enough for 32 levels of L and M. */
static struct json_object *json_c_parse(const char *json, size_t len)
{
    struct json_tokener *tok = json_tokener_new_ex(128);
    struct json_object *o = json_tokener_parse_ex(tok, json, (int)len);
    if (json_tokener_get_error(tok) != json_tokener_success) fail_msg("json-c: %s", json);
    json_tokener_free(tok);
    return o;
}

/* decode -> encode through the C API, from text (viajson 0) or through a
 * json-c tree; returns the text (valid until the next call). */
static const char *roundtrip_via(const char *json, size_t len, int viajson)
{
    buf out = rt_out, err = BUF_INIT;
    buf_reset(&out);
    if (viajson) {
        struct json_object *o = json_c_parse(json, len);
        if (item_push(L, o)) fail_msg("item_push %s: %s", json, lua_tostring(L, -1));
        json_object_put(o);
    } else if (item_decode(L, json, len)) {
        fail_msg("decode %s: %s", json, lua_tostring(L, -1));
    }
    if (item_encode(L, -1, &out, &err)) fail_msg("encode %s: %s", json, buf_str(&err));
    lua_pop(L, 1);
    buf_free(&err);
    rt_out = out;
    return buf_str(&rt_out);
}

/* Both decoders must agree; the result is the text decoder's. */
static const char *roundtrip(const char *json, size_t len)
{
    buf keep = BUF_INIT;
    buf_puts(&keep, roundtrip_via(json, len, 1));
    const char *out = roundtrip_via(json, len, 0);
    if (strcmp(out, buf_str(&keep)) != 0)
        fail_msg("decoders differ on %s:\n text: %s\njson-c: %s", json, out, buf_str(&keep));
    buf_free(&keep);
    return out;
}

static void check_roundtrip(const char *json)
{
    assert_string_equal(roundtrip(json, strlen(json)), json);
}

static void test_corpus(void **state)
{
    (void)state;
    static const char *const corpus[] = {
        "{}",
        "{\"s\":{\"S\":\"\"},\"l\":{\"L\":[]},\"m\":{\"M\":{}},\"b\":{\"B\":\"\"}}",
        "{\"z\":{\"S\":\"1\"},\"a\":{\"N\":\"2\"},\"m\":{\"M\":{\"z\":{\"BOOL\":true},"
        "\"a\":{\"BOOL\":false},\"m\":{\"NULL\":true}}}}",
        "{\"n\":{\"N\":\"12345678901234567890123456789012345678\"},"
        "\"neg\":{\"N\":\"-0.00000000000000000000000000000000000012345678901234567890123456789012345678\"},"
        "\"max\":{\"N\":\"9.9999999999999999999999999999999999999E+125\"},"
        "\"min\":{\"N\":\"-1E-130\"},\"odd\":{\"NS\":[\"007\",\".5\",\"5.\",\"-0\",\"1e+3\"]}}",
        "{\"b\":{\"B\":\"AAECAwD/\"},\"bs\":{\"BS\":[\"AA==\",\"AAE=\",\"/w==\",\"AAAA\"]}}",
        "{\"\xc3\xa9\":{\"S\":\"caf\xc3\xa9\"},\"\xe6\x97\xa5\xe6\x9c\xac\":{\"S\":\"\xe8\xaa\x9e\"},"
        "\"\xf0\x9f\x98\x80\":{\"S\":\"\xf0\x9f\x8e\x89\"},\"databaseId:assetId\":{\"SS\":[\"x\",\"y\"]},"
        "\"a#b c\":{\"NS\":[\"1\",\"-2.5\",\"3e10\"]}}",
        "{\"q\":{\"S\":\"say \\\"hi\\\" \\\\ back\\\\slash / slash\"},"
        "\"c\":{\"S\":\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u001f\x7f \xe2\x80\xa8\xe2\x80\xa9\"},"
        "\"line\\nname\":{\"SS\":[\"a\\nb\",\"\\\"\",\"\\\\\"]}}",
        "{\"deep\":{\"L\":[{\"M\":{\"x\":{\"L\":[{\"L\":[]},{\"M\":{\"y\":{\"SS\":[\"a\"]},"
        "\"b\":{\"M\":{}}}}]}}},{\"N\":\"0\"},{\"NULL\":true}]}}",
    };
    for (size_t i = 0; i < sizeof corpus / sizeof corpus[0]; i++) check_roundtrip(corpus[i]);

    /* Accepted spellings come back in JSON.stringify's. */
    const char *in = "{ \"a\" : {\"S\": \"\\u00e9\\/\\ud83d\\ude00\\u0041\\u2028\\u007F\"} }";
    assert_string_equal(roundtrip(in, strlen(in)),
                        "{\"a\":{\"S\":\"\xc3\xa9/\xf0\x9f\x98\x80" "A\xe2\x80\xa8\x7f\"}}");
}

static void test_parser(void **state)
{
    (void)state;
    /* json-c 0.16 decodes this pair to U+FFFD; item_decode gets U+1D800 */
    const char *in = "{\"a\":{\"S\":\"\\ud836\\udc00\"}}";
    assert_string_equal(roundtrip_via(in, strlen(in), 0), "{\"a\":{\"S\":\"\xf0\x9d\xa0\x80\"}}");
    lua_ok("local d = item.decode\n"
           "expect_err(function() d('{\"a\":{\"S\":\"\\\\ud800x\"}}') end,"
           "  'attribute a: invalid JSON at byte 11: \\\\u escape of half a surrogate pair')\n"
           "expect_err(function() d('{\"a\":{\"S\":\"\\\\udc00\"}}') end, 'half a surrogate pair')\n"
           "expect_err(function() d('{\"a\":{\"S\":\"x\\\\qy\"}}') end, 'at byte 12: bad escape')\n"
           "expect_err(function() d('{\"a\":{\"S\":\"\\\\u12G4\"}}') end, 'bad \\\\u escape')\n"
           "expect_err(function() d('{\"a\":{\"S\":\"tab\there\"}}') end, 'control character in a string')\n"
           "expect_err(function() d('{\"a\":{\"S\":\"open') end, 'unterminated string')\n"
           "expect_err(function() d('{\"a\":{\"S\":\"1\"},\"a\":{\"S\":\"2\"}}') end,"
           "  'item: name \"a\" appears twice')\n"
           "expect_err(function() d('{\"m\":{\"M\":{\"k\":{\"NULL\":true},\"k\":{\"NULL\":true}}}}') end,"
           "  'attribute m: name \"k\" appears twice')\n"
           "expect_err(function() d('{\"a\":{\"S\":\"1\"} \"b\":1}') end, \"item: invalid JSON at byte 15: expected '}'\")\n"
           "expect_err(function() d('{\"a\" {\"S\":\"1\"}}') end, \"expected ':'\")\n"
           "expect_err(function() d('{\"a\":{\"L\":[{\"S\":\"1\"},]}}') end,"
           "  'attribute a[1]: expected an object with one type tag, not invalid JSON')\n"
           "expect_err(function() d('{\"a\":{\"BOOL\":1}}') end, 'BOOL value must be true or false, not number')\n"
           "expect_err(function() d('{\"a\":{\"SS\":\"x\"}}') end, 'SS value must be a JSON array, not string')\n"
           "expect_err(function() d('{\"a\":{\"SS\":[1]}}') end, 'attribute a[0]: S value must be a JSON string')\n"
           "expect_err(function() d('') end, 'item: expected a JSON object, not the end of the text')\n"
           /* names and values with escapes, and white space everywhere */
           "local t = d(' {\\n \"k\\\\u0041\" : { \"SS\" : [ \"x\\\\ny\" , \"\\\\\"\" ] } , \"e\":{\"L\":[ ]} } ')\n"
           "assert(t.kA.SS[1] == 'x\\ny' and t.kA.SS[2] == '\"' and #t.e.L == 0)\n"
           "assert(item.decode_value('{\"N\":\"1\"}').N == '1')\n"
           "expect_err(function() item.decode_value('{\"N\":\"1\"}x') end, 'value: invalid JSON at byte 9: text after the end')\n");
}

static void test_json_c_objects(void **state)
{
    (void)state;
    const char *text = "{\"pk\":{\"S\":\"k\"},\"bin\":{\"B\":\"AAE=\"},\"v\":{\"L\":[{\"N\":\"1\"}]}}";
    struct json_object *o = json_tokener_parse(text);
    assert_non_null(o);
    assert_int_equal(item_push(L, o), 0);
    lua_setglobal(L, "it");
    buf out = BUF_INIT, err = BUF_INIT;
    buf_puts(&out, "prefix:");
    lua_getglobal(L, "it");
    assert_int_equal(item_encode(L, -1, &out, &err), 0);
    assert_string_equal(buf_str(&out), "prefix:{\"pk\":{\"S\":\"k\"},\"bin\":{\"B\":\"AAE=\"},"
                                       "\"v\":{\"L\":[{\"N\":\"1\"}]}}");
    lua_pop(L, 1);
    lua_ok("assert(it.bin.B == '\\0\\1' and it.v.L[1].N == '1')");

    /* a failed encode leaves out as it was */
    buf_reset(&out);
    buf_puts(&out, "keep");
    lua_ok("bad = {a = {S = 'x'}, b = {N = 'x'}}");
    lua_getglobal(L, "bad");
    assert_int_equal(item_encode(L, -1, &out, &err), -1);
    assert_string_equal(buf_str(&out), "keep");
    assert_string_equal(buf_str(&err), "attribute b: invalid number \"x\": not a number");
    lua_pop(L, 1);

    struct json_object *v = json_object_object_get(o, "v");
    assert_int_equal(item_push_value(L, v), 0);
    buf_reset(&out);
    assert_int_equal(item_encode_value(L, -1, &out, NULL), 0);
    assert_string_equal(buf_str(&out), "{\"L\":[{\"N\":\"1\"}]}");
    lua_pop(L, 1);

    struct json_object *bad = json_tokener_parse("{\"a\":{\"M\":{\"b\":{\"Q\":\"1\"}}}}");
    int top = lua_gettop(L);
    assert_int_equal(item_push(L, bad), -1);
    assert_int_equal(lua_gettop(L), top + 1);
    assert_string_equal(lua_tostring(L, -1), "attribute a.b: unknown type tag Q");
    lua_pop(L, 1);
    json_object_put(bad);
    json_object_put(o);
    buf_free(&out);
    buf_free(&err);
}

static void test_key_order(void **state)
{
    (void)state;
    lua_ok("local t = item.decode('{\"z\":{\"S\":\"1\"},\"a\":{\"S\":\"2\"},\"m\":{\"M\":"
           "{\"y\":{\"N\":\"1\"},\"b\":{\"N\":\"2\"}}}}')\n"
           "assert(table.concat(item.keys(t), ',') == 'z,a,m')\n"
           "assert(table.concat(item.keys(t.m.M), ',') == 'y,b')\n"
           /* removed names are skipped, added ones follow, sorted */
           "t.a = nil; t.q = {S='3'}; t['0'] = {S='4'}; t.m.M.a = {N='3'}\n"
           "assert(item.encode(t) == '{\"z\":{\"S\":\"1\"},\"m\":{\"M\":{\"y\":{\"N\":\"1\"},"
           "\"b\":{\"N\":\"2\"},\"a\":{\"N\":\"3\"}}},\"0\":{\"S\":\"4\"},\"q\":{\"S\":\"3\"}}',"
           "  item.encode(t))\n"
           "assert(table.concat(item.keys(t), ',') == 'z,m,0,q')\n"
           /* a name put back goes back to its place */
           "t.a = {S='2'}\n"
           "assert(table.concat(item.keys(t), ',') == 'z,a,m,0,q')\n"
           /* names of 40 bytes (one copy each in Lua) and longer (not):
            * recorded ones keep their place, added ones follow, sorted */
           "local n40, n41, n60 = ('a'):rep(40), ('b'):rep(41), ('c'):rep(60)\n"
           "local l = item.decode('{\"' .. n60 .. '\":{\"S\":\"1\"},\"' .. n40 .. '\":{\"S\":\"2\"},'\n"
           "  .. '\"' .. n41 .. '\":{\"S\":\"3\"}}')\n"
           "l[('d'):rep(45)] = {S='4'}; l[('a'):rep(39)] = {S='5'}\n"
           "assert(table.concat(item.keys(l), ',') == table.concat({n60, n40, n41, ('a'):rep(39),\n"
           "  ('d'):rep(45)}, ','))\n"
           "assert(#item.encode(l) == #item.encode(item.decode(item.encode(l))))\n"
           /* script-built tables encode sorted */
           "local s = {b={S='x'}, a={S='y'}, ['\\xc3\\xa9']={S='z'}, B={S='w'}}\n"
           "assert(item.encode(s) == '{\"B\":{\"S\":\"w\"},\"a\":{\"S\":\"y\"},\"b\":{\"S\":\"x\"},"
           "\"\\xc3\\xa9\":{\"S\":\"z\"}}', item.encode(s))\n"
           "item.set_order(s, {'b', 'B'})\n"
           "assert(table.concat(item.keys(s), ',') == 'b,B,a,\\xc3\\xa9')\n"
           "item.set_order(s, nil)\n"
           "assert(table.concat(item.keys(s), ',') == 'B,a,b,\\xc3\\xa9')\n"
           "expect_err(function() item.set_order(s, {'a', 'a'}) end, \"name 'a' appears twice\")\n"
           "expect_err(function() item.set_order(s, {'a', 1}) end, 'name 2 is a number')\n"
           /* many names: the sorted path past its stack array */
           "local big = {}\n"
           "for i = 1, 100 do big[string.format('k%03d', 101 - i)] = {N=tostring(i)} end\n"
           "local ks = item.keys(big)\n"
           "assert(#ks == 100 and ks[1] == 'k001' and ks[100] == 'k100')\n"
           "local back = item.decode(item.encode(big))\n"
           "assert(item.equal(big, back) and item.encode(back) == item.encode(big))\n");
}

static void test_str(void **state)
{
    (void)state;
    lua_ok("assert(item.str({S='a'}) == 'a')\n"
           "assert(item.str({S=''}) == '' and item.str({S=''}, true) == nil)\n"
           "assert(item.str({S='x'}, true) == 'x')\n"
           "assert(item.str({N='1'}) == nil and item.str(nil) == nil and item.str('a') == nil)\n"
           "assert(item.str({S={}}) == nil)\n");
}

static void test_invalid(void **state)
{
    (void)state;
    lua_ok("local e = item.encode\n"
           "expect_err(function() e{tags={SS={}}} end, 'attribute tags: an SS set cannot be empty')\n"
           "expect_err(function() e{n={NS={'1','2','1.0'}}} end,"
           "  'attribute n[2]: duplicate member in NS set (equal to [0])')\n"
           "local many = {}; for i = 1, 40 do many[i] = 'm' .. i end; many[41] = 'm7'\n"
           "expect_err(function() e{s={SS=many}} end,"
           "  'attribute s[40]: duplicate member in SS set (equal to [6])')\n"
           "expect_err(function() e{b={BS={'\\0', '\\0'}}} end, 'attribute b[1]: duplicate member in BS')\n"
           "expect_err(function() e{n={N='abc'}} end, 'attribute n: invalid number \"abc\": not a number')\n"
           "for _, bad in ipairs{'', '-', '.', '+1', '1e', '1e+', '0x10', ' 1', '1 ', 'NaN', '1.2.3'} do\n"
           "  expect_err(function() e{n={N=bad}} end, 'not a number')\n"
           "end\n"
           "expect_err(function() e{n={N=string.rep('1', 39)}} end, 'more than 38 significant digits')\n"
           "e{n={N=string.rep('1', 38) .. '000'}}; e{n={N='0.000' .. string.rep('9', 38)}}\n"
           "expect_err(function() e{n={N='1e126'}} end, 'number too large')\n"
           "expect_err(function() e{n={N='0.1e-130'}} end, 'number too small')\n"
           "e{n={N='0e999'}}; e{n={N='99e124'}}\n"
           "expect_err(function() e{a={M={b={L={{S='x'},{S='y'},{S='z'},{X='1'}}}}}} end,"
           "  'attribute a.b[3]: unknown type tag X')\n"
           "expect_err(function() e{a={S='x', N='1'}} end, 'attribute a: more than one type tag')\n"
           "expect_err(function() e{s={S='ab\\xff'}} end, 'attribute s: S value is not valid UTF-8 (byte 2)')\n"
           "for _, bad in ipairs{'\\xc0\\x80', '\\xed\\xa0\\x80', '\\xf4\\x90\\x80\\x80', '\\xe2\\x82'} do\n"
           "  expect_err(function() e{s={S=bad}} end, 'not valid UTF-8 (byte 0)')\n"
           "end\n"
           "expect_err(function() e{['a\\xff']={S='x'}} end, 'item: a name is not valid UTF-8 (byte 1)')\n"
           "expect_err(function() e{s={SS={'ok', '\\xff'}}} end, 'attribute s[1]: SS member is not valid UTF-8')\n"
           "expect_err(function() e{a={S=5}} end, 'attribute a: S value must be a string, not number')\n"
           "expect_err(function() e{a={BOOL='true'}} end, 'BOOL value must be a boolean, not string')\n"
           "expect_err(function() e{a={NULL=false}} end, 'attribute a: NULL value must be true')\n"
           "expect_err(function() e{a={}} end, 'attribute a: empty table, no type tag')\n"
           "expect_err(function() e{a='x'} end, 'attribute a: expected a one-tag table')\n"
           "expect_err(function() e{a={L={{S='x'}, nil, {S='y'}}}} end, 'L value must be a list')\n"
           "expect_err(function() e{a={M={[1]={S='x'}}}} end, 'attribute a: a name is a number')\n"
           "expect_err(function() e(5) end, 'item: expected a table, not number')\n"
           "expect_err(function() item.encode_value{S=1} end, 'value: S value must be a string')\n"
           "expect_err(function() item.encode_value{L={{S='a'},{M={x={Q=1}}}}} end,"
           "  'value[1].x: unknown type tag Q')\n"
           /* 32 levels are fine, 33 are not */
           "local function nest(n) local v = {S='x'}; for i = 1, n do v = {M={k=v}} end; return v end\n"
           "local ok32 = e{a=nest(32)}\n"
           "expect_err(function() e{a=nest(33)} end,"
           "  'attribute a' .. string.rep('.k', 32) .. ': nesting deeper than 32 levels')\n"
           "local c = {L={}}; c.L[1] = c\n"
           "expect_err(function() e{c=c} end, 'nesting deeper than 32 levels')\n"
           /* decoding: structure errors with paths */
           "local d = item.decode\n"
           "assert(item.encode(d(ok32)) == ok32)\n"
           "local deep = ok32:gsub('\"S\":\"x\"', '\"M\":{\"k\":{\"S\":\"x\"}}')\n"
           "expect_err(function() d(deep) end, 'nesting deeper than 32 levels')\n"
           "expect_err(function() d('{\"a\":{\"L\":[{\"S\":\"1\"},{\"Z\":1}]}}') end,"
           "  'attribute a[1]: unknown type tag Z')\n"
           "expect_err(function() d('{\"a\":{\"S\":\"1\",\"N\":\"1\"}}') end,"
           "  'attribute a: more than one type tag (S and N)')\n"
           "expect_err(function() d('{\"a\":{}}') end, 'attribute a: no type tag')\n"
           "expect_err(function() d('{\"a\":{\"S\":1}}') end, 'S value must be a JSON string, not number')\n"
           "expect_err(function() d('{\"a\":{\"B\":\"AAE\"}}') end, 'attribute a: B value is not canonical base64')\n"
           "expect_err(function() d('{\"a\":{\"BS\":[\"AA==\",\"AB==\"]}}') end, 'attribute a[1]: B value')\n"
           "expect_err(function() d('{\"a\":{\"B\":\"A*==\"}}') end, 'not canonical base64')\n"
           "expect_err(function() d('{\"a\":{\"NULL\":false}}') end, 'NULL value must be true')\n"
           "expect_err(function() d('{\"a\":{\"M\":[]}}') end, 'M value must be a JSON object')\n"
           "expect_err(function() d('[]') end, 'item: expected a JSON object, not array')\n"
           "expect_err(function() d('{\"a\":') end, 'attribute a: expected an object with one type tag, not the end')\n"
           "expect_err(function() d('{} x') end, 'item: invalid JSON')\n"
           "assert(item.encode(d(' {} \\n')) == '{}')\n");
}

/* The string scanners take eight plain bytes at a time: a byte that needs
 * an escape (or UTF-8 checking) at every position of strings of every
 * length around that width is still seen, both ways. */
static void test_string_runs(void **state)
{
    (void)state;
    lua_ok("local esc = {['\"'] = '\\\\\"', ['\\\\'] = '\\\\\\\\', ['\\b'] = '\\\\b', ['\\f'] = '\\\\f',\n"
           "             ['\\n'] = '\\\\n', ['\\r'] = '\\\\r', ['\\t'] = '\\\\t'}\n"
           "local function want(s)\n"
           "  return (s:gsub('[%c\"\\\\]', function(c)\n"
           "    if c == '\\127' then return c end\n"
           "    return esc[c] or ('\\\\u%04x'):format(c:byte())\n"
           "  end))\n"
           "end\n"
           "local specials = {'\"', '\\\\', '\\n', '\\0', '\\31', '\\127', ' ', 'z', '\\195\\169', '\\240\\159\\152\\128'}\n"
           "for len = 0, 19 do\n"
           "  for pos = 1, len + 1 do\n"
           "    for _, c in ipairs(specials) do\n"
           "      local s = ('a'):rep(pos - 1) .. c .. ('b'):rep(len - pos + 1)\n"
           "      local text = item.encode({k = {S = s}})\n"
           "      assert(text == '{\"k\":{\"S\":\"' .. want(s) .. '\"}}', text)\n"
           "      assert(item.decode(text).k.S == s)\n"
           "    end\n"
           "    -- not UTF-8 at any position: refused, with the byte's offset\n"
           "    local bad = ('a'):rep(pos - 1) .. '\\255' .. ('b'):rep(len - pos + 1)\n"
           "    local ok, err = pcall(item.encode, {k = {S = bad}})\n"
           "    assert(not ok and err:find('(byte ' .. (pos - 1) .. ')', 1, true), err)\n"
           "    -- a raw control character in the text: refused when decoding\n"
           "    local raw = '{\"k\":{\"S\":\"' .. ('a'):rep(pos - 1) .. '\\1' .. ('b'):rep(len) .. '\"}}'\n"
           "    assert(not pcall(item.decode, raw))\n"
           "  end\n"
           "end\n");
}

static void test_size(void **state)
{
    (void)state;
    /* sz also checks that the batch writer's one call (_writer_entry)
     * gives what item.encode, encode_value and size give */
    lua_ok("local function sz(t)\n"
           "  local s, k = item.size(t), next(t)\n"
           "  local text, id, s2 = item._writer_entry(t, k)\n"
           "  assert(text == item.encode(t) and id == item.encode_value(t[k]) and s2 == s)\n"
           "  return s\n"
           "end\n"
           "assert(sz{a={S='abc'}} == 4)\n"
           "assert(sz{['\\xc3\\xa9']={S='\\xe6\\x97\\xa5\\xe6\\x9c\\xac'}} == 8)\n"
           "assert(sz{n={N='0'}} == 2 and sz{n={N='-0.000'}} == 2)\n"
           "assert(sz{n={N='123'}} == 4)\n"    /* 3 digits: 1 + 2 */
           "assert(sz{n={N='12'}} == 3)\n"     /* 1 + 1: one aligned pair */
           "assert(sz{n={N='1.2'}} == 4)\n"    /* 1 + 1 + 1: straddles a pair */
           "assert(sz{n={N='-1'}} == 4)\n"     /* 1 + 1 + sign */
           "assert(sz{n={N='1200'}} == 3 and sz{n={N='0.12'}} == 3 and sz{n={N='0.012'}} == 4)\n"
           "assert(sz{n={N=string.rep('9', 38)}} == 1 + 20)\n"
           "assert(sz{b={B='\\0\\1\\2'}} == 4)\n"
           "assert(sz{t={BOOL=true}, z={NULL=true}} == 4)\n"
           "assert(sz{l={L={{S='ab'},{N='1'}}}} == 1 + 3 + 3 + 3)\n"
           "assert(sz{l={L={}}, m={M={}}} == 1 + 3 + 1 + 3)\n"
           "assert(sz{m={M={x={S='ab'}}}} == 1 + 3 + 1 + 1 + 2)\n"
           "assert(sz{ss={SS={'a','bc'}}, ns={NS={'1','22'}}, bs={BS={'\\0'}}} == 5 + 6 + 3)\n"
           "assert(item.size({S='abc'}, 'value') == 3)\n"
           /* the 400 KB limit */
           "local t = {pk={S='k'}, data={S=string.rep('x', 409600 - 3 - 4)}}\n"
           "assert(sz(t) == item.MAX_SIZE, sz(t))\n"
           "t.data.S = t.data.S .. 'x'\n"
           "assert(sz(t) == 409601 and sz(t) > item.MAX_SIZE)\n"
           "assert(#item.encode(t) > 409601)\n"
           /* a range key: the two encoded values joined by a NUL */
           "local text, id, n = item._writer_entry({h={S='a'}, r={N='1'}, x={BOOL=true}}, 'h', 'r')\n"
           "assert(text == '{\"h\":{\"S\":\"a\"},\"r\":{\"N\":\"1\"},\"x\":{\"BOOL\":true}}')\n"
           "assert(id == '{\"S\":\"a\"}\\0{\"N\":\"1\"}' and n == 2 + 3 + 2)\n"
           /* nothing when any part would not encode: the caller asks again */
           "assert(select('#', item._writer_entry({h={S='a'}, x={N='x'}}, 'h')) == 0)\n"
           "assert(select('#', item._writer_entry({x={S='a'}}, 'h')) == 0)\n"
           "assert(select('#', item._writer_entry({h={S='a'}}, 'h', 'r')) == 0)\n"
           "assert(select('#', item._writer_entry('x', 'h')) == 0)\n"
           /* the buffer kept between calls lets go of a large item's */
           "local big = {h={S=string.rep('y', 200000)}}\n"
           "assert(item._writer_entry(big, 'h') == item.encode(big))\n"
           "assert(item.encode({h={S='z'}}) == '{\"h\":{\"S\":\"z\"}}')\n");
    /* the C call agrees */
    lua_ok("t = {a={S='abc'}, n={N='-1'}}");
    lua_getglobal(L, "t");
    assert_int_equal(item_size(L, -1), 8);
    lua_pop(L, 1);
}

static void test_plain(void **state)
{
    (void)state;
    lua_ok("local tp, fp = item.to_plain, item.from_plain\n"
           "local big = '12345678901234567890123456789012345678'\n"
           "assert(tp{N=big} == big)\n"
           "assert(math.type(tp{N='42'}) == 'integer' and tp{N='42'} == 42)\n"
           "assert(math.type(tp{N='5.0'}) == 'integer' and tp{N='-5e2'} == -500)\n"
           "assert(tp{N='-9223372036854775808'} == math.mininteger)\n"
           "assert(tp{N='9223372036854775807'} == math.maxinteger)\n"
           "assert(tp{N='9223372036854775808'} == '9223372036854775808')\n"
           "assert(math.type(tp{N='0.1'}) == 'float' and tp{N='0.1'} == 0.1)\n"
           "assert(tp{N='1e20'} == 1e20 and tp{N='2.5e-7'} == 2.5e-7)\n"
           "assert(tp{N='0.30000000000000000001'} == '0.30000000000000000001')\n"
           "assert(tp{S='x'} == 'x' and tp{B='\\0'} == '\\0' and tp{BOOL=false} == false)\n"
           "assert(tp{NULL=true} == item.null)\n"
           "assert(same(tp{NS={'1','2.5',big}}, {1, 2.5, big}))\n"
           "assert(same(tp{L={{S='a'},{L={}},{M={k={N='1'}}}}}, {'a', {}, {k=1}}))\n"
           "local it = item.decode('{\"z\":{\"N\":\"1\"},\"a\":{\"SS\":[\"x\"]},\"m\":{\"NULL\":true}}')\n"
           "local p = tp(it)\n"
           "assert(same(p, {z=1, a={'x'}, m=item.null}))\n"
           "assert(table.concat(item.keys(p), ',') == 'z,a,m')\n"
           "assert(same(tp({L={S='x'}}, 'item'), {L='x'}))\n"
           /* from_plain */
           "assert(fp(42).N == '42' and fp(-7).N == '-7')\n"
           "assert(fp(math.mininteger).N == '-9223372036854775808')\n"
           "assert(fp(0.1).N == '0.1' and fp(1/3).N == '0.3333333333333333')\n"
           "assert(fp(3.0).N == '3' and fp(-0.0).N == '0' and fp(1e21).N == '1e21')\n"
           "assert(fp(5e-7).N == '5e-7' and fp(2^-1074).N == '5e-324')\n"
           "expect_err(function() fp(0/0) end, 'cannot be a DynamoDB number')\n"
           "expect_err(function() fp(1/0) end, 'cannot be a DynamoDB number')\n"
           "expect_err(function() fp{a=print} end, 'value.a: a function has no DynamoDB type')\n"
           "expect_err(function() fp({1, 2, x=3}) end, 'a name is a number')\n"
           "assert(fp('x').S == 'x' and fp(true).BOOL == true and fp(item.null).NULL == true)\n"
           "assert(item.encode_value(fp{}) == '{\"M\":{}}')\n"
           "assert(item.encode_value(fp{1, 'a', {}}) == '{\"L\":[{\"N\":\"1\"},{\"S\":\"a\"},{\"M\":{}}]}')\n"
           "local c = {}; c[1] = c\n"
           "expect_err(function() fp(c) end, 'nesting deeper than 32 levels')\n"
           /* plain -> typed -> JSON -> typed -> plain */
           "local plain = {name='x', n=5, f=2.5, ok=true, none=item.null, list={1, 'two', {3}},"
           "  map={k='v', deep={x={y={z=-1.25e-10}}}}}\n"
           "local typed = fp(plain, 'item')\n"
           "assert(typed.n.N == '5' and typed.list.L[3].L[1].N == '3' and typed.map.M.k.S == 'v')\n"
           "assert(same(tp(item.decode(item.encode(typed))), plain))\n"
           /* a decoded item survives to_plain/from_plain in its order */
           "local src = '{\"z\":{\"S\":\"a\"},\"y\":{\"M\":{\"q\":{\"N\":\"1\"},\"b\":{\"BOOL\":true}}},\"x\":{\"N\":\"2.5\"}}'\n"
           "assert(item.encode(fp(tp(item.decode(src)), 'item')) == src)\n");
}

static void test_equal(void **state)
{
    (void)state;
    lua_ok("local eq = item.equal\n"
           "assert(eq({a={N='1.50'}}, {a={N='1.5'}}))\n"
           "assert(not eq({a={N='1'}}, {a={S='1'}}))\n"
           "assert(eq({SS={'a','b','c'}}, {SS={'c','a','b'}}))\n"
           "assert(not eq({SS={'a','b'}}, {SS={'a','c'}}))\n"
           "assert(eq({NS={'1','20'}}, {NS={'2e1','1.0'}}))\n"
           "assert(not eq({L={{S='a'},{S='b'}}}, {L={{S='b'},{S='a'}}}))\n"
           "assert(eq({M={a={S='1'},b={NULL=true}}}, {M={b={NULL=true},a={S='1'}}}))\n"
           "assert(not eq({M={a={S='1'}}}, {M={a={S='1'},b={S='2'}}}))\n"
           "assert(not eq({a={S='x'}}, {a={S='x'}, b={S='y'}}))\n"
           "assert(eq({}, {}) and not eq({a={S='x'}}, {}))\n");
}

/* ---- generated items ---- */

typedef struct gen {
    uint64_t s;
    buf c, n;       /* canonical text, and the same item spelled differently */
} gen;

static uint64_t rnd(gen *g)
{
    uint64_t z = (g->s += 0x9e3779b97f4a7c15ULL);  /* splitmix64 */
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static unsigned rn(gen *g, unsigned n) { return (unsigned)(rnd(g) % n); }

static void both(gen *g, const char *s)
{
    buf_puts(&g->c, s);
    buf_puts(&g->n, s);
}

static void ws(gen *g)
{
    static const char *const sp[] = {" ", "\n", "\t ", "\r\n  "};
    if (rn(g, 5) == 0) buf_puts(&g->n, sp[rn(g, 4)]);
}

static void put_utf8(buf *b, uint32_t c)
{
    if (c < 0x80) {
        buf_putc(b, (char)c);
    } else if (c < 0x800) {
        buf_putc(b, (char)(0xC0 | c >> 6));
        buf_putc(b, (char)(0x80 | (c & 63)));
    } else if (c < 0x10000) {
        buf_putc(b, (char)(0xE0 | c >> 12));
        buf_putc(b, (char)(0x80 | ((c >> 6) & 63)));
        buf_putc(b, (char)(0x80 | (c & 63)));
    } else {
        buf_putc(b, (char)(0xF0 | c >> 18));
        buf_putc(b, (char)(0x80 | ((c >> 12) & 63)));
        buf_putc(b, (char)(0x80 | ((c >> 6) & 63)));
        buf_putc(b, (char)(0x80 | (c & 63)));
    }
}

static uint32_t gen_cp(gen *g, int name)
{
    uint32_t c;
    switch (rn(g, 14)) {
    case 0: return name ? 1 + rn(g, 0x1f) : rn(g, 0x20);  /* json-c keys stop at NUL */
    case 1: return (uint32_t)"\"\\/"[rn(g, 3)];
    case 2: return 0x7f;
    case 3: return 0x80 + rn(g, 0x800 - 0x80);
    case 4:
        do c = 0x800 + rn(g, 0x10000 - 0x800); while (c >= 0xD800 && c <= 0xDFFF);
        return c;
    case 5: return 0x10000 + rn(g, 0x100000);
    case 6: return 0x2028 + rn(g, 2);
    case 7: return (uint32_t)":#.[]{}$ -_"[rn(g, 11)];
    default: return 0x20 + rn(g, 0x5f);
    }
}

/* One character: JSON.stringify's spelling into c, a random legal one into
 * n, the UTF-8 into raw. */
static void gen_char(gen *g, uint32_t ch, buf *c, buf *n, buf *raw)
{
    size_t start = c->len;
    switch (ch) {
    case '"': buf_puts(c, "\\\""); break;
    case '\\': buf_puts(c, "\\\\"); break;
    case '\b': buf_puts(c, "\\b"); break;
    case '\f': buf_puts(c, "\\f"); break;
    case '\n': buf_puts(c, "\\n"); break;
    case '\r': buf_puts(c, "\\r"); break;
    case '\t': buf_puts(c, "\\t"); break;
    default:
        if (ch < 0x20)
            buf_printf(c, "\\u%04x", ch);
        else
            put_utf8(c, ch);
    }
    put_utf8(raw, ch);
    /* json-c 0.16 turns an escaped pair whose code point's low 16 bits
     * fall in D800-DFFF (U+1D800-U+1DFFF and so on) into U+FFFD, so those
     * stay raw. Neither DynamoDB nor JSON.stringify escapes them. */
    if (rn(g, 4) == 0 && !(ch >= 0x10000 && (ch & 0xF800) == 0xD800)) {
        if (ch >= 0x10000)
            buf_printf(n, "\\u%04X\\u%04x", 0xD800 + ((ch - 0x10000) >> 10),
                       0xDC00 + ((ch - 0x10000) & 0x3ff));
        else
            buf_printf(n, rn(g, 2) ? "\\u%04x" : "\\u%04X", ch);
    } else if (ch == '/' && rn(g, 2)) {
        buf_puts(n, "\\/");
    } else {
        buf_append(n, c->data + start, c->len - start);
    }
}

typedef struct gstr { buf c, n, raw; } gstr;

static void gstr_reset(gstr *s)
{
    buf_reset(&s->c);
    buf_reset(&s->n);
    buf_reset(&s->raw);
}

static void gstr_free(gstr *s)
{
    buf_free(&s->c);
    buf_free(&s->n);
    buf_free(&s->raw);
}

/* A string distinct (by raw bytes) from the first k of seen[]. */
static void gen_unique(gen *g, gstr *seen, int k, int name)
{
    gstr *s = &seen[k];
    for (;;) {
        gstr_reset(s);
        buf_putc(&s->c, '"');
        buf_putc(&s->n, '"');
        unsigned len = rn(g, 12) + (name ? 1 : 0);
        for (unsigned i = 0; i < len; i++) gen_char(g, gen_cp(g, name), &s->c, &s->n, &s->raw);
        buf_putc(&s->c, '"');
        buf_putc(&s->n, '"');
        int dup = 0;
        for (int j = 0; j < k && !dup; j++)
            dup = seen[j].raw.len == s->raw.len &&
                  memcmp(buf_str(&seen[j].raw), buf_str(&s->raw), s->raw.len) == 0;
        if (!dup) return;
    }
}

static void emit(gen *g, const gstr *s)
{
    buf_append(&g->c, buf_str(&s->c), s->c.len);
    buf_append(&g->n, buf_str(&s->n), s->n.len);
}

static void gen_number(gen *g)
{
    char t[128];
    int k = 0, nd = 1 + (int)rn(g, 38), point = (int)rn(g, (unsigned)nd + 2) - 1;
    if (rn(g, 4) == 0) t[k++] = '-';
    for (int i = 0; i < nd; i++) {
        if (i == point) t[k++] = '.';
        t[k++] = (char)('0' + (rn(g, 3) ? rn(g, 10) : 0));
    }
    if (point == nd) t[k++] = '.';
    if (rn(g, 3) == 0)
        k += sprintf(t + k, "%c%s%u", rn(g, 2) ? 'e' : 'E', (const char *[]){"", "+", "-"}[rn(g, 3)],
                     rn(g, 60));
    t[k] = '\0';
    both(g, "\"");
    both(g, t);
    both(g, "\"");
}

static void b64(buf *out, const unsigned char *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        buf_putc(out, a[v >> 18]);
        buf_putc(out, a[(v >> 12) & 63]);
        buf_putc(out, i + 1 < n ? a[(v >> 6) & 63] : '=');
        buf_putc(out, i + 2 < n ? a[v & 63] : '=');
    }
}

/* Binary members made distinct by a leading index byte. */
static void gen_binary(gen *g, int index)
{
    unsigned char bytes[24];
    size_t n = rn(g, 20), k = 0;
    buf t = BUF_INIT;
    if (index >= 0) bytes[k++] = (unsigned char)index;
    for (size_t i = 0; i < n; i++)
        bytes[k++] = (unsigned char)(rn(g, 3) == 0 ? (rn(g, 2) ? 0 : 0xff) : rn(g, 256));
    b64(&t, bytes, k);
    both(g, "\"");
    buf_append(&g->c, buf_str(&t), t.len);
    for (size_t i = 0; i < t.len; i++)  /* '/' may be spelled "\/" */
        buf_puts(&g->n, t.data[i] == '/' && rn(g, 2) ? "\\/" : (char[]){t.data[i], 0});
    both(g, "\"");
    buf_free(&t);
}

static void gen_value(gen *g, int depth);

static void gen_map(gen *g, int depth, unsigned max)
{
    gstr names[10] = {0};
    unsigned n = rn(g, max + 1);
    both(g, "{");
    for (unsigned i = 0; i < n; i++) {
        if (i) both(g, ",");
        ws(g);
        gen_unique(g, names, (int)i, 1);
        emit(g, &names[i]);
        ws(g);
        both(g, ":");
        ws(g);
        gen_value(g, depth);
        ws(g);
    }
    both(g, "}");
    for (unsigned i = 0; i < n; i++) gstr_free(&names[i]);
}

static void gen_value(gen *g, int depth)
{
    static const char *const tags[] = {"S", "N", "B", "BOOL", "NULL", "SS", "NS", "BS", "L", "M"};
    unsigned t = rn(g, depth >= 5 ? 8 : 10), n = 1 + rn(g, 5);
    gstr members[6] = {0};
    both(g, "{");
    ws(g);
    both(g, "\"");
    both(g, tags[t]);
    both(g, "\"");
    ws(g);
    both(g, ":");
    ws(g);
    switch (t) {
    case 0: gen_unique(g, members, 0, 0); emit(g, &members[0]); break;
    case 1: gen_number(g); break;
    case 2: gen_binary(g, -1); break;
    case 3: both(g, rn(g, 2) ? "true" : "false"); break;
    case 4: both(g, "true"); break;
    case 5:
    case 6:
    case 7: {
        long long base = 1 + rn(g, 1000000), step = 1 + rn(g, 1000);
        both(g, "[");
        for (unsigned i = 0; i < n; i++) {
            if (i) both(g, ",");
            ws(g);
            if (t == 5) {
                gen_unique(g, members, (int)i, 0);
                emit(g, &members[i]);
            } else if (t == 7) {
                gen_binary(g, (int)i);
            } else {  /* distinct values, assorted spellings */
                static const char *const f[] = {"\"%s%lld\"", "\"%s%lld.0\"", "\"%s%lld00e-2\"",
                                                "\"%s%lldE0\"", "\"%s0%lld.\""};
                char s[64];
                snprintf(s, sizeof s, f[rn(g, 5)], rn(g, 3) ? "" : "-", base + (long long)i * step);
                both(g, s);
            }
        }
        both(g, "]");
        break;
    }
    case 8:
        both(g, "[");
        for (unsigned i = 0, m = rn(g, 5); i < m; i++) {
            if (i) both(g, ",");
            ws(g);
            gen_value(g, depth + 1);
        }
        both(g, "]");
        break;
    case 9: gen_map(g, depth + 1, 4); break;
    }
    ws(g);
    both(g, "}");
    for (int i = 0; i < 6; i++) gstr_free(&members[i]);
}

static void test_generated(void **state)
{
    (void)state;
    gen g = {20240611, BUF_INIT, BUF_INIT};
    buf out = BUF_INIT, err = BUF_INIT;
    struct json_object *tree = NULL;
    size_t bytes = 0;
    lua_getglobal(L, "item");
    lua_getfield(L, -1, "equal");
    int equal = lua_gettop(L);
    for (int i = 0; i < 2000; i++) {
        buf_reset(&g.c);
        buf_reset(&g.n);
        gen_map(&g, 0, 8);
        bytes += g.c.len;
        const char *text = buf_str(&g.c);
        /* exact both ways: canonical text in, the same text out */
        if (item_decode(L, text, g.c.len)) fail_msg("item %d: %s\n%s", i, lua_tostring(L, -1), text);
        buf_reset(&out);
        if (item_encode(L, -1, &out, &err)) fail_msg("item %d: %s\n%s", i, buf_str(&err), text);
        if (out.len != g.c.len || memcmp(out.data, text, out.len) != 0)
            fail_msg("item %d differs:\n in: %s\nout: %s", i, text, buf_str(&out));
        /* the size the encoder counts as it goes is item_size()'s */
        size_t sized = 0;
        buf_reset(&out);
        if (item_encode_sized(L, -1, &out, &err, &sized)) fail_msg("item %d: %s", i, buf_str(&err));
        if (out.len != g.c.len || memcmp(out.data, text, out.len) != 0)
            fail_msg("item %d differs (sized):\n in: %s\nout: %s", i, text, buf_str(&out));
        if (sized != item_size(L, -1))
            fail_msg("item %d: encoder size %zu, item_size %zu\n%s", i, sized, item_size(L, -1), text);
        /* decode(encode(x)) equals x */
        if (item_decode(L, out.data, out.len)) fail_msg("item %d: %s", i, lua_tostring(L, -1));
        lua_pushvalue(L, equal);
        lua_pushvalue(L, -3);
        lua_pushvalue(L, -3);
        lua_call(L, 2, 1);
        if (!lua_toboolean(L, -1)) fail_msg("item %d: not equal after a round trip\n%s", i, text);
        lua_pop(L, 3);
        /* other legal spellings of the same item, and json-c's trees of
         * both, encode to the same text */
        for (int way = 0; way < 3; way++) {
            const buf *src = way == 1 ? &g.c : &g.n;
            if (way == 0 ? item_decode(L, buf_str(src), src->len)
                         : item_push(L, tree = json_c_parse(buf_str(src), src->len)))
                fail_msg("item %d: %s\n%s", i, lua_tostring(L, -1), buf_str(src));
            if (way) json_object_put(tree);
            buf_reset(&out);
            if (item_encode(L, -1, &out, &err)) fail_msg("item %d: %s", i, buf_str(&err));
            if (strcmp(buf_str(&out), text) != 0)
                fail_msg("item %d (way %d) differs:\n in: %s\nout: %s\nwant: %s", i, way,
                         buf_str(src), buf_str(&out), text);
            lua_pop(L, 1);
        }
    }
    lua_pop(L, 2);
    assert_true(bytes > 2000 * 50);  /* the generator is not degenerate */
    buf_free(&g.c);
    buf_free(&g.n);
    buf_free(&out);
    buf_free(&err);
}


/* Push the item in text as a lean item (or the table item_lean_parse
 * falls back to), through the page decoder that scans use. */
static void push_lean(const char *text, size_t len)
{
    buf page = BUF_INIT;
    size_t next;
    buf_putc(&page, '[');
    buf_append(&page, text, len);
    buf_putc(&page, ']');
    if (ddb_decode_items(L, page.data, page.len, 0, page.len, 1, &next, 1))
        fail_msg("%s\n%s", lua_tostring(L, -1), text);
    assert_int_equal(next, 0);
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
    buf_free(&page);
}

static const char *encode_top(buf *out)
{
    buf err = BUF_INIT;
    buf_reset(out);
    if (item_encode(L, -1, out, &err)) fail_msg("%s", buf_str(&err));
    buf_free(&err);
    return buf_str(out);
}

/* Every generated item, in its canonical and in its other spelling, as a
 * lean item: untouched it encodes to the very text it came as; read all
 * over, or changed, it encodes as the table with the same changes does;
 * its size bound is never below the size. */
static void test_lean_generated(void **state)
{
    (void)state;
    gen g = {20261203, BUF_INIT, BUF_INIT};
    buf a = BUF_INIT, b = BUF_INIT, err = BUF_INIT;
    int lean_count = 0;
    lua_ok("function edit(t, i)\n"
           "  local names = item.keys(t)\n"
           "  if #names > 0 then\n"
           "    local pick = names[i % #names + 1]\n"
           "    local v = t[pick]\n"               /* read one (decoded, kept) */
           "    t[names[(i * 7) % #names + 1]] = nil\n"
           "    if i % 3 == 0 then t[pick] = v end\n"   /* put back: its place again */
           "  end\n"
           "  t['zz added ' .. i] = {N = tostring(i)}\n"
           "  t['a added'] = {S = 'x'}\n"
           "end\n"
           "function names_of(t) local r = {} for k in pairs(t) do r[#r + 1] = k end return r end");
    for (int i = 0; i < 2000; i++) {
        buf_reset(&g.c);
        buf_reset(&g.n);
        gen_map(&g, 0, 8);
        for (int way = 0; way < 2; way++) {
            const buf *src = way ? &g.n : &g.c;
            push_lean(buf_str(src), src->len);
            int lean = item_lean_get(L, -1) != NULL;
            lean_count += lean;
            /* untouched: the text as it came (canonical in, canonical out) */
            size_t bound = 0;
            buf_reset(&a);
            if (item_encode_sized(L, -1, &a, &err, &bound)) fail_msg("%s", buf_str(&err));
            if (item_decode(L, a.data, a.len)) fail_msg("%s", lua_tostring(L, -1));
            size_t exact = item_size(L, -1);
            lua_pop(L, 1);
            if (bound < exact) fail_msg("item %d: bound %zu below size %zu", i, bound, exact);
            if (way == 0 && strcmp(buf_str(&a), buf_str(&g.c)) != 0)
                fail_msg("item %d: lean\n%s\nnot as it came\n%s", i, buf_str(&a), buf_str(&g.c));
            /* read all over (pairs), then the canonical text */
            lua_getglobal(L, "names_of");
            lua_pushvalue(L, -2);
            lua_call(L, 1, 1);
            lua_pop(L, 1);
            if (strcmp(encode_top(&a), buf_str(&g.c)) != 0)
                fail_msg("item %d (way %d): read\n%s\nnot\n%s", i, way, buf_str(&a), buf_str(&g.c));
            /* edited like a table decoded from the same text */
            push_lean(buf_str(src), src->len);
            if (item_decode(L, buf_str(src), src->len)) fail_msg("%s", lua_tostring(L, -1));
            for (int k = -2; k <= -1; k++) {
                lua_getglobal(L, "edit");
                lua_pushvalue(L, k - 1);
                lua_pushinteger(L, i);
                lua_call(L, 2, 0);
            }
            encode_top(&b);                   /* the table */
            lua_pop(L, 1);
            encode_top(&a);
            if (way == 1) {
                /* untouched values went out as spelt: compare them canonical */
                if (item_decode(L, a.data, a.len)) fail_msg("%s", lua_tostring(L, -1));
                encode_top(&a);
                lua_pop(L, 1);
            }
            if (strcmp(buf_str(&a), buf_str(&b)) != 0)
                fail_msg("item %d (way %d): edited lean\n%s\ntable\n%s", i, way, buf_str(&a),
                         buf_str(&b));
            lua_pop(L, 2);
        }
    }
    /* The generator's names are rich in escapes, which send an item to the
     * table fallback: about a sixth come out lean (679 with this seed). */
    assert_true(lean_count > 500);
    buf_free(&g.c);
    buf_free(&g.n);
    buf_free(&a);
    buf_free(&b);
    buf_free(&err);
}

/* What scripts see of a lean item, and what fails loudly. */
static void test_lean_behaviour(void **state)
{
    (void)state;
    lua_ok("json = require 'mighost.json'\n"
           "function lean(text) return json.decode_ddb_items('[' .. text .. ']', 1, #text + 2, 10, true)[1] end\n"
           "local it = lean('{ \"pk\" : {\"S\":\"a1\"}, \"n\":{\"N\":\"12.50\"},\"tags\":{\"SS\":[\"x\",\"y\"]},'..\n"
           "  '\"m\":{\"M\":{\"b\":{\"S\":\"\\\\u00e9\"},\"a\":{\"L\":[{\"NULL\":true}]}}}}')\n"
           "assert(item.is_lean(it) and type(it) == 'userdata')\n"
           "assert(not item.is_lean({}) and not item.is_lean('x'))\n"
           /* untouched: as it came, compacted */
           "assert(item.encode(it) == '{\"pk\":{\"S\":\"a1\"},\"n\":{\"N\":\"12.50\"},\"tags\":{\"SS\":[\"x\",\"y\"]},'..\n"
           "  '\"m\":{\"M\":{\"b\":{\"S\":\"\\\\u00e9\"},\"a\":{\"L\":[{\"NULL\":true}]}}}}', item.encode(it))\n"
           "assert(it.pk.S == 'a1' and it.n.N == '12.50' and it.nope == nil and it[1] == nil)\n"
           /* a value read is kept: changing it changes the item */
           "it.tags.SS[1] = 'z'\n"
           "assert(item.encode(it):find('{\"SS\":[\"z\",\"y\"]}', 1, true))\n"
           /* removed, put back, added */
           "it.n = nil; it.zz = {BOOL = true}; it.aa = {S = 'first of the added'}\n"
           "assert(it.n == nil)\n"
           "local keys = {}; for k in pairs(it) do keys[#keys + 1] = k end\n"
           "assert(table.concat(keys, ',') == 'pk,tags,m,aa,zz', table.concat(keys, ','))\n"
           "assert(table.concat(item.keys(it), ',') == 'pk,tags,m,aa,zz')\n"
           "it.n = {N = '1'}\n"
           "assert(item.encode(it):find('^{\"pk\":{\"S\":\"a1\"},\"n\":{\"N\":\"1\"},\"tags\"'))\n"
           /* a copy is its own item, sharing the values read so far */
           "local c = item.copy(it); c.pk = {S = 'other'}; c.extra = {N = '2'}\n"
           "assert(it.pk.S == 'a1' and it.extra == nil and c.pk.S == 'other' and c.tags == it.tags)\n"
           "assert(item.is_lean(c))\n"
           /* every item.* function takes it */
           "local t = item.to_table(it)\n"
           "assert(type(t) == 'table' and item.equal(t, it) and item.equal(it, t))\n"
           "assert(item.size(it) == item.size(t) and item.encode(t) == item.encode(it))\n"
           "assert(item.to_plain(it).pk == 'a1')\n"
           "assert(item.to_table(t) == t)\n"
           /* a table's copy keeps its recorded order */
           "local d = item.decode('{\"b\":{\"S\":\"1\"},\"a\":{\"S\":\"2\"}}')\n"
           "local dc = item.copy(d); assert(dc ~= d and item.encode(dc) == '{\"b\":{\"S\":\"1\"},\"a\":{\"S\":\"2\"}}')\n"
           /* the writer's entry: the same text and key id as the table's */
           "local tt, tid, tsz = item._writer_entry(item.to_table(c), 'pk')\n"
           "local lt, lid, lsz = item._writer_entry(c, 'pk')\n"
           "assert(tt == lt and tid == lid and lsz >= tsz, lt)\n"
           /* not a table: these raise instead of seeing an empty item */
           "expect_err(function() return next(it) end, 'table expected, got mighost.item.lean')\n"
           "expect_err(function() return #it end, 'attempt to get length')\n"
           "expect_err(function() rawget(it, 'pk') end, 'table expected')\n"
           "expect_err(function() it[1] = {S = 'x'} end, \"attribute names are strings, not number\")\n"
           "assert(getmetatable(it) == 'mighost.item.lean')\n"
           /* a value that does not decode fails when read, naming it */
           "local bad = lean('{\"pk\":{\"S\":\"a\"},\"x\":{\"Q\":\"1\"}}')\n"
           "assert(item.is_lean(bad) and bad.pk.S == 'a')\n"
           "expect_err(function() return bad.x end, 'attribute x: value: unknown type tag Q')\n"
           /* names with escapes, or twice: decoded as a table (which refuses the second) */
           "local esc = lean('{\"p\\\\u0041\":{\"S\":\"v\"}}')\n"
           "assert(type(esc) == 'table' and esc.pA.S == 'v')\n"
           "expect_err(function() lean('{\"a\":{\"S\":\"1\"},\"a\":{\"S\":\"2\"}}') end, 'appears twice')\n"
           "expect_err(function() lean('{\"a\":{\"S\":\"1\"}') end, 'invalid JSON')\n"
           "assert(item.encode(lean('{}')) == '{}')\n"
           /* more added names than the encoder keeps on its C stack */
           "local many = lean('{\"pk\":{\"S\":\"k\"}}')\n"
           "for i = 1, 40 do many[('x%02d'):format(41 - i)] = {N = tostring(i)} end\n"
           "local order = {}; for k in pairs(many) do order[#order + 1] = k end\n"
           "assert(#order == 41 and order[1] == 'pk' and order[2] == 'x01' and order[41] == 'x40')\n"
           "assert(item.encode(many) == item.encode(item.to_table(many)))\n"
           /* over 400 KB: the writer's size is the exact one */
           "local big = lean('{\"pk\":{\"S\":\"k\"},\"b\":{\"S\":\"' .. string.rep('\\\\u0041', 70000) .. '\"}}')\n"
           "local _, _, bsz = item._writer_entry(big, 'pk')\n"
           "assert(bsz == item.size(big) and bsz == 2 + 1 + 1 + 70000, bsz)\n"
           "local huge = lean('{\"pk\":{\"S\":\"k\"},\"b\":{\"S\":\"' .. string.rep('x', 410000) .. '\"}}')\n"
           "local _, _, hsz = item._writer_entry(huge, 'pk')\n"
           "assert(hsz == item.size(huge) and hsz > item.MAX_SIZE)\n");
}

/* item.equal on lean items: two spellings of every generated item are
 * equal (attribute texts differ, values are compared typed), and an item
 * with one value changed is not. */
static void test_lean_equal_generated(void **state)
{
    (void)state;
    gen g = {20261204, BUF_INIT, BUF_INIT};
    int differs = 0;
    /* eq reads all of one side first on odd items: values read are
     * compared typed against texts (either side) */
    lua_ok("n_eq = 0\n"
           "function eq(a, b)\n"
           "  n_eq = n_eq + 1\n"
           "  if n_eq % 2 == 1 then for _ in pairs(n_eq % 4 == 1 and a or b) do end end\n"
           "  return item.equal(a, b)\n"
           "end\n"
           "function changed(text)\n"
           "  local t = item.decode(text)\n"
           "  local names = item.keys(t)\n"
           "  if #names == 0 then return nil end\n"
           "  t[names[#names]] = {S = 'not what it was ' .. #text}\n"
           "  return item.encode(t)\n"
           "end");
    for (int i = 0; i < 2000; i++) {
        buf_reset(&g.c);
        buf_reset(&g.n);
        gen_map(&g, 0, 8);
        lua_getglobal(L, "eq");
        push_lean(buf_str(&g.c), g.c.len);
        push_lean(buf_str(&g.n), g.n.len);
        lua_call(L, 2, 1);
        if (!lua_toboolean(L, -1)) fail_msg("item %d: spellings differ\n%s\n%s", i, buf_str(&g.c), buf_str(&g.n));
        lua_pop(L, 1);
        lua_getglobal(L, "changed");
        lua_pushlstring(L, buf_str(&g.c), g.c.len);
        lua_call(L, 1, 1);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            continue;
        }
        size_t len;
        const char *other = lua_tolstring(L, -1, &len);
        lua_getglobal(L, "eq");
        push_lean(buf_str(&g.n), g.n.len);
        push_lean(other, len);
        lua_call(L, 2, 1);
        if (lua_toboolean(L, -1)) fail_msg("item %d: a changed value is equal\n%s\n%s", i, buf_str(&g.n), other);
        differs++;
        lua_pop(L, 2);
    }
    assert_true(differs > 1500);
    buf_free(&g.c);
    buf_free(&g.n);
}

/* item.equal's lean cases, item.decode_lean, and which parts of a
 * response json.decode_ddb(text, true) gives as lean items. */
static void test_lean_equal_and_responses(void **state)
{
    (void)state;
    lua_ok("local a = item.decode_lean('{\"pk\":{\"S\":\"a\"},\"n\":{\"N\":\"1.50\"},\"s\":{\"SS\":[\"x\",\"y\"]},'..\n"
           "  '\"m\":{\"M\":{\"b\":{\"S\":\"1\"},\"a\":{\"S\":\"2\"}}}}')\n"
           "local b = item.decode_lean('{\"m\":{\"M\":{\"a\":{\"S\":\"2\"},\"b\":{\"S\":\"1\"}}},\"s\":{\"SS\":[\"y\",\"x\"]},'..\n"
           "  '\"n\":{\"N\":\"1.5\"},\"pk\":{\"S\":\"a\"}}')\n"
           "assert(item.is_lean(a) and item.is_lean(b))\n"
           "assert(item.equal(a, b) and item.equal(b, a) and item.equal(a, item.to_table(b)))\n"
           "assert(a.pk.S == 'a' and item.equal(a, b))\n"          /* a value read */
           "local c = item.copy(b); c.n = {N = '2'}\n"
           "assert(not item.equal(a, c) and not item.equal(c, a))\n"
           "local d = item.copy(a); d.extra = {S = 'x'}\n"
           "assert(not item.equal(a, d) and item.equal(d, d))\n"
           "local e = item.copy(a); e.n = nil\n"
           "assert(not item.equal(a, e))\n"
           "e.n = {N = '1.5'}; assert(item.equal(a, e))\n"
           "assert(not item.equal(a, item.decode_lean('{\"pk\":{\"S\":\"a\"}}')))\n"
           "expect_err(function() item.equal(item.decode_lean('{\"a\":{\"Q\":\"1\"}}'),\n"
           "  item.decode_lean('{\"a\":{\"Q\":\"2\"}}')) end, 'unknown type tag Q')\n"
           "expect_err(function() item.decode_lean('{} x') end, 'invalid JSON')\n"
           "assert(type(item.decode_lean(' {\"p\\\\u0041\":{\"S\":\"1\"}} ')) == 'table')\n"
           /* responses */
           "local r = json.decode_ddb('{\"Responses\":{\"t\":[{\"pk\":{\"S\":\"1\"}}]},'..\n"
           "  '\"UnprocessedKeys\":{\"t\":{\"Keys\":[{\"pk\":{\"S\":\"2\"}}]}}}', true)\n"
           "assert(item.is_lean(r.Responses.t[1]) and r.Responses.t[1].pk.S == '1')\n"
           "assert(type(r.UnprocessedKeys.t.Keys[1]) == 'table')\n"
           "r = json.decode_ddb('{\"Attributes\":{\"pk\":{\"S\":\"1\"}},\"Item\":{\"pk\":{\"S\":\"3\"}}}', true)\n"
           "assert(item.is_lean(r.Attributes) and item.is_lean(r.Item))\n"
           "r = json.decode_ddb('{\"Items\":[{\"pk\":{\"S\":\"1\"}}],\"LastEvaluatedKey\":{\"pk\":{\"S\":\"1\"}},'..\n"
           "  '\"UnprocessedItems\":{\"t\":[{\"PutRequest\":{\"Item\":{\"pk\":{\"S\":\"4\"}}}}]}}', true)\n"
           "assert(type(r.Items[1]) == 'table' and type(r.LastEvaluatedKey) == 'table')\n"
           "assert(type(r.UnprocessedItems.t[1].PutRequest.Item) == 'table')\n"
           "r = json.decode_ddb('{\"Attributes\":{\"pk\":{\"S\":\"1\"}}}')\n"
           "assert(type(r.Attributes) == 'table')\n"
           "expect_err(function() json.decode_ddb('{\"Attributes\":[1]}', true) end, 'expected a JSON object')\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corpus),
        cmocka_unit_test(test_parser),
        cmocka_unit_test(test_json_c_objects),
        cmocka_unit_test(test_key_order),
        cmocka_unit_test(test_str),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_string_runs),
        cmocka_unit_test(test_size),
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_equal),
        cmocka_unit_test(test_generated),
        cmocka_unit_test(test_lean_generated),
        cmocka_unit_test(test_lean_behaviour),
        cmocka_unit_test(test_lean_equal_generated),
        cmocka_unit_test(test_lean_equal_and_responses),
    };
    return cmocka_run_group_tests_name("item", tests, setup, teardown);
}
