/* creds_http.c - credentials from the machine mighost runs on: the ECS /
 * EKS Pod Identity container endpoint and EC2's instance metadata (IMDSv2).
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "creds_int.h"
#include "endpoint.h"
#include "fetch.h"
#include "log.h"
#include "url.h"

#define ECS_HOST "http://169.254.170.2"
#define IMDS_V4 "http://169.254.169.254"
#define IMDS_V6 "http://[fd00:ec2::254]"
#define IMDS_ROLE_PATH "/latest/meta-data/iam/security-credentials/"

/* Plain http is only trusted to the loopback and the link-local addresses
 * the ECS agent and EKS Pod Identity agent listen on: anything else could
 * be a stranger harvesting the authorization token. */
static int container_host_allowed(const char *host)
{
    static const char *const allowed[] = {"169.254.170.2", "169.254.170.23", "fd00:ec2::23"};
    if (url_host_is_loopback(host)) return 1;
    unsigned char want[16], got[16];
    int fam = strchr(host, ':') ? AF_INET6 : AF_INET;
    if (inet_pton(fam, host, got) != 1) return 0;
    for (size_t i = 0; i < sizeof allowed / sizeof *allowed; i++)
        if ((strchr(allowed[i], ':') ? AF_INET6 : AF_INET) == fam &&
            inet_pton(fam, allowed[i], want) == 1 &&
            memcmp(want, got, fam == AF_INET6 ? 16 : 4) == 0)
            return 1;
    return 0;
}

static int check_full_uri(const char *uri, buf *err)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int ok = 0;
    if (u && curl_url_set(u, CURLUPART_URL, uri, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        size_t n = strlen(host);
        if (n > 2 && host[0] == '[') {   /* IPv6 literal */
            memmove(host, host + 1, n - 2);
            host[n - 2] = '\0';
        }
        ok = strcasecmp(scheme, "https") == 0 ||
             (strcasecmp(scheme, "http") == 0 && container_host_allowed(host));
    }
    if (!ok) {
        buf_puts(err, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be an https URL, or http to a "
                      "loopback address, 169.254.170.2, 169.254.170.23 or [fd00:ec2::23]; got ");
        fetch_describe_url(err, uri);
    }
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return ok ? 0 : -1;
}

/* The Authorization value: the token file wins (it is rotated, so it is
 * read at every fetch), then the variable. NULL with *failed on error. */
static char *container_token(buf *err, int *failed)
{
    *failed = 0;
    char *token = NULL;
    const char *file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *value = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    if (file && *file) {
        token = creds_read_token_file(file, "container authorization token", err);
        if (!token) *failed = 1;
    } else if (value && *value) {
        token = xstrdup(value);
    }
    if (token && strpbrk(token, "\r\n")) {
        buf_puts(err, "the container authorization token contains a line break");
        explicit_bzero(token, strlen(token));
        free(token);
        token = NULL;
        *failed = 1;
    }
    return token;
}

int creds_from_container(creds_ctx *x, aws_creds *out)
{
    const char *rel = getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
    const char *full = getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI");
    buf url = BUF_INIT, auth = BUF_INIT, err = BUF_INIT;
    fetch_response resp = {0, BUF_INIT};
    int rc = CREDS_FAIL, failed;
    char *token = NULL;
    if (rel && *rel) {
        buf_printf(&url, "%s%s%s", ECS_HOST, rel[0] == '/' ? "" : "/", rel);
    } else if (full && *full) {
        if (check_full_uri(full, &err) != 0) goto out;
        buf_puts(&url, full);
    } else {
        return CREDS_NONE;
    }
    token = container_token(&err, &failed);
    if (failed) goto out;
    const char *headers[2] = {"Accept: application/json", NULL};
    size_t nh = 1;
    if (token) {
        buf_printf(&auth, "Authorization: %s", token);
        headers[nh++] = buf_str(&auth);
    }
    fetch_request rq = {.method = "GET", .url = buf_str(&url), .headers = headers,
                        .nheaders = nh, .connect_timeout_ms = 2000, .timeout_ms = 5000,
                        .attempts = 3, .direct = 1};
    if (fetch(&rq, &resp, &err) != 0) goto out;
    if (resp.status != 200) {
        buf_printf(&err, "HTTP %ld from ", resp.status);
        fetch_describe_url(&err, buf_str(&url));
        if (resp.status == 401 || resp.status == 403)
            buf_puts(&err, " (check AWS_CONTAINER_AUTHORIZATION_TOKEN[_FILE])");
        goto out;
    }
    rc = creds_from_json(buf_str(&resp.body), resp.body.len, "Token",
                         "the container credentials endpoint", NULL, out, &err);
    if (rc == CREDS_FOUND) out->source = "container";
out:
    if (rc != CREDS_FOUND) {
        creds_redact(&err, 0, token);
        buf_printf(x->err, "Cannot load container credentials: %s", buf_str(&err));
        rc = CREDS_FAIL;
    }
    if (token) explicit_bzero(token, strlen(token));
    if (auth.data) explicit_bzero(auth.data, auth.len);
    if (resp.body.data) explicit_bzero(resp.body.data, resp.body.len);
    free(token);
    fetch_response_free(&resp);
    buf_free(&url);
    buf_free(&auth);
    buf_free(&err);
    return rc;
}

