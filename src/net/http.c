/* http.c - libcurl multi event loop with timers. */
#include "http.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "clock.h"

typedef struct transfer {
    CURL *easy;
    struct curl_slist *headers;
    http_done_fn done;
    void *ud;
    http_response resp;
    size_t limit;
    int too_large;
    int has_crc32;
    unsigned long crc32;
    double started;
    char curl_error[CURL_ERROR_SIZE];
    struct transfer *next_free;
} transfer;

typedef struct timer {
    double when;
    unsigned long seq;    /* keeps equal deadlines in submission order */
    http_timer_fn fn;
    void *ud;
} timer;

struct http_loop {
    CURLM *multi;
    http_options opt;
    int running;          /* transfers in flight */
    int stop;
    transfer *free_list;
    timer *timers;        /* binary min-heap on (when, seq) */
    size_t ntimers, cap_timers;
    unsigned long timer_seq;
};

static int curl_ready;

void http_options_default(http_options *o)
{
    memset(o, 0, sizeof *o);
    o->connect_timeout_ms = 5000;
    o->request_timeout_ms = 60000;
    o->max_response_bytes = 64u << 20;
    o->max_host_connections = 64;
}

http_loop *http_loop_new(const http_options *opt)
{
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
    http_loop *loop = xcalloc(1, sizeof *loop);
    if (opt) loop->opt = *opt;
    else http_options_default(&loop->opt);
    loop->multi = curl_multi_init();
    long conns = loop->opt.max_host_connections > 0 ? loop->opt.max_host_connections : 64;
    curl_multi_setopt(loop->multi, CURLMOPT_MAX_HOST_CONNECTIONS, conns);
    curl_multi_setopt(loop->multi, CURLMOPT_MAXCONNECTS, conns + 8);
    return loop;
}

void http_loop_free(http_loop *loop)
{
    if (!loop) return;
    while (loop->free_list) {
        transfer *t = loop->free_list;
        loop->free_list = t->next_free;
        curl_easy_cleanup(t->easy);
        buf_free(&t->resp.body);
        buf_free(&t->resp.headers);
        free(t);
    }
    curl_multi_cleanup(loop->multi);
    free(loop->timers);
    free(loop);
}

/* --- response capture ---------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n;
    if (t->resp.body.len + len > t->limit) {
        t->too_large = 1;
        return 0;  /* aborts the transfer with CURLE_WRITE_ERROR */
    }
    buf_append(&t->resp.body, data, len);
    return len;
}

/* Copies a header's value, trimmed, if the line is "name: value". */
static int header_value(const char *line, size_t len, const char *name, char *out, size_t cap)
{
    size_t nlen = strlen(name);
    if (len <= nlen || line[nlen] != ':' || strncasecmp(line, name, nlen) != 0) return 0;
    const char *v = line + nlen + 1, *end = line + len;
    while (v < end && (*v == ' ' || *v == '\t')) v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' ')) end--;
    size_t n = (size_t)(end - v);
    if (n >= cap) n = cap - 1;
    memcpy(out, v, n);
    out[n] = '\0';
    return 1;
}

static size_t on_header(char *line, size_t size, size_t n, void *ud)
{
    transfer *t = ud;
    size_t len = size * n;
    http_response *r = &t->resp;
    char tmp[128];
    if (len > 5 && strncmp(line, "HTTP/", 5) == 0) {
        /* A new response (after a redirect or 100-continue) starts afresh. */
        r->request_id[0] = r->error_type[0] = r->function_error[0] = '\0';
        t->has_crc32 = 0;
        buf_reset(&r->headers);
        return len;
    }
    if (len > 2) buf_append(&r->headers, line, len);
    if (header_value(line, len, "x-amzn-RequestId", r->request_id, sizeof r->request_id) ||
        header_value(line, len, "x-amz-request-id", r->request_id, sizeof r->request_id) ||
        header_value(line, len, "x-amzn-ErrorType", r->error_type, sizeof r->error_type) ||
        header_value(line, len, "X-Amz-Function-Error", r->function_error,
                     sizeof r->function_error) ||
        header_value(line, len, "Content-Type", r->content_type, sizeof r->content_type))
        return len;
    if (header_value(line, len, "x-amz-crc32", tmp, sizeof tmp)) {
        t->has_crc32 = 1;
        t->crc32 = strtoul(tmp, NULL, 10);
    } else if (header_value(line, len, "Date", tmp, sizeof tmp)) {
        r->date = clock_parse_http_date(tmp);
    }
    return len;
}

