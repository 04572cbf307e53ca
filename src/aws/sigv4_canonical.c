/* sigv4_canonical.c - the pieces of the SigV4 canonical request: URI
 * encoding, path normalisation, the sorted query string and the canonical
 * and signed header lists. All of it is written into scratch space the
 * caller keeps (sigv4_int.h); nothing here hashes or signs.
 */
#include "sigv4_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- scratch space ------------------------------------------------------ */

static void *reserve_array(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap) return p;
    size_t n = *cap ? *cap : 16;
    while (n < need) n *= 2;
    *cap = n;
    return xrealloc(p, n * elem);
}

void sigv4_scratch_free(scratch *s)
{
    buf_free(&s->text);
    buf_free(&s->path);
    buf_free(&s->signed_headers);
    free(s->headers);
    free(s->params);
}

/* ---- encoding ----------------------------------------------------------- */

static const char HEX_UPPER[] = "0123456789ABCDEF";

static int is_unreserved(unsigned char c)
{
    /* One bit per ASCII byte: A-Z a-z 0-9 - . _ ~ */
    static const uint32_t bits[8] = {
        0, 0x03ff6000, 0x87fffffe, 0x47fffffe, 0, 0, 0, 0,
    };
    return (bits[c >> 5] >> (c & 31)) & 1;
}

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

static int is_escape(const char *s, size_t len, size_t i)
{
    return s[i] == '%' && i + 2 < len
        && hex_value((unsigned char)s[i + 1]) >= 0
        && hex_value((unsigned char)s[i + 2]) >= 0;
}

static char ascii_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c + ('a' - 'A')) : c;
}

/* Room for n more bytes, the buffer kept a valid (terminated) string. */
static void reserve_str(buf *b, size_t n)
{
    buf_reserve(b, n);
    b->data[b->len] = '\0';
}

/* Appends byte c, percent-encoded unless unreserved (or '/' with keep_slash).
 * The caller has reserved 3 bytes. */
static void put_encoded(buf *out, unsigned char c, int keep_slash)
{
    char *d = out->data + out->len;
    if (is_unreserved(c) || (keep_slash && c == '/')) {
        d[0] = (char)c;
        out->len += 1;
    } else {
        d[0] = '%';
        d[1] = HEX_UPPER[c >> 4];
        d[2] = HEX_UPPER[c & 15];
        out->len += 3;
    }
    out->data[out->len] = '\0';
}

void sigv4_uri_encode(buf *out, const char *s, size_t len, int keep_slash)
{
    reserve_str(out, 3 * len);
    for (size_t i = 0; i < len; i++)
        put_encoded(out, (unsigned char)s[i], keep_slash);
}

/* For text already percent-encoded by someone else. Query parts (decode):
 * %XX is decoded, then everything is encoded the RFC 3986 way, so any
 * encoding style gives one canonical form; '+' stays a literal plus (%2B).
 * S3 paths (!decode): %XX escapes are kept (hex uppercased), '/' too, and
 * only what still needs it is encoded. */
static void reencode(buf *out, const char *s, size_t len, int decode)
{
    reserve_str(out, 3 * len);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_escape(s, len, i)) {
            c = (unsigned char)(hex_value((unsigned char)s[i + 1]) << 4
                                | hex_value((unsigned char)s[i + 2]));
            i += 2;
            if (!decode) {
                char *d = out->data + out->len;
                d[0] = '%', d[1] = HEX_UPPER[c >> 4], d[2] = HEX_UPPER[c & 15];
                out->len += 3;
                continue;
            }
        }
        put_encoded(out, c, !decode);
    }
    out->data[out->len] = '\0';
}

/* ---- canonical pieces --------------------------------------------------- */

