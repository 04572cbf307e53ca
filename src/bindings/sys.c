/* sys.c - module "mighost.sys": what the migration runner needs from the
 * operating system. Kept apart from "mighost" so scripts see a small API.
 *
 *   sys.read_file(path) -> text | nil, message
 *   sys.write_file(path, text) -> true | nil, message   atomic: a temporary
 *       file, fsync, rename, fsync of the folder; a crash leaves the old or
 *       the new content, never a mix (an existing device or pipe such as
 *       /dev/null is written in place, never replaced)
 *   sys.append_file(path, text) -> true | nil, message   appended and
 *       fsync'ed before it returns (the failed-keys file of a run)
 *   sys.mkdirs(path) -> true | nil, message
 *   sys.exists(path) -> boolean
 *   sys.list_dir(path) -> {names...} | nil, message
 *   sys.isatty(fd) -> boolean
 *   sys.prompt(question) -> line | nil      from the terminal
 *   sys.interrupted() -> 0, 1 (stop issuing work) ...
 *   sys.set_exit_code(n)
 *   sys.state_saved()   a run's state file exists (what a second Ctrl-C says)
 *   sys.sha256(text) -> hex
 *   sys.getenv(name), sys.utc(seconds?) -> "2026-11-22T05:00:00Z", sys.time()
 *   sys.peak_rss() -> KB   the most memory resident so far (ru_maxrss)
 *   sys.credentials() -> {source=, access_key_id=, region=, profile=} | nil, message
 *   sys.shown(value) -> text   a user's value for a message, capped (buf_put_shown)
 *   sys.can_create(path, is_dir, what) -> true | nil, message   (src/base/paths.h)
 *   sys.endpoints() -> {{service=, url=, custom=, loopback=}...} | nil, message
 *       where each service's calls go (custom: not the region's public one)
 *   sys.migrations_dir() -> where packaged migrations live
 *   sys.closest(word, {names...}) -> the name a typo most likely meant | nil
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bindings.h"
#include "exit.h"
#include "hash.h"
#include "paths.h"
#include "words.h"
#include "url.h"
#include "fdio.h"

static volatile sig_atomic_t interrupts;
static volatile sig_atomic_t state_on_disk;   /* sys.state_saved(): a state file exists */

static void on_signal(int sig)
{
    (void)sig;
    interrupts++;
    if (interrupts >= 2) {
        /* The state file is only ever replaced by rename, so it is
         * consistent whenever we stop; but say so only if there is one. */
        static const char saved[] = "\nmighost: interrupted again: exiting now; the state saved "
                                    "at the last checkpoint is kept (continue with --resume)\n";
        static const char none[] = "\nmighost: interrupted again: exiting now; no state was "
                                   "saved: a new run starts from the beginning\n";
        if (state_on_disk) {
            if (write(2, saved, sizeof saved - 1) < 0) {}
        } else if (write(2, none, sizeof none - 1) < 0) {}
        _exit(130);
    }
}

void sys_install_signal_handlers(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int sys_interrupted(void)
{
    return interrupts;
}

static int exit_code;

int sys_exit_code(void)
{
    return exit_code;
}

static int fail_errno(lua_State *L, const char *what, const char *path)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s %s: %s", what, path, strerror(errno));
    return 2;
}

static int l_read_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    FILE *f = fopen(path, "rb");
    if (!f) return fail_errno(L, "cannot read", path);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) luaL_addlstring(&b, chunk, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return fail_errno(L, "cannot read", path);
    luaL_pushresult(&b);
    return 1;
}

/* Writes text to an existing non-regular file (/dev/null, a pipe, a
 * terminal) in place: renaming over a device would replace it. */
