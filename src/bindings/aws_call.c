/* aws_call.c - module "mighost.aws": the one primitive every service
 * binding is built on. call() sends a request from a task and suspends the
 * task until the answer is in; the Lua side of each binding builds the
 * request and reads the answer.
 *
 *   body, meta = aws.call(service, operation, body)        -- success
 *   nil, err   = aws.call(...)                             -- AWS error
 *
 * meta = {status, request_id, attempts, throttles}; err adds code,
 * message, retryable, and outage = true when the endpoint stopped
 * answering and the wait for it was given up (--max-outage): the run must
 * stop, not count the item as failed. Misuse (unknown service, no task)
 * raises.
 *
 * aws.waiting() -> {endpoint, since (epoch seconds), next_try (seconds),
 * last_error} while a client waits out an outage, else nil.
 * aws.gave_up() -> the message of a client that gave up waiting, else nil.
 *
 *   body, meta = aws.rest(service, {method, path, query, headers, body,
 *                         bucket} [, opts])                -- REST (S3)
 *   aws.uri_encode(text [, keep_slash])                    -- RFC 3986
 * A REST call's meta also has headers: the response's, by lowercase name.
 *
 * opts.profile / opts.region send a call with another profile's
 * credentials or to another region: one client per (profile, region),
 * made on first use and sharing the run's event loop.
 */
#include <ctype.h>
#include <lauxlib.h>
#include <string.h>

#include "bindings.h"
#include "sigv4.h"
#include "task.h"

#define ERROR_MT "mighost.error"

static void push_meta(lua_State *L, const aws_result *r)
{
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, r->status);
    lua_setfield(L, -2, "status");
    lua_pushstring(L, r->request_id);
    lua_setfield(L, -2, "request_id");
    lua_pushinteger(L, r->attempts);
    lua_setfield(L, -2, "attempts");
    lua_pushinteger(L, r->throttles);
    lua_setfield(L, -2, "throttles");
}

void aws_push_error(lua_State *L, const char *code, const char *message, int retryable)
{
    lua_createtable(L, 0, 8);
    lua_pushstring(L, code);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, message);
    lua_setfield(L, -2, "message");
    lua_pushboolean(L, retryable);
    lua_setfield(L, -2, "retryable");
    luaL_setmetatable(L, ERROR_MT);
}

/* meta.headers = {["etag"] = ..., ...}: repeated headers joined by ", ". */
static void push_headers(lua_State *L, const aws_result *r)
{
    lua_createtable(L, 0, 8);
    const char *p = r->headers, *end = r->headers + r->headers_len;
    luaL_Buffer name;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        const char *colon = memchr(p, ':', (size_t)(eol - p));
        if (colon) {
            luaL_buffinit(L, &name);
            for (const char *c = p; c < colon; c++) luaL_addchar(&name, (char)tolower((unsigned char)*c));
            luaL_pushresult(&name);
            const char *v = colon + 1, *ve = eol;
            while (v < ve && (*v == ' ' || *v == '\t')) v++;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ')) ve--;
            lua_pushvalue(L, -1);
            if (lua_rawget(L, -3) == LUA_TSTRING) {
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, v, (size_t)(ve - v));
                lua_concat(L, 3);
            } else {
                lua_pop(L, 1);
                lua_pushlstring(L, v, (size_t)(ve - v));
            }
            lua_rawset(L, -3);
        }
        p = eol + 1;
    }
}

static void on_done(const aws_result *r, void *ud)
{
    task *t = ud;
    lua_State *T = task_thread(t);
    lua_checkstack(T, 8);
    if (r->ok) {
        lua_pushlstring(T, r->body, r->body_len);
        push_meta(T, r);
    } else {
        lua_pushnil(T);
        /* retryable: the error was of a retryable kind, retries ran out. */
        push_meta(T, r);
        lua_pushstring(T, r->code);
        lua_setfield(T, -2, "code");
        lua_pushstring(T, r->message);
        lua_setfield(T, -2, "message");
        lua_pushboolean(T, r->error_class != RETRY_NO);
        lua_setfield(T, -2, "retryable");
        if (r->outage) {
            /* Not this request's fault: the endpoint stopped answering. */
            lua_pushboolean(T, 1);
            lua_setfield(T, -2, "outage");
        }
        if (r->function_error[0]) {
            lua_pushstring(T, r->function_error);
            lua_setfield(T, -2, "function_error");
            lua_pushlstring(T, r->body, r->body_len);
            lua_setfield(T, -2, "body");
        }
        luaL_setmetatable(T, ERROR_MT);
    }
    if (r->headers_len) {
        push_headers(T, r);
        lua_setfield(T, -2, "headers");
    }
    task_wake(t, 2);
}

