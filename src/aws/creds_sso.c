/* creds_sso.c - IAM Identity Center (SSO) profiles, as the AWS CLI reads
 * them.
 *
 * A profile names its sign-in either through `sso_session = NAME` (an
 * `[sso-session NAME]` section with sso_start_url and sso_region) or the
 * legacy way, with sso_start_url and sso_region in the profile itself;
 * sso_account_id and sso_role_name say which role to take. `aws sso login`
 * leaves a token in ~/.aws/sso/cache/SHA1.json, SHA1 being the hex SHA-1
 * of the session name (or of the start URL, legacy). That token buys role
 * credentials from the portal's GetRoleCredentials. A session token close
 * to expiry is renewed with the OIDC CreateToken call when the cache holds
 * a refresh token, and written back as the CLI does. Without a usable
 * token the only fix is to sign in again, and the message says so.
 *
 * Endpoints: AWS_ENDPOINT_URL_SSO / AWS_ENDPOINT_URL_SSO_OIDC (or
 * AWS_ENDPOINT_URL), else portal.sso.REGION and oidc.REGION. Tokens and
 * secrets never appear in messages.
 */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "creds_int.h"
#include "endpoint.h"
#include "fetch.h"
#include "hash.h"
#include "log.h"

#define SSO_TOKEN_REFRESH_WINDOW (15 * 60)   /* renew a session token this close to expiry */

/* Not in the public service table: these calls are not signed, and only
 * the credential chain makes them. */
static const aws_service sso_portal = {"sso", "portal.sso", "awsssoportal", "SSO",
                                       AWS_PROTO_REST_JSON, NULL, NULL};
static const aws_service sso_oidc = {"sso-oidc", "oidc", "sso-oauth", "SSO_OIDC",
                                     AWS_PROTO_REST_JSON, NULL, NULL};

typedef struct sso_config {
    const char *session;     /* sso_session, or NULL (legacy) */
    const char *start_url;
    const char *region;
    const char *account;
    const char *role;
} sso_config;

static void login_hint(buf *err, const char *profile, const char *why)
{
    buf_printf(err, "the SSO sign-in for profile \"%s\" %s: run: aws sso login --profile %s", profile,
               why, profile);
}

static int read_config(creds_ctx *x, const char *profile, sso_config *c)
{
    memset(c, 0, sizeof *c);
    c->session = profile_get(x->store, profile, "sso_session");
    c->account = profile_get(x->store, profile, "sso_account_id");
    c->role = profile_get(x->store, profile, "sso_role_name");
    const char *legacy_url = profile_get(x->store, profile, "sso_start_url");
    if (!c->session && !legacy_url && !c->account && !c->role) return CREDS_NONE;
    if (c->session) {
        c->start_url = profile_sso_session_get(x->store, c->session, "sso_start_url");
        c->region = profile_sso_session_get(x->store, c->session, "sso_region");
        if (!c->start_url || !c->region) {
            buf_printf(x->err, "profile \"%s\": sso_session \"%s\" needs an [sso-session %s] "
                       "section with sso_start_url and sso_region in the config file", profile,
                       c->session, c->session);
            return CREDS_FAIL;
        }
    } else {
        c->start_url = legacy_url;
        c->region = profile_get(x->store, profile, "sso_region");
    }
    if (!c->start_url || !c->region || !c->account || !c->role) {
        buf_printf(x->err, "profile \"%s\" is an SSO profile but lacks %s", profile,
                   !c->start_url ? "sso_start_url (or sso_session)" : !c->region ? "sso_region"
                   : !c->account ? "sso_account_id" : "sso_role_name");
        return CREDS_FAIL;
    }
    return CREDS_FOUND;
}

/* ~/.aws/sso/cache/<sha1 hex of key>.json */
static char *cache_path(const char *key)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    if (!EVP_Digest(key, strlen(key), md, &n, EVP_sha1(), NULL)) abort();
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    hash_hex(md, n, hex);
    char *dir = profile_expand_path("~/.aws/sso/cache");
    buf p = BUF_INIT;
    buf_printf(&p, "%s/%s.json", dir, hex);
    free(dir);
    return buf_detach(&p);
}

static const char *str_field(json_object *o, const char *key)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
        return NULL;
    const char *s = json_object_get_string(v);
    return *s ? s : NULL;
}