static int write_in_place(lua_State *L, const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "w");
    if (!f) return fail_errno(L, "cannot write", path);
    int bad = fwrite(text, 1, len, f) != len;
    if (fclose(f) != 0) bad = 1;
    if (bad) return fail_errno(L, "cannot write", path);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_append_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return fail_errno(L, "cannot write", path);
    if (fd_write_all(fd, text, len) != 0 || fsync(fd) != 0) {
        close(fd);
        return fail_errno(L, "cannot write", path);
    }
    if (close(fd) != 0) return fail_errno(L, "cannot write", path);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_write_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    size_t len;
    const char *text = luaL_checklstring(L, 2, &len);
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) return write_in_place(L, path, text, len);
    lua_pushfstring(L, "%s.tmp.%d", path, (int)getpid());
    const char *tmp = lua_tostring(L, -1);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return fail_errno(L, "cannot write", tmp);
    if (fd_write_all(fd, text, len) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        errno = e;
        return fail_errno(L, "cannot write", path);
    }
    if (fsync(fd) != 0 || close(fd) != 0) {
        unlink(tmp);
        return fail_errno(L, "cannot write", path);
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        return fail_errno(L, "cannot replace", path);
    }
    /* The rename itself must survive a crash: sync the folder. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    else snprintf(dir, sizeof dir, ".");
    int dfd = open(slash && dir[0] ? dir : (slash ? "/" : "."), O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    lua_pushboolean(L, 1);
    return 1;
}

static int l_mkdirs(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char p[4096];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) return fail_errno(L, "cannot create", p);
        *s = '/';
    }
    if (mkdir(p, 0755) != 0 && errno != EEXIST) return fail_errno(L, "cannot create", p);
    lua_pushboolean(L, 1);
    return 1;
}

static int l_exists(lua_State *L)
{
    struct stat st;
    lua_pushboolean(L, stat(luaL_checkstring(L, 1), &st) == 0);
    return 1;
}

static int l_list_dir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    DIR *d = opendir(path);
    if (!d) return fail_errno(L, "cannot list", path);
    lua_newtable(L);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, -2, ++n);
    }
    closedir(d);
    return 1;
}

static int l_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

/* Waits until fd can be read; 0 if a Ctrl-C came first, whenever it came:
 * SIGINT is blocked between the check and ppoll, which unblocks it
 * atomically, so one arriving just before the wait still ends it. */
static int wait_readable(int fd)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &old);
    int ready = 0;
    while (!interrupts) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = ppoll(&p, 1, NULL, &old);
        if (r > 0) {
            ready = 1;
            break;
        }
        if (r < 0 && errno != EINTR) break;
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return ready;
}

/* A line from the terminal (not stdin: a piped script must not answer). */
static int l_prompt(lua_State *L)
{
    const char *question = luaL_checkstring(L, 1);
    FILE *tty = fopen("/dev/tty", "r+");
    if (!tty) return 0;
    fputs(question, tty);
    fflush(tty);
    if (!wait_readable(fileno(tty))) {
        fclose(tty);
        return 0;
    }
    char line[512];
    char *got = fgets(line, sizeof line, tty);
    fclose(tty);
    if (!got) return 0;
    line[strcspn(line, "\r\n")] = '\0';
    lua_pushstring(L, line);
    return 1;
}

static int l_interrupted(lua_State *L)
{
    lua_pushinteger(L, interrupts);
    return 1;
}

static int l_state_saved(lua_State *L)
{
    (void)L;
    state_on_disk = 1;
    return 0;
}

static int l_set_exit_code(lua_State *L)
{
    exit_code = (int)luaL_checkinteger(L, 1);
    return 0;
}

static int l_sha256(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char hex[65];
    hash_sha256_hex(s, len, hex);
    lua_pushstring(L, hex);
    return 1;
}

static int l_getenv(lua_State *L)
{
    const char *v = getenv(luaL_checkstring(L, 1));
    if (!v) return 0;
    lua_pushstring(L, v);
    return 1;
}

static int l_utc(lua_State *L)
{
    time_t t = (time_t)luaL_optinteger(L, 1, (lua_Integer)time(NULL));
    struct tm tm;
    gmtime_r(&t, &tm);
    char out[32];
    strftime(out, sizeof out, luaL_optstring(L, 2, "%Y-%m-%dT%H:%M:%SZ"), &tm);
    lua_pushstring(L, out);
    return 1;
}

static int l_time(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)time(NULL));
    return 1;
}

/* The most memory the process has had resident so far, in KB (Linux's
 * ru_maxrss), or nil. */
static int l_peak_rss(lua_State *L)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    lua_pushinteger(L, (lua_Integer)ru.ru_maxrss);
    return 1;
}

static int l_credentials(lua_State *L)
{
    const bindings_context *ctx = bindings_ctx(L);
    if (!ctx || !ctx->aws) {
        lua_pushnil(L);
        lua_pushliteral(L, "no AWS region configured: pass --region or set AWS_REGION");
        return 2;
    }
    const aws_creds *cr;
    buf err = BUF_INIT;
    if (aws_client_credentials(ctx->aws, &cr, &err) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, buf_str(&err));
        buf_free(&err);
        return 2;
    }
    lua_createtable(L, 0, 3);
    lua_pushstring(L, cr->source);
    lua_setfield(L, -2, "source");
    lua_pushstring(L, cr->access_key_id);
    lua_setfield(L, -2, "access_key_id");
    lua_pushstring(L, aws_client_region(ctx->aws));
    lua_setfield(L, -2, "region");
    lua_pushstring(L, aws_client_profile(ctx->aws));
    lua_setfield(L, -2, "profile");
    return 1;
}