/* --- transfers ----------------------------------------------------------- */

static transfer *transfer_get(http_loop *loop)
{
    transfer *t = loop->free_list;
    if (t) {
        loop->free_list = t->next_free;
        curl_easy_reset(t->easy);
    } else {
        t = xcalloc(1, sizeof *t);
        t->easy = curl_easy_init();
        if (!t->easy) {
            fprintf(stderr, "mighost: curl_easy_init failed\n");
            abort();
        }
    }
    buf_reset(&t->resp.body);
    buf_reset(&t->resp.headers);
    buf body = t->resp.body, headers = t->resp.headers;
    memset(&t->resp, 0, sizeof t->resp);
    t->resp.body = body;
    t->resp.headers = headers;
    t->resp.date = -1;
    t->too_large = t->has_crc32 = 0;
    t->curl_error[0] = '\0';
    return t;
}

static void transfer_put(http_loop *loop, transfer *t)
{
    curl_slist_free_all(t->headers);
    t->headers = NULL;
    /* Keep big bodies from pinning memory in the pool: every transfer ever
     * in flight stays in it, so bodies kept up to 1 MB (a Scan page) made
     * memory grow with the run, up to the widest window times a page.
     * Small answers (writes, updates, a batch of reads) keep their buffer. */
    if (t->resp.body.cap > (64u << 10)) buf_free(&t->resp.body);
    if (t->resp.headers.cap > (64u << 10)) buf_free(&t->resp.headers);
    t->next_free = loop->free_list;
    loop->free_list = t;
}

void http_submit(http_loop *loop, const http_request *req, http_done_fn done, void *ud)
{
    transfer *t = transfer_get(loop);
    t->done = done;
    t->ud = ud;
    t->limit = loop->opt.max_response_bytes ? loop->opt.max_response_bytes : (64u << 20);
    t->started = clock_mono();

    buf line = BUF_INIT;
    for (size_t i = 0; i < req->nheaders; i++) {
        buf_reset(&line);
        buf_printf(&line, "%s: %s", req->headers[i].name, req->headers[i].value);
        t->headers = curl_slist_append(t->headers, buf_str(&line));
    }
    /* No "Expect: 100-continue" round trip for large bodies. */
    t->headers = curl_slist_append(t->headers, "Expect:");
    if (req->body == NULL || req->body_len == 0)
        t->headers = curl_slist_append(t->headers, "Content-Type:");
    buf_free(&line);

    CURL *e = t->easy;
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (loop->opt.ca_file) curl_easy_setopt(e, CURLOPT_CAINFO, loop->opt.ca_file);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, loop->opt.connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                     req->timeout_ms > 0 ? req->timeout_ms : loop->opt.request_timeout_ms);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->curl_error);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, NULL);

    if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);   /* an answer without a body */
    } else {
        if (strcmp(req->method, "POST") != 0)
            curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    curl_multi_add_handle(loop->multi, e);
    loop->running++;
}

static transport_error classify_curl(CURLcode rc, int too_large)
{
    switch (rc) {
    case CURLE_OK: return TRANSPORT_OK;
    case CURLE_WRITE_ERROR: return too_large ? TRANSPORT_TOO_LARGE : TRANSPORT_OTHER;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: return TRANSPORT_CONNECT;
    case CURLE_OPERATION_TIMEDOUT: return TRANSPORT_TIMEOUT;
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM: return TRANSPORT_RESET;
    default: return TRANSPORT_OTHER;
    }
}

