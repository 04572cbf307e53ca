/* creds_int.h - what the credential providers share (not a public API).
 *
 * Every provider returns CREDS_FOUND with *out filled, CREDS_NONE when it
 * is not configured (the chain moves on), or CREDS_FAIL with a message in
 * x->err when it is configured but failed (the chain stops, as botocore's
 * does: a broken credential_process must not silently become the instance
 * role).
 */
#ifndef MIGHOST_CREDS_INT_H
#define MIGHOST_CREDS_INT_H

#include <time.h>

#include "buf.h"
#include "creds.h"
#include "profile.h"

enum { CREDS_FAIL = -1, CREDS_NONE = 0, CREDS_FOUND = 1 };

typedef struct creds_ctx {
    profile_store *store;
    const char *profile;    /* the selected profile */
    const char *region;     /* STS region, never NULL */
    time_t now;             /* the caller's clock (session names) */
    buf *err;
    int process_timeout;    /* seconds, > 0 */
} creds_ctx;

/* creds.c */
int creds_from_env(creds_ctx *x, aws_creds *out);
int creds_from_profile_keys(creds_ctx *x, profile_kind kind, const char *profile,
                            aws_creds *out);
/* Fill out from a JSON object with AccessKeyId, SecretAccessKey, the token
 * under token_key and an optional Expiration; *version (if not NULL) gets
 * the integer "Version", or -1. `what` names the source in messages; the
 * JSON text never appears in them. */
int creds_from_json(const char *json, size_t len, const char *token_key, const char *what,
                    long *version, aws_creds *out, buf *err);
/* Replace each occurrence of secret in msg[from..] with "****". */
void creds_redact(buf *msg, size_t from, const char *secret);
/* Read a token file (web identity, container authorization); trailing
 * whitespace removed. NULL with a message naming `what` and the path. */
char *creds_read_token_file(const char *path, const char *what, buf *err);
int creds_env_true(const char *name);

/* creds_process.c */
int creds_from_process(creds_ctx *x, const char *profile, aws_creds *out);

/* creds_sts.c */
int creds_from_assume_role(creds_ctx *x, const char *profile, aws_creds *out);
/* use_env: AWS_WEB_IDENTITY_TOKEN_FILE / AWS_ROLE_ARN / AWS_ROLE_SESSION_NAME
 * override the profile (off when resolving a source_profile). */
int creds_from_web_identity(creds_ctx *x, const char *profile, int use_env, aws_creds *out);

/* creds_sso.c: sso_session / sso_start_url profiles */
int creds_from_sso(creds_ctx *x, const char *profile, aws_creds *out);
/* creds_http.c */
int creds_from_container(creds_ctx *x, aws_creds *out);
int creds_from_imds(creds_ctx *x, aws_creds *out);

#endif
