/* creds_sts.c - credentials from STS: a profile's role_arn (AssumeRole,
 * signed with the source credentials) and web identity
 * (AssumeRoleWithWebIdentity, unsigned: the token is the proof). */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "creds_int.h"
#include "endpoint.h"
#include "fetch.h"
#include "sigv4.h"
#include "xml.h"
#include "form.h"

#define CHAIN_MAX 16   /* profiles in one role chain */

typedef struct visited {
    const char *names[CHAIN_MAX];
    size_t n;
} visited;

/* host[:port] and path of url, for the Host header and the signature. */
static int split_for_signing(const char *url, char **host, char **path)
{
    CURLU *u = curl_url();
    char *h = NULL, *port = NULL, *p = NULL;
    int ok = u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_HOST, &h, 0) == CURLUE_OK &&
             curl_url_get(u, CURLUPART_PATH, &p, 0) == CURLUE_OK;
    if (ok) {
        buf b = BUF_INIT;
        buf_puts(&b, h);
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK) buf_printf(&b, ":%s", port);
        *host = buf_detach(&b);
        *path = xstrdup(p);
    }
    curl_free(h);
    curl_free(port);
    curl_free(p);
    curl_url_cleanup(u);
    return ok ? 0 : -1;
}

/* Send one STS query-protocol request and read Credentials from the
 * answer. signer NULL: unsigned. `what` names the call in messages. */
static int sts_call(creds_ctx *x, const buf *form, const aws_creds *signer, const char *what,
                    aws_creds *out)
{
    const aws_service *sts = aws_service_find("sts");
    buf err = BUF_INIT, url = BUF_INIT, hdr[5];
    char *base = NULL, *host = NULL, *path = NULL;
    const char *lines[5];
    size_t nh = 0;
    sigv4_result sig;
    memset(&sig, 0, sizeof sig);
    fetch_response resp = {0, BUF_INIT};
    int rc = CREDS_FAIL;
    for (int i = 0; i < 5; i++) hdr[i] = (buf)BUF_INIT;

    base = endpoint_resolve(sts, x->region, NULL, NULL, &err);
    if (!base) goto out;
    buf_printf(&url, "%s/", base);
    if (split_for_signing(buf_str(&url), &host, &path) != 0) {
        buf_printf(&err, "cannot parse the STS endpoint %s", base);
        goto out;
    }
    const char *ctype = "application/x-www-form-urlencoded; charset=utf-8";
    buf_printf(&hdr[nh++], "Host: %s", host);
    buf_printf(&hdr[nh++], "Content-Type: %s", ctype);
    if (signer) {
        sigv4_header sh[] = {{"Host", host}, {"Content-Type", ctype}};
        sigv4_request rq = {"POST", path, NULL, sh, 2, form->data, form->len, NULL};
        sigv4_credentials sc = {signer->access_key_id, signer->secret_access_key,
                                signer->session_token};
        sigv4_params sp = {.creds = &sc, .region = x->region, .service = sts->signing_name,
                           .when = clock_wall(), .normalize_path = 1, .double_encode_path = 1};
        if (sigv4_sign_header(&rq, &sp, NULL, &sig) != 0) {
            buf_puts(&err, "cannot sign the STS request");
            goto out;
        }
        buf_printf(&hdr[nh++], "X-Amz-Date: %s", sig.amz_date);
        buf_printf(&hdr[nh++], "Authorization: %s", sig.authorization);
        if (signer->session_token)
            buf_printf(&hdr[nh++], "X-Amz-Security-Token: %s", signer->session_token);
    }
    for (size_t i = 0; i < nh; i++) lines[i] = buf_str(&hdr[i]);
    fetch_request rq = {.method = "POST", .url = buf_str(&url), .headers = lines,
                        .nheaders = nh, .body = form->data, .body_len = form->len,
                        .connect_timeout_ms = 5000, .timeout_ms = 30000, .attempts = 2};
    if (fetch(&rq, &resp, &err) != 0) goto out;

    if (resp.status != 200) {
        static const char *const epaths[] = {"Error/Code", "Error/Message"};
        char *ev[2];
        buf ignored = BUF_INIT;
        if (xml_extract(buf_str(&resp.body), resp.body.len, epaths, 2, ev, &ignored) == 0 && ev[0])
            buf_printf(&err, "%s: %s (HTTP %ld)", ev[0], ev[1] ? ev[1] : "", resp.status);
        else
            buf_printf(&err, "HTTP %ld from %s", resp.status, base);
        xml_free_texts(ev, 2);
        buf_free(&ignored);
        goto out;
    }
    static const char *const paths[] = {"Credentials/AccessKeyId", "Credentials/SecretAccessKey",
                                        "Credentials/SessionToken", "Credentials/Expiration"};
    char *v[4];
    if (xml_extract(buf_str(&resp.body), resp.body.len, paths, 4, v, &err) != 0) goto out;
    time_t exp = v[3] ? clock_parse_iso8601(v[3]) : -1;
    if (!v[0] || !v[1] || !v[2] || exp == -1) {
        buf_puts(&err, "the response has no complete Credentials element");
    } else {
        out->access_key_id = xstrdup(v[0]);
        out->secret_access_key = xstrdup(v[1]);
        out->session_token = xstrdup(v[2]);
        out->expiration = exp;
        rc = CREDS_FOUND;
    }
    if (v[1]) explicit_bzero(v[1], strlen(v[1]));
    if (v[2]) explicit_bzero(v[2], strlen(v[2]));
    xml_free_texts(v, 4);
out:
    if (rc != CREDS_FOUND) {
        if (signer) {
            creds_redact(&err, 0, signer->secret_access_key);
            creds_redact(&err, 0, signer->session_token);
        }
        buf_printf(x->err, "%s failed: %s", what, buf_str(&err));
    }
    for (int i = 0; i < 5; i++) {
        if (hdr[i].data) explicit_bzero(hdr[i].data, hdr[i].len);
        buf_free(&hdr[i]);
    }
    if (resp.body.data) explicit_bzero(resp.body.data, resp.body.len);
    fetch_response_free(&resp);
    sigv4_result_free(&sig);
    buf_free(&err);
    buf_free(&url);
    free(base);
    free(host);
    free(path);
    return rc;
}

