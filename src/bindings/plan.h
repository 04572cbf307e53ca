/* plan.h - what a dry-run would have written.
 *
 * In dry-run every write binding validates its request and calls
 * plan_record() instead of sending it: a JSON line goes to the plan file
 * (when one was asked for) and the counts per table and operation grow.
 */
#ifndef MIGHOST_PLAN_H
#define MIGHOST_PLAN_H

#include <lua.h>
#include <stddef.h>

void plan_open(lua_State *L, const char *path);
/* `body` is the request's JSON (the item, key, or whole request). */
void plan_record(lua_State *L, const char *op, const char *table, const char *body, size_t len);
/* Pushes {table = {op = count}} and the total. */
int plan_push_counts(lua_State *L);
int plan_flush(lua_State *L);
void plan_close(lua_State *L);

#endif
