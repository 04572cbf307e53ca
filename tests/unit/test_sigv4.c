/* test_sigv4.c - SigV4 against the official test suite, step by step, plus
 * the key cache, encoding, and requests the suite does not cover.
 *
 * The suite is read from $MIGHOST_TEST_DATA/sigv4 (default tests/data/sigv4,
 * relative to the repository root). Every case folder becomes two tests,
 * "<case> [header]" and "<case> [query]".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>

#include "buf.h"
#include "hash.h"
#include "sigv4.h"

#define SUITE_CASES 38

static const char *data_dir(void)
{
    const char *d = getenv("MIGHOST_TEST_DATA");
    return d && *d ? d : "tests/data";
}

static char *read_file(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    if (!f) {
        print_error("cannot open %s\n", path);
        return NULL;
    }
    buf b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&b, chunk, n);
    fclose(f);
    return buf_detach(&b);
}

/* ---- one case of the suite ---------------------------------------------- */

typedef struct suite_case {
    char *name;
    char *dir;
    char test_name[2][300];   /* header, query */
} suite_case;

/* request.txt taken apart: the signer's input, plus the raw text needed to
 * rebuild the signed request the way the expected files write it. */
typedef struct parsed_request {
    char *method, *path, *query, *version;
    buf header_lines;         /* header lines as in the file, folds included */
    sigv4_header headers[32];
    size_t nheaders;
    char *body;
    size_t body_len;
} parsed_request;

static void free_request(parsed_request *r)
{
    free(r->method);
    free(r->path);
    free(r->query);
    free(r->version);
    buf_free(&r->header_lines);
    for (size_t i = 0; i < r->nheaders; i++) {
        free((char *)r->headers[i].name);
        free((char *)r->headers[i].value);
    }
    free(r->body);
}

static int parse_request(const char *text, parsed_request *r)
{
    memset(r, 0, sizeof *r);
    const char *eol = strchr(text, '\n');
    size_t line_len = eol ? (size_t)(eol - text) : strlen(text);
    /* "METHOD target VERSION": the target may hold spaces ("/example space/"). */
    const char *sp1 = memchr(text, ' ', line_len);
    const char *sp2 = text + line_len;
    while (sp2 > text && sp2[-1] != ' ') sp2--;
    if (!sp1 || sp2 - 1 <= sp1) return -1;
    r->method = xstrndup(text, (size_t)(sp1 - text));
    r->version = xstrndup(sp2, line_len - (size_t)(sp2 - text));
    const char *target = sp1 + 1;
    size_t target_len = (size_t)(sp2 - 1 - target);
    const char *qmark = memchr(target, '?', target_len);
    size_t path_len = qmark ? (size_t)(qmark - target) : target_len;
    r->path = xstrndup(target, path_len);
    r->query = qmark ? xstrndup(qmark + 1, target_len - path_len - 1) : xstrdup("");

    const char *line = eol ? eol + 1 : text + line_len;
    while (*line && *line != '\n') {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        buf_append(&r->header_lines, line, len);
        buf_putc(&r->header_lines, '\n');
        if (line[0] == ' ' || line[0] == '\t') {
            if (!r->nheaders) return -1;   /* fold: continues the last value */
            sigv4_header *h = &r->headers[r->nheaders - 1];
            buf v = BUF_INIT;
            buf_printf(&v, "%s\n%.*s", h->value, (int)len, line);
            free((char *)h->value);
            h->value = buf_detach(&v);
        } else {
            const char *colon = memchr(line, ':', len);
            if (!colon || r->nheaders == 32) return -1;
            sigv4_header *h = &r->headers[r->nheaders++];
            h->name = xstrndup(line, (size_t)(colon - line));
            h->value = xstrndup(colon + 1, len - (size_t)(colon - line) - 1);
        }
        line = end ? end + 1 : line + len;
    }
    if (*line == '\n') line++;   /* the blank line before the body */
    r->body_len = strlen(line);
    r->body = xstrndup(line, r->body_len);
    return 0;
}

typedef struct context {
    json_object *json;
    sigv4_credentials creds;
    sigv4_params params;
} context;

static int json_flag(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) && json_object_get_boolean(v);
}

