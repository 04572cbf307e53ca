/* profile.c - parser for the AWS shared config and credentials files. */
#include "profile.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct profile_kv {
    char *key;
    char *value;
} profile_kv;

typedef struct profile_section {
    char *name;
    profile_kv *kv;
    size_t n, cap;
} profile_section;

struct profile_file {
    profile_section *sec;
    size_t n, cap;
    struct profile_file *sso_sessions;   /* [sso-session NAME] sections, or NULL */
};

static profile_section *section_find(const profile_file *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->sec[i].name, name) == 0) return &f->sec[i];
    return NULL;
}

/* A repeated section (or `[default]` next to `[profile default]`) merges
 * into the first; later keys win. */
static profile_section *section_open(profile_file *f, const char *name)
{
    profile_section *s = section_find(f, name);
    if (s) return s;
    if (f->n == f->cap) {
        f->cap = f->cap ? f->cap * 2 : 8;
        f->sec = xrealloc(f->sec, f->cap * sizeof *f->sec);
    }
    s = &f->sec[f->n++];
    memset(s, 0, sizeof *s);
    s->name = xstrdup(name);
    return s;
}

static void section_set(profile_section *s, char *key, char *value)
{
    for (size_t i = 0; i < s->n; i++) {
        if (strcmp(s->kv[i].key, key) == 0) {
            free(key);
            free(s->kv[i].value);
            s->kv[i].value = value;
            return;
        }
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->kv = xrealloc(s->kv, s->cap * sizeof *s->kv);
    }
    s->kv[s->n].key = key;
    s->kv[s->n].value = value;
    s->n++;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\f' || c == '\v';
}

/* Copy [p, end) without surrounding blanks. */
static char *trimmed_copy(const char *p, const char *end)
{
    while (p < end && is_blank(*p)) p++;
    while (end > p && is_blank(end[-1])) end--;
    return xstrndup(p, (size_t)(end - p));
}

/* Split a config-file header the way shlex does for the two forms that
 * matter: `profile name` and `profile "name with spaces"`. Returns the
 * profile name (heap) or NULL when the section is not a profile. */
static char *config_profile_name(const char *header)
{
    if (strcmp(header, "default") == 0) return xstrdup("default");
    if (strncmp(header, "profile", 7) != 0 || !is_blank(header[7])) return NULL;
    const char *p = header + 7;
    while (is_blank(*p)) p++;
    buf name = BUF_INIT;
    int words = 0;
    while (*p) {
        words++;
        buf_reset(&name);
        while (*p && !is_blank(*p)) {
            if (*p == '"' || *p == '\'') {
                char q = *p++;
                while (*p && *p != q) buf_putc(&name, *p++);
                if (*p != q) { buf_free(&name); return NULL; }   /* unbalanced quote */
                p++;
            } else {
                buf_putc(&name, *p++);
            }
        }
        while (is_blank(*p)) p++;
    }
    if (words != 1) { buf_free(&name); return NULL; }
    return buf_detach(&name);
}

profile_file *profile_file_parse(const char *text, size_t len, profile_kind kind,
                                 const char *path, buf *err)
{
    profile_file *f = xcalloc(1, sizeof *f);
    profile_section *cur = NULL;
    int in_section = 0;       /* a header was seen (cur may be NULL: dropped) */
    int after_key = 0;        /* the previous logical line was key = value */
    size_t key_indent = 0, lineno = 0;
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line = p, *lend = eol ? eol : end;
        p = eol ? eol + 1 : end;
        lineno++;
        if (lend > line && lend[-1] == '\r') lend--;

        const char *s = line;
        while (s < lend && is_blank(*s)) s++;
        if (s == lend || *s == '#' || *s == ';') continue;
        size_t indent = (size_t)(s - line);
        /* Deeper indentation under a key continues its value: that is how
         * nested settings (s3 =\n  max_concurrent_requests = 10) look. */
        if (after_key && indent > key_indent) continue;
        after_key = 0;
        key_indent = indent;

        if (*s == '[') {
            const char *close = lend;
            while (close > s && close[-1] != ']') close--;
            if (close <= s + 1) goto bad;
            char *header = trimmed_copy(s + 1, close - 1);
            char *name = kind == PROFILE_CONFIG ? config_profile_name(header) : xstrdup(header);
            cur = name ? section_open(f, name) : NULL;
            if (!name && kind == PROFILE_CONFIG && strncmp(header, "sso-session", 11) == 0 &&
                is_blank(header[11])) {
                const char *sn = header + 11;
                while (is_blank(*sn)) sn++;
                if (!f->sso_sessions) f->sso_sessions = xcalloc(1, sizeof *f->sso_sessions);
                if (*sn) cur = section_open(f->sso_sessions, sn);
            }
            in_section = 1;
            free(name);
            free(header);
            continue;
        }
        if (!in_section) goto bad;
        const char *delim = s;
        while (delim < lend && *delim != '=' && *delim != ':') delim++;
        if (delim == lend) goto bad;
        char *key = trimmed_copy(s, delim);
        if (!*key) { free(key); goto bad; }
        for (char *k = key; *k; k++) *k = (char)tolower((unsigned char)*k);
        char *value = trimmed_copy(delim + 1, lend);
        if (cur) {
            section_set(cur, key, value);
        } else {
            free(key);
            free(value);
        }
        after_key = 1;
    }
    return f;

