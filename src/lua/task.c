/* task.c - coroutines on the event loop. */
#include "task.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define TASK_MT "mighost.task"

enum { T_RUNNING, T_SUSPENDED, T_DONE, T_FAILED };

typedef struct waiter {
    task *who;
    struct waiter *next;
} waiter;

struct task {
    scheduler *s;
    lua_State *T;          /* the coroutine */
    int self_ref;          /* registry ref keeping the task alive while it runs */
    int state;
    int woken;             /* a wake arrived while the task was still running */
    int wake_n;
    int nresults;          /* values left on T when done */
    int observed;          /* somebody waited: its error is theirs to report */
    int parked;            /* suspended in park() */
    int permit;            /* an unpark() arrived before the park() */
    char *error_text;      /* "file:line: message" + traceback, when failed */
    waiter *waiters;
    struct task *next_failed;
};

struct scheduler {
    lua_State *L;
    http_loop *loop;
    int live;              /* tasks not finished */
    task *failed;          /* failed tasks, to report the unobserved ones */
    void (*on_orphan)(const char *msg, void *ud);
    void *orphan_ud;
};

static const char SCHED_KEY = 'S';

static void create_metatable(lua_State *L);

scheduler *scheduler_new(lua_State *L, http_loop *loop)
{
    scheduler *s = xcalloc(1, sizeof *s);
    s->L = L;
    create_metatable(L);  /* before any task exists: the main task is one */
    s->loop = loop;
    lua_pushlightuserdata(L, s);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &SCHED_KEY);
    return s;
}

void scheduler_free(scheduler *s)
{
    if (!s) return;
    for (task *t = s->failed; t; t = t->next_failed)
        luaL_unref(s->L, LUA_REGISTRYINDEX, t->self_ref);
    lua_pushnil(s->L);
    lua_rawsetp(s->L, LUA_REGISTRYINDEX, &SCHED_KEY);
    free(s);
}

scheduler *scheduler_of(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &SCHED_KEY);
    scheduler *s = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return s;
}

http_loop *scheduler_loop(scheduler *s) { return s->loop; }
lua_State *task_thread(task *t) { return t->T; }

void scheduler_on_orphan_error(scheduler *s, void (*fn)(const char *, void *), void *ud)
{
    s->on_orphan = fn;
    s->orphan_ud = ud;
}

task *task_current(lua_State *L)
{
    return *(task **)lua_getextraspace(L);
}

static void wake_waiters(task *t);

static void record_error(task *t, int status)
{
    lua_State *L = t->s->L;
    buf b = BUF_INIT;
    /* Error values with a __tostring (AWS errors) read as their text. */
    lua_pushvalue(t->T, -1);
    lua_xmove(t->T, L, 1);
    const char *msg = luaL_tolstring(L, -1, NULL);
    luaL_traceback(L, t->T, msg, 0);
    buf_puts(&b, lua_tostring(L, -1));
    lua_pop(L, 3);
    if (status == LUA_ERRMEM) buf_puts(&b, " (out of memory)");
    t->error_text = buf_detach(&b);
}

static void resume(task *t, int nargs)
{
    scheduler *s = t->s;
    t->state = T_RUNNING;
    t->woken = 0;
    int nres = 0;
    int status = lua_resume(t->T, s->L, nargs, &nres);
    if (status == LUA_YIELD) {
        /* A yield not made by task_suspend (a script calling
         * coroutine.yield at the top of a task) just suspends it. */
        lua_pop(t->T, nres);
        t->state = T_SUSPENDED;
        return;
    }
    s->live--;
    if (status == LUA_OK) {
        t->state = T_DONE;
        t->nresults = nres;
    } else {
        t->state = T_FAILED;
        record_error(t, status);  /* the error value stays on top of T */
        t->next_failed = s->failed;
        s->failed = t;
    }
    wake_waiters(t);
    /* A failed task stays anchored until scheduler_run has seen whether
     * anybody observed its error. */
    if (t->state == T_DONE) {
        luaL_unref(s->L, LUA_REGISTRYINDEX, t->self_ref);
        t->self_ref = LUA_NOREF;
    }
}

void task_wake(task *t, int n)
{
    if (t->state == T_RUNNING) {
        t->woken = 1;
        t->wake_n = n;
        return;
    }
    resume(t, n);
}

int task_suspend(lua_State *L, task *t)
{
    if (t->woken) {
        t->woken = 0;
        return t->wake_n;
    }
    return lua_yield(L, 0);
}

static int task_gc(lua_State *L)
{
    task *t = luaL_checkudata(L, 1, TASK_MT);
    free(t->error_text);
    t->error_text = NULL;
    while (t->waiters) {
        waiter *w = t->waiters;
        t->waiters = w->next;
        free(w);
    }
    return 0;
}

