/* task.h - Lua coroutines scheduled by the event loop.
 *
 * Every piece of script code runs in a task (a coroutine). A binding that
 * starts a request suspends its task with task_suspend(); the request's
 * callback pushes the results onto the task's stack and calls task_wake(),
 * which resumes it. So a script reads sequentially while many requests fly.
 */
#ifndef MIGHOST_TASK_H
#define MIGHOST_TASK_H

#include <lua.h>

#include "http.h"

typedef struct task task;
typedef struct scheduler scheduler;

scheduler *scheduler_new(lua_State *L, http_loop *loop);
void scheduler_free(scheduler *s);
http_loop *scheduler_loop(scheduler *s);
scheduler *scheduler_of(lua_State *L);

/* Start a task running the function on top of L's stack with nargs
 * arguments above it (both popped). It runs until its first suspension
 * before this returns. The task userdata is pushed on L. */
task *task_spawn(lua_State *L, int nargs);

/* The task running on thread L, or NULL (the main thread is no task). */
task *task_current(lua_State *L);

/* From a C function of a binding, running in task t: suspend until
 * task_wake(t, n). Returns what the C function must return, e.g.
 *     return task_suspend(L, t);
 * If the wake already happened (the request completed synchronously) the
 * results are returned at once without yielding. */
int task_suspend(lua_State *L, task *t);

/* Resume t with the n values already pushed on its thread's stack. Safe to
 * call from any callback; if t is not suspended yet, the values are kept
 * for task_suspend to return. */
void task_wake(task *t, int n);

/* The thread a task runs on (where wake values are pushed). */
lua_State *task_thread(task *t);

/* Run the loop until every task has finished. Returns 0, or -1 if a task
 * that nobody waited for failed (its error has been reported). */
int scheduler_run(scheduler *s);

/* Errors of tasks nobody waited for are reported through this (file:line
 * message and traceback). Set by the runtime. */
void scheduler_on_orphan_error(scheduler *s, void (*fn)(const char *msg, void *ud), void *ud);

/* The pieces the Lua-facing task functions (bindings/task_lib.c) are made
 * of. Those that suspend are called as `return task_xxx(L, ...)` from a C
 * function running in a task. */
task *task_check(lua_State *L, int idx);      /* the task userdata at idx, or an error */
int task_is_done(const task *t);              /* finished or failed */
int task_wait(lua_State *L, task *t);         /* t's results, or its error raised */
int task_sleep(lua_State *L, double seconds);
/* Suspend the calling task until task_unpark; an unpark that came first is
 * remembered, so no wake-up is lost. */
int task_park(lua_State *L);
void task_unpark(task *t);
int task_push_current(lua_State *L);          /* pushes the running task: 1, or 0 */
/* Pops a table and makes it the task objects' methods (__index). */
void task_set_methods(lua_State *L);

#endif
