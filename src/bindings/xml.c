/* xml.c - module "mighost.xml": XML (query-protocol answers such as
 * CloudFormation's DescribeStacks) into Lua tables, with expat.
 *
 *   xml.decode(text) -> element | nil, message
 *   element = {tag = "member", text = "...", [1] = child, [2] = child, ...}
 * Namespace prefixes are dropped from tags; text is the element's own
 * character data, concatenated.
 */
#include <expat.h>
#include <lauxlib.h>
#include <string.h>

#include "bindings.h"

typedef struct parse_state {
    lua_State *L;
    int depth;          /* elements open: each is a table on the stack */
    int too_deep;
} parse_state;

#define MAX_DEPTH 100

static const char *local_name(const char *tag)
{
    const char *colon = strrchr(tag, ':');
    return colon ? colon + 1 : tag;
}

static void XMLCALL on_start(void *ud, const XML_Char *tag, const XML_Char **attrs)
{
    parse_state *ps = ud;
    (void)attrs;
    if (ps->depth >= MAX_DEPTH) {
        ps->too_deep = 1;
        return;
    }
    lua_State *L = ps->L;
    luaL_checkstack(L, 4, "XML nested too deeply");
    lua_createtable(L, 2, 2);
    lua_pushstring(L, local_name(tag));
    lua_setfield(L, -2, "tag");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "text");
    ps->depth++;
}

static void XMLCALL on_end(void *ud, const XML_Char *tag)
{
    parse_state *ps = ud;
    (void)tag;
    if (ps->too_deep || ps->depth <= 1) {
        if (!ps->too_deep) ps->depth--;  /* the root stays on the stack */
        return;
    }
    lua_State *L = ps->L;
    /* append the finished element to its parent */
    lua_Integer n = (lua_Integer)lua_rawlen(L, -2);
    lua_rawseti(L, -2, n + 1);
    ps->depth--;
}

static void XMLCALL on_text(void *ud, const XML_Char *s, int len)
{
    parse_state *ps = ud;
    if (ps->too_deep || ps->depth == 0) return;
    lua_State *L = ps->L;
    lua_getfield(L, -1, "text");
    lua_pushlstring(L, s, (size_t)len);
    lua_concat(L, 2);
    lua_setfield(L, -2, "text");
}

static int l_decode(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    lua_settop(L, 1);
    XML_Parser p = XML_ParserCreate("UTF-8");
    if (!p) return luaL_error(L, "cannot create an XML parser");
    parse_state ps = {L, 0, 0};
    XML_SetUserData(p, &ps);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    int ok = XML_Parse(p, text, (int)len, 1) == XML_STATUS_OK;
    if (!ok || ps.too_deep) {
        lua_settop(L, 1);
        lua_pushnil(L);
        if (ps.too_deep) lua_pushliteral(L, "XML nested too deeply");
        else lua_pushfstring(L, "invalid XML at line %d: %s", (int)XML_GetCurrentLineNumber(p),
                             XML_ErrorString(XML_GetErrorCode(p)));
        XML_ParserFree(p);
        return 2;
    }
    XML_ParserFree(p);
    if (lua_gettop(L) < 2) {
        lua_pushnil(L);
        lua_pushliteral(L, "empty XML document");
        return 2;
    }
    lua_settop(L, 2);
    return 1;
}

int luaopen_mighost_xml(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"decode", l_decode}, {NULL, NULL}};
    luaL_newlib(L, funcs);
    return 1;
}
