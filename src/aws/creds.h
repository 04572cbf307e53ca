/* creds.h - the AWS credential chain, resolved the way the AWS CLI does.
 *
 * Order: environment variables (skipped when --profile is given
 * explicitly, as the CLI does); the profile's role_arn (+ source_profile or
 * credential_source, STS AssumeRole); web identity (profile's
 * web_identity_token_file or AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN,
 * STS AssumeRoleWithWebIdentity); IAM Identity Center (SSO) profiles
 * (the token `aws sso login` cached, then GetRoleCredentials); static
 * keys in the shared credentials
 * file; credential_process; static keys in the config file; ECS container
 * credentials; EC2 IMDSv2.
 *
 * A provider that is configured but fails (credential_process exits 1,
 * STS answers AccessDenied) stops the chain with its error, as in botocore;
 * only IMDS failing means "not on EC2" and ends in "Unable to locate
 * credentials".
 *
 * Temporary credentials are refreshed, by the provider that gave them,
 * when they are within CREDS_REFRESH_WINDOW seconds of expiring. Secrets
 * are never logged or put in error messages.
 */
#ifndef MIGHOST_CREDS_H
#define MIGHOST_CREDS_H

#include <time.h>

#include "buf.h"

#define CREDS_REFRESH_WINDOW (5 * 60)
/* After a refresh attempt that failed (while the current credentials were
 * still valid) or that gave credentials already inside the window, wait
 * this long before the next advisory attempt. */
#define CREDS_RETRY_DELAY 30

typedef struct aws_creds {
    char *access_key_id;
    char *secret_access_key;
    char *session_token;   /* NULL for long-term keys */
    time_t expiration;     /* 0 = does not expire */
    const char *source;    /* static string naming the provider, e.g. "environment",
                              "shared-credentials-file", "config-file", "credential-process",
                              "assume-role", "web-identity", "sso", "container", "imds" */
} aws_creds;

typedef struct creds_options {
    const char *profile;   /* --profile, or NULL to use AWS_PROFILE or "default" */
    const char *region;    /* resolved region, for regional STS endpoints; NULL:
                              resolved here, falling back to us-east-1 */
    int process_timeout;   /* seconds a credential_process may take; 0: 60 */
} creds_options;

#define CREDS_PROCESS_TIMEOUT 60

typedef struct creds_chain creds_chain;

creds_chain *creds_chain_new(const creds_options *opt);
void creds_chain_free(creds_chain *c);

/* Current credentials, resolving on first use and refreshing before expiry.
 * `now` is the caller's clock (tests inject it). If a refresh fails while
 * the current credentials are still valid, they are returned, a warning is
 * logged and the refresh is retried CREDS_RETRY_DELAY seconds later.
 * The pointer stays valid until the next call that refreshes. Returns 0, or
 * -1 with a message in err that names the cause and the fix. */
int creds_chain_get(creds_chain *c, time_t now, const aws_creds **out, buf *err);

/* Drop cached credentials and walk the whole chain again (after
 * ExpiredToken). On failure nothing is cached. */
int creds_chain_refresh(creds_chain *c, time_t now, const aws_creds **out, buf *err);

/* Region: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's region
 * (config file, overridden by the credentials file as in botocore's merged
 * view). The profile is cli_profile, else AWS_PROFILE, else "default".
 * Returns a heap string or NULL (no region anywhere). */
char *creds_resolve_region(const char *cli_region, const char *cli_profile);

/* A setting of the profile (cli_profile, else AWS_PROFILE, else
 * "default") in the merged config/credentials view: a heap string, or
 * NULL when unset or empty. */
char *creds_profile_value(const char *cli_profile, const char *key);

/* Free the strings (secrets wiped first) and zero the struct. */
void aws_creds_clear(aws_creds *c);

#endif