static const char *json_str(json_object *o, const char *key)
{
    json_object *v;
    return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v) : NULL;
}

static int load_context(const char *dir, context *c)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/context.json", dir);
    memset(c, 0, sizeof *c);
    c->json = json_object_from_file(path);
    json_object *creds, *expires;
    if (!c->json || !json_object_object_get_ex(c->json, "credentials", &creds)) return -1;
    c->creds.access_key_id = json_str(creds, "access_key_id");
    c->creds.secret_access_key = json_str(creds, "secret_access_key");
    c->creds.session_token = json_str(creds, "token");

    struct tm tm = {0};
    const char *ts = json_str(c->json, "timestamp");
    if (!ts || !strptime(ts, "%Y-%m-%dT%H:%M:%SZ", &tm)) return -1;

    sigv4_params *p = &c->params;
    p->creds = &c->creds;
    p->region = json_str(c->json, "region");
    p->service = json_str(c->json, "service");
    p->when = timegm(&tm);
    p->normalize_path = json_flag(c->json, "normalize");
    p->double_encode_path = 1;   /* the suite's service is not S3 */
    p->sign_body = json_flag(c->json, "sign_body");
    p->omit_session_token = json_flag(c->json, "omit_session_token");
    if (json_object_object_get_ex(c->json, "expiration_in_seconds", &expires))
        p->expires = json_object_get_int64(expires);
    return 0;
}

/* Byte-exact; on mismatch names the case and step and shows both texts. */
static int same(const char *name, const char *step, const char *expected,
                const char *actual)
{
    if (expected && actual && !strcmp(expected, actual)) return 1;
    size_t at = 0;
    while (expected && actual && expected[at] == actual[at]) at++;
    print_error("%s: %s differs at byte %zu\n--- expected\n%s\n--- actual\n%s\n---\n",
                name, step, at, expected ? expected : "(missing file)",
                actual ? actual : "(null)");
    return 0;
}

static char *signed_request(const parsed_request *r, const sigv4_params *p,
                            const sigv4_result *res, int presign)
{
    buf b = BUF_INIT;
    if (presign) {
        buf_printf(&b, "%s %s?%s %s\n", r->method, r->path, res->presigned_query,
                   r->version);
        buf_append(&b, r->header_lines.data, r->header_lines.len);
    } else {
        buf_printf(&b, "%s %s%s%s %s\n", r->method, r->path, *r->query ? "?" : "",
                   r->query, r->version);
        buf_append(&b, r->header_lines.data, r->header_lines.len);
        if (p->creds->session_token)
            buf_printf(&b, "X-Amz-Security-Token:%s\n", p->creds->session_token);
        buf_printf(&b, "X-Amz-Date:%s\n", res->amz_date);
        if (p->sign_body) buf_printf(&b, "x-amz-content-sha256:%s\n", res->payload_hash);
        buf_printf(&b, "Authorization:%s\n", res->authorization);
    }
    buf_putc(&b, '\n');
    buf_append(&b, r->body, r->body_len);
    return buf_detach(&b);
}

static int check_file(const suite_case *c, const char *form, const char *step,
                      const char *actual)
{
    char file[64], label[300];
    snprintf(file, sizeof file, "%s-%s.txt", form, step);
    snprintf(label, sizeof label, "%s [%s]", c->name, form);
    char *expected = read_file(c->dir, file);
    int ok = same(label, file, expected, actual);
    free(expected);
    return ok;
}

static void run_case(const suite_case *c, int presign, sigv4_key_cache *cache)
{
    const char *form = presign ? "query" : "header";
    char *text = read_file(c->dir, "request.txt");
    assert_non_null(text);
    parsed_request r;
    context ctx;
    if (parse_request(text, &r) || load_context(c->dir, &ctx)) {
        print_error("%s: cannot parse request.txt or context.json\n", c->name);
        fail();
    }
    sigv4_request req = {
        .method = r.method, .path = r.path, .query = r.query,
        .headers = r.headers, .nheaders = r.nheaders,
        .body = r.body, .body_len = r.body_len,
    };
    sigv4_result res;
    int rc = presign ? sigv4_sign_query(&req, &ctx.params, cache, &res)
                     : sigv4_sign_header(&req, &ctx.params, cache, &res);
    int ok = rc == 0;
    if (!ok) print_error("%s [%s]: signing returned %d\n", c->name, form, rc);
    char *full = ok ? signed_request(&r, &ctx.params, &res, presign) : NULL;
    /* Every step is checked, so one run reports all the broken ones. */
    ok = ok & check_file(c, form, "canonical-request", res.canonical_request);
    ok = ok & check_file(c, form, "string-to-sign", res.string_to_sign);
    ok = ok & check_file(c, form, "signature", res.signature);
    ok = ok & check_file(c, form, "signed-request", full);

    free(full);
    sigv4_result_free(&res);
    json_object_put(ctx.json);
    free_request(&r);
    free(text);
    if (!ok) fail();
}