bad:
    buf_printf(err, "Unable to parse config file: %s (line %zu: expected [section] or key = value)",
               path ? path : "(text)", lineno);
    profile_file_free(f);
    return NULL;
}

char *profile_expand_path(const char *path)
{
    const char *home = getenv("HOME");
    if (path[0] == '~' && (path[1] == '/' || path[1] == '\0') && home && *home) {
        buf b = BUF_INIT;
        buf_printf(&b, "%s%s", home, path + 1);
        return buf_detach(&b);
    }
    return xstrdup(path);
}

profile_file *profile_file_load(const char *path, profile_kind kind, buf *err)
{
    char *full = profile_expand_path(path);
    struct stat st;
    /* Missing, or not a regular file: the CLI treats both as empty. */
    if (stat(full, &st) != 0 || !S_ISREG(st.st_mode)) {
        free(full);
        return xcalloc(1, sizeof(profile_file));
    }
    FILE *fp = fopen(full, "rb");
    if (!fp) {
        buf_printf(err, "cannot read %s: %s", full, strerror(errno));
        free(full);
        return NULL;
    }
    buf text = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0) buf_append(&text, chunk, n);
    int failed = ferror(fp);
    fclose(fp);
    profile_file *f = NULL;
    if (failed)
        buf_printf(err, "cannot read %s", full);
    else
        f = profile_file_parse(buf_str(&text), text.len, kind, full, err);
    buf_free(&text);
    free(full);
    return f;
}

void profile_file_free(profile_file *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->n; i++) {
        profile_section *s = &f->sec[i];
        for (size_t j = 0; j < s->n; j++) {
            free(s->kv[j].key);
            free(s->kv[j].value);
        }
        free(s->kv);
        free(s->name);
    }
    free(f->sec);
    profile_file_free(f->sso_sessions);
    free(f);
}

int profile_file_has(const profile_file *f, const char *profile)
{
    return f && section_find(f, profile) != NULL;
}

const char *profile_file_get(const profile_file *f, const char *profile, const char *key)
{
    const profile_section *s = f ? section_find(f, profile) : NULL;
    if (!s) return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->kv[i].key, key) == 0) return s->kv[i].value;
    return NULL;
}

size_t profile_file_count(const profile_file *f)
{
    return f ? f->n : 0;
}

const char *profile_file_name(const profile_file *f, size_t i)
{
    return f && i < f->n ? f->sec[i].name : NULL;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

profile_store *profile_store_load(buf *err)
{
    profile_store *s = xcalloc(1, sizeof *s);
    s->config = profile_file_load(env_or("AWS_CONFIG_FILE", "~/.aws/config"),
                                  PROFILE_CONFIG, err);
    if (s->config)
        s->credentials = profile_file_load(env_or("AWS_SHARED_CREDENTIALS_FILE",
                                                  "~/.aws/credentials"),
                                           PROFILE_CREDENTIALS, err);
    if (!s->config || !s->credentials) {
        profile_store_free(s);
        return NULL;
    }
    return s;
}

void profile_store_free(profile_store *s)
{
    if (!s) return;
    profile_file_free(s->config);
    profile_file_free(s->credentials);
    free(s);
}

int profile_exists(const profile_store *s, const char *profile)
{
    return profile_file_has(s->credentials, profile) || profile_file_has(s->config, profile);
}

const char *profile_get_in(const profile_store *s, profile_kind kind,
                           const char *profile, const char *key)
{
    return profile_file_get(kind == PROFILE_CONFIG ? s->config : s->credentials, profile, key);
}

const char *profile_get(const profile_store *s, const char *profile, const char *key)
{
    const char *v = profile_file_get(s->credentials, profile, key);
    return v ? v : profile_file_get(s->config, profile, key);
}

const char *profile_selected(const char *cli_profile, int *explicit_name)
{
    const char *name = cli_profile && *cli_profile ? cli_profile : env_or("AWS_PROFILE", NULL);
    if (explicit_name) *explicit_name = name != NULL;
    return name ? name : "default";
}

const char *profile_sso_session_get(const profile_store *s, const char *session, const char *key)
{
    return s && s->config ? profile_file_get(s->config->sso_sessions, session, key) : NULL;
}