/* One IMDS request with the instance's short timeouts: a laptop without
 * IMDS must not wait. */
static int imds_fetch(const char *method, const char *url, const char *header,
                      fetch_response *resp, buf *err)
{
    const char *headers[1] = {header};
    fetch_request rq = {.method = method, .url = url, .headers = headers,
                        .nheaders = header ? 1 : 0, .connect_timeout_ms = 1000,
                        .timeout_ms = 2000, .attempts = 2, .max_response = 64 * 1024,
                        .direct = 1};
    return fetch(&rq, resp, err);
}

static int valid_role_name(const char *s, size_t n)
{
    if (n == 0 || n > 128) return 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr("+=,.@_-", s[i]) && !((s[i] >= 'a' && s[i] <= 'z') ||
                                          (s[i] >= 'A' && s[i] <= 'Z') ||
                                          (s[i] >= '0' && s[i] <= '9')))
            return 0;
    return 1;
}

int creds_from_imds(creds_ctx *x, aws_creds *out)
{
    (void)x;
    if (creds_env_true("AWS_EC2_METADATA_DISABLED")) return CREDS_NONE;
    const char *base = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    if (!base || !*base) {
        const char *mode = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE");
        base = mode && strcasecmp(mode, "IPv6") == 0 ? IMDS_V6 : IMDS_V4;
    }
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/') blen--;

    buf url = BUF_INIT, tok_hdr = BUF_INIT, err = BUF_INIT;
    fetch_response resp = {0, BUF_INIT};
    int rc = CREDS_NONE;
    /* IMDS failures are "not on EC2", as for the CLI: the chain ends with
     * its usual message and the reason is logged at debug. */
    buf_printf(&url, "%.*s/latest/api/token", (int)blen, base);
    if (imds_fetch("PUT", buf_str(&url), "X-aws-ec2-metadata-token-ttl-seconds: 21600",
                   &resp, &err) != 0)
        goto out;
    if (resp.status == 200 && resp.body.len > 0 && !strpbrk(buf_str(&resp.body), "\r\n")) {
        buf_printf(&tok_hdr, "X-aws-ec2-metadata-token: %s", buf_str(&resp.body));
    } else if ((resp.status == 403 || resp.status == 404 || resp.status == 405) &&
               !creds_env_true("AWS_EC2_METADATA_V1_DISABLED")) {
        /* No IMDSv2 here: IMDSv1, as the CLI does unless told not to. */
    } else {
        buf_printf(&err, "IMDS token request answered HTTP %ld", resp.status);
        goto out;
    }
    const char *hdr = tok_hdr.len ? buf_str(&tok_hdr) : NULL;

    buf_reset(&url);
    buf_printf(&url, "%.*s%s", (int)blen, base, IMDS_ROLE_PATH);
    fetch_response_free(&resp);
    if (imds_fetch("GET", buf_str(&url), hdr, &resp, &err) != 0) goto out;
    const char *role = buf_str(&resp.body);
    size_t rlen = strcspn(role, "\r\n");
    if (resp.status != 200 || !valid_role_name(role, rlen)) {
        buf_printf(&err, "no IAM role on this instance (HTTP %ld)", resp.status);
        goto out;
    }
    buf_append(&url, role, rlen);
    fetch_response_free(&resp);
    if (imds_fetch("GET", buf_str(&url), hdr, &resp, &err) != 0) goto out;
    if (resp.status != 200) {
        buf_printf(&err, "HTTP %ld from the role credentials path", resp.status);
        goto out;
    }
    if (creds_from_json(buf_str(&resp.body), resp.body.len, "Token", "IMDS", NULL, out,
                        &err) == CREDS_FOUND) {
        out->source = "imds";
        rc = CREDS_FOUND;
    }
out:
    if (rc != CREDS_FOUND) log_debug("no credentials from EC2 instance metadata: %s", buf_str(&err));
    if (tok_hdr.data) explicit_bzero(tok_hdr.data, tok_hdr.len);
    if (resp.body.data) explicit_bzero(resp.body.data, resp.body.len);
    fetch_response_free(&resp);
    buf_free(&url);
    buf_free(&tok_hdr);
    buf_free(&err);
    return rc;
}
