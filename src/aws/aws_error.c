/* aws_error.c - error codes and messages from the three response shapes. */
#include "aws_error.h"
#include "xml.h"

#include <json-c/json.h>
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

void aws_error_parse(aws_protocol proto, const http_response *resp, buf *code, buf *message)
{
    buf_reset(code);
    buf_reset(message);
    if (resp->error_type[0]) clean_code(code, resp->error_type);
    if (proto == AWS_PROTO_QUERY || proto == AWS_PROTO_REST_XML) {
        if (resp->body.len) {
            /* <ErrorResponse><Error><Code/><Message/></Error>...: the flat
             * <Error> element every query-protocol service returns; S3's
             * <Error> is the root. */
            static const char *const paths[] = {"Error/Code", "Error/Message"};
            char *texts[2] = {NULL, NULL};
            buf ignored = BUF_INIT;
            if (xml_extract(resp->body.data, resp->body.len, paths, 2, texts, &ignored) == 0) {
                if (code->len == 0 && texts[0]) clean_code(code, texts[0]);
                if (texts[1]) buf_puts(message, texts[1]);
            }
            xml_free_texts(texts, 2);
            buf_free(&ignored);
        }
    } else {
        from_json(resp, code, message);
    }
    /* S3 answers HEAD without a body: the status is all there is. */
    if (code->len == 0 && proto == AWS_PROTO_REST_XML && resp->status == 404)
        buf_puts(code, "NotFound");
    if (code->len == 0) buf_printf(code, "HTTP %ld", resp->status);
}