static void finish(http_loop *loop, CURL *easy, CURLcode rc)
{
    transfer *t = NULL;
    curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&t);
    curl_multi_remove_handle(loop->multi, easy);
    loop->running--;

    http_response *r = &t->resp;
    r->seconds = clock_mono() - t->started;
    r->transport = classify_curl(rc, t->too_large);
    if (r->transport == TRANSPORT_OK) {
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &r->status);
        if (t->has_crc32) {
            unsigned long crc = crc32(0L, (const Bytef *)r->body.data, (uInt)r->body.len);
            if (crc != t->crc32) {
                r->transport = TRANSPORT_CRC;
                snprintf(r->error, sizeof r->error,
                         "response body does not match x-amz-crc32 (%lu != %lu)", crc, t->crc32);
            }
        }
    } else if (r->transport == TRANSPORT_TOO_LARGE) {
        snprintf(r->error, sizeof r->error, "response larger than the %zu-byte limit", t->limit);
    } else {
        snprintf(r->error, sizeof r->error, "%s",
                 t->curl_error[0] ? t->curl_error : curl_easy_strerror(rc));
    }
    t->done(r, t->ud);
    transfer_put(loop, t);
}

/* --- timers -------------------------------------------------------------- */

static int timer_before(const timer *a, const timer *b)
{
    return a->when < b->when || (a->when == b->when && a->seq < b->seq);
}

void http_timer_add(http_loop *loop, double delay, http_timer_fn fn, void *ud)
{
    if (loop->ntimers == loop->cap_timers) {
        loop->cap_timers = loop->cap_timers ? loop->cap_timers * 2 : 64;
        loop->timers = xrealloc(loop->timers, loop->cap_timers * sizeof *loop->timers);
    }
    timer nt = {clock_mono() + (delay > 0 ? delay : 0), loop->timer_seq++, fn, ud};
    size_t i = loop->ntimers++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!timer_before(&nt, &loop->timers[parent])) break;
        loop->timers[i] = loop->timers[parent];
        i = parent;
    }
    loop->timers[i] = nt;
}

static timer timer_pop(http_loop *loop)
{
    timer top = loop->timers[0];
    timer last = loop->timers[--loop->ntimers];
    size_t i = 0, n = loop->ntimers;
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= n) break;
        if (child + 1 < n && timer_before(&loop->timers[child + 1], &loop->timers[child])) child++;
        if (!timer_before(&loop->timers[child], &last)) break;
        loop->timers[i] = loop->timers[child];
        i = child;
    }
    if (n) loop->timers[i] = last;
    return top;
}

static void run_due_timers(http_loop *loop)
{
    double now = clock_mono();
    /* Only timers already due when we start: a timer added by a callback
     * with zero delay runs on the next turn, so transfers are not starved. */
    size_t budget = loop->ntimers;
    while (budget-- > 0 && loop->ntimers && loop->timers[0].when <= now && !loop->stop) {
        timer t = timer_pop(loop);
        t.fn(t.ud);
    }
}

/* --- the loop ------------------------------------------------------------ */

int http_loop_step(http_loop *loop, int max_wait_ms)
{
    int wait = max_wait_ms;
    if (loop->ntimers) {
        double until = loop->timers[0].when - clock_mono();
        int ms = until <= 0 ? 0 : (int)(until * 1000.0) + 1;
        if (ms < wait) wait = ms;
    }
    if (loop->running) {
        curl_multi_poll(loop->multi, NULL, 0, wait, NULL);
    } else if (wait > 0) {
        struct timespec ts = {wait / 1000, (long)(wait % 1000) * 1000000L};
        nanosleep(&ts, NULL);
    }
    int still;
    curl_multi_perform(loop->multi, &still);
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(loop->multi, &left)) != NULL)
        if (msg->msg == CURLMSG_DONE) finish(loop, msg->easy_handle, msg->data.result);
    run_due_timers(loop);
    return loop->running + (int)loop->ntimers;
}

void http_loop_run(http_loop *loop)
{
    loop->stop = 0;
    while (!loop->stop && (loop->running || loop->ntimers)) http_loop_step(loop, 1000);
}

void http_loop_break(http_loop *loop)
{
    loop->stop = 1;
}

int http_loop_in_flight(const http_loop *loop)
{
    return loop->running;
}
