/* url.h - where a URL really goes, parsed by libcurl's own URL API so that
 * no spelling passes a check here and then connects somewhere else.
 *
 * The rule mighost keeps everywhere: https, or plain http to a loopback
 * host only (local test servers). */
#ifndef MIGHOST_URL_H
#define MIGHOST_URL_H

#include "buf.h"

/* 0 if url is an acceptable endpoint (https, or http to a loopback host),
 * -1 with a message otherwise. */
int url_check_endpoint(const char *url, buf *err);

/* 1 if the host libcurl would connect to for url is a loopback one. */
int url_is_loopback(const char *url);

/* 1 if host (no brackets, no port) is 127.0.0.0/8, ::1 or localhost. */
int url_host_is_loopback(const char *host);

#endif
