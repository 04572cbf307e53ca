/* embedded.h - the host's own Lua modules, compiled into the executable. */
#ifndef MIGHOST_EMBEDDED_H
#define MIGHOST_EMBEDDED_H

#include <stddef.h>

typedef struct embedded_module {
    const char *name;     /* "mighost.dynamodb" */
    const char *path;     /* source path, for error messages */
    const char *code;
    size_t len;
} embedded_module;

extern const embedded_module embedded_modules[];

#endif