static void session_name(creds_ctx *x, const char *configured, char out[64])
{
    if (configured && *configured)
        snprintf(out, 64, "%.63s", configured);
    else
        snprintf(out, 64, "mighost-%lld", (long long)x->now);
}

static int assume_role_at(creds_ctx *x, const char *profile, visited *seen, aws_creds *out);

static int has_static_keys(creds_ctx *x, const char *profile)
{
    const char *akid = profile_get(x->store, profile, "aws_access_key_id");
    return akid && *akid;
}

static int static_keys(creds_ctx *x, const char *profile, aws_creds *out)
{
    int rc = creds_from_profile_keys(x, PROFILE_CREDENTIALS, profile, out);
    return rc == CREDS_NONE ? creds_from_profile_keys(x, PROFILE_CONFIG, profile, out) : rc;
}

/* Credentials of a source_profile: its static keys, its own role, or the
 * file-based providers, never the environment (as in botocore). */
static int source_profile_creds(creds_ctx *x, const char *profile, const char *source,
                                visited *seen, aws_creds *out)
{
    if (!profile_exists(x->store, source)) {
        buf_printf(x->err, "The source_profile \"%s\" referenced in the profile \"%s\" "
                           "does not exist", source, profile);
        return CREDS_FAIL;
    }
    for (size_t i = 0; i < seen->n; i++) {
        if (strcmp(seen->names[i], source) != 0) continue;
        /* A profile may name itself as source when it holds the keys that
         * assume its own role. Any other repeat is a loop. */
        if (strcmp(source, profile) == 0 && has_static_keys(x, source))
            return static_keys(x, source, out);
        buf_puts(x->err, "Infinite loop in profile configuration: ");
        for (size_t j = 0; j < seen->n; j++) buf_printf(x->err, "%s -> ", seen->names[j]);
        buf_puts(x->err, source);
        return CREDS_FAIL;
    }
    int rc = CREDS_NONE;
    if (!has_static_keys(x, source) && profile_get(x->store, source, "role_arn") &&
        !profile_get(x->store, source, "web_identity_token_file"))
        return assume_role_at(x, source, seen, out);
    rc = creds_from_web_identity(x, source, 0, out);
    if (rc == CREDS_NONE) rc = creds_from_profile_keys(x, PROFILE_CREDENTIALS, source, out);
    if (rc == CREDS_NONE) rc = creds_from_process(x, source, out);
    if (rc == CREDS_NONE) rc = creds_from_profile_keys(x, PROFILE_CONFIG, source, out);
    if (rc == CREDS_NONE) {
        buf_printf(x->err, "The source profile \"%s\" must have credentials", source);
        rc = CREDS_FAIL;
    }
    return rc;
}

static int credential_source_creds(creds_ctx *x, const char *profile, const char *source,
                                   aws_creds *out)
{
    int rc;
    if (strcmp(source, "Environment") == 0) {
        rc = creds_from_env(x, out);
    } else if (strcmp(source, "Ec2InstanceMetadata") == 0) {
        rc = creds_from_imds(x, out);
    } else if (strcmp(source, "EcsContainer") == 0) {
        rc = creds_from_container(x, out);
    } else {
        buf_printf(x->err, "The credential_source \"%s\" in the profile \"%s\" is not valid: "
                           "use Environment, Ec2InstanceMetadata or EcsContainer",
                   source, profile);
        return CREDS_FAIL;
    }
    if (rc == CREDS_NONE) {
        buf_printf(x->err, "No credentials found in credential_source %s referenced in the "
                           "profile \"%s\"", source, profile);
        rc = CREDS_FAIL;
    }
    return rc;
}