static void test_header_form(void **state)
{
    run_case(*state, 0, NULL);
}

static void test_query_form(void **state)
{
    run_case(*state, 1, NULL);
}

/* Same cases through one shared cache: results must not change. */
static suite_case *g_cases;
static size_t g_ncases;

static void test_suite_with_cache(void **state)
{
    (void)state;
    sigv4_key_cache *cache = sigv4_key_cache_new();
    for (int round = 0; round < 2; round++)
        for (size_t i = 0; i < g_ncases; i++) {
            run_case(&g_cases[i], 0, cache);
            run_case(&g_cases[i], 1, cache);
        }
    sigv4_key_cache_free(cache);
}

static void test_suite_complete(void **state)
{
    (void)state;
    if (g_ncases != SUITE_CASES)
        print_error("found %zu case folders in %s/sigv4, expected %d\n", g_ncases,
                    data_dir(), SUITE_CASES);
    assert_int_equal(g_ncases, SUITE_CASES);
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const suite_case *)a)->name, ((const suite_case *)b)->name);
}

static size_t discover_cases(suite_case **out)
{
    char root[1024];
    snprintf(root, sizeof root, "%s/sigv4", data_dir());
    DIR *d = opendir(root);
    if (!d) return 0;
    size_t n = 0, cap = 0;
    suite_case *cases = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        char dir[2048];
        struct stat st;
        snprintf(dir, sizeof dir, "%s/%s", root, e->d_name);
        if (e->d_name[0] == '.' || stat(dir, &st) || !S_ISDIR(st.st_mode)) continue;
        if (n == cap) cases = xrealloc(cases, (cap = cap ? 2 * cap : 64) * sizeof *cases);
        suite_case *c = &cases[n++];
        c->name = xstrdup(e->d_name);
        c->dir = xstrdup(dir);
        snprintf(c->test_name[0], sizeof c->test_name[0], "%s [header]", c->name);
        snprintf(c->test_name[1], sizeof c->test_name[1], "%s [query]", c->name);
    }
    closedir(d);
    if (n) qsort(cases, n, sizeof *cases, by_name);
    *out = cases;
    return n;
}

/* ---- hand-written requests ---------------------------------------------- */

static const sigv4_credentials EXAMPLE_CREDS = {
    "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", NULL,
};

static sigv4_params params_for(const char *service, const sigv4_credentials *creds)
{
    sigv4_params p = {
        .creds = creds, .region = "us-east-1", .service = service,
        .when = 1705307400,   /* 2024-01-15T08:30:00Z */
        .normalize_path = 1, .double_encode_path = 1, .expires = 900,
    };
    return p;
}

/* Second line of the canonical request. */
static char *canonical_path_of(const char *path, int double_encode)
{
    sigv4_header host = {"Host", "example.amazonaws.com"};
    sigv4_request req = {.method = "GET", .path = path, .headers = &host, .nheaders = 1};
    sigv4_params p = params_for("service", &EXAMPLE_CREDS);
    p.double_encode_path = double_encode;
    p.normalize_path = double_encode;
    sigv4_result res;
    assert_int_equal(sigv4_sign_header(&req, &p, NULL, &res), 0);
    const char *start = strchr(res.canonical_request, '\n') + 1;
    char *line = xstrndup(start, strcspn(start, "\n"));
    sigv4_result_free(&res);
    return line;
}

#define LAMBDA_ARN_PATH \
    "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn/invocations"