#define CLIENTS_KEY "mighost.aws.clients"   /* registry: "profile\nregion" -> client box */
#define CLIENT_MT "mighost.aws.client"

typedef struct client_box {
    aws_client *c;
} client_box;

static int client_gc(lua_State *L)
{
    client_box *b = luaL_checkudata(L, 1, CLIENT_MT);
    aws_client_free(b->c);   /* before the base client frees the shared loop */
    b->c = NULL;
    return 0;
}

static aws_client *base_client(lua_State *L)
{
    const bindings_context *ctx = bindings_ctx(L);
    if (!ctx || !ctx->aws)
        luaL_error(L, "no AWS access in this run (mighost check and offline runs cannot call AWS)");
    return ctx->aws;
}

/* The client for opts.profile / opts.region (the table at index idx, or
 * none): the run's own when neither is given. */
static aws_client *client_for(lua_State *L, int idx)
{
    aws_client *base = base_client(L);
    if (!lua_istable(L, idx)) return base;
    lua_getfield(L, idx, "profile");
    lua_getfield(L, idx, "region");
    const char *profile = luaL_optstring(L, -2, NULL);
    const char *region = luaL_optstring(L, -1, NULL);
    if (profile && !*profile) profile = NULL;
    if (region && !*region) region = NULL;
    if (!profile && !region) {
        lua_pop(L, 2);
        return base;
    }
    luaL_getsubtable(L, LUA_REGISTRYINDEX, CLIENTS_KEY);
    lua_pushfstring(L, "%s\n%s", profile ? profile : "", region ? region : "");
    lua_pushvalue(L, -1);
    if (lua_rawget(L, -3) == LUA_TUSERDATA) {
        aws_client *c = ((client_box *)lua_touserdata(L, -1))->c;
        lua_pop(L, 5);
        return c;
    }
    lua_pop(L, 1);
    client_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->c = NULL;
    luaL_setmetatable(L, CLIENT_MT);
    buf err = BUF_INIT;
    b->c = aws_client_derive(base, profile, region, &err);
    if (!b->c) {
        lua_pushfstring(L, "cannot make a client for profile '%s' region '%s': %s",
                        profile ? profile : "(default)", region ? region : "(default)", buf_str(&err));
        buf_free(&err);
        return (aws_client *)(lua_error(L), NULL);
    }
    buf_free(&err);
    lua_rawset(L, -3);      /* clients[key] = box */
    lua_pop(L, 3);
    return b->c;
}

static task *task_or_error(lua_State *L)
{
    task *t = task_current(L);
    if (!t)
        luaL_error(L, "AWS calls must run in a mighost task (not in a coroutine the script "
                      "created itself)");
    return t;
}

/* aws.call(service, operation, body [, opts]) ; opts: max_attempts, timeout,
 * profile, region */
static int l_call(lua_State *L)
{
    const char *svc_id = luaL_checkstring(L, 1);
    const char *op = luaL_checkstring(L, 2);
    size_t len;
    const char *body = luaL_optlstring(L, 3, "", &len);
    const aws_service *svc = aws_service_find(svc_id);
    if (!svc) return luaL_argerror(L, 1, "unknown service");
    int max_attempts = 0;
    long timeout_ms = 0;
    if (lua_istable(L, 4)) {
        lua_getfield(L, 4, "max_attempts");
        max_attempts = (int)luaL_optinteger(L, -1, 0);
        lua_getfield(L, 4, "timeout");
        timeout_ms = (long)(luaL_optnumber(L, -1, 0) * 1000);
        lua_pop(L, 2);
    }
    aws_client *c = client_for(L, 4);
    task *t = task_or_error(L);
    aws_request req;
    memset(&req, 0, sizeof req);
    req.svc = svc;
    req.operation = op;
    req.body = body;
    req.body_len = len;
    req.max_attempts = max_attempts;
    req.timeout_ms = timeout_ms;
    aws_send(c, &req, on_done, t);
    return task_suspend(L, t);
}

