/* cli_call.c - `mighost call SERVICE OPERATION [JSON | @file | -]`:
 * one signed call, the response on stdout, an error on stderr (exit 3). */
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"
#include "form.h"

static const char call_help[] =
    "usage: mighost call [options] SERVICE OPERATION [JSON | @FILE | -]\n"
    "\n"
    "Sends one signed request and prints the response body on stdout.\n"
    "SERVICE is dynamodb, ecs, cognito-idp, lambda, sts or cloudformation.\n"
    "JSON is the request (default {}); @FILE reads it from a file, - from stdin.\n"
    "  dynamodb/ecs/cognito-idp: the operation's JSON request, sent as written.\n"
    "  lambda Invoke: {\"FunctionName\": NAME|ARN, \"Payload\": ANY, \"InvocationType\":\n"
    "      \"RequestResponse\"|\"Event\"|\"DryRun\", \"Qualifier\": Q}; prints\n"
    "      {\"StatusCode\", \"FunctionError\", \"Payload\"}.\n"
    "  sts/cloudformation: flat parameters ({\"StackName\": \"x\"}); prints the XML.\n"
    "Errors go to stderr with the code, message, HTTP status and request id;\n"
    "the exit code is then 3 (2 for usage and configuration errors).\n"
    "\n"
    "options:\n";

typedef struct call_outcome {
    int exit_code;
    const aws_service *svc;
    const char *operation;
    int lambda;
    aws_client *client;
} call_outcome;

static char *read_input(const char *arg)
{
    FILE *f = NULL;
    if (strcmp(arg, "-") == 0) f = stdin;
    else if (arg[0] == '@') f = fopen(arg + 1, "rb");
    else return xstrdup(arg);
    if (!f) {
        fprintf(stderr, "mighost: cannot read %s: %m\n", arg + 1);
        return NULL;
    }
    buf b = BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, n);
    if (f != stdin) fclose(f);
    return buf_detach(&b);
}

static int is_auth_error(const char *code)
{
    static const char *const codes[] = {"InvalidSignatureException", "SignatureDoesNotMatch",
                                        "UnrecognizedClientException", "InvalidClientTokenId",
                                        "IncompleteSignature", "MissingAuthenticationToken",
                                        "AccessDeniedException", "AccessDenied", NULL};
    for (const char *const *c = codes; *c; c++)
        if (strcmp(code, *c) == 0) return 1;
    return 0;
}