/* The cache's times: "2026-01-01T00:00:00Z" (or the older "...UTC"). */
static time_t cache_time(const char *s)
{
    if (!s) return -1;
    time_t t = clock_parse_iso8601(s);
    size_t n = strlen(s);
    if (t == -1 && n > 3 && strcmp(s + n - 3, "UTC") == 0) {
        char fixed[64];
        snprintf(fixed, sizeof fixed, "%.*sZ", (int)(n - 3), s);
        t = clock_parse_iso8601(fixed);
    }
    return t;
}

/* Replace path atomically with doc (mode 0600: it holds tokens). */
static int write_cache(const char *path, json_object *doc)
{
    buf tmp = BUF_INIT;
    buf_printf(&tmp, "%s.mighost-%ld", path, (long)getpid());
    const char *text = json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
    int fd = open(buf_str(&tmp), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0 && write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    if (fd >= 0 && close(fd) != 0) ok = 0;
    if (ok && rename(buf_str(&tmp), path) != 0) ok = 0;
    if (!ok) unlink(buf_str(&tmp));
    buf_free(&tmp);
    return ok ? 0 : -1;
}

static char *service_url(const aws_service *svc, const char *region, const char *path, buf *err)
{
    char *base = endpoint_resolve(svc, region, NULL, NULL, err);
    if (!base) return NULL;
    buf url = BUF_INIT;
    buf_printf(&url, "%s%s", base, path);
    free(base);
    return buf_detach(&url);
}

/* SSO OIDC CreateToken with the refresh token; on success the cached
 * document gets the new accessToken, expiresAt and refreshToken. */
static int refresh_token(creds_ctx *x, const sso_config *c, json_object *doc, buf *why)
{
    const char *client_id = str_field(doc, "clientId"), *secret = str_field(doc, "clientSecret");
    const char *refresh = str_field(doc, "refreshToken");
    time_t reg_exp = cache_time(str_field(doc, "registrationExpiresAt"));
    if (!client_id || !secret || !refresh) {
        buf_puts(why, "the cached token has no refresh token");
        return -1;
    }
    if (reg_exp != -1 && reg_exp <= x->now) {
        buf_puts(why, "the client registration has expired");
        return -1;
    }
    char *url = service_url(&sso_oidc, c->region, "/token", why);
    if (!url) return -1;
    json_object *req = json_object_new_object();
    json_object_object_add(req, "grantType", json_object_new_string("refresh_token"));
    json_object_object_add(req, "clientId", json_object_new_string(client_id));
    json_object_object_add(req, "clientSecret", json_object_new_string(secret));
    json_object_object_add(req, "refreshToken", json_object_new_string(refresh));
    const char *body = json_object_to_json_string_ext(req, JSON_C_TO_STRING_PLAIN);
    static const char *const headers[] = {"Content-Type: application/json"};
    fetch_request rq = {.method = "POST", .url = url, .headers = headers, .nheaders = 1,
                        .body = body, .body_len = strlen(body), .attempts = 2};
    fetch_response resp = {0, BUF_INIT};
    int rc = -1;
    json_object *ans = NULL;
    if (fetch(&rq, &resp, why) != 0) goto out;
    if (resp.status != 200) {
        buf_printf(why, "CreateToken answered HTTP %ld", resp.status);
        goto out;
    }
    ans = json_tokener_parse(buf_str(&resp.body));
    const char *token = str_field(ans, "accessToken");
    json_object *ein;
    if (!token || !json_object_object_get_ex(ans, "expiresIn", &ein) ||
        !json_object_is_type(ein, json_type_int) || json_object_get_int64(ein) <= 0) {
        buf_puts(why, "CreateToken answered without accessToken and expiresIn");
        goto out;
    }
    time_t expires = x->now + (time_t)json_object_get_int64(ein);
    char stamp[32];
    struct tm tm;
    gmtime_r(&expires, &tm);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tm);
    json_object_object_add(doc, "accessToken", json_object_new_string(token));
    json_object_object_add(doc, "expiresAt", json_object_new_string(stamp));
    const char *next = str_field(ans, "refreshToken");
    if (next) json_object_object_add(doc, "refreshToken", json_object_new_string(next));
    rc = 0;
out:
    if (resp.body.data) explicit_bzero(resp.body.data, resp.body.len);
    fetch_response_free(&resp);
    json_object_put(ans);
    json_object_put(req);
    free(url);
    return rc;
}

