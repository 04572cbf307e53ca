/* endpoint.h - which services mighost speaks to, and where they live.
 *
 * A service's endpoint comes from, in order: an explicit override (the
 * --endpoint-url flag), AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, and
 * finally the partition rules: service.region.amazonaws.com for the aws and
 * aws-us-gov partitions, service.region.amazonaws.com.cn for aws-cn. Plain
 * http is allowed only for loopback hosts.
 */
#ifndef MIGHOST_ENDPOINT_H
#define MIGHOST_ENDPOINT_H

#include "buf.h"

typedef enum aws_protocol {
    AWS_PROTO_JSON_1_0,   /* DynamoDB */
    AWS_PROTO_JSON_1_1,   /* ECS, Cognito user pools */
    AWS_PROTO_REST_JSON,  /* Lambda */
    AWS_PROTO_REST_XML,   /* S3 */
    AWS_PROTO_QUERY       /* STS, CloudFormation (XML responses) */
} aws_protocol;

typedef struct aws_service {
    const char *id;              /* what users type: "dynamodb", "cognito-idp" */
    const char *endpoint_prefix; /* host label: "dynamodb", "cognito-idp" */
    const char *signing_name;    /* SigV4 service name */
    const char *env_name;        /* suffix of AWS_ENDPOINT_URL_<...> */
    aws_protocol protocol;
    const char *target_prefix;   /* X-Amz-Target prefix (JSON protocols) */
    const char *api_version;     /* Version= (query protocol) */
} aws_service;

const aws_service *aws_service_find(const char *id);
/* NULL-terminated list, for --help and error messages. */
const aws_service *const *aws_service_all(void);

/* The partition's DNS suffix for a region ("amazonaws.com",
 * "amazonaws.com.cn"), or NULL if the region name is not valid. */
const char *endpoint_partition_suffix(const char *region);

/* Resolve the base URL (scheme://host[:port][/path], no trailing slash)
 * for a service, in the SDKs' order: `override` (--endpoint-url), then
 * AWS_ENDPOINT_URL_<SERVICE>, AWS_ENDPOINT_URL, then `profile_url` (the
 * profile's endpoint_url setting), then the region's public endpoint.
 * Returns a heap string, or NULL with a message in err. */
char *endpoint_resolve(const aws_service *svc, const char *region,
                       const char *override, const char *profile_url, buf *err);

/* 1 if an S3 request for `bucket` to `host` ("host[:port]") goes to
 * bucket.host (virtual-hosted style): the host is AWS's and the bucket name
 * is a DNS label (3-63 of a-z 0-9 '-', no dots, so the TLS certificate's
 * wildcard covers it). 0 means path-style (/bucket/key): loopback and
 * other S3-compatible endpoints, and bucket names with dots. */
int endpoint_s3_virtual_host(const char *host, const char *bucket);

#endif
