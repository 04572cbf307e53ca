/* gz_append.h - the undo journal's appends: text as one more gzip member
 * at the end of a file, fsync'ed. On a slow disk an fsync takes
 * milliseconds; done on the event loop's thread it would stop every
 * request in flight meanwhile, so gz_append_start() does it on a thread
 * of its own and calls back on the loop when it is on disk. */
#ifndef MIGHOST_GZ_APPEND_H
#define MIGHOST_GZ_APPEND_H

#include <stddef.h>

#include "http.h"

/* Compresses and appends now, on this thread. 0, or -1 with the reason in
 * err (errlen bytes at most). */
int gz_append_now(const char *path, const char *text, size_t len, char *err, size_t errlen);

/* ok: 1 when on disk; else 0 and why. Called on the loop's thread. */
typedef void (*gz_append_done)(int ok, const char *err, void *ud);

/* Queues the append for the writer thread (one thread, first come first
 * written, so appends to one file keep their order); `done` runs from a
 * timer of `loop` once it is on disk or failed. path and text are copied.
 * -1, with nothing queued and `done` never called, when the thread cannot
 * start: the caller then appends with gz_append_now(). */
int gz_append_start(http_loop *loop, const char *path, const char *text, size_t len,
                    gz_append_done done, void *ud);

#endif