/* aws.rest(service, {method, path, query, headers, body, bucket} [, opts]);
 * opts as for call(). */
static int l_rest(lua_State *L)
{
    const aws_service *svc = aws_service_find(luaL_checkstring(L, 1));
    if (!svc) return luaL_argerror(L, 1, "unknown service");
    if (svc->protocol != AWS_PROTO_REST_XML && svc->protocol != AWS_PROTO_REST_JSON)
        return luaL_argerror(L, 1, "not a REST service");
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 3);
    aws_request req;
    memset(&req, 0, sizeof req);
    req.svc = svc;
    lua_getfield(L, 2, "method");   /* 4 */
    lua_getfield(L, 2, "path");     /* 5 */
    lua_getfield(L, 2, "query");    /* 6 */
    lua_getfield(L, 2, "body");     /* 7 */
    lua_getfield(L, 2, "bucket");   /* 8 */
    lua_getfield(L, 2, "headers");  /* 9 */
    req.method = luaL_optstring(L, 4, "GET");
    req.operation = req.method;
    req.path = luaL_optstring(L, 5, "/");
    req.query = luaL_optstring(L, 6, NULL);
    req.body = luaL_optlstring(L, 7, "", &req.body_len);
    req.bucket = luaL_optstring(L, 8, NULL);
    http_header hs[16];
    size_t n = 0;
    if (lua_istable(L, 9)) {
        lua_pushnil(L);
        while (lua_next(L, 9)) {
            if (n == sizeof hs / sizeof hs[0]) return luaL_error(L, "more than 16 request headers");
            if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING)
                return luaL_error(L, "request headers must be strings");
            hs[n].name = lua_tostring(L, -2);
            hs[n++].value = lua_tostring(L, -1);   /* kept alive by the headers table */
            lua_pop(L, 1);
        }
    }
    req.headers = hs;
    req.nheaders = n;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "max_attempts");
        req.max_attempts = (int)luaL_optinteger(L, -1, 0);
        lua_getfield(L, 3, "timeout");
        req.timeout_ms = (long)(luaL_optnumber(L, -1, 0) * 1000);
        lua_pop(L, 2);
    }
    aws_client *c = client_for(L, 3);
    task *t = task_or_error(L);
    aws_send(c, &req, on_done, t);
    return task_suspend(L, t);
}

static int l_uri_encode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    buf out = BUF_INIT;
    sigv4_uri_encode(&out, s, len, lua_toboolean(L, 2));
    lua_pushlstring(L, out.data ? out.data : "", out.len);
    buf_free(&out);
    return 1;
}

/* aws.invoke(function, payload [, {qualifier, invocation_type, max_attempts,
 * timeout, profile, region}]) */
static int l_invoke(lua_State *L)
{
    const char *fn = luaL_checkstring(L, 1);
    size_t len;
    const char *payload = luaL_optlstring(L, 2, "", &len);
    const char *qualifier = NULL, *type = NULL;
    int max_attempts = 0;
    long timeout_ms = 0;
    if (lua_istable(L, 3)) {
        lua_getfield(L, 3, "qualifier");
        qualifier = luaL_optstring(L, -1, NULL);
        lua_getfield(L, 3, "invocation_type");
        type = luaL_optstring(L, -1, NULL);
        lua_getfield(L, 3, "max_attempts");
        max_attempts = (int)luaL_optinteger(L, -1, 0);
        lua_getfield(L, 3, "timeout");
        timeout_ms = (long)(luaL_optnumber(L, -1, 0) * 1000);
        lua_pop(L, 4);  /* the strings stay reachable through the opts table */
    }
    aws_client *c = client_for(L, 3);
    task *t = task_or_error(L);
    aws_lambda_invoke(c, fn, qualifier, type, payload, len, max_attempts, timeout_ms, on_done, t);
    return task_suspend(L, t);
}