/* s percent-encoded for a query string (heap). */
static char *escaped(const char *s)
{
    char *e = curl_easy_escape(NULL, s, 0);
    if (!e) abort();
    char *copy = xstrdup(e);
    curl_free(e);
    return copy;
}

/* The portal's GetRoleCredentials for the cached token. */
static int role_credentials(creds_ctx *x, const char *profile, const sso_config *c,
                            const char *token, aws_creds *out)
{
    buf path = BUF_INIT, auth = BUF_INIT;
    char *account = escaped(c->account), *role = escaped(c->role);
    buf_printf(&path, "/federation/credentials?account_id=%s&role_name=%s", account, role);
    free(account);
    free(role);
    char *url = service_url(&sso_portal, c->region, buf_str(&path), x->err);
    buf_free(&path);
    if (!url) return CREDS_FAIL;
    buf_printf(&auth, "x-amz-sso_bearer_token: %s", token);
    const char *headers[] = {buf_str(&auth)};
    fetch_request rq = {.method = "GET", .url = url, .headers = headers, .nheaders = 1,
                        .attempts = 2};
    fetch_response resp = {0, BUF_INIT};
    int rc = CREDS_FAIL;
    json_object *doc = NULL;
    if (fetch(&rq, &resp, x->err) != 0) goto out;
    if (resp.status == 401 || resp.status == 403) {
        login_hint(x->err, profile, "was refused by the SSO portal (token expired or revoked)");
        goto out;
    }
    if (resp.status != 200) {
        buf_printf(x->err, "SSO GetRoleCredentials for profile \"%s\" (account %s, role %s) "
                   "answered HTTP %ld", profile, c->account, c->role, resp.status);
        goto out;
    }
    doc = json_tokener_parse(buf_str(&resp.body));
    json_object *rcj = NULL, *exp;
    if (doc) json_object_object_get_ex(doc, "roleCredentials", &rcj);
    const char *akid = str_field(rcj, "accessKeyId"), *secret = str_field(rcj, "secretAccessKey");
    const char *session = str_field(rcj, "sessionToken");
    if (!akid || !secret || !session || !json_object_object_get_ex(rcj, "expiration", &exp) ||
        !json_object_is_type(exp, json_type_int)) {
        buf_printf(x->err, "SSO GetRoleCredentials for profile \"%s\" answered without complete "
                   "roleCredentials", profile);
        goto out;
    }
    out->access_key_id = xstrdup(akid);
    out->secret_access_key = xstrdup(secret);
    out->session_token = xstrdup(session);
    out->expiration = (time_t)(json_object_get_int64(exp) / 1000);   /* milliseconds */
    out->source = "sso";
    rc = CREDS_FOUND;
out:
    if (resp.body.data) explicit_bzero(resp.body.data, resp.body.len);
    explicit_bzero(auth.data, auth.len);
    buf_free(&auth);
    fetch_response_free(&resp);
    json_object_put(doc);
    free(url);
    return rc;
}

int creds_from_sso(creds_ctx *x, const char *profile, aws_creds *out)
{
    sso_config c;
    int rc = read_config(x, profile, &c);
    if (rc != CREDS_FOUND) return rc;
    char *path = cache_path(c.session ? c.session : c.start_url);
    json_object *doc = json_object_from_file(path);
    const char *token = str_field(doc, "accessToken");
    time_t expires = cache_time(str_field(doc, "expiresAt"));
    rc = CREDS_FAIL;
    if (!token || expires == -1) {
        login_hint(x->err, profile, "has no cached token");
        goto out;
    }
    if (c.session && str_field(doc, "refreshToken") && expires - SSO_TOKEN_REFRESH_WINDOW <= x->now) {
        buf why = BUF_INIT;
        if (refresh_token(x, &c, doc, &why) == 0) {
            if (write_cache(path, doc) != 0)
                log_warn("could not update the SSO token cache %s: %s", path, strerror(errno));
            token = str_field(doc, "accessToken");
            expires = cache_time(str_field(doc, "expiresAt"));
        } else if (expires > x->now) {
            log_warn("could not renew the SSO token of profile \"%s\" (%s); using it until it "
                     "expires", profile, buf_str(&why));
        }
        buf_free(&why);
    }
    if (expires <= x->now) {
        login_hint(x->err, profile, "has expired");
        goto out;
    }
    rc = role_credentials(x, profile, &c, token, out);
out:
    json_object_put(doc);
    free(path);
    return rc;
}
