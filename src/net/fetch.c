/* fetch.c - one blocking HTTP request on a libcurl easy handle. */
#include "fetch.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "url.h"

#ifndef MIGHOST_VERSION
#define MIGHOST_VERSION "dev"
#endif

typedef struct sink {
    buf *body;
    size_t max;
    int too_big;
} sink;

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    size_t len = size * n;
    if (s->body->len + len > s->max) {
        s->too_big = 1;
        return 0;   /* anything short of len makes curl abort the transfer */
    }
    buf_append(s->body, data, len);
    return len;
}

void fetch_describe_url(buf *out, const char *url)
{
    const char *sep = strstr(url, "://");
    const char *auth = sep ? sep + 3 : url;
    const char *auth_end = auth + strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth_end; p++)
        if (*p == '@') at = p;
    buf_append(out, url, (size_t)(auth - url));
    if (at) auth = at + 1;
    buf_append(out, auth, (size_t)(auth_end - auth));
    buf_append(out, auth_end, strcspn(auth_end, "?#"));
}

static void pause_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int fetch(const fetch_request *req, fetch_response *resp, buf *err)
{
    memset(resp, 0, sizeof *resp);
    CURL *h = curl_easy_init();
    if (!h) {
        buf_puts(err, "cannot initialise libcurl");
        return -1;
    }
    struct curl_slist *hdrs = NULL;
    for (size_t i = 0; i < req->nheaders; i++) hdrs = curl_slist_append(hdrs, req->headers[i]);
    hdrs = curl_slist_append(hdrs, "Expect:");   /* no 100-continue round trip */

    sink s = {&resp->body, req->max_response ? req->max_response : FETCH_DEFAULT_MAX_RESPONSE, 0};
    char errbuf[CURL_ERROR_SIZE];
    const char *method = req->method ? req->method : "GET";

    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);   /* a redirect could leave loopback */
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "mighost/" MIGHOST_VERSION);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 5000L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, req->timeout_ms > 0 ? req->timeout_ms : 30000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    /* Loopback endpoints are never reached through a proxy. */
    if (req->direct || url_is_loopback(req->url)) curl_easy_setopt(h, CURLOPT_NOPROXY, "*");
    if (strcmp(method, "GET") == 0) {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    } else {
        /* POSTFIELDS with an explicit size sends Content-Length even for an
         * empty PUT, which IMDS expects. */
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)req->body_len);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        if (strcmp(method, "POST") != 0) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
    }

    int attempts = req->attempts > 0 ? req->attempts : 1, rc = -1;
    CURLcode cc = CURLE_OK;
    for (int i = 0; i < attempts; i++) {
        if (i > 0) pause_ms(100L * i);
        buf_reset(&resp->body);
        resp->status = 0;
        s.too_big = 0;
        errbuf[0] = '\0';
        cc = curl_easy_perform(h);
        if (cc == CURLE_OK) {
            curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
            rc = 0;
            if (resp->status < 500) break;
        } else {
            rc = -1;
            if (s.too_big) break;
        }
    }
    if (rc != 0) {
        buf_printf(err, "%s ", method);
        fetch_describe_url(err, req->url);
        if (s.too_big)
            buf_printf(err, ": the response is larger than %zu bytes", s.max);
        else
            buf_printf(err, ": %s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return rc;
}

void fetch_response_free(fetch_response *resp)
{
    buf_free(&resp->body);
    resp->status = 0;
}
