/* paths.h - where things are on disk: can a file or folder be created where
 * the user asked (checked before a run does anything, so a bad --report or
 * --state-dir fails at once instead of after the work), and where the
 * packaged migrations live. */
#ifndef MIGHOST_PATHS_H
#define MIGHOST_PATHS_H

#include "buf.h"

/* 0 if path can be written: an existing file (or folder when is_dir) we
 * may write, or a new one whose nearest existing parent is a folder we may
 * write into. -1 with a message naming what (e.g. "--report") otherwise. */
int path_can_create(const char *path, int is_dir, const char *what, buf *err);

/* Where packaged migrations live: $MIGHOST_MIGRATIONS, ./migrations
 * beside the executable's source tree, or PREFIX/share/mighost/migrations. */
const char *paths_migrations_dir(void);

#endif
