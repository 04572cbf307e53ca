/* url.c - endpoint URL checks over curl_url(). */
#include "url.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <string.h>
#include <strings.h>

int url_host_is_loopback(const char *host)
{
    if (strcasecmp(host, "localhost") == 0) return 1;
    struct in_addr v4;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    struct in6_addr v6;
    if (inet_pton(AF_INET6, host, &v6) == 1)
        return memcmp(&v6, &in6addr_loopback, sizeof v6) == 0;
    return 0;
}

int url_is_loopback(const char *url)
{
    CURLU *u = curl_url();
    char *host = NULL;
    int loop = 0;
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        size_t n = strlen(host);
        if (n > 2 && host[0] == '[' && host[n - 1] == ']') {
            host[n - 1] = '\0';
            loop = url_host_is_loopback(host + 1);
        } else {
            loop = url_host_is_loopback(host);
        }
    }
    curl_free(host);
    curl_url_cleanup(u);
    return loop;
}

/* The URL as libcurl will use it: the same parser decides where the
 * connection goes, so no spelling can pass this check and reach another
 * host. Userinfo is refused outright ("http://127.0.0.1:1@10.0.0.5/"
 * connects to 10.0.0.5), and so is a port curl would not accept. */
int url_check_endpoint(const char *url, buf *err)
{
    buf sh = BUF_INIT;
    const char *shown = buf_shown(&sh, url);
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *user = NULL, *password = NULL;
    int rc = -1;
    if (!u) {
        buf_puts(err, "out of memory parsing an endpoint URL");
        buf_free(&sh);
        return -1;
    }
    CURLUcode cc = strstr(url, "://") ? curl_url_set(u, CURLUPART_URL, url, 0) : CURLUE_BAD_SCHEME;
    if (cc == CURLUE_BAD_PORT_NUMBER) {
        buf_printf(err, "invalid endpoint URL '%s': the port must be a number from 1 to 65535",
                   shown);
        goto done;
    }
    if (cc != CURLUE_OK || curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || host[0] == '\0') {
        buf_printf(err, "invalid endpoint URL '%s': expected https://host[:port]", shown);
        goto done;
    }
    if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_PASSWORD, &password, 0) == CURLUE_OK) {
        buf_puts(err, "invalid endpoint URL: it holds a user name or password before '@'; "
                      "give only scheme://host[:port]");
        goto done;
    }
    char *extra = NULL;
    if (curl_url_get(u, CURLUPART_QUERY, &extra, 0) == CURLUE_OK ||
        curl_url_get(u, CURLUPART_FRAGMENT, &extra, 0) == CURLUE_OK) {
        curl_free(extra);
        buf_printf(err, "invalid endpoint URL '%s': no '?' or '#' part is allowed", shown);
        goto done;
    }
    char *port = NULL;
    if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK && strcmp(port, "0") == 0) {
        curl_free(port);
        buf_printf(err, "invalid endpoint URL '%s': the port must be a number from 1 to 65535",
                   shown);
        goto done;
    }
    curl_free(port);
    if (strcmp(scheme, "https") == 0) {
        rc = 0;
    } else if (strcmp(scheme, "http") == 0) {
        if (url_is_loopback(url)) rc = 0;
        else
            buf_printf(err, "refusing plain http to '%.200s': http is allowed only for loopback "
                            "endpoints (127.0.0.1, ::1, localhost); use https", host);
    } else {
        buf_printf(err, "invalid endpoint URL '%s': the scheme must be https (or http for "
                        "loopback)", shown);
    }
done:
    curl_free(scheme);
    curl_free(host);
    curl_free(user);
    curl_free(password);
    curl_url_cleanup(u);
    buf_free(&sh);
    return rc;
}
