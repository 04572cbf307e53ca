/* creds.c - the credential chain: order, caching and refresh, plus the
 * providers that need no I/O beyond reading files (environment, static
 * keys in the shared files). */
#include "creds.h"

#include <ctype.h>
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "creds_int.h"
#include "log.h"

/* The chain, in the AWS CLI's order. */
typedef enum creds_kind {
    KIND_ENV,
    KIND_ASSUME_ROLE,
    KIND_WEB_IDENTITY,
    KIND_SSO,
    KIND_CREDENTIALS_FILE,
    KIND_PROCESS,
    KIND_CONFIG_FILE,
    KIND_CONTAINER,
    KIND_IMDS,
    KIND_COUNT
} creds_kind;

struct creds_chain {
    char *cli_profile;   /* --profile, or NULL */
    char *region;        /* for STS; never NULL */
    int process_timeout; /* seconds, > 0 */
    int have;            /* cur holds credentials */
    creds_kind kind;     /* the provider that produced them */
    aws_creds cur;
    time_t retry_at;     /* no advisory refresh before this */
};

static const char no_creds_msg[] =
    "Unable to locate credentials. Configure them with environment variables "
    "(AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY), a profile in ~/.aws/credentials "
    "(--profile), or run on AWS with a role.";

static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int creds_env_true(const char *name)
{
    const char *v = env(name);
    return v && strcasecmp(v, "true") == 0;
}

void aws_creds_clear(aws_creds *c)
{
    /* Wipe the secrets so they do not linger in freed heap memory. */
    if (c->secret_access_key) explicit_bzero(c->secret_access_key, strlen(c->secret_access_key));
    if (c->session_token) explicit_bzero(c->session_token, strlen(c->session_token));
    free(c->access_key_id);
    free(c->secret_access_key);
    free(c->session_token);
    memset(c, 0, sizeof *c);
}

static void creds_set(aws_creds *out, const char *akid, const char *secret, const char *token,
                      time_t expiration, const char *source)
{
    out->access_key_id = xstrdup(akid);
    out->secret_access_key = xstrdup(secret);
    out->session_token = token && *token ? xstrdup(token) : NULL;
    out->expiration = expiration;
    out->source = source;
}

void creds_redact(buf *msg, size_t from, const char *secret)
{
    /* Short strings would redact ordinary words; real secrets are long. */
    if (!secret || strlen(secret) < 4 || from >= msg->len) return;
    size_t sl = strlen(secret);
    char *hit;
    while ((hit = strstr(msg->data + from, secret)) != NULL) {
        size_t at = (size_t)(hit - msg->data);
        memmove(hit + 4, hit + sl, msg->len - at - sl + 1);
        memcpy(hit, "****", 4);
        msg->len = msg->len - sl + 4;
        from = at + 4;
    }
}

char *creds_read_token_file(const char *path, const char *what, buf *err)
{
    char *full = profile_expand_path(path);
    FILE *fp = fopen(full, "rb");
    if (!fp) {
        buf_printf(err, "cannot read the %s file %s: %s", what, full, strerror(errno));
        free(full);
        return NULL;
    }
    buf tok = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0 && tok.len < 1024 * 1024)
        buf_append(&tok, chunk, n);
    fclose(fp);
    while (tok.len > 0 && isspace((unsigned char)tok.data[tok.len - 1])) tok.data[--tok.len] = '\0';
    if (tok.len == 0) {
        buf_printf(err, "the %s file %s is empty", what, full);
        free(full);
        buf_free(&tok);
        return NULL;
    }
    free(full);
    return buf_detach(&tok);
}

int creds_from_env(creds_ctx *x, aws_creds *out)
{
    const char *akid = env("AWS_ACCESS_KEY_ID"), *secret = env("AWS_SECRET_ACCESS_KEY");
    if (!akid && !secret) return CREDS_NONE;
    if (!akid || !secret) {
        buf_printf(x->err, "%s is set but %s is not: set both, or unset both to use "
                           "a profile or a role",
                   akid ? "AWS_ACCESS_KEY_ID" : "AWS_SECRET_ACCESS_KEY",
                   akid ? "AWS_SECRET_ACCESS_KEY" : "AWS_ACCESS_KEY_ID");
        return CREDS_FAIL;
    }
    const char *token = env("AWS_SESSION_TOKEN");
    if (!token) token = env("AWS_SECURITY_TOKEN");   /* the older name */
    time_t exp = 0;
    const char *e = env("AWS_CREDENTIAL_EXPIRATION");
    if (e && (exp = clock_parse_iso8601(e)) == -1) {
        buf_puts(x->err, "AWS_CREDENTIAL_EXPIRATION is not an ISO 8601 time "
                         "(expected e.g. 2026-11-22T06:00:00Z)");
        return CREDS_FAIL;
    }
    creds_set(out, akid, secret, token, exp, "environment");
    return CREDS_FOUND;
}