static void test_lambda_arn_path(void **state)
{
    (void)state;
    const char *body = "{\"Payload\":\"hello\"}";
    sigv4_header headers[] = {
        {"Host", "lambda.us-east-1.amazonaws.com"},
        {"Content-Type", "application/json"},
    };
    sigv4_request req = {
        .method = "POST", .path = LAMBDA_ARN_PATH, .headers = headers, .nheaders = 2,
        .body = body, .body_len = strlen(body),
    };
    sigv4_params p = params_for("lambda", &EXAMPLE_CREDS);
    sigv4_result res;
    assert_int_equal(sigv4_sign_header(&req, &p, NULL, &res), 0);
    /* Expected values computed independently (Python hmac/hashlib). */
    assert_string_equal(res.canonical_request,
        "POST\n"
        "/2015-03-31/functions/arn%253Aaws%253Alambda%253Aus-east-1%253A123456789012"
        "%253Afunction%253Amy-fn/invocations\n"
        "\n"
        "content-type:application/json\n"
        "host:lambda.us-east-1.amazonaws.com\n"
        "x-amz-date:20240115T083000Z\n"
        "\n"
        "content-type;host;x-amz-date\n"
        "15c5d14174e0f007eefb453931754e3fd2a0ffd1c2f292d0729172bb3f20725f");
    assert_string_equal(res.signature,
                        "623c415eee2a1be7f664c03f03d76b38056025a2b0561f8cbb505fd512bec199");
    sigv4_result_free(&res);

    /* S3 style: the wire path is the canonical path. */
    char *once = canonical_path_of(LAMBDA_ARN_PATH, 0);
    assert_string_equal(once, LAMBDA_ARN_PATH);
    free(once);
}

static void test_post_json_sign_body(void **state)
{
    (void)state;
    const char *body =
        "{\"TableName\":\"Movies\",\"Item\":{\"year\":{\"N\":\"2015\"},"
        "\"title\":{\"S\":\"The Big New Movie\"}}}";
    const char *token = "FQoGZXIvYXdzEXAMPLETOKEN+/=";
    sigv4_credentials creds = EXAMPLE_CREDS;
    creds.session_token = token;
    sigv4_header headers[] = {
        {"Host", "dynamodb.us-east-1.amazonaws.com"},
        {"X-Amz-Target", "DynamoDB_20120810.PutItem"},
        {"Content-Type", "application/x-amz-json-1.0"},
        {"User-Agent", "mighost"},                   /* never signed */
        {"X-Amz-Date", "19990101T000000Z"},          /* replaced by the signer's */
    };
    sigv4_request req = {
        .method = "POST", .path = "/", .headers = headers, .nheaders = 5,
        .body = body, .body_len = strlen(body),
    };
    sigv4_params p = params_for("dynamodb", &creds);
    p.sign_body = 1;
    sigv4_key_cache *cache = sigv4_key_cache_new();
    for (int i = 0; i < 2; i++) {   /* cold, then warm cache */
        sigv4_result res;
        assert_int_equal(sigv4_sign_header(&req, &p, cache, &res), 0);
        assert_string_equal(res.canonical_request,
            "POST\n/\n\n"
            "content-type:application/x-amz-json-1.0\n"
            "host:dynamodb.us-east-1.amazonaws.com\n"
            "x-amz-content-sha256:0f6398f4ce16bc8bd507f64be5b2195f63dfb313c25208811ac334a462f037d9\n"
            "x-amz-date:20240115T083000Z\n"
            "x-amz-security-token:FQoGZXIvYXdzEXAMPLETOKEN+/=\n"
            "x-amz-target:DynamoDB_20120810.PutItem\n"
            "\n"
            "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token;x-amz-target\n"
            "0f6398f4ce16bc8bd507f64be5b2195f63dfb313c25208811ac334a462f037d9");
        assert_string_equal(res.payload_hash,
                            "0f6398f4ce16bc8bd507f64be5b2195f63dfb313c25208811ac334a462f037d9");
        assert_string_equal(res.signature,
                            "8400ab1fbbd04f04b9a7592133e1f6f6b665ff59fe6cfe613da5150586ec1bae");
        assert_string_equal(res.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240115/us-east-1/dynamodb/aws4_request, "
            "SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-security-token;x-amz-target, "
            "Signature=8400ab1fbbd04f04b9a7592133e1f6f6b665ff59fe6cfe613da5150586ec1bae");
        assert_string_equal(res.amz_date, "20240115T083000Z");
        sigv4_result_free(&res);
    }
    sigv4_key_cache_free(cache);
}

