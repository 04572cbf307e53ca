/* runtime.c - the Lua state, its module path and protected calls. */
#include "runtime.h"

#include <lauxlib.h>
#include <lualib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "exit.h"
#include "log.h"
#include "paths.h"

#if defined(__SANITIZE_ADDRESS__)
#define LALLOC_CHECKED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LALLOC_CHECKED 1
#endif
#endif

/* ---- the Lua state's allocator ----
 *
 * Every decoded item is a dozen small tables and strings, made and freed
 * by the thousand: with glibc's malloc behind Lua's allocator, its bins,
 * consolidation and frees cost more than building the items. Lua tells
 * the allocator each block's size when it frees it, so blocks of up to
 * LALLOC_SMALL bytes come from 64 KB arenas, by 16-byte size class, and
 * go back to a free list of their class (no header, no search): a few
 * instructions each. Larger blocks are malloc'd. The arenas are kept
 * until the state is closed (as glibc keeps its heap). Under ASan, or
 * with MIGHOST_LUA_MALLOC=1 in the environment (tests/valgrind-mighost
 * sets it), every block is malloc'd, so the checker sees each one. */
#define LALLOC_SMALL 256
#define LALLOC_STEP 16
#define LALLOC_CLASSES (LALLOC_SMALL / LALLOC_STEP)
#define LALLOC_ARENA (64 * 1024)

typedef struct lalloc_arena { struct lalloc_arena *next; max_align_t align; } lalloc_arena;

typedef struct lalloc {
    void *free[LALLOC_CLASSES];
    char *at, *end;            /* what is left of the newest arena */
    lalloc_arena *arenas;
} lalloc;

#define LALLOC_CLASS(n) (((n) - 1) / LALLOC_STEP)

static void *lalloc_small(lalloc *a, size_t c)
{
    void *p = a->free[c];
    if (p) {
        a->free[c] = *(void **)p;
        return p;
    }
    size_t size = (c + 1) * LALLOC_STEP;
    if ((size_t)(a->end - a->at) < size) {
        lalloc_arena *ar = malloc(LALLOC_ARENA);
        if (!ar) return NULL;
        ar->next = a->arenas;
        a->arenas = ar;
        a->at = (char *)&ar->align;
        a->end = (char *)ar + LALLOC_ARENA;
    }
    p = a->at;
    a->at += size;
    return p;
}

static void lalloc_release(lalloc *a, void *p, size_t osize)
{
    if (osize > LALLOC_SMALL) {
        free(p);
        return;
    }
    size_t c = LALLOC_CLASS(osize);
    *(void **)p = a->free[c];
    a->free[c] = p;
}

static void *lalloc_fn(void *ud, void *ptr, size_t osize, size_t nsize)
{
    lalloc *a = ud;
    if (!ptr) osize = 0;    /* osize is then the kind of object, not a size */
    if (nsize == 0) {
        if (ptr) lalloc_release(a, ptr, osize);
        return NULL;
    }
    if (ptr && osize > LALLOC_SMALL && nsize > LALLOC_SMALL) return realloc(ptr, nsize);
    if (ptr && osize <= LALLOC_SMALL && nsize <= LALLOC_SMALL &&
        LALLOC_CLASS(osize) == LALLOC_CLASS(nsize))
        return ptr;
    void *n = nsize <= LALLOC_SMALL ? lalloc_small(a, LALLOC_CLASS(nsize)) : malloc(nsize);
    if (!n) {
        /* Lua counts on a block that shrinks never failing */
        if (ptr && nsize <= osize) {
            fprintf(stderr, "mighost: out of memory\n");
            abort();
        }
        return NULL;
    }
    if (ptr) {
        memcpy(n, ptr, osize < nsize ? osize : nsize);
        lalloc_release(a, ptr, osize);
    }
    return n;
}

/* What luaL_newstate's allocator does: every block malloc'd. */
static void *lalloc_plain(void *ud, void *ptr, size_t osize, size_t nsize)
{
    (void)ud;
    (void)osize;
    if (nsize == 0) {
        free(ptr);
        return NULL;
    }
    return realloc(ptr, nsize);
}

static void lalloc_free(lalloc *a)
{
    if (!a) return;
    while (a->arenas) {
        lalloc_arena *next = a->arenas->next;
        free(a->arenas);
        a->arenas = next;
    }
    free(a);
}

/* luaL_newstate's panic and warning functions, for a state made with
 * lua_newstate: an error outside any protected call is printed, and
 * warnings are off until "@on". */
static int lua_panic(lua_State *L)
{
    const char *msg = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1)
                                                     : "error object is not a string";
    fprintf(stderr, "PANIC: unprotected error in call to Lua API (%s)\n", msg);
    fflush(stderr);
    return 0;
}

static void warn_off(void *ud, const char *msg, int tocont);
static void warn_on(void *ud, const char *msg, int tocont);

static void warn_cont(void *ud, const char *msg, int tocont)
{
    lua_State *L = ud;
    fputs(msg, stderr);
    if (tocont) {
        lua_setwarnf(L, warn_cont, L);
    } else {
        fputs("\n", stderr);
        fflush(stderr);
        lua_setwarnf(L, warn_on, L);
    }
}

static int warn_control(lua_State *L, const char *msg, int tocont)
{
    if (tocont || *msg++ != '@') return 0;
    if (strcmp(msg, "off") == 0) lua_setwarnf(L, warn_off, L);
    else if (strcmp(msg, "on") == 0) lua_setwarnf(L, warn_on, L);
    return 1;
}

