/* cli_common.c - options shared by the commands that talk to AWS. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

const cli_option cli_common_options[] = {
    {"--region", "REGION", "AWS region (else AWS_REGION, AWS_DEFAULT_REGION, the profile)"},
    {"--profile", "NAME", "profile in ~/.aws/config and ~/.aws/credentials"},
    {"--endpoint-url", "[SVC=]URL", "send every service (or one: dynamodb, lambda, ...) to URL; "
                                    "http only for loopback"},
    {"--concurrency", "N", "requests in flight at once (default 256)"},
    {"--segments", "N", "parallel scan segments for migrations (default 4)"},
    {"--max-attempts", "N", "attempts per request, retries included (default 10)"},
    {"--timeout", "SECONDS", "per-request timeout (default 60)"},
    {"--credential-process-timeout", "SECONDS",
     "stop a profile's credential_process after this long (default 60)"},
    {"--max-outage", "SECONDS", "how long to wait for an endpoint that stopped answering before "
                                "giving up with exit 3 (default 900)"},
    {"--log-level", "LEVEL", "error, warn, info (default) or debug"},
    {"--log-format", "FORMAT", "text (default) or json (every line on stderr a JSON object)"},
    {NULL, NULL, NULL}
};

static const char *value_of(int argc, char **argv, int *i, const char *name)
{
    const char *arg = argv[*i];
    size_t n = strlen(name);
    if (strncmp(arg, name, n) == 0 && arg[n] == '=') return arg + n + 1;
    if (*i + 1 >= argc) {
        fprintf(stderr, "mighost: %s needs a value\n", name);
        return NULL;
    }
    return argv[++*i];
}

static int positive(const char *name, const char *v, long *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n <= 0) {
        buf sh = BUF_INIT;
        fprintf(stderr, "mighost: %s expects a positive whole number, not '%s'\n", name,
                buf_shown(&sh, v));
        buf_free(&sh);
        return -1;
    }
    *out = n;
    return 0;
}

int cli_common_option(cli_common *o, int argc, char **argv, int *i)
{
    const cli_option *opt = cli_find_option(cli_common_options, argv[*i]);
    if (!opt) return 0;
    const char *name = opt->name;
    const char *v = value_of(argc, argv, i, name);
    if (!v) return -1;
    long num;
    if (strcmp(name, "--region") == 0) {
        o->region = v;
    } else if (strcmp(name, "--profile") == 0) {
        o->profile = v;
    } else if (strcmp(name, "--endpoint-url") == 0) {
        const char *eq = strchr(v, '='), *colon = strstr(v, "://");
        if (eq && (!colon || eq < colon)) {
            if (o->nservice_endpoints >= 15) {
                fprintf(stderr, "mighost: too many --endpoint-url SERVICE=URL options\n");
                return -1;
            }
            o->service_endpoints[o->nservice_endpoints++] = v;
        } else {
            o->endpoint_url = v;
        }
    } else if (strcmp(name, "--concurrency") == 0) {
        if (positive(name, v, &num) != 0) return -1;
        o->max_in_flight = (int)num;
    } else if (strcmp(name, "--segments") == 0) {
        if (positive(name, v, &num) != 0) return -1;
        o->segments = (int)num;
    } else if (strcmp(name, "--max-attempts") == 0) {
        if (positive(name, v, &num) != 0) return -1;
        o->max_attempts = (int)num;
    } else if (strcmp(name, "--credential-process-timeout") == 0) {
        if (positive(name, v, &num) != 0) return -1;
        if (num > 86400) {
            fprintf(stderr, "mighost: %s: at most 86400 seconds (a day)\n", name);
            return -1;
        }
        o->credential_process_timeout = (int)num;
    } else if (strcmp(name, "--timeout") == 0) {
        if (positive(name, v, &num) != 0) return -1;
        o->timeout_ms = num * 1000;
    } else if (strcmp(name, "--max-outage") == 0) {
        if (positive(name, v, &num) != 0) return -1;
        o->max_outage = num;
    } else if (strcmp(name, "--log-level") == 0) {
        int level = log_parse_level(v);
        if (level < 0) {
            fprintf(stderr, "mighost: --log-level must be error, warn, info or debug\n");
            return -1;
        }
        log_set_level((log_level)level);
    } else if (strcmp(name, "--log-format") == 0) {
        if (strcmp(v, "json") != 0 && strcmp(v, "text") != 0) {
            fprintf(stderr, "mighost: --log-format must be text or json\n");
            return -1;
        }
        log_set_json(strcmp(v, "json") == 0);
    }
    return 1;
}

int cli_has_region(const cli_common *o)
{
    char *region = creds_resolve_region(o->region, o->profile);
    int ok = region || o->endpoint_url || o->nservice_endpoints || getenv("AWS_ENDPOINT_URL");
    free(region);
    return ok;
}

aws_client *cli_make_client(const cli_common *o)
{
    aws_client_options opt;
    aws_client_options_default(&opt);
    char *region = creds_resolve_region(o->region, o->profile);
    int local = o->endpoint_url || o->nservice_endpoints || getenv("AWS_ENDPOINT_URL");
    if (!region && !local) {
        fprintf(stderr, "mighost: no AWS region: pass --region, set AWS_REGION, or set "
                        "region in your profile\n");
        return NULL;
    }
    if (!region) {
        /* Local endpoints ignore the region, but it is part of the signature. */
        region = xstrdup("us-east-1");
    }
    const char *svc_eps[17];
    for (int k = 0; k < o->nservice_endpoints; k++) svc_eps[k] = o->service_endpoints[k];
    svc_eps[o->nservice_endpoints] = NULL;
    opt.region = region;
    opt.profile = o->profile;
    opt.endpoint_url = o->endpoint_url;
    opt.service_endpoints = svc_eps;
    if (o->max_in_flight) opt.max_in_flight = o->max_in_flight;
    if (o->max_attempts) opt.retry.max_attempts = o->max_attempts;
    if (o->timeout_ms) opt.http.request_timeout_ms = o->timeout_ms;
    opt.credential_process_timeout = o->credential_process_timeout;
    if (o->max_outage) opt.max_outage = (double)o->max_outage;
    buf err = BUF_INIT;
    aws_client *c = aws_client_new(&opt, &err);
    if (!c) fprintf(stderr, "mighost: %s\n", buf_str(&err));
    buf_free(&err);
    free(region);
    return c;
}
