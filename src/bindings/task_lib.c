/* task_lib.c - the task functions of the mighost module:
 *   mighost.spawn(fn, ...) -> task      mighost.sleep(seconds)
 *   mighost.wait(task) / task:wait()    task:done()
 *   mighost.park() / mighost.unpark(task)  (the building block of sync.lua)
 *   mighost.current() -> task | nil
 * The scheduling itself is lua/task.c. */
#include <lauxlib.h>

#include "bindings.h"
#include "task.h"

static int l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    task_spawn(L, lua_gettop(L) - 1);
    return 1;
}

static int l_wait(lua_State *L)
{
    task *t = task_check(L, 1);
    lua_settop(L, 1);  /* keep t alive while we wait */
    return task_wait(L, t);
}

static int l_done(lua_State *L)
{
    lua_pushboolean(L, task_is_done(task_check(L, 1)));
    return 1;
}

static int l_sleep(lua_State *L)
{
    return task_sleep(L, luaL_checknumber(L, 1));
}

static int l_park(lua_State *L)
{
    return task_park(L);
}

static int l_unpark(lua_State *L)
{
    task_unpark(task_check(L, 1));
    return 0;
}

static int l_current(lua_State *L)
{
    return task_push_current(L);
}

int luaopen_mighost_task(lua_State *L)
{
    static const luaL_Reg methods[] = {{"wait", l_wait}, {"done", l_done}, {NULL, NULL}};
    static const luaL_Reg funcs[] = {{"spawn", l_spawn},   {"sleep", l_sleep},
                                     {"wait", l_wait},     {"park", l_park},
                                     {"unpark", l_unpark}, {"current", l_current},
                                     {NULL, NULL}};
    luaL_newlib(L, methods);
    task_set_methods(L);
    luaL_newlib(L, funcs);
    return 1;
}