static void warn_off(void *ud, const char *msg, int tocont)
{
    warn_control(ud, msg, tocont);
}

static void warn_on(void *ud, const char *msg, int tocont)
{
    if (warn_control(ud, msg, tocont)) return;
    fputs("Lua warning: ", stderr);
    warn_cont(ud, msg, tocont);
}

struct runtime {
    lua_State *L;
    lalloc *alloc;             /* NULL: every block malloc'd */
    scheduler *sched;
    runtime_options opt;
    int errors;                /* failed tasks nobody waited for */
};

static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (!msg) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

int runtime_pcall(lua_State *L, int nargs, int nresults)
{
    int base = lua_gettop(L) - nargs;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    int status = lua_pcall(L, nargs, nresults, base);
    lua_remove(L, base);
    return status;
}

/* As text, or a JSON line with --log-format json. */
static void script_error(const char *msg)
{
    if (log_is_json()) log_error("script error: %s", msg);
    else fprintf(stderr, "mighost: script error: %s\n", msg);
}

static void report_orphan(const char *msg, void *ud)
{
    runtime *rt = ud;
    rt->errors++;
    script_error(msg);
}

runtime *runtime_new(const runtime_options *opt)
{
    runtime *rt = xcalloc(1, sizeof *rt);
    rt->opt = *opt;
#ifdef LALLOC_CHECKED
    int checked = 1;
#else
    const char *plain = getenv("MIGHOST_LUA_MALLOC");
    int checked = plain && strcmp(plain, "1") == 0;
#endif
    rt->alloc = checked ? NULL : xcalloc(1, sizeof *rt->alloc);
    lua_State *L = lua_newstate(rt->alloc ? lalloc_fn : lalloc_plain, rt->alloc);
    if (L) {
        lua_atpanic(L, lua_panic);
        lua_setwarnf(L, warn_off, L);
    }
    if (!L) {
        fprintf(stderr, "mighost: cannot create the Lua state\n");
        abort();
    }
    rt->L = L;
    luaL_openlibs(L);
    /* Scans make garbage fast (every item is a few tables): start each
     * collection at 1.5x the live heap instead of 2x, for a lower peak at
     * about the same CPU (measured in bench/RESULTS.md). */
    lua_gc(L, LUA_GCINC, 150, 0, 0);
#if defined(__GLIBC__)
    /* Page texts (up to a few hundred KB each) are made and dropped all
     * the time. Left to glibc's sliding threshold, once one such block is
     * freed they all come from the heap, which then stays as large as the
     * largest moment of the run, in pieces. A fixed threshold keeps them
     * in their own mappings, given back when freed. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif

    http_loop *loop = opt->aws ? aws_client_loop(opt->aws) : NULL;
    if (!loop) {
        http_options ho;
        http_options_default(&ho);
        loop = http_loop_new(&ho);
    }
    rt->sched = scheduler_new(L, loop);
    scheduler_on_orphan_error(rt->sched, report_orphan, rt);

    /* package.path: the script's folder first, then the packaged migrations. */
    const char *mig = paths_migrations_dir();
    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;%s/?.lua;%s/?/init.lua",
                    opt->script_dir ? opt->script_dir : ".", opt->script_dir ? opt->script_dir : ".",
                    mig, mig);
    lua_setfield(L, -2, "path");
    lua_pushliteral(L, "");
    lua_setfield(L, -2, "cpath");   /* no native modules from scripts */
    lua_pop(L, 1);

    if (opt->libs) opt->libs->open(L, &rt->opt);
    return rt;
}

void runtime_free(runtime *rt)
{
    if (!rt) return;
    http_loop *loop = scheduler_loop(rt->sched);
    if (rt->opt.libs) rt->opt.libs->close(rt->L);
    scheduler_free(rt->sched);
    lua_close(rt->L);
    lalloc_free(rt->alloc);
    if (!rt->opt.aws) http_loop_free(loop);
    free(rt);
}

lua_State *runtime_lua(runtime *rt) { return rt->L; }
scheduler *runtime_scheduler(runtime *rt) { return rt->sched; }

/* The chunk on top of the stack runs as the main task; returns the exit code. */
static int run_main(runtime *rt, int nargs)
{
    lua_State *L = rt->L;
    task *main_task = task_spawn(L, nargs);
    (void)main_task;
    int rc = scheduler_run(rt->sched);
    lua_pop(L, 1);  /* the task */
    if (rt->opt.libs && rt->opt.libs->finish(L) != 0) return EXIT_AWS;
    return rc == 0 && rt->errors == 0 ? EXIT_OK : EXIT_SCRIPT;
}

static int load_failed(lua_State *L)
{
    script_error(lua_tostring(L, -1));
    lua_pop(L, 1);
    return EXIT_SCRIPT;
}

int runtime_run_file(runtime *rt, const char *path, int argc, char **argv)
{
    lua_State *L = rt->L;
    lua_createtable(L, argc, 1);
    lua_pushstring(L, path);
    lua_rawseti(L, -2, 0);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");
    if (luaL_loadfilex(L, path, "t") != LUA_OK) return load_failed(L);
    for (int i = 0; i < argc; i++) lua_pushstring(L, argv[i]);
    return run_main(rt, argc);
}

int runtime_run_string(runtime *rt, const char *code, const char *chunkname)
{
    lua_State *L = rt->L;
    if (luaL_loadbufferx(L, code, strlen(code), chunkname, "t") != LUA_OK) return load_failed(L);
    return run_main(rt, 0);
}
