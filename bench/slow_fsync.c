/* slow_fsync.c - an LD_PRELOAD shim for bench/fsync_latency.sh: every
 * fsync and fdatasync of the process first sleeps SLOW_FSYNC_US
 * microseconds (default 5000), as on a disk whose flushes are slow (a
 * network volume, a busy one). Built by the script, never linked into
 * mighost. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

static void pause_a_while(void)
{
    const char *e = getenv("SLOW_FSYNC_US");
    long us = e ? atol(e) : 5000;
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000L};
    nanosleep(&ts, NULL);
}

int fsync(int fd)
{
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    pause_a_while();
    return real(fd);
}

int fdatasync(int fd)
{
    static int (*real)(int);
    if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    pause_a_while();
    return real(fd);
}
