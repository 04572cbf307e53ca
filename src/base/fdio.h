/* fdio.h - whole writes to a file descriptor. */
#ifndef MIGHOST_FDIO_H
#define MIGHOST_FDIO_H

#include <stddef.h>

/* Writes all len bytes, again after a signal or a short write: 0, or -1
 * with errno set. */
int fd_write_all(int fd, const void *data, size_t len);

#endif
