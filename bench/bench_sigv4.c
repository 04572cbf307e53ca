/* bench_sigv4.c - SigV4 signatures per second on one core.
 *
 * Signs a typical DynamoDB PutItem (about 1 KB of JSON, session token) for
 * about two seconds per variant: with the key cache (the engine's hot path)
 * and without it (every signature derives its key and hashing contexts).
 * Usage: bench_sigv4 [seconds per variant]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "sigv4.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A PutItem of roughly 1 KB: a few attributes and one long string. */
static void make_body(buf *b)
{
    buf_puts(b, "{\"TableName\":\"migration_target\",\"Item\":{"
                "\"pk\":{\"S\":\"USER#0001234567\"},\"sk\":{\"S\":\"PROFILE#2024-01-15\"},"
                "\"version\":{\"N\":\"42\"},\"active\":{\"BOOL\":true},"
                "\"tags\":{\"SS\":[\"alpha\",\"beta\",\"gamma\"]},\"notes\":{\"S\":\"");
    while (b->len < 1000) buf_puts(b, "lorem ipsum dolor sit amet ");
    buf_puts(b, "\"}},\"ConditionExpression\":\"attribute_not_exists(pk)\"}");
}

typedef int (*sign_fn)(const sigv4_request *, const sigv4_params *,
                       sigv4_key_cache *, sigv4_result *);

static volatile unsigned char sink;

static double run(const char *label, sign_fn sign, const sigv4_request *req,
                  sigv4_params *p, sigv4_key_cache *cache, double seconds)
{
    long count = 0;
    double start = now(), elapsed;
    do {
        for (int i = 0; i < 256; i++, count++) {
            sigv4_result r;
            if (sign(req, p, cache, &r)) {
                fprintf(stderr, "%s: signing failed\n", label);
                exit(1);
            }
            sink ^= (unsigned char)r.signature[0];
            sigv4_result_free(&r);
        }
        elapsed = now() - start;
    } while (elapsed < seconds);
    double rate = (double)count / elapsed;
    printf("%s: %.0f signatures/s (%.2f us each)\n", label, rate, 1e6 / rate);
    return rate;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    if (seconds <= 0) seconds = 2.0;

    buf body = BUF_INIT;
    make_body(&body);
    char length[24];
    snprintf(length, sizeof length, "%zu", body.len);
    sigv4_header headers[] = {
        {"Host", "dynamodb.us-east-1.amazonaws.com"},
        {"Content-Type", "application/x-amz-json-1.0"},
        {"Content-Length", length},
        {"X-Amz-Target", "DynamoDB_20120810.PutItem"},
        {"Accept-Encoding", "identity"},
        {"User-Agent", "mighost/bench"},
    };
    sigv4_request req = {
        .method = "POST", .path = "/", .query = "",
        .headers = headers, .nheaders = sizeof headers / sizeof *headers,
        .body = body.data, .body_len = body.len,
    };
    sigv4_credentials creds = {
        "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN/////////wEaCXVzLWVhc3QtMSJHMEUCIQD"
        "EXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLEEXAMPLE+EXAMPLE==",
    };
    sigv4_params p = {
        .creds = &creds, .region = "us-east-1", .service = "dynamodb",
        .when = time(NULL), .normalize_path = 1, .double_encode_path = 1,
        .expires = 900,
    };

    printf("request: POST / PutItem, %zu-byte body, %zu headers, session token\n",
           body.len, req.nheaders);
    sigv4_key_cache *cache = sigv4_key_cache_new();
    run("sigv4_sign_header (cached key)", sigv4_sign_header, &req, &p, cache, seconds);
    run("sigv4_sign_header (no cache)", sigv4_sign_header, &req, &p, NULL, seconds);
    p.sign_body = 1;
    run("sigv4_sign_header (cached key, sign_body)", sigv4_sign_header, &req, &p,
        cache, seconds);
    p.sign_body = 0;
    run("sigv4_sign_query (cached key)", sigv4_sign_query, &req, &p, cache, seconds);
    sigv4_key_cache_free(cache);
    buf_free(&body);
    return 0;
}
