/* bindings.h - the Lua modules implemented in C, and what they share.
 *
 * Modules (in package.preload): "mighost" (tasks, logging, run mode),
 * "mighost.gz" (lines of gzip'd or plain files, for offline evaluation),
 * "mighost.ctl" (the control socket of a run, the undo journal's appends),
 * "mighost.item" (the item codec), "mighost.aws" (signed calls from
 * tasks), "mighost.plan" (the dry-run recorder), and the Lua modules in
 * lua/ compiled in (mighost.dynamodb, ...). Bindings translate
 * between Lua values and engine calls; they hold no policy of their own.
 */
#ifndef MIGHOST_BINDINGS_H
#define MIGHOST_BINDINGS_H

#include <lua.h>

#include "aws.h"
#include "runtime.h"

typedef struct bindings_context {
    aws_client *aws;        /* NULL when no AWS access is configured */
    int dry_run;            /* record writes instead of sending them */
    const char *plan_file;  /* dry-run: JSON lines of would-be writes, or NULL */
} bindings_context;

/* The modules, as the runtime opens them (runtime_options.libs); finish
 * flushes the plan file and fails if it could not be written. */
extern const runtime_libs bindings_libs;

/* The shared context, for the modules. */
const bindings_context *bindings_ctx(lua_State *L);

int luaopen_mighost(lua_State *L);
int luaopen_mighost_item(lua_State *L);
int luaopen_mighost_aws(lua_State *L);
int luaopen_mighost_plan(lua_State *L);
int luaopen_mighost_json(lua_State *L);
int luaopen_mighost_sys(lua_State *L);
int luaopen_mighost_xml(lua_State *L);
int luaopen_mighost_gz(lua_State *L);
int luaopen_mighost_ctl(lua_State *L);
int luaopen_mighost_task(lua_State *L);

/* Ctrl-C / SIGTERM: the first asks the run to stop (sys.interrupted()),
 * the second exits at once with 130. */
void sys_install_signal_handlers(void);
int sys_interrupted(void);
/* The exit code a migration run asked for (sys.set_exit_code). */
int sys_exit_code(void);

/* Push b's bytes as a string and free b. */
void bindings_push_buf(lua_State *L, buf *b);
/* Pushes the string s[0..len) as convert writes it (quoted, escaped,
 * shown); returns 1, for a lua_CFunction's return. */
int bindings_push_converted(lua_State *L, const char *s, size_t len,
                            void (*convert)(buf *, const char *, size_t));

/* JSON string literal with JSON.stringify's escaping. */
void json_append_string(buf *b, const char *s, size_t len);
/* Pushes a json-c value as mighost.json.decode does (objects -> tables,
 * arrays -> sequences, null -> the shared null). Returns 0, or -1 with a
 * message pushed when nested over 200 deep. */
struct json_object;
int json_push_plain(lua_State *L, struct json_object *v, int depth);
/* A buf inside a userdata (pushed), freed by the GC even on errors. */
buf *json_new_bufbox(lua_State *L);

/* An error value: {code, message, retryable} with a __tostring. */
void aws_push_error(lua_State *L, const char *code, const char *message, int retryable);

#endif