int creds_from_profile_keys(creds_ctx *x, profile_kind kind, const char *profile,
                            aws_creds *out)
{
    const char *akid = profile_get_in(x->store, kind, profile, "aws_access_key_id");
    const char *secret = profile_get_in(x->store, kind, profile, "aws_secret_access_key");
    const char *token = profile_get_in(x->store, kind, profile, "aws_session_token");
    const char *file = kind == PROFILE_CONFIG ? "config file" : "shared credentials file";
    if ((!akid || !*akid) && (!secret || !*secret)) return CREDS_NONE;
    if (!akid || !*akid || !secret || !*secret) {
        buf_printf(x->err, "Partial credentials found in the %s, profile \"%s\": %s is missing",
                   file, profile, akid && *akid ? "aws_secret_access_key" : "aws_access_key_id");
        return CREDS_FAIL;
    }
    creds_set(out, akid, secret, token, 0,
              kind == PROFILE_CONFIG ? "config-file" : "shared-credentials-file");
    return CREDS_FOUND;
}

static const char *json_str(json_object *o, const char *key)
{
    json_object *v;
    if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    return json_object_get_string(v);
}

int creds_from_json(const char *json, size_t len, const char *token_key, const char *what,
                    long *version, aws_creds *out, buf *err)
{
    json_tokener *tok = json_tokener_new();
    json_object *o = json_tokener_parse_ex(tok, json, (int)len);
    int complete = json_tokener_get_error(tok) == json_tokener_success;
    json_tokener_free(tok);
    int rc = CREDS_FAIL;
    if (!o || !complete || !json_object_is_type(o, json_type_object)) {
        buf_printf(err, "%s did not return a JSON object", what);
        goto done;
    }
    json_object *v;
    if (version)
        *version = json_object_object_get_ex(o, "Version", &v) &&
                           json_object_is_type(v, json_type_int)
                       ? (long)json_object_get_int64(v)
                       : -1;
    const char *akid = json_str(o, "AccessKeyId"), *secret = json_str(o, "SecretAccessKey");
    const char *token = json_str(o, token_key), *exp_text = json_str(o, "Expiration");
    if (!akid || !*akid || !secret || !*secret) {
        buf_printf(err, "%s returned no %s", what, akid && *akid ? "SecretAccessKey" : "AccessKeyId");
        goto done;
    }
    time_t exp = 0;
    if (exp_text && (exp = clock_parse_iso8601(exp_text)) == -1) {
        buf_printf(err, "%s returned an Expiration that is not an ISO 8601 time", what);
        goto done;
    }
    creds_set(out, akid, secret, token, exp, NULL);
    rc = CREDS_FOUND;
done:
    json_object_put(o);
    return rc;
}

static int run_kind(creds_kind k, creds_ctx *x, aws_creds *out)
{
    switch (k) {
    case KIND_ENV: return creds_from_env(x, out);
    case KIND_ASSUME_ROLE: return creds_from_assume_role(x, x->profile, out);
    case KIND_WEB_IDENTITY: return creds_from_web_identity(x, x->profile, 1, out);
    case KIND_SSO: return creds_from_sso(x, x->profile, out);
    case KIND_CREDENTIALS_FILE:
        return creds_from_profile_keys(x, PROFILE_CREDENTIALS, x->profile, out);
    case KIND_PROCESS: return creds_from_process(x, x->profile, out);
    case KIND_CONFIG_FILE: return creds_from_profile_keys(x, PROFILE_CONFIG, x->profile, out);
    case KIND_CONTAINER: return creds_from_container(x, out);
    case KIND_IMDS: return creds_from_imds(x, out);
    case KIND_COUNT: break;
    }
    return CREDS_NONE;
}

/* Run one provider (only == KIND_COUNT: the whole chain). Returns
 * CREDS_FOUND with the kind that answered in *kind, else CREDS_NONE or
 * CREDS_FAIL with a message in err, redacted of every secret this process
 * knows. */
static int resolve(creds_chain *c, time_t now, creds_kind only, creds_kind *kind,
                   aws_creds *out, buf *err)
{
    buf msg = BUF_INIT;
    int rc = CREDS_FAIL;
    int explicit_name;
    const char *profile = profile_selected(c->cli_profile, &explicit_name);
    profile_store *store = profile_store_load(&msg);
    if (store) {
        creds_ctx x = {store, profile, c->region, now, &msg, c->process_timeout};
        if (explicit_name && !profile_exists(store, profile)) {
            buf_printf(&msg, "The config profile (%s) could not be found", profile);
        } else {
            rc = CREDS_NONE;
            for (int k = 0; k < KIND_COUNT && rc == CREDS_NONE; k++) {
                if (only != KIND_COUNT && k != (int)only) continue;
                /* An explicit --profile means "use that profile", so
                 * credentials in the environment are skipped. */
                if (k == KIND_ENV && c->cli_profile) continue;
                rc = run_kind((creds_kind)k, &x, out);
                if (rc == CREDS_FOUND) *kind = (creds_kind)k;
            }
            if (rc == CREDS_NONE) buf_puts(&msg, no_creds_msg);
        }
        profile_store_free(store);
    }
    if (rc != CREDS_FOUND) {
        static const char *const secret_vars[] = {
            "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN"};
        for (size_t i = 0; i < sizeof secret_vars / sizeof *secret_vars; i++)
            creds_redact(&msg, 0, env(secret_vars[i]));
        creds_redact(&msg, 0, c->cur.secret_access_key);
        creds_redact(&msg, 0, c->cur.session_token);
        buf_puts(err, buf_str(&msg));
        aws_creds_clear(out);
    }
    buf_free(&msg);
    return rc;
}