static void test_key_cache(void **state)
{
    (void)state;
    unsigned char plain[32], cached[32], again[32], other[32];
    /* Documented example: 20150830/us-east-1/iam. */
    static const unsigned char iam_key[32] = {
        0xc4, 0xaf, 0xb1, 0xcc, 0x57, 0x71, 0xd8, 0x71, 0x76, 0x3a, 0x39,
        0x3e, 0x44, 0xb7, 0x03, 0x57, 0x1b, 0x55, 0xcc, 0x28, 0x42, 0x4d,
        0x1a, 0x5e, 0x86, 0xda, 0x6e, 0xd3, 0xc1, 0x54, 0xa4, 0xb9,
    };
    const sigv4_credentials *c = &EXAMPLE_CREDS;
    sigv4_key_cache *cache = sigv4_key_cache_new();

    assert_int_equal(sigv4_signing_key(NULL, c, "20150830", "us-east-1", "iam", plain), 0);
    assert_memory_equal(plain, iam_key, 32);
    assert_int_equal(sigv4_signing_key(cache, c, "20150830", "us-east-1", "iam", cached), 0);
    assert_int_equal(sigv4_signing_key(cache, c, "20150830", "us-east-1", "iam", again), 1);
    assert_memory_equal(cached, iam_key, 32);
    assert_memory_equal(again, iam_key, 32);

    /* Any part of the key changes: a miss, and (but for the id) a new key. */
    assert_int_equal(sigv4_signing_key(cache, c, "20150831", "us-east-1", "iam", other), 0);
    assert_memory_not_equal(other, iam_key, 32);
    assert_int_equal(sigv4_signing_key(cache, c, "20150830", "eu-west-1", "iam", other), 0);
    assert_memory_not_equal(other, iam_key, 32);
    assert_int_equal(sigv4_signing_key(cache, c, "20150830", "us-east-1", "sts", other), 0);
    assert_memory_not_equal(other, iam_key, 32);
    sigv4_credentials rotated = *c;
    rotated.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEZ";
    assert_int_equal(sigv4_signing_key(cache, &rotated, "20150830", "us-east-1", "iam", other), 0);
    assert_memory_not_equal(other, iam_key, 32);
    assert_int_equal(sigv4_signing_key(cache, &rotated, "20150830", "us-east-1", "iam", other), 1);
    sigv4_credentials other_id = *c;
    other_id.access_key_id = "AKIDOTHER";
    assert_int_equal(sigv4_signing_key(cache, &other_id, "20150830", "us-east-1", "iam", other), 0);
    assert_memory_equal(other, iam_key, 32);   /* same secret: same key, own entry */

    /* Least recently used goes first: keep iam warm while 8 others pass. */
    char region[32];
    for (int i = 0; i < 8; i++) {
        assert_int_equal(sigv4_signing_key(cache, c, "20150830", "us-east-1", "iam", again), 1);
        snprintf(region, sizeof region, "region-%d", i);
        assert_int_equal(sigv4_signing_key(cache, c, "20150830", region, "iam", other), 0);
    }
    assert_int_equal(sigv4_signing_key(cache, c, "20150830", "us-east-1", "iam", again), 1);
    assert_int_equal(sigv4_signing_key(cache, c, "20150830", "region-0", "iam", other), 0);
    for (int i = 0; i < 8; i++) {   /* now let iam age out */
        snprintf(region, sizeof region, "fill-%d", i);
        sigv4_signing_key(cache, c, "20150830", region, "iam", other);
    }
    assert_int_equal(sigv4_signing_key(cache, c, "20150830", "us-east-1", "iam", again), 0);
    assert_memory_equal(again, iam_key, 32);
    sigv4_key_cache_free(cache);
}

static char *encode(const char *s, int keep_slash)
{
    buf b = BUF_INIT;
    sigv4_uri_encode(&b, s, strlen(s), keep_slash);
    return buf_detach(&b);
}

