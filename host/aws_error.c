/* aws_error.c - error codes and messages from the three response shapes. */
#include "aws_error.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

/* "com.amazonaws.dynamodb.v20120810#ValidationException" -> "ValidationException";
 * "ValidationException:http://internal.amazon.com/" -> "ValidationException". */
static void clean_code(buf *out, const char *raw)
{
    const char *hash = strrchr(raw, '#');
    if (hash) raw = hash + 1;
    size_t n = strcspn(raw, ":");
    while (n > 0 && raw[n - 1] == ' ') n--;
    buf_reset(out);
    buf_append(out, raw, n);
}

static const char *json_string_field(json_object *obj, const char *const *names)
{
    for (; *names; names++) {
        json_object *v;
        if (json_object_object_get_ex(obj, *names, &v) && json_object_is_type(v, json_type_string))
            return json_object_get_string(v);
    }
    return NULL;
}

static void from_json(const http_response *resp, buf *code, buf *message)
{
    if (resp->body.len == 0) return;
    json_object *doc = json_tokener_parse(resp->body.data);
    if (!doc) return;
    if (json_object_is_type(doc, json_type_object)) {
        static const char *const code_names[] = {"__type", "code", "Code", "Type", NULL};
        static const char *const msg_names[] = {"message", "Message", "errorMessage", NULL};
        const char *c = json_string_field(doc, code_names);
        const char *m = json_string_field(doc, msg_names);
        if (c && code->len == 0) clean_code(code, c);
        if (m) buf_puts(message, m);
    }
    json_object_put(doc);
}

static void xml_unescape(buf *out, const char *s, size_t n)
{
    static const struct { const char *ent; char c; } ents[] = {
        {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}, {"&quot;", '"'}, {"&apos;", '\''}};
    for (size_t i = 0; i < n; i++) {
        int done = 0;
        if (s[i] == '&')
            for (size_t k = 0; k < sizeof ents / sizeof ents[0]; k++) {
                size_t el = strlen(ents[k].ent);
                if (i + el <= n && strncmp(s + i, ents[k].ent, el) == 0) {
                    buf_putc(out, ents[k].c);
                    i += el - 1;
                    done = 1;
                    break;
                }
            }
        if (!done) buf_putc(out, s[i]);
    }
}

/* The first <tag>text</tag> in an error document; good enough for the
 * flat <Error> element every query-protocol service returns. */
static int xml_element(const char *doc, const char *tag, buf *out)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    const char *a = strstr(doc, open);
    if (!a) return 0;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (!b) return 0;
    xml_unescape(out, a, (size_t)(b - a));
    return 1;
}

void aws_error_parse(aws_protocol proto, const http_response *resp, buf *code, buf *message)
{
    buf_reset(code);
    buf_reset(message);
    if (resp->error_type[0]) clean_code(code, resp->error_type);
    if (proto == AWS_PROTO_QUERY) {
        if (resp->body.len) {
            buf tmp = BUF_INIT;
            if (code->len == 0 && xml_element(resp->body.data, "Code", &tmp))
                clean_code(code, buf_str(&tmp));
            xml_element(resp->body.data, "Message", message);
            buf_free(&tmp);
        }
    } else {
        from_json(resp, code, message);
    }
    if (code->len == 0) buf_printf(code, "HTTP %ld", resp->status);
}
