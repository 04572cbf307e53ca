/* paths.c - checking that an output path can be created; finding the
 * packaged migrations. */
#include "paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The nearest existing ancestor folder of path ("." for a bare name). */
static char *existing_parent(const char *path)
{
    char *p = xstrdup(path);
    for (;;) {
        char *slash = strrchr(p, '/');
        if (!slash) {
            free(p);
            return xstrdup(".");
        }
        if (slash == p) {
            p[1] = '\0';
            return p;
        }
        *slash = '\0';
        struct stat st;
        if (stat(p, &st) == 0) return p;
    }
}

static int check(const char *path, const char *shown, int is_dir, const char *what, buf *err)
{
    struct stat st;
    if (!path || !*path) {
        buf_printf(err, "%s: an empty path", what);
        return -1;
    }
    if (stat(path, &st) == 0) {
        if (is_dir && !S_ISDIR(st.st_mode)) {
            buf_printf(err, "%s %s: not a folder", what, shown);
            return -1;
        }
        if (!is_dir && S_ISDIR(st.st_mode)) {
            buf_printf(err, "%s %s: is a folder; give a file name", what, shown);
            return -1;
        }
        if (access(path, is_dir ? W_OK | X_OK : W_OK) != 0) {
            buf_printf(err, "%s %s: cannot write there: %s", what, shown, strerror(errno));
            return -1;
        }
        return 0;
    }
    /* A file goes where it is named: its folder must exist. A folder is
     * created with its missing parents. */
    char *parent;
    const char *slash = strrchr(path, '/');
    if (is_dir) parent = existing_parent(path);
    else if (!slash) parent = xstrdup(".");
    else parent = slash == path ? xstrdup("/") : xstrndup(path, (size_t)(slash - path));
    int rc = 0;
    if (stat(parent, &st) != 0) {
        buf_printf(err, "%s %s: the folder %.200s does not exist", what, shown, parent);
        rc = -1;
    } else if (!S_ISDIR(st.st_mode)) {
        buf_printf(err, "%s %s: %.200s is not a folder", what, shown, parent);
        rc = -1;
    } else if (access(parent, W_OK | X_OK) != 0) {
        buf_printf(err, "%s %s: cannot create it in %.200s: %s", what, shown, parent,
                   strerror(errno));
        rc = -1;
    }
    free(parent);
    return rc;
}

int path_can_create(const char *path, int is_dir, const char *what, buf *err)
{
    buf sh = BUF_INIT;
    int rc = check(path, buf_shown(&sh, path ? path : ""), is_dir, what, err);
    buf_free(&sh);
    return rc;
}

const char *paths_migrations_dir(void)
{
    static char found[4096];
    const char *env = getenv("MIGHOST_MIGRATIONS");
    if (env && *env) return env;
    if (found[0]) return found;
    /* The source tree: <root>/build/mighost -> <root>/migrations. */
    char exe[4000];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (int up = 0; up < 3; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash) break;
            *slash = '\0';
            snprintf(found, sizeof found, "%s/migrations", exe);
            if (access(found, R_OK) == 0) return found;
        }
    }
    snprintf(found, sizeof found, "%s/migrations", MIGHOST_DATADIR);
    return found;
}