static void test_uri_encode(void **state)
{
    (void)state;
    struct { const char *in; int keep_slash; const char *out; } cases[] = {
        {"", 0, ""},
        {"AZaz09-_.~", 0, "AZaz09-_.~"},
        {"a b+c=d&e", 0, "a%20b%2Bc%3Dd%26e"},
        {"/a/b", 0, "%2Fa%2Fb"},
        {"/a/b c", 1, "/a/b%20c"},
        {"100%", 0, "100%25"},
        {"arn:aws", 1, "arn%3Aaws"},
        {"\xe1\x88\xb4", 0, "%E1%88%B4"},
        {"*'()!", 0, "%2A%27%28%29%21"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *got = encode(cases[i].in, cases[i].keep_slash);
        assert_string_equal(got, cases[i].out);
        free(got);
    }
    char nul[4] = {'a', '\0', 'b', 0};
    buf b = BUF_INIT;
    sigv4_uri_encode(&b, nul, 3, 0);
    assert_string_equal(b.data, "a%00b");
    buf_free(&b);
}

static void test_paths(void **state)
{
    (void)state;
    struct { const char *in; int double_encode; const char *out; } cases[] = {
        {"/a/b/../c/./d", 1, "/a/c/d"},
        {"/a/b/..", 1, "/a/"},
        {"/../..", 1, "/"},
        {"//a///b//", 1, "/a/b/"},
        {"/a%2Fb", 1, "/a%252Fb"},
        {"/a b/%3a", 0, "/a%20b/%3A"},    /* S3: encoded once, escapes kept */
        {"/a//./b", 0, "/a//./b"},        /* S3: no normalization */
        {"/100%", 0, "/100%25"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *got = canonical_path_of(cases[i].in, cases[i].double_encode);
        assert_string_equal(got, cases[i].out);
        free(got);
    }
}

static char *canonical_query_of(const char *query)
{
    sigv4_header host = {"Host", "example.amazonaws.com"};
    sigv4_request req = {.method = "GET", .path = "/", .query = query,
                         .headers = &host, .nheaders = 1};
    sigv4_params p = params_for("service", &EXAMPLE_CREDS);
    sigv4_result res;
    assert_int_equal(sigv4_sign_header(&req, &p, NULL, &res), 0);
    const char *start = strchr(strchr(res.canonical_request, '\n') + 1, '\n') + 1;
    char *line = xstrndup(start, strcspn(start, "\n"));
    sigv4_result_free(&res);
    return line;
}

static void test_queries(void **state)
{
    (void)state;
    char *got = canonical_query_of("b=2&a=1&&c");   /* empty parts dropped */
    assert_string_equal(got, "a=1&b=2&c=");
    free(got);
    /* Same name: sorted by value; '+' is literal; a broken escape is data. */
    got = canonical_query_of("k=a+b&k=%3a&k=%zz&k=");
    assert_string_equal(got, "k=&k=%25zz&k=%3A&k=a%2Bb");
    free(got);
    got = canonical_query_of("x=a%20b&x=a b");   /* same once decoded */
    assert_string_equal(got, "x=a%20b&x=a%20b");
    free(got);
}

static void test_presigned_with_token(void **state)
{
    (void)state;
    sigv4_credentials creds = EXAMPLE_CREDS;
    creds.session_token = "tok/en+";
    sigv4_header host = {"host", "bucket.s3.amazonaws.com"};
    sigv4_request req = {.method = "GET", .path = "/key", .query = "versionId=3",
                         .headers = &host, .nheaders = 1,
                         .payload_hash = "UNSIGNED-PAYLOAD"};
    sigv4_params p = params_for("s3", &creds);
    p.double_encode_path = p.normalize_path = 0;
    sigv4_result res;
    assert_int_equal(sigv4_sign_query(&req, &p, NULL, &res), 0);
    assert_null(res.authorization);
    assert_non_null(strstr(res.canonical_request,
                           "&X-Amz-Security-Token=tok%2Fen%2B&X-Amz-SignedHeaders=host&"
                           "versionId=3\nhost:bucket.s3.amazonaws.com\n\nhost\n"
                           "UNSIGNED-PAYLOAD"));
    assert_int_equal(strncmp(res.presigned_query, "versionId=3&X-Amz-Algorithm=", 28), 0);
    assert_non_null(strstr(res.presigned_query,
                           "&X-Amz-Expires=900&X-Amz-Security-Token=tok%2Fen%2B&X-Amz-Signature="));
    sigv4_result_free(&res);
}

static void test_rejects_malformed(void **state)
{
    (void)state;
    sigv4_header no_host = {"Accept", "*/*"};
    sigv4_header bad_name = {"Bad Name", "x"};
    sigv4_header injected[] = {{"Host", "h"}, {"X-A", "v\nX-B: w"}};
    sigv4_header host = {"Host", "h"};
    sigv4_request req = {.method = "GET", .path = "/", .headers = &no_host, .nheaders = 1};
    sigv4_params p = params_for("service", &EXAMPLE_CREDS);
    sigv4_result res;

    assert_int_equal(sigv4_sign_header(&req, &p, NULL, &res), -1);
    assert_null(res.canonical_request);
    sigv4_result_free(&res);
    req.headers = &bad_name;
    assert_int_equal(sigv4_sign_header(&req, &p, NULL, &res), -1);
    req.headers = injected;
    req.nheaders = 2;
    assert_int_equal(sigv4_sign_header(&req, &p, NULL, &res), -1);
    req.headers = &host;
    req.nheaders = 1;
    req.path = "no-slash";
    assert_int_equal(sigv4_sign_header(&req, &p, NULL, &res), -1);
    req.path = "/";
    p.expires = 0;
    assert_int_equal(sigv4_sign_query(&req, &p, NULL, &res), -1);
    p.expires = 604801;
    assert_int_equal(sigv4_sign_query(&req, &p, NULL, &res), -1);
    p.expires = 60;
    p.region = "";
    assert_int_equal(sigv4_sign_query(&req, &p, NULL, &res), -1);
    p.region = "us-east-1";
    assert_int_equal(sigv4_sign_query(&req, &p, NULL, &res), 0);
    sigv4_result_free(&res);
}

static void test_helpers(void **state)
{
    (void)state;
    char date[17], hex[65];
    sigv4_format_date(1440938160, date);
    assert_string_equal(date, "20150830T123600Z");
    hash_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    hash_sha256_hex("Param1=value1", 13, hex);
    assert_string_equal(hex, "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e");

    /* RFC 4231 test case 2, through a context and through the one-shot path. */
    hash_ctx *h = hash_ctx_new();
    for (int i = 0; i < 2; i++) {
        unsigned char mac[HASH_SHA256_LEN];
        hash_hmac_sha256(i ? h : NULL, "Jefe", 4, "what do ya want for nothing?", 28, mac);
        hash_hex(mac, sizeof mac, hex);
        assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }
    hash_ctx_free(h);
}

int main(void)
{
    g_ncases = discover_cases(&g_cases);
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_suite_complete),
        cmocka_unit_test(test_suite_with_cache),
        cmocka_unit_test(test_key_cache),
        cmocka_unit_test(test_uri_encode),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_queries),
        cmocka_unit_test(test_lambda_arn_path),
        cmocka_unit_test(test_post_json_sign_body),
        cmocka_unit_test(test_presigned_with_token),
        cmocka_unit_test(test_rejects_malformed),
        cmocka_unit_test(test_helpers),
    };
    size_t nfixed = sizeof fixed / sizeof *fixed;
    size_t ntests = nfixed + 2 * g_ncases;
    struct CMUnitTest *tests = xcalloc(ntests, sizeof *tests);
    memcpy(tests, fixed, sizeof fixed);
    for (size_t i = 0; i < g_ncases; i++) {
        struct CMUnitTest *t = &tests[nfixed + 2 * i];
        t[0].name = g_cases[i].test_name[0];
        t[0].test_func = test_header_form;
        t[0].initial_state = &g_cases[i];
        t[1].name = g_cases[i].test_name[1];
        t[1].test_func = test_query_form;
        t[1].initial_state = &g_cases[i];
    }
    int failed = _cmocka_run_group_tests("sigv4", tests, ntests, NULL, NULL);
    for (size_t i = 0; i < g_ncases; i++) {
        free(g_cases[i].name);
        free(g_cases[i].dir);
    }
    free(g_cases);
    free(tests);
    return failed ? 1 : 0;
}