static int l_shown(lua_State *L)
{
    size_t len;
    const char *s = luaL_tolstring(L, 1, &len);
    return bindings_push_converted(L, s, len, buf_put_shown);
}

static int l_can_create(lua_State *L)
{
    buf err = BUF_INIT;
    if (path_can_create(luaL_checkstring(L, 1), lua_toboolean(L, 2), luaL_optstring(L, 3, "path"),
                        &err) == 0) {
        lua_pushboolean(L, 1);
        return 1;
    }
    lua_pushnil(L);
    lua_pushstring(L, buf_str(&err));
    buf_free(&err);
    return 2;
}

static int l_endpoints(lua_State *L)
{
    const bindings_context *ctx = bindings_ctx(L);
    if (!ctx || !ctx->aws) {
        lua_pushnil(L);
        lua_pushliteral(L, "no AWS region configured: pass --region or set AWS_REGION");
        return 2;
    }
    const char *region = aws_client_region(ctx->aws);
    const char *suffix = endpoint_partition_suffix(region);
    const aws_service *const *all = aws_service_all();
    lua_newtable(L);
    for (int i = 0; all[i]; i++) {
        buf err = BUF_INIT, standard = BUF_INIT;
        char *url = aws_client_endpoint(ctx->aws, all[i], &err);
        if (!url) {
            lua_pushnil(L);
            lua_pushstring(L, buf_str(&err));
            buf_free(&err);
            return 2;
        }
        buf_printf(&standard, "https://%s.%s.%s", all[i]->endpoint_prefix, region,
                   suffix ? suffix : "");
        lua_createtable(L, 0, 4);
        lua_pushstring(L, all[i]->id);
        lua_setfield(L, -2, "service");
        lua_pushstring(L, url);
        lua_setfield(L, -2, "url");
        lua_pushboolean(L, !suffix || strcmp(url, buf_str(&standard)) != 0);
        lua_setfield(L, -2, "custom");
        lua_pushboolean(L, url_is_loopback(url));
        lua_setfield(L, -2, "loopback");
        lua_rawseti(L, -2, i + 1);
        free(url);
        buf_free(&standard);
        buf_free(&err);
    }
    return 1;
}

static int l_migrations_dir(lua_State *L)
{
    lua_pushstring(L, paths_migrations_dir());
    return 1;
}

static int l_closest(lua_State *L)
{
    const char *word = luaL_checkstring(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_Integer n = luaL_len(L, 2);
    if (n > 1000) n = 1000;
    const char **names = lua_newuserdatauv(L, ((size_t)n + 1) * sizeof *names, 0);
    int k = 0;
    for (lua_Integer i = 1; i <= n; i++) {
        lua_rawgeti(L, 2, i);
        const char *s = lua_tostring(L, -1);
        lua_pop(L, 1);  /* the string stays in the table */
        if (s) names[k++] = s;
    }
    names[k] = NULL;
    const char *near = words_closest(word, names);
    if (near) lua_pushstring(L, near);
    else lua_pushnil(L);
    return 1;
}

int luaopen_mighost_sys(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"read_file", l_read_file}, {"write_file", l_write_file}, {"mkdirs", l_mkdirs},
        {"append_file", l_append_file},
        {"exists", l_exists},       {"list_dir", l_list_dir},     {"isatty", l_isatty},
        {"prompt", l_prompt},       {"interrupted", l_interrupted},
        {"set_exit_code", l_set_exit_code}, {"sha256", l_sha256}, {"getenv", l_getenv},
        {"utc", l_utc},             {"time", l_time},             {"credentials", l_credentials},
        {"peak_rss", l_peak_rss},
        {"migrations_dir", l_migrations_dir}, {"endpoints", l_endpoints},
        {"can_create", l_can_create}, {"shown", l_shown}, {"state_saved", l_state_saved},
        {"migrations_dir", l_migrations_dir}, {"closest", l_closest},
        {NULL, NULL}};
    luaL_newlib(L, funcs);
    return 1;
}