static void print_lambda(const aws_result *r)
{
    json_object *out = json_object_new_object();
    json_object_object_add(out, "StatusCode", json_object_new_int64(r->status));
    if (r->function_error[0])
        json_object_object_add(out, "FunctionError", json_object_new_string(r->function_error));
    json_object *payload = r->body_len ? json_tokener_parse(r->body) : NULL;
    if (!payload && r->body_len) payload = json_object_new_string_len(r->body, (int)r->body_len);
    json_object_object_add(out, "Payload", payload);
    puts(json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    json_object_put(out);
}

static void on_done(const aws_result *r, void *ud)
{
    call_outcome *o = ud;
    if (r->ok || (o->lambda && r->function_error[0])) {
        if (o->lambda) {
            print_lambda(r);
        } else {
            fwrite(r->body, 1, r->body_len, stdout);
            if (r->body_len && r->body[r->body_len - 1] != '\n') putchar('\n');
        }
    }
    if (r->ok) {
        o->exit_code = EXIT_OK;
        return;
    }
    int config = strcmp(r->code, "CredentialsError") == 0 || strcmp(r->code, "EndpointError") == 0;
    o->exit_code = config ? EXIT_USAGE : EXIT_AWS;
    if (config) {
        fprintf(stderr, "mighost: %s\n", r->message);
        return;
    }
    fprintf(stderr, "mighost: %s %s failed: %s: %s", o->svc->id, o->operation, r->code,
            r->message[0] ? r->message : "(no message)");
    if (r->status) fprintf(stderr, " (HTTP %ld", r->status);
    else fprintf(stderr, " (no HTTP response");
    if (r->request_id[0]) fprintf(stderr, ", request id %s", r->request_id);
    fprintf(stderr, ", %d attempt%s)\n", r->attempts, r->attempts == 1 ? "" : "s");
    if (is_auth_error(r->code)) {
        const aws_creds *cr;
        buf err = BUF_INIT;
        if (aws_client_credentials(o->client, &cr, &err) == 0)
            fprintf(stderr, "hint: AWS rejected the credentials from %s (access key id %s): check "
                            "the secret key, the session token and the profile\n",
                    cr->source, cr->access_key_id);
        buf_free(&err);
    }
}

/* {"A": "x", "B": ["p", "q"]} -> A=x&B.member.1=p&B.member.2=q */
static int form_encode(json_object *params, buf *out)
{
    json_object_object_foreach(params, key, val) {
        if (json_object_is_type(val, json_type_array)) {
            for (size_t i = 0; i < json_object_array_length(val); i++) {
                form_add_member(out, key, i + 1,
                                json_object_get_string(json_object_array_get_idx(val, i)));
            }
        } else if (json_object_is_type(val, json_type_object)) {
            fprintf(stderr, "mighost: parameter %s: nested objects are not supported by call\n",
                    key);
            return -1;
        } else {
            form_add(out, key, json_object_get_string(val));
        }
    }
    return 0;
}

static const char *string_field(json_object *obj, const char *name)
{
    json_object *v;
    if (!json_object_object_get_ex(obj, name, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

static int send_lambda(aws_client *c, json_object *doc, call_outcome *o)
{
    if (strcasecmp(o->operation, "Invoke") != 0) {
        fprintf(stderr, "mighost: lambda supports the Invoke operation only\n");
        return -1;
    }
    const char *fn = string_field(doc, "FunctionName");
    if (!fn || !*fn) {
        fprintf(stderr, "mighost: lambda Invoke needs \"FunctionName\"\n");
        return -1;
    }
    json_object *payload = NULL;
    const char *body = "";
    if (json_object_object_get_ex(doc, "Payload", &payload) && payload)
        body = json_object_is_type(payload, json_type_string)
                   ? json_object_get_string(payload)
                   : json_object_to_json_string_ext(payload, JSON_C_TO_STRING_PLAIN |
                                                                 JSON_C_TO_STRING_NOSLASHESCAPE);
    o->lambda = 1;
    aws_lambda_invoke(c, fn, string_field(doc, "Qualifier"), string_field(doc, "InvocationType"),
                      body, strlen(body), 0, 0, on_done, o);
    return 0;
}

int cmd_call(int argc, char **argv)
{
    cli_common common;
    memset(&common, 0, sizeof common);
    const char *pos[3] = {NULL, NULL, NULL};
    int npos = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(call_help, stdout);
            cli_print_options(stdout, cli_common_options);
            printf("  %-24s %s\n", "--help", "this help");
            return EXIT_OK;
        }
        int r = cli_common_option(&common, argc, argv, &i);
        if (r < 0) return EXIT_USAGE;
        if (r > 0) continue;
        if (argv[i][0] == '-' && argv[i][1] == '-') {
            const char *names[32];
            int n = 0;
            for (const cli_option *c = cli_common_options; c->name && n < 30; c++) names[n++] = c->name;
            names[n++] = "--help";
            names[n] = NULL;
            const char *near = words_closest(argv[i], names);
            fprintf(stderr, "mighost: unknown option %s%s%s%s (see mighost call --help)\n", argv[i],
                    near ? ": did you mean " : "", near ? near : "", near ? "?" : "");
            return EXIT_USAGE;
        }
        if (npos == 3) {
            fprintf(stderr, "mighost: too many arguments (see mighost call --help)\n");
            return EXIT_USAGE;
        }
        pos[npos++] = argv[i];
    }
    if (npos < 2) {
        fputs(call_help, stderr);
        return EXIT_USAGE;
    }
    call_outcome o = {EXIT_AWS, aws_service_find(pos[0]), pos[1], 0, NULL};
    if (!o.svc) {
        buf sh = BUF_INIT;
        fprintf(stderr, "mighost: unknown service '%s'; known:", buf_shown(&sh, pos[0]));
        buf_free(&sh);
        for (const aws_service *const *s = aws_service_all(); *s; s++) fprintf(stderr, " %s", (*s)->id);
        fputc('\n', stderr);
        return EXIT_USAGE;
    }
    if (o.svc->protocol == AWS_PROTO_REST_XML) {
        fprintf(stderr, "mighost: '%s' is not callable with a JSON request; scripts reach it "
                        "through its Lua module (mighost.s3)\n", o.svc->id);
        return EXIT_USAGE;
    }
    char *input = read_input(pos[2] ? pos[2] : "{}");
    if (!input) return EXIT_USAGE;
    json_tokener *tok = json_tokener_new();
    json_object *doc = json_tokener_parse_ex(tok, input, (int)strlen(input));
    if (!doc || json_tokener_get_error(tok) != json_tokener_success) {
        fprintf(stderr, "mighost: the request is not valid JSON: %s (at byte %zu)\n",
                json_tokener_error_desc(json_tokener_get_error(tok)),
                json_tokener_get_parse_end(tok));
        json_object_put(doc);
        json_tokener_free(tok);
        free(input);
        return EXIT_USAGE;
    }
    json_tokener_free(tok);
    if (!json_object_is_type(doc, json_type_object)) {
        fprintf(stderr, "mighost: the request must be a JSON object\n");
        json_object_put(doc);
        free(input);
        return EXIT_USAGE;
    }

    aws_client *c = cli_make_client(&common);
    int rc = EXIT_USAGE;
    if (c) {
        o.client = c;
        int queued = 0;
        if (o.svc->protocol == AWS_PROTO_REST_JSON) {
            queued = send_lambda(c, doc, &o) == 0;
        } else if (o.svc->protocol == AWS_PROTO_QUERY) {
            buf form = BUF_INIT;
            if (form_encode(doc, &form) == 0) {
                aws_request req = {o.svc, o.operation, NULL, NULL, NULL, NULL, 0,
                                   form.data, form.len, 0, 0, NULL};
                aws_send(c, &req, on_done, &o);
                queued = 1;
            }
            buf_free(&form);
        } else {
            aws_request req = {o.svc, o.operation, NULL, NULL, NULL, NULL, 0,
                               input, strlen(input), 0, 0, NULL};
            aws_send(c, &req, on_done, &o);
            queued = 1;
        }
        if (queued) {
            aws_client_run(c);
            rc = o.exit_code;
        }
        aws_client_free(c);
    }
    json_object_put(doc);
    free(input);
    fflush(stdout);
    return rc;
}
