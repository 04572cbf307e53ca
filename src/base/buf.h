/* buf.h - growable byte buffer, always NUL-terminated.
 *
 * Every module that builds text (canonical requests, JSON bodies, URLs)
 * uses this one type so ownership is obvious: whoever holds a buf frees it.
 */
#ifndef MIGHOST_BUF_H
#define MIGHOST_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *data;   /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
} buf;

#define BUF_INIT {NULL, 0, 0}

void buf_reserve(buf *b, size_t extra);
void buf_append(buf *b, const void *data, size_t len);
void buf_puts(buf *b, const char *s);
void buf_putc(buf *b, char c);
void buf_printf(buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf *b, const char *fmt, va_list ap);
void buf_reset(buf *b);             /* empty it, keep the memory */
char *buf_detach(buf *b);           /* hand the string to the caller ("" if empty) */
void buf_free(buf *b);
const char *buf_str(const buf *b);  /* "" when empty, never NULL */
/* A user's value echoed in a message: at most BUF_SHOWN_MAX bytes (cut at
 * a UTF-8 character boundary), then "…", so a 5 MB argument stays one line. */
#define BUF_SHOWN_MAX 200
void buf_put_shown(buf *b, const char *s, size_t len);
/* The same into scratch (emptied first); returns its text, for printf. */
const char *buf_shown(buf *scratch, const char *s);

/* Out-of-memory is fatal everywhere in mighost: a migration that cannot
 * allocate cannot keep its promises, so it stops loudly. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