/* RFC 3986 remove_dot_segments, plus empty segments dropped ("//" -> "/"). */
static void normalize_path(buf *out, const char *path)
{
    size_t n = strlen(path);
    int trailing_slash = n > 0 && path[n - 1] == '/';
    buf_reset(out);
    reserve_str(out, n + 1);
    for (size_t i = 0; i < n;) {
        while (i < n && path[i] == '/') i++;
        size_t start = i;
        while (i < n && path[i] != '/') i++;
        size_t len = i - start;
        if (len == 0) break;
        int is_dot = len == 1 && path[start] == '.';
        int is_dotdot = len == 2 && path[start] == '.' && path[start + 1] == '.';
        if (i == n) trailing_slash = trailing_slash || is_dot || is_dotdot;
        if (is_dot) continue;
        if (is_dotdot) {
            while (out->len > 0 && out->data[out->len - 1] != '/') out->len--;
            if (out->len > 0) out->len--;
            out->data[out->len] = '\0';
            continue;
        }
        buf_putc(out, '/');
        buf_append(out, path + start, len);
    }
    if (out->len == 0 || trailing_slash) buf_putc(out, '/');
}

void sigv4_put_canonical_path(buf *out, scratch *s, const char *path,
                              const sigv4_params *p)
{
    if (p->normalize_path) {
        normalize_path(&s->path, path);
        path = s->path.data;
    }
    if (p->double_encode_path)
        sigv4_uri_encode(out, path, strlen(path), 1);
    else
        reencode(out, path, strlen(path), 0);
}

size_t sigv4_add_param(scratch *s, size_t n, const char *name, size_t name_len,
                       const char *value, size_t value_len, int decode_first)
{
    s->params = reserve_array(s->params, &s->params_cap, n + 1, sizeof *s->params);
    query_param *q = &s->params[n];
    q->name_off = s->text.len;
    if (decode_first) reencode(&s->text, name, name_len, 1);
    else sigv4_uri_encode(&s->text, name, name_len, 0);
    q->name_len = s->text.len - q->name_off;
    q->value_off = s->text.len;
    if (decode_first) reencode(&s->text, value, value_len, 1);
    else sigv4_uri_encode(&s->text, value, value_len, 0);
    q->value_len = s->text.len - q->value_off;
    return n + 1;
}

static int compare_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c) return c;
    return alen < blen ? -1 : alen > blen;
}

static int compare_params(const void *pa, const void *pb)
{
    const query_param *a = pa, *b = pb;
    int c = compare_bytes(a->base + a->name_off, a->name_len,
                          b->base + b->name_off, b->name_len);
    if (c) return c;
    return compare_bytes(a->base + a->value_off, a->value_len,
                         b->base + b->value_off, b->value_len);
}

/* Sorts the n parameters collected in s and writes "a=1&b=2". */
void sigv4_put_canonical_query(buf *out, scratch *s, size_t n)
{
    if (n == 0) return;
    for (size_t i = 0; i < n; i++) s->params[i].base = s->text.data;
    qsort(s->params, n, sizeof *s->params, compare_params);
    for (size_t i = 0; i < n; i++) {
        const query_param *q = &s->params[i];
        if (i) buf_putc(out, '&');
        buf_append(out, q->base + q->name_off, q->name_len);
        buf_putc(out, '=');
        buf_append(out, q->base + q->value_off, q->value_len);
    }
}

size_t sigv4_add_request_query(scratch *s, const char *query)
{
    size_t n = 0;
    if (!query) return 0;
    while (*query) {
        size_t len = strcspn(query, "&");
        if (len) {
            const char *eq = memchr(query, '=', len);
            size_t name_len = eq ? (size_t)(eq - query) : len;
            const char *value = eq ? eq + 1 : query + len;
            n = sigv4_add_param(s, n, query, name_len, value, len - name_len - (eq != NULL), 1);
        }
        query += len;
        if (*query == '&') query++;
    }
    return n;
}

static int is_token_char(unsigned char c)
{
    return is_unreserved(c) || (c && strchr("!#$%&'*+^`|", c));
}

