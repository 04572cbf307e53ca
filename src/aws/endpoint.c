/* endpoint.c - the service table and endpoint resolution. */
#include "endpoint.h"
#include "url.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const aws_service services[] = {
    {"dynamodb", "dynamodb", "dynamodb", "DYNAMODB", AWS_PROTO_JSON_1_0,
     "DynamoDB_20120810", NULL},
    {"ecs", "ecs", "ecs", "ECS", AWS_PROTO_JSON_1_1,
     "AmazonEC2ContainerServiceV20141113", NULL},
    {"cognito-idp", "cognito-idp", "cognito-idp", "COGNITO_IDENTITY_PROVIDER",
     AWS_PROTO_JSON_1_1, "AWSCognitoIdentityProviderService", NULL},
    {"lambda", "lambda", "lambda", "LAMBDA", AWS_PROTO_REST_JSON, NULL, NULL},
    {"s3", "s3", "s3", "S3", AWS_PROTO_REST_XML, NULL, NULL},
    {"sts", "sts", "sts", "STS", AWS_PROTO_QUERY, NULL, "2011-06-15"},
    {"cloudformation", "cloudformation", "cloudformation", "CLOUDFORMATION",
     AWS_PROTO_QUERY, NULL, "2010-05-15"},
};
#define NSERVICES (sizeof services / sizeof services[0])

const aws_service *aws_service_find(const char *id)
{
    for (size_t i = 0; i < NSERVICES; i++)
        if (strcasecmp(services[i].id, id) == 0) return &services[i];
    /* The names people also use for Cognito user pools. */
    if (strcasecmp(id, "cognito") == 0) return aws_service_find("cognito-idp");
    return NULL;
}

const aws_service *const *aws_service_all(void)
{
    static const aws_service *all[NSERVICES + 1];
    for (size_t i = 0; i < NSERVICES; i++) all[i] = &services[i];
    return all;
}

/* A region name is lowercase words joined by '-' ending in a number:
 * "us-east-1", "us-gov-west-1", "cn-northwest-1". */
static int region_is_valid(const char *r)
{
    size_t n = strlen(r);
    if (n < 4 || n > 40 || !isdigit((unsigned char)r[n - 1])) return 0;
    if (!islower((unsigned char)r[0])) return 0;
    int dashes = 0;
    for (const char *p = r; *p; p++) {
        if (*p == '-') {
            if (p[1] == '-' || p[1] == '\0') return 0;
            dashes++;
        } else if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p)) {
            return 0;
        }
    }
    return dashes >= 2;
}

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

const char *endpoint_partition_suffix(const char *region)
{
    if (!region || !region_is_valid(region)) return NULL;
    if (starts_with(region, "cn-")) return "amazonaws.com.cn";
    if (starts_with(region, "us-isob-")) return "sc2s.sgov.gov";
    if (starts_with(region, "us-iso-")) return "c2s.ic.gov";
    /* aws and aws-us-gov share the DNS suffix. */
    return "amazonaws.com";
}

static char *checked_copy(const char *url, const char *origin, buf *err)
{
    if (url_check_endpoint(url, err) != 0) {
        buf_printf(err, " (from %s)", origin);
        return NULL;
    }
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/') n--;
    return xstrndup(url, n);
}

char *endpoint_resolve(const aws_service *svc, const char *region,
                       const char *override, const char *profile_url, buf *err)
{
    if (override && *override) return checked_copy(override, "--endpoint-url", err);

    /* AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true: only the flag counts, as
     * in the SDKs (variables and profile settings are ignored). */
    const char *ignore = getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    if (!ignore || strcasecmp(ignore, "true") != 0) {
        char name[96];
        snprintf(name, sizeof name, "AWS_ENDPOINT_URL_%s", svc->env_name);
        const char *v = getenv(name);
        if (v && *v) return checked_copy(v, name, err);
        v = getenv("AWS_ENDPOINT_URL");
        if (v && *v) return checked_copy(v, "AWS_ENDPOINT_URL", err);
        if (profile_url && *profile_url)
            return checked_copy(profile_url, "endpoint_url in the profile", err);
    }

    if (!region || !*region) {
        buf_printf(err, "no region for %s: pass --region or set AWS_REGION", svc->id);
        return NULL;
    }
    const char *suffix = endpoint_partition_suffix(region);
    if (!suffix) {
        buf sh = BUF_INIT;
        buf_printf(err, "invalid region '%s' (expected a name like us-east-1)",
                   buf_shown(&sh, region));
        buf_free(&sh);
        return NULL;
    }
    buf url = BUF_INIT;
    buf_printf(&url, "https://%s.%s.%s", svc->endpoint_prefix, region, suffix);
    return buf_detach(&url);
}

int endpoint_s3_virtual_host(const char *host, const char *bucket)
{
    size_t n = strlen(bucket);
    if (n < 3 || n > 63 || bucket[0] == '-' || bucket[n - 1] == '-') return 0;
    for (const char *p = bucket; *p; p++)
        if (!islower((unsigned char)*p) && !isdigit((unsigned char)*p) && *p != '-') return 0;
    size_t h = strcspn(host, ":");
    static const char *const suffixes[] = {".amazonaws.com", ".amazonaws.com.cn"};
    for (size_t i = 0; i < 2; i++) {
        size_t s = strlen(suffixes[i]);
        if (h > s && strncasecmp(host + h - s, suffixes[i], s) == 0) return 1;
    }
    return 0;
}
