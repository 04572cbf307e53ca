/* gz_append.c - see gz_append.h. */
#include "gz_append.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "fdio.h"

/* How often the loop looks for finished appends while any is out. */
#define POLL_SECONDS 0.001

typedef struct job {
    char *path, *text;
    size_t len;
    int ok;
    char err[256];
    gz_append_done done;
    void *ud;
    struct job *next;
} job;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static job *todo_head, *todo_tail;     /* for the thread, oldest first */
static job *done_head, *done_tail;     /* for the loop, oldest first */
static int started, stopping;
static int outstanding;                /* queued or being written; loop thread only */
static int armed;                      /* poll_done's timer is set; loop thread only */
static pthread_t writer;

int gz_append_now(const char *path, const char *text, size_t len, char *err, size_t errlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16: a gzip header and trailer around the member. */
    if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        snprintf(err, errlen, "zlib cannot start");
        return -1;
    }
    uLong bound = deflateBound(&z, (uLong)len);
    unsigned char *out = xmalloc(bound);
    z.next_in = (unsigned char *)(uintptr_t)text;
    z.avail_in = (uInt)len;
    z.next_out = out;
    z.avail_out = (uInt)bound;
    int zr = deflate(&z, Z_FINISH);
    size_t n = bound - z.avail_out;
    deflateEnd(&z);
    if (zr != Z_STREAM_END) {
        free(out);
        snprintf(err, errlen, "zlib could not compress");
        return -1;
    }
    int rc = -1;
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        rc = fd_write_all(fd, (const char *)out, n) == 0 && fsync(fd) == 0 ? 0 : -1;
        int e = errno;
        close(fd);
        errno = e;
    }
    if (rc != 0) snprintf(err, errlen, "cannot append to %s: %s", path, strerror(errno));
    free(out);
    return rc;
}

static void job_free(job *j)
{
    free(j->path);
    free(j->text);
    free(j);
}

static void *writer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    for (;;) {
        while (!todo_head && !stopping) pthread_cond_wait(&wake, &lock);
        if (!todo_head) break;    /* stopping, nothing left */
        job *j = todo_head;
        todo_head = j->next;
        if (!todo_head) todo_tail = NULL;
        pthread_mutex_unlock(&lock);
        j->ok = gz_append_now(j->path, j->text, j->len, j->err, sizeof j->err) == 0;
        pthread_mutex_lock(&lock);
        j->next = NULL;
        if (done_tail) done_tail->next = j;
        else done_head = j;
        done_tail = j;
    }
    pthread_mutex_unlock(&lock);
    return NULL;
}

/* At exit: the thread finishes what is queued and is joined. */
static void stop_writer(void)
{
    pthread_mutex_lock(&lock);
    stopping = 1;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    pthread_join(writer, NULL);
    for (job *j = done_head, *next; j; j = next) {
        next = j->next;
        job_free(j);
    }
    done_head = done_tail = NULL;
}

static void poll_done(void *ud)
{
    http_loop *loop = ud;
    armed = 0;
    pthread_mutex_lock(&lock);
    job *j = done_head;
    done_head = done_tail = NULL;
    pthread_mutex_unlock(&lock);
    while (j) {
        job *next = j->next;
        outstanding--;
        j->done(j->ok, j->err, j->ud);
        job_free(j);
        j = next;
    }
    /* One timer at a time, however many appends the callbacks started. */
    if (outstanding > 0 && !armed) {
        armed = 1;
        http_timer_add(loop, POLL_SECONDS, poll_done, loop);
    }
}

int gz_append_start(http_loop *loop, const char *path, const char *text, size_t len,
                    gz_append_done done, void *ud)
{
    if (!started) {
        if (pthread_create(&writer, NULL, writer_main, NULL) != 0) return -1;
        started = 1;
        atexit(stop_writer);
    }
    job *j = xcalloc(1, sizeof *j);
    j->path = xstrdup(path);
    j->text = xmalloc(len ? len : 1);
    memcpy(j->text, text, len);
    j->len = len;
    j->done = done;
    j->ud = ud;
    pthread_mutex_lock(&lock);
    if (todo_tail) todo_tail->next = j;
    else todo_head = j;
    todo_tail = j;
    pthread_cond_signal(&wake);
    pthread_mutex_unlock(&lock);
    outstanding++;
    if (!armed) {
        armed = 1;
        http_timer_add(loop, POLL_SECONDS, poll_done, loop);
    }
    return 0;
}
