/* aws_call.c - module "mighost.aws": the one primitive every service
 * binding is built on. call() sends a request from a task and suspends the
 * task until the answer is in; the Lua side of each binding builds the
 * request and reads the answer.
 *
 *   body, meta = aws.call(service, operation, body)        -- success
 *   nil, err   = aws.call(...)                             -- AWS error
 *
 * meta = {status, request_id, attempts, throttles}; err adds code,
 * message, retryable. Misuse (unknown service, no task) raises.
 */
#include <lauxlib.h>
#include <string.h>

#include "bindings.h"
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

static void on_done(const aws_result *r, void *ud)
{
    task *t = ud;
    lua_State *T = task_thread(t);
    lua_checkstack(T, 4);
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
        if (r->function_error[0]) {
            lua_pushstring(T, r->function_error);
            lua_setfield(T, -2, "function_error");
            lua_pushlstring(T, r->body, r->body_len);
            lua_setfield(T, -2, "body");
        }
        luaL_setmetatable(T, ERROR_MT);
    }
    task_wake(t, 2);
}

static aws_client *client_or_error(lua_State *L)
{
    const bindings_context *ctx = bindings_ctx(L);
    if (!ctx || !ctx->aws)
        luaL_error(L, "no AWS access in this run (mighost check and offline runs cannot call AWS)");
    return ctx->aws;
}

static task *task_or_error(lua_State *L)
{
    task *t = task_current(L);
    if (!t)
        luaL_error(L, "AWS calls must run in a mighost task (not in a coroutine the script "
                      "created itself)");
    return t;
}

/* aws.call(service, operation, body [, opts]) ; opts: max_attempts, timeout */
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
    aws_client *c = client_or_error(L);
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

/* aws.invoke(function, payload [, {qualifier, invocation_type, max_attempts, timeout}]) */
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
    aws_client *c = client_or_error(L);
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

static int l_stats(lua_State *L)
{
    const bindings_context *ctx = bindings_ctx(L);
    if (!ctx || !ctx->aws) return 0;
    const aws_stats *s = aws_client_stats(ctx->aws);
    lua_createtable(L, 0, 8);
    lua_pushinteger(L, (lua_Integer)s->calls);
    lua_setfield(L, -2, "calls");
    lua_pushinteger(L, (lua_Integer)s->attempts);
    lua_setfield(L, -2, "attempts");
    lua_pushinteger(L, (lua_Integer)s->retries);
    lua_setfield(L, -2, "retries");
    lua_pushinteger(L, (lua_Integer)s->throttles);
    lua_setfield(L, -2, "throttles");
    lua_pushinteger(L, (lua_Integer)s->failures);
    lua_setfield(L, -2, "failures");
    lua_pushinteger(L, (lua_Integer)s->bytes_sent);
    lua_setfield(L, -2, "bytes_sent");
    lua_pushinteger(L, (lua_Integer)s->bytes_received);
    lua_setfield(L, -2, "bytes_received");
    return 1;
}

int luaopen_mighost_aws(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"call", l_call},   {"invoke", l_invoke},
                                     {"error", l_error}, {"stats", l_stats},
                                     {NULL, NULL}};
    if (luaL_newmetatable(L, ERROR_MT)) {
        lua_pushcfunction(L, error_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    luaL_newlib(L, funcs);
    return 1;
}