static int error_tostring(lua_State *L)
{
    lua_getfield(L, 1, "code");
    lua_getfield(L, 1, "message");
    lua_pushfstring(L, "%s: %s", luaL_optstring(L, -2, "Error"), luaL_optstring(L, -1, ""));
    return 1;
}

/* aws.error(code, message [, retryable]) makes an error value. */
static int l_error(lua_State *L)
{
    aws_push_error(L, luaL_checkstring(L, 1), luaL_optstring(L, 2, ""), lua_toboolean(L, 3));
    return 1;
}

static void add_stats(aws_stats *sum, const aws_stats *s)
{
    sum->calls += s->calls;
    sum->attempts += s->attempts;
    sum->retries += s->retries;
    sum->throttles += s->throttles;
    sum->failures += s->failures;
    sum->bytes_sent += s->bytes_sent;
    sum->bytes_received += s->bytes_received;
}

/* aws.stats(): the run's totals over every client. */
static int l_stats(lua_State *L)
{
    const bindings_context *ctx = bindings_ctx(L);
    if (!ctx || !ctx->aws) return 0;
    aws_stats s;
    memset(&s, 0, sizeof s);
    add_stats(&s, aws_client_stats(ctx->aws));
    luaL_getsubtable(L, LUA_REGISTRYINDEX, CLIENTS_KEY);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        const client_box *b = lua_touserdata(L, -1);
        if (b && b->c) add_stats(&s, aws_client_stats(b->c));
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    const struct { const char *name; unsigned long long value; } fields[] = {
        {"calls", s.calls},         {"attempts", s.attempts},
        {"retries", s.retries},     {"throttles", s.throttles},
        {"failures", s.failures},   {"bytes_sent", s.bytes_sent},
        {"bytes_received", s.bytes_received}};
    lua_createtable(L, 0, (int)(sizeof fields / sizeof fields[0]));
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        lua_pushinteger(L, (lua_Integer)fields[i].value);
        lua_setfield(L, -2, fields[i].name);
    }
    return 1;
}

static int push_waiting(lua_State *L, const aws_client *c)
{
    aws_wait_info w;
    if (!c || !aws_client_waiting(c, &w)) return 0;
    lua_createtable(L, 0, 4);
    lua_pushstring(L, w.endpoint);
    lua_setfield(L, -2, "endpoint");
    lua_pushnumber(L, w.since_wall);
    lua_setfield(L, -2, "since");
    lua_pushnumber(L, w.next_try);
    lua_setfield(L, -2, "next_try");
    lua_pushstring(L, w.last_error);
    lua_setfield(L, -2, "last_error");
    return 1;
}

/* aws.waiting(): the first client found waiting out an outage, or nil. */
static int l_waiting(lua_State *L)
{
    const bindings_context *ctx = bindings_ctx(L);
    if (!ctx || !ctx->aws) return 0;
    if (push_waiting(L, ctx->aws)) return 1;
    luaL_getsubtable(L, LUA_REGISTRYINDEX, CLIENTS_KEY);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        const client_box *b = lua_touserdata(L, -1);
        if (b && push_waiting(L, b->c)) return 1;
        lua_pop(L, 1);
    }
    return 0;
}

static int l_gave_up(lua_State *L)
{
    const bindings_context *ctx = bindings_ctx(L);
    if (!ctx || !ctx->aws) return 0;
    const char *why = aws_client_gave_up(ctx->aws);
    if (why) {
        lua_pushstring(L, why);
        return 1;
    }
    luaL_getsubtable(L, LUA_REGISTRYINDEX, CLIENTS_KEY);
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        const client_box *b = lua_touserdata(L, -1);
        if (b && b->c && (why = aws_client_gave_up(b->c))) {
            lua_pushstring(L, why);
            return 1;
        }
        lua_pop(L, 1);
    }
    return 0;
}

int luaopen_mighost_aws(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"call", l_call},   {"invoke", l_invoke},
                                     {"rest", l_rest},   {"uri_encode", l_uri_encode},
                                     {"error", l_error}, {"stats", l_stats},
                                     {"waiting", l_waiting}, {"gave_up", l_gave_up},
                                     {NULL, NULL}};
    if (luaL_newmetatable(L, CLIENT_MT)) {
        lua_pushcfunction(L, client_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, ERROR_MT)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
