/* ctl.c - module "mighost.ctl": the Unix socket a running migration is
 * controlled through (`mighost ctl RUN ...`), and the gzip'd appends of
 * the undo journal. The runner polls the socket between requests, so it
 * never blocks the event loop for more than a short read.
 *
 *   ctl.listen(path) -> fd | nil, message   a socket only its owner may use
 *       (mode 0600); a stale socket left by a killed run is replaced
 *   ctl.accept(fd) -> line, conn | nil      a client's command line, if one
 *       is waiting (never blocks for more than 0.5 s, a client's write)
 *   ctl.reply(conn, text)                   answers and closes the client
 *   ctl.close(fd, path)                     closes and removes the socket
 *   ctl.send(path, line, seconds) -> reply | nil, message   the client side
 *   ctl.interrupt()                         as Ctrl-C: the run stops with
 *       its state saved and exit 130
 *   ctl.gz_append(path, text) -> true | nil, message   text as one more
 *       gzip member appended to path and fsync'ed before it returns (zlib
 *       reads the members of a file as one stream); in a task, written by
 *       a thread of its own while the loop goes on (gz_append.h)
 */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "bindings.h"
#include "buf.h"
#include "gz_append.h"
#include "task.h"
#include "fdio.h"

#define LINE_MAX_BYTES 4096

static int fail(lua_State *L, const char *what, const char *path)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s %s: %s", what, path, strerror(errno));
    return 2;
}

static int socket_address(struct sockaddr_un *a, const char *path)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof a->sun_path) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(a->sun_path, path, strlen(path) + 1);
    return 0;
}

static int connect_to(const char *path)
{
    struct sockaddr_un a;
    if (socket_address(&a, path) != 0) return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static int l_listen(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct sockaddr_un a;
    if (socket_address(&a, path) != 0) return fail(L, "control socket", path);
    int probe = connect_to(path);
    if (probe >= 0) {
        close(probe);
        lua_pushnil(L);
        lua_pushfstring(L, "control socket %s: another process is listening on it", path);
        return 2;
    }
    unlink(path);   /* left by a run that was killed */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(L, "control socket", path);
    mode_t old = umask(077);
    int rc = bind(fd, (struct sockaddr *)&a, sizeof a);
    umask(old);
    if (rc != 0 || chmod(path, 0600) != 0 || listen(fd, 8) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return fail(L, "control socket", path);
    }
    lua_pushinteger(L, fd);
    return 1;
}

/* Reads up to a newline or EOF, waiting at most ms for each chunk. */
static int read_line(int fd, buf *out, int ms, int to_eof)
{
    char chunk[512];
    while (out->len < LINE_MAX_BYTES) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, ms) <= 0) return -1;
        ssize_t n = read(fd, chunk, sizeof chunk);
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (n <= 0) return 0;
        buf_append(out, chunk, (size_t)n);
        if (!to_eof && memchr(chunk, '\n', (size_t)n)) return 0;
    }
    return 0;
}

static int l_accept(lua_State *L)
{
    int fd = (int)luaL_checkinteger(L, 1);
    int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) return 0;
    buf line = BUF_INIT;
    if (read_line(conn, &line, 500, 0) != 0 && line.len == 0) {
        close(conn);
        buf_free(&line);
        return 0;
    }
    size_t n = line.len;
    while (n > 0 && (line.data[n - 1] == '\n' || line.data[n - 1] == '\r')) n--;
    lua_pushlstring(L, line.len ? line.data : "", n);
    lua_pushinteger(L, conn);
    buf_free(&line);
    return 2;
}

static int l_reply(lua_State *L)
{
    int conn = (int)luaL_checkinteger(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    (void)fd_write_all(conn, text, len);   /* a client that left needs no answer */
    close(conn);
    return 0;
}

static int l_close(lua_State *L)
{
    close((int)luaL_checkinteger(L, 1));
    if (lua_isstring(L, 2)) unlink(lua_tostring(L, 2));
    return 0;
}

static int l_send(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *line = luaL_checklstring(L, 2, &len);
    lua_Number seconds = luaL_optnumber(L, 3, 5);
    if (!(seconds > 0 && seconds <= 86400)) return luaL_argerror(L, 3, "seconds between 0 and 86400");
    int ms = (int)(seconds * 1000);
    int fd = connect_to(path);
    if (fd < 0) return fail(L, "cannot connect to", path);
    if (fd_write_all(fd, line, len) != 0 || fd_write_all(fd, "\n", 1) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return fail(L, "cannot write to", path);
    }
    shutdown(fd, SHUT_WR);
    buf reply = BUF_INIT;
    int rc = read_line(fd, &reply, ms, 1);
    close(fd);
    if (rc != 0 && reply.len == 0) {
        buf_free(&reply);
        lua_pushnil(L);
        lua_pushfstring(L, "no answer on %s within %f s", path, seconds);
        return 2;
    }
    lua_pushlstring(L, reply.len ? reply.data : "", reply.len);
    buf_free(&reply);
    return 1;
}

static int l_interrupt(lua_State *L)
{
    (void)L;
    raise(SIGINT);
    return 0;
}

static void appended(int ok, const char *err, void *ud)
{
    task *t = ud;
    lua_State *T = task_thread(t);
    if (ok) {
        lua_pushboolean(T, 1);
        task_wake(t, 1);
    } else {
        lua_pushnil(T);
        lua_pushstring(T, err);
        task_wake(t, 2);
    }
}

/* In a task, the append is done by the writer thread (gz_append.h) while
 * the task waits and the loop goes on; elsewhere (or with no thread),
 * here and now. */
static int l_gz_append(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    task *t = task_current(L);
    if (t && gz_append_start(scheduler_loop(scheduler_of(L)), path, text, len, appended, t) == 0)
        return task_suspend(L, t);
    char err[256];
    if (gz_append_now(path, text, len, err, sizeof err) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

int luaopen_mighost_ctl(lua_State *L)
{
    static const luaL_Reg fns[] = {{"listen", l_listen},       {"accept", l_accept},
                                   {"reply", l_reply},         {"close", l_close},
                                   {"send", l_send},           {"interrupt", l_interrupt},
                                   {"gz_append", l_gz_append}, {NULL, NULL}};
    luaL_newlib(L, fns);
    return 1;
}