creds_chain *creds_chain_new(const creds_options *opt)
{
    creds_chain *c = xcalloc(1, sizeof *c);
    if (opt && opt->profile && *opt->profile) c->cli_profile = xstrdup(opt->profile);
    const char *region = opt && opt->region && *opt->region ? opt->region : NULL;
    c->region = region ? xstrdup(region) : creds_resolve_region(NULL, c->cli_profile);
    if (!c->region) c->region = xstrdup("us-east-1");
    c->process_timeout = opt && opt->process_timeout > 0 ? opt->process_timeout
                                                         : CREDS_PROCESS_TIMEOUT;
    return c;
}

void creds_chain_free(creds_chain *c)
{
    if (!c) return;
    aws_creds_clear(&c->cur);
    free(c->cli_profile);
    free(c->region);
    free(c);
}

static void replace_current(creds_chain *c, creds_kind kind, aws_creds *fresh)
{
    aws_creds_clear(&c->cur);
    c->cur = *fresh;
    c->kind = kind;
    c->have = 1;
}

static int in_refresh_window(const aws_creds *cr, time_t now)
{
    return cr->expiration != 0 && now >= cr->expiration - CREDS_REFRESH_WINDOW;
}

int creds_chain_get(creds_chain *c, time_t now, const aws_creds **out, buf *err)
{
    aws_creds fresh = {0};
    creds_kind kind;
    if (!c->have) {
        if (resolve(c, now, KIND_COUNT, &kind, &fresh, err) != CREDS_FOUND) return -1;
        replace_current(c, kind, &fresh);
        c->retry_at = 0;
    } else if (in_refresh_window(&c->cur, now)) {
        int expired = now >= c->cur.expiration;
        if (expired || now >= c->retry_at) {
            buf why = BUF_INIT;
            /* Ask the provider that gave the current credentials; if it is
             * no longer configured, walk the whole chain again. */
            int rc = resolve(c, now, c->kind, &kind, &fresh, &why);
            if (rc == CREDS_NONE) {
                buf_reset(&why);
                rc = resolve(c, now, KIND_COUNT, &kind, &fresh, &why);
            }
            if (rc == CREDS_FOUND) {
                replace_current(c, kind, &fresh);
                /* Credentials that are short-lived from birth would
                 * otherwise be fetched again on every call. */
                c->retry_at = in_refresh_window(&c->cur, now) ? now + CREDS_RETRY_DELAY : 0;
            } else if (!expired) {
                log_warn("refreshing AWS credentials (%s) failed; the current ones stay "
                         "valid for %lds more: %s",
                         c->cur.source, (long)(c->cur.expiration - now), buf_str(&why));
                c->retry_at = now + CREDS_RETRY_DELAY;
            } else {
                buf_printf(err, "AWS credentials from %s expired and could not be refreshed: %s",
                           c->cur.source, buf_str(&why));
                buf_free(&why);
                return -1;
            }
            buf_free(&why);
        }
    }
    *out = &c->cur;
    return 0;
}

int creds_chain_refresh(creds_chain *c, time_t now, const aws_creds **out, buf *err)
{
    aws_creds fresh = {0};
    creds_kind kind;
    int rc = resolve(c, now, KIND_COUNT, &kind, &fresh, err);
    aws_creds_clear(&c->cur);
    c->have = 0;
    if (rc != CREDS_FOUND) return -1;
    replace_current(c, kind, &fresh);
    c->retry_at = 0;
    *out = &c->cur;
    return 0;
}

char *creds_profile_value(const char *cli_profile, const char *key)
{
    buf err = BUF_INIT;
    profile_store *store = profile_store_load(&err);
    buf_free(&err);   /* a broken file is reported by the credential chain */
    if (!store) return NULL;
    const char *v = profile_get(store, profile_selected(cli_profile, NULL), key);
    char *copy = v && *v ? xstrdup(v) : NULL;
    profile_store_free(store);
    return copy;
}

char *creds_resolve_region(const char *cli_region, const char *cli_profile)
{
    if (cli_region && *cli_region) return xstrdup(cli_region);
    const char *v = env("AWS_REGION");
    if (!v) v = env("AWS_DEFAULT_REGION");
    if (v) return xstrdup(v);
    return creds_profile_value(cli_profile, "region");
}