static int assume_role_at(creds_ctx *x, const char *profile, visited *seen, aws_creds *out)
{
    const char *role_arn = profile_get(x->store, profile, "role_arn");
    /* A role with a web identity token is the web identity provider's. */
    if (!role_arn || !*role_arn || profile_get(x->store, profile, "web_identity_token_file"))
        return CREDS_NONE;
    const char *source = profile_get(x->store, profile, "source_profile");
    const char *csource = profile_get(x->store, profile, "credential_source");
    if (source && csource) {
        buf_printf(x->err, "The profile \"%s\" has both source_profile and credential_source; "
                           "keep one", profile);
        return CREDS_FAIL;
    }
    if (!source && !csource) {
        buf_printf(x->err, "The profile \"%s\" has role_arn but neither source_profile nor "
                           "credential_source", profile);
        return CREDS_FAIL;
    }
    if (profile_get(x->store, profile, "mfa_serial")) {
        buf_printf(x->err, "The profile \"%s\" needs an MFA code (mfa_serial), which mighost "
                           "cannot prompt for; use a credential_process or temporary keys",
                   profile);
        return CREDS_FAIL;
    }
    if (seen->n == CHAIN_MAX) {
        buf_printf(x->err, "The role chain through the profile \"%s\" is longer than %d profiles",
                   profile, CHAIN_MAX);
        return CREDS_FAIL;
    }
    seen->names[seen->n++] = profile;

    aws_creds src = {0};
    int rc = source ? source_profile_creds(x, profile, source, seen, &src)
                    : credential_source_creds(x, profile, csource, &src);
    if (rc != CREDS_FOUND) return rc;

    char name[64];
    session_name(x, profile_get(x->store, profile, "role_session_name"), name);
    buf form = BUF_INIT, what = BUF_INIT;
    form_add(&form, "Action", "AssumeRole");
    form_add(&form, "Version", aws_service_find("sts")->api_version);
    form_add(&form, "RoleArn", role_arn);
    form_add(&form, "RoleSessionName", name);
    const char *duration = profile_get(x->store, profile, "duration_seconds");
    if (duration && *duration) {
        char *end;
        long secs = strtol(duration, &end, 10);
        if (*end || secs < 900 || secs > 43200) {
            buf_printf(x->err, "duration_seconds in the profile \"%s\" must be a number of "
                               "seconds from 900 to 43200", profile);
            rc = CREDS_FAIL;
            goto done;
        }
        form_add(&form, "DurationSeconds", duration);
    }
    const char *external_id = profile_get(x->store, profile, "external_id");
    if (external_id && *external_id) form_add(&form, "ExternalId", external_id);
    buf_printf(&what, "AssumeRole for %s (profile \"%s\")", role_arn, profile);
    rc = sts_call(x, &form, &src, buf_str(&what), out);
    if (rc == CREDS_FOUND) out->source = "assume-role";
done:
    aws_creds_clear(&src);
    buf_free(&form);
    buf_free(&what);
    return rc;
}

int creds_from_assume_role(creds_ctx *x, const char *profile, aws_creds *out)
{
    visited seen = {{NULL}, 0};
    return assume_role_at(x, profile, &seen, out);
}

static const char *setting(creds_ctx *x, const char *profile, int use_env, const char *env_name,
                           const char *key)
{
    const char *v = use_env ? getenv(env_name) : NULL;
    if (v && *v) return v;
    v = profile_get(x->store, profile, key);
    return v && *v ? v : NULL;
}

int creds_from_web_identity(creds_ctx *x, const char *profile, int use_env, aws_creds *out)
{
    const char *token_file = setting(x, profile, use_env, "AWS_WEB_IDENTITY_TOKEN_FILE",
                                     "web_identity_token_file");
    if (!token_file) return CREDS_NONE;
    const char *role_arn = setting(x, profile, use_env, "AWS_ROLE_ARN", "role_arn");
    if (!role_arn) {
        buf_printf(x->err, "A web identity token file is configured (profile \"%s\" or "
                           "AWS_WEB_IDENTITY_TOKEN_FILE) but no role: set role_arn in the "
                           "profile or AWS_ROLE_ARN", profile);
        return CREDS_FAIL;
    }
    /* Read at every refresh: the file is rotated underneath us (EKS). */
    char *token = creds_read_token_file(token_file, "web identity token", x->err);
    if (!token) return CREDS_FAIL;
    char name[64];
    session_name(x, setting(x, profile, use_env, "AWS_ROLE_SESSION_NAME", "role_session_name"),
                 name);
    buf form = BUF_INIT, what = BUF_INIT;
    form_add(&form, "Action", "AssumeRoleWithWebIdentity");
    form_add(&form, "Version", aws_service_find("sts")->api_version);
    form_add(&form, "RoleArn", role_arn);
    form_add(&form, "RoleSessionName", name);
    form_add(&form, "WebIdentityToken", token);
    buf_printf(&what, "AssumeRoleWithWebIdentity for %s", role_arn);
    size_t mark = x->err->len;
    int rc = sts_call(x, &form, NULL, buf_str(&what), out);
    if (rc == CREDS_FOUND) out->source = "web-identity";
    creds_redact(x->err, mark, token);
    explicit_bzero(token, strlen(token));
    explicit_bzero(form.data, form.len);
    free(token);
    buf_free(&form);
    buf_free(&what);
    return rc;
}