/* A header name must be an HTTP token; a value may hold line breaks only as
 * folding (followed by a space or tab). */
int sigv4_valid_header(const char *name, const char *value)
{
    if (!name || !*name || !value) return 0;
    for (const char *c = name; *c; c++)
        if (!is_token_char((unsigned char)*c)) return 0;
    for (const char *c = value; *c; c++) {
        if (*c == '\r' && c[1] != '\n') return 0;
        if (*c == '\n' && c[1] != ' ' && c[1] != '\t') return 0;
    }
    return 1;
}

int sigv4_names_equal(const header_ref *h, const char *lower, size_t n)
{
    if (h->name_len != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (ascii_lower(h->name[i]) != lower[i]) return 0;
    return 1;
}

/* Rewritten by proxies and HTTP stacks, so never signed. */
int sigv4_unsignable(const header_ref *h)
{
#define NAME(literal) {literal, sizeof literal - 1}
    static const struct { const char *name; size_t len; } names[] = {
        NAME("authorization"), NAME("connection"), NAME("expect"),
        NAME("keep-alive"), NAME("te"), NAME("trailer"), NAME("transfer-encoding"),
        NAME("upgrade"), NAME("user-agent"), NAME("x-amzn-trace-id"),
    };
#undef NAME
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (sigv4_names_equal(h, names[i].name, names[i].len)) return 1;
    return 0;
}

static int compare_names(const header_ref *a, const header_ref *b)
{
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)ascii_lower(a->name[i]);
        unsigned char y = (unsigned char)ascii_lower(b->name[i]);
        if (x != y) return x < y ? -1 : 1;
    }
    return a->name_len < b->name_len ? -1 : a->name_len > b->name_len;
}

int sigv4_compare_headers(const void *pa, const void *pb)
{
    const header_ref *a = pa, *b = pb;
    int c = compare_names(a, b);
    if (c) return c;
    return a->order < b->order ? -1 : a->order > b->order;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trimmed, with every run of whitespace (folds included) made one space. */
static void put_header_value(buf *out, const char *v, size_t len)
{
    while (len && is_space(*v)) v++, len--;
    while (len && is_space(v[len - 1])) len--;
    buf_reserve(out, len);
    char *d = out->data + out->len;
    for (size_t i = 0; i < len; i++) {
        if (is_space(v[i])) {
            if (!is_space(v[i - 1])) *d++ = ' ';
        } else {
            *d++ = v[i];
        }
    }
    out->len = (size_t)(d - out->data);
    out->data[out->len] = '\0';
}

static void put_lower(buf *out, const char *s, size_t len)
{
    buf_reserve(out, len);
    for (size_t i = 0; i < len; i++) out->data[out->len + i] = ascii_lower(s[i]);
    out->len += len;
    out->data[out->len] = '\0';
}

/* "name:v1,v2\n" for each distinct name, in sorted order. */
void sigv4_put_canonical_headers(buf *out, const header_ref *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i && !compare_names(&h[i - 1], &h[i])) {
            buf_putc(out, ',');
        } else {
            if (i) buf_putc(out, '\n');
            put_lower(out, h[i].name, h[i].name_len);
            buf_putc(out, ':');
        }
        put_header_value(out, h[i].value, h[i].value_len);
    }
    buf_putc(out, '\n');
}

void sigv4_put_signed_headers(buf *out, const header_ref *h, size_t n)
{
    buf_reset(out);
    for (size_t i = 0; i < n; i++) {
        if (i && !compare_names(&h[i - 1], &h[i])) continue;
        if (i) buf_putc(out, ';');
        put_lower(out, h[i].name, h[i].name_len);
    }
}

size_t sigv4_add_header(scratch *s, size_t n, const char *name, const char *value)
{
    s->headers = reserve_array(s->headers, &s->headers_cap, n + 1, sizeof *s->headers);
    s->headers[n] = (header_ref){name, value, strlen(name), strlen(value), n};
    return n + 1;
}
