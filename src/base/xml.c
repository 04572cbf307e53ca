/* xml.c - element texts by path, on expat. */
#include "xml.h"

#include <expat.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct xml_ctx {
    const char *const *paths;
    size_t n;
    char **out;
    buf path;          /* "/A/B/C" of the open elements */
    size_t *marks;     /* path.len before each open element */
    size_t depth, cap;
    buf text;          /* character data of the innermost element */
} xml_ctx;

static void on_start(void *ud, const XML_Char *name, const XML_Char **attrs)
{
    (void)attrs;
    xml_ctx *x = ud;
    const char *local = strrchr(name, ':');
    local = local ? local + 1 : name;
    if (x->depth == x->cap) {
        x->cap = x->cap ? x->cap * 2 : 16;
        x->marks = xrealloc(x->marks, x->cap * sizeof *x->marks);
    }
    x->marks[x->depth++] = x->path.len;
    buf_putc(&x->path, '/');
    buf_puts(&x->path, local);
    buf_reset(&x->text);
}

/* "/R/Credentials/AccessKeyId" matches "Credentials/AccessKeyId". */
static int path_matches(const buf *path, const char *want)
{
    size_t wl = strlen(want);
    if (wl >= path->len) return 0;
    const char *tail = path->data + path->len - wl;
    return tail[-1] == '/' && memcmp(tail, want, wl) == 0;
}

static void on_end(void *ud, const XML_Char *name)
{
    (void)name;
    xml_ctx *x = ud;
    for (size_t i = 0; i < x->n; i++)
        if (!x->out[i] && path_matches(&x->path, x->paths[i]))
            x->out[i] = xstrndup(buf_str(&x->text), x->text.len);
    if (x->depth > 0) {
        x->path.len = x->marks[--x->depth];
        x->path.data[x->path.len] = '\0';
    }
    buf_reset(&x->text);
}

static void on_text(void *ud, const XML_Char *s, int len)
{
    xml_ctx *x = ud;
    buf_append(&x->text, s, (size_t)len);
}

int xml_extract(const char *doc, size_t len, const char *const *paths, size_t n,
                char **out, buf *err)
{
    for (size_t i = 0; i < n; i++) out[i] = NULL;
    XML_Parser p = XML_ParserCreate("UTF-8");
    if (!p) {
        buf_puts(err, "cannot create an XML parser");
        return -1;
    }
    xml_ctx x = {paths, n, out, BUF_INIT, NULL, 0, 0, BUF_INIT};
    XML_SetUserData(p, &x);
    XML_SetElementHandler(p, on_start, on_end);
    XML_SetCharacterDataHandler(p, on_text);
    int rc = 0;
    if (len > (size_t)INT32_MAX ||
        XML_Parse(p, doc, (int)len, 1) != XML_STATUS_OK) {
        buf_printf(err, "malformed XML response (%s at line %lu)",
                   XML_ErrorString(XML_GetErrorCode(p)),
                   (unsigned long)XML_GetCurrentLineNumber(p));
        xml_free_texts(out, n);
        rc = -1;
    }
    XML_ParserFree(p);
    buf_free(&x.path);
    buf_free(&x.text);
    free(x.marks);
    return rc;
}

void xml_free_texts(char **out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(out[i]);
        out[i] = NULL;
    }
}