task *task_spawn(lua_State *L, int nargs)
{
    scheduler *s = scheduler_of(L);
    if (!s) luaL_error(L, "tasks need the mighost runtime");
    task *t = lua_newuserdatauv(L, sizeof *t, 1);
    memset(t, 0, sizeof *t);
    t->s = s;
    t->self_ref = LUA_NOREF;
    luaL_setmetatable(L, TASK_MT);
    t->T = lua_newthread(L);
    *(task **)lua_getextraspace(t->T) = t;
    lua_setiuservalue(L, -2, 1);             /* the task keeps its thread alive */
    lua_pushvalue(L, -1);
    t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    /* stack: fn args... task -> move fn and args onto the thread */
    lua_insert(L, -(nargs + 2));
    lua_xmove(L, t->T, nargs + 1);
    s->live++;
    resume(t, nargs);
    return t;
}

/* --- waiting ------------------------------------------------------------- */

/* Push t's outcome on L: its results (copies), or raise its error. */
static int push_outcome(lua_State *L, task *t)
{
    t->observed = 1;
    if (t->state == T_FAILED) {
        lua_pushvalue(t->T, -1);
        lua_xmove(t->T, L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            lua_pop(L, 1);
            lua_pushstring(L, t->error_text);
        }
        return lua_error(L);
    }
    int n = t->nresults;
    luaL_checkstack(L, n, "too many results");
    for (int i = 0; i < n; i++) lua_pushvalue(t->T, -n + i);
    lua_xmove(t->T, L, n);
    return n;
}

static void wake_waiters(task *t)
{
    waiter *w = t->waiters;
    t->waiters = NULL;
    while (w) {
        waiter *next = w->next;
        task_wake(w->who, 0);
        free(w);
        w = next;
    }
}

static int wait_continue(lua_State *L, int status, lua_KContext ctx)
{
    (void)status;
    return push_outcome(L, (task *)ctx);
}

int task_wait(lua_State *L, task *t)
{
    if (t->state == T_DONE || t->state == T_FAILED) return push_outcome(L, t);
    task *me = task_current(L);
    if (!me) return luaL_error(L, "wait() must be called from a task");
    if (me == t) return luaL_error(L, "a task cannot wait for itself");
    waiter *w = xmalloc(sizeof *w);
    w->who = me;
    w->next = t->waiters;
    t->waiters = w;
    return lua_yieldk(L, 0, (lua_KContext)t, wait_continue);
}

task *task_check(lua_State *L, int idx)
{
    return luaL_checkudata(L, idx, TASK_MT);
}

int task_is_done(const task *t)
{
    return t->state == T_DONE || t->state == T_FAILED;
}

static void wake_timer(void *ud)
{
    task_wake(ud, 0);
}

int task_sleep(lua_State *L, double seconds)
{
    task *me = task_current(L);
    if (!me) return luaL_error(L, "sleep() must be called from a task");
    http_timer_add(me->s->loop, seconds, wake_timer, me);
    return task_suspend(L, me);
}

int task_park(lua_State *L)
{
    task *me = task_current(L);
    if (!me) return luaL_error(L, "park() must be called from a task");
    if (me->permit) {
        me->permit = 0;
        return 0;
    }
    me->parked = 1;
    return task_suspend(L, me);
}

void task_unpark(task *t)
{
    if (t->parked) {
        t->parked = 0;
        task_wake(t, 0);
    } else if (!task_is_done(t)) {
        t->permit = 1;
    }
}

int task_push_current(lua_State *L)
{
    task *me = task_current(L);
    if (!me) return 0;
    lua_rawgeti(L, LUA_REGISTRYINDEX, me->self_ref);
    return 1;
}

static int task_tostring(lua_State *L)
{
    task *t = luaL_checkudata(L, 1, TASK_MT);
    static const char *const states[] = {"running", "suspended", "done", "failed"};
    lua_pushfstring(L, "task (%s) %p", states[t->state], (void *)t);
    return 1;
}

int scheduler_run(scheduler *s)
{
    while (s->live > 0) {
        int pending = http_loop_step(s->loop, 1000);
        if (pending == 0 && s->live > 0) {
            if (s->on_orphan)
                s->on_orphan("deadlock: tasks are waiting for each other and nothing is in "
                             "flight", s->orphan_ud);
            return -1;
        }
    }
    int rc = 0;
    while (s->failed) {
        task *t = s->failed;
        s->failed = t->next_failed;
        if (!t->observed) {
            t->observed = 1;
            if (s->on_orphan) s->on_orphan(t->error_text, s->orphan_ud);
            rc = -1;
        }
        luaL_unref(s->L, LUA_REGISTRYINDEX, t->self_ref);
        t->self_ref = LUA_NOREF;
    }
    return rc;
}

static void create_metatable(lua_State *L)
{
    static const luaL_Reg meta[] = {{"__gc", task_gc}, {"__tostring", task_tostring},
                                    {NULL, NULL}};
    luaL_newmetatable(L, TASK_MT);
    luaL_setfuncs(L, meta, 0);
    lua_pop(L, 1);
}

void task_set_methods(lua_State *L)
{
    luaL_getmetatable(L, TASK_MT);
    lua_insert(L, -2);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
}
