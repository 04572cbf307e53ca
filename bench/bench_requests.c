/* bench_requests.c - requests per second against dynalite through the
 * engine (signing, HTTP, response checks) at 1, 8 and 64 in flight, and
 * the client CPU they cost. Starts its own dynalite on a loopback port. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "aws.h"
#include "clock.h"
#include "testsupport.h"

typedef struct run_state {
    aws_client *client;
    int remaining;   /* calls still to start */
    int failed;
    const char *op;
    buf body;
} run_state;

static void next(run_state *s);

static void done(const aws_result *r, void *ud)
{
    run_state *s = ud;
    if (!r->ok) s->failed++;
    next(s);
}

static void next(run_state *s)
{
    if (s->remaining <= 0) return;
    s->remaining--;
    aws_request req;
    memset(&req, 0, sizeof req);
    req.svc = aws_service_find("dynamodb");
    req.operation = s->op;
    buf_reset(&s->body);
    if (strcmp(s->op, "PutItem") == 0)
        buf_printf(&s->body, "{\"TableName\":\"bench\",\"Item\":{\"pk\":{\"S\":\"k%08d\"},"
                             "\"payload\":{\"S\":\"%0200d\"}}}", s->remaining, s->remaining);
    else
        buf_printf(&s->body, "{\"TableName\":\"bench\",\"Key\":{\"pk\":{\"S\":\"k%08d\"}}}",
                   s->remaining % 1000);
    req.body = s->body.data;
    req.body_len = s->body.len;
    aws_send(s->client, &req, done, s);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static aws_client *client_for(const char *url, int in_flight)
{
    aws_client_options o;
    aws_client_options_default(&o);
    o.region = "us-east-1";
    o.endpoint_url = url;
    o.max_in_flight = in_flight;
    buf err = BUF_INIT;
    aws_client *c = aws_client_new(&o, &err);
    if (!c) {
        fprintf(stderr, "bench: %s\n", buf_str(&err));
        exit(1);
    }
    buf_free(&err);
    return c;
}

static void measure(const char *url, const char *op, int in_flight, int calls)
{
    run_state s = {client_for(url, in_flight), calls, 0, op, BUF_INIT};
    double t0 = clock_mono(), c0 = cpu_seconds();
    /* Keep exactly `in_flight` calls outstanding: each completion starts one. */
    for (int i = 0; i < in_flight; i++) next(&s);
    aws_client_run(s.client);
    double wall = clock_mono() - t0, cpu = cpu_seconds() - c0;
    printf("%-8s in flight %3d: %6d calls in %6.2f s = %8.0f req/s; client CPU %.2f s "
           "(%.1f s per 100k requests)%s\n",
           op, in_flight, calls, wall, calls / wall, cpu, cpu / calls * 100000.0,
           s.failed ? " (some failed!)" : "");
    buf_free(&s.body);
    aws_client_free(s.client);
}

int main(int argc, char **argv)
{
    int calls = argc > 1 ? atoi(argv[1]) : 5000;
    setenv("AWS_ACCESS_KEY_ID", "AKIDBENCH", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "bench-secret", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    test_server dyn;
    if (test_dynalite_start(&dyn) != 0) return 1;
    run_state setup = {client_for(dyn.url, 1), 1, 0, "CreateTable", BUF_INIT};
    aws_request req;
    memset(&req, 0, sizeof req);
    req.svc = aws_service_find("dynamodb");
    req.operation = "CreateTable";
    const char *create =
        "{\"TableName\":\"bench\",\"AttributeDefinitions\":[{\"AttributeName\":\"pk\","
        "\"AttributeType\":\"S\"}],\"KeySchema\":[{\"AttributeName\":\"pk\",\"KeyType\":\"HASH\"}],"
        "\"BillingMode\":\"PAY_PER_REQUEST\"}";
    req.body = create;
    req.body_len = strlen(create);
    setup.remaining = 0;
    aws_send(setup.client, &req, done, &setup);
    aws_client_run(setup.client);
    aws_client_free(setup.client);

    int levels[] = {1, 8, 64};
    for (int i = 0; i < 3; i++) measure(dyn.url, "PutItem", levels[i], calls);
    for (int i = 0; i < 3; i++) measure(dyn.url, "GetItem", levels[i], calls);
    test_server_stop(&dyn);
    return 0;
}
