/* aws.c - the call pipeline: queue -> pace -> sign -> send -> retry -> done. */
#include "aws.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws_error.h"
#include "clock.h"
#include "form.h"
#include "log.h"
#include "sigv4.h"
#include "url.h"

struct aws_client {
    aws_client_options opt;
    char *region;
    char *profile;
    char *endpoint_url;
    char **service_endpoints;     /* "id=url", NULL-terminated copy */
    char *profile_endpoint;       /* the profile's endpoint_url, or NULL */
    http_loop *loop;
    int owns_loop;
    creds_chain *creds;
    sigv4_key_cache *keys;
    rate_limiter rate;
    retry_budget budget;
    outage out;                   /* waiting out an endpoint that stopped answering */
    struct call *held_head, *held_tail;   /* calls waiting for the outage to end */
    struct call *probe;           /* the held call on the wire as the probe */
    int ticking;                  /* the outage timer is set */
    char gave_up[1024];           /* the message every call fails with after giving up */
    long skew;                    /* server time - local time, seconds */
    int in_flight;                /* calls holding a window slot */
    struct call *queue_head, *queue_tail;
    aws_stats stats;
    unsigned int rng;
};

typedef struct call {
    aws_client *client;
    const aws_service *svc;
    char *operation;
    char *method;
    char *url;                    /* base + path + ?query */
    char *host;                   /* Host header value */
    char *path;
    char *query;
    http_header *extra;           /* REST headers (deep copies) */
    size_t nextra;
    char *body;
    size_t body_len;
    long timeout_ms;
    int max_attempts;
    int attempts;
    int attempts_before;          /* attempts made before the last outage ended */
    int throttles;
    int refreshed;                /* expired-credentials retry used */
    int skew_fixed;               /* clock-skew retry used */
    double sent_at;               /* when the attempt on the wire was sent */
    double budget_taken;
    /* headers of the attempt on the wire */
    buf auth, target, ctype;
    char amz_date[17];
    char payload_hash[65];        /* S3: x-amz-content-sha256 */
    struct call *next;
    aws_done_fn done;
    void *ud;
} call;

void aws_client_options_default(aws_client_options *o)
{
    memset(o, 0, sizeof *o);
    o->max_in_flight = 256;
    o->adaptive_rate = 1;
    o->max_outage = OUTAGE_DEFAULT_MAX;
    retry_policy_default(&o->retry);
    http_options_default(&o->http);
}

aws_client *aws_client_new(const aws_client_options *opt, buf *err)
{
    if (opt->endpoint_url && url_check_endpoint(opt->endpoint_url, err) != 0) return NULL;
    size_t nsvc = 0;
    for (const char *const *p = opt->service_endpoints; p && *p; p++, nsvc++) {
        const char *eq = strchr(*p, '=');
        if (!eq) {
            buf sh = BUF_INIT;
            buf_printf(err, "invalid service endpoint '%s': expected SERVICE=URL", buf_shown(&sh, *p));
            buf_free(&sh);
            return NULL;
        }
        char *id = xstrndup(*p, (size_t)(eq - *p));
        int known = aws_service_find(id) != NULL;
        free(id);
        if (!known) {
            buf sh = BUF_INIT;
            buf_printf(err, "unknown service in '%s'", buf_shown(&sh, *p));
            buf_free(&sh);
            return NULL;
        }
        if (url_check_endpoint(eq + 1, err) != 0) return NULL;
    }

    aws_client *c = xcalloc(1, sizeof *c);
    c->opt = *opt;
    if (c->opt.max_in_flight <= 0) c->opt.max_in_flight = 256;
    if (c->opt.retry.max_attempts <= 0) retry_policy_default(&c->opt.retry);
    c->region = opt->region ? xstrdup(opt->region) : NULL;
    c->profile = opt->profile ? xstrdup(opt->profile) : NULL;
    c->endpoint_url = opt->endpoint_url ? xstrdup(opt->endpoint_url) : NULL;
    c->service_endpoints = xcalloc(nsvc + 1, sizeof(char *));
    for (size_t i = 0; i < nsvc; i++) c->service_endpoints[i] = xstrdup(opt->service_endpoints[i]);
    c->opt.region = c->region;
    c->opt.profile = c->profile;
    c->opt.endpoint_url = c->endpoint_url;
    c->opt.service_endpoints = (const char *const *)c->service_endpoints;

    http_options ho = opt->http;
    /* A connection per request in flight: with fewer, curl queues the rest
     * on the client, where they wait out of sight of the learnt windows. */
    if (ho.max_host_connections < c->opt.max_in_flight) ho.max_host_connections = c->opt.max_in_flight;
    if (ho.connect_timeout_ms <= 0) {
        http_options d;
        http_options_default(&d);
        ho.connect_timeout_ms = d.connect_timeout_ms;
        if (ho.request_timeout_ms <= 0) ho.request_timeout_ms = d.request_timeout_ms;
    }
    c->owns_loop = opt->loop == NULL;
    c->loop = c->owns_loop ? http_loop_new(&ho) : opt->loop;
    c->opt.loop = c->loop;
    c->profile_endpoint = creds_profile_value(c->profile, "endpoint_url");
    creds_options co = {c->profile, c->region, opt->credential_process_timeout};
    c->creds = creds_chain_new(&co);
    c->keys = sigv4_key_cache_new();
    rate_init(&c->rate);
    retry_budget_init(&c->budget, RETRY_BUDGET_CAPACITY);
    outage_init(&c->out, c->opt.max_outage);
    c->rng = (unsigned int)(clock_mono() * 1e6) ^ (unsigned int)getpid();
    return c;
}

void aws_client_free(aws_client *c)
{
    if (!c) return;
    if (c->owns_loop) http_loop_free(c->loop);
    free(c->profile_endpoint);
    creds_chain_free(c->creds);
    sigv4_key_cache_free(c->keys);
    for (char **p = c->service_endpoints; p && *p; p++) free(*p);
    free(c->service_endpoints);
    free(c->region);
    free(c->profile);
    free(c->endpoint_url);
    free(c);
}

http_loop *aws_client_loop(aws_client *c) { return c->loop; }
const aws_stats *aws_client_stats(const aws_client *c) { return &c->stats; }
const char *aws_client_region(const aws_client *c) { return c->region; }
const char *aws_client_profile(const aws_client *c) { return c->profile; }

aws_client *aws_client_derive(const aws_client *base, const char *profile, const char *region,
                              buf *err)
{
    aws_client_options o = base->opt;
    char *own_region = NULL;
    if (profile) o.profile = profile;
    if (region) o.region = region;
    else if (profile && (own_region = creds_profile_value(profile, "region"))) o.region = own_region;
    aws_client *c = aws_client_new(&o, err);
    free(own_region);
    return c;
}
void aws_client_run(aws_client *c) { http_loop_run(c->loop); }
void aws_client_set_interrupted(aws_client *c, int (*fn)(void)) { c->opt.interrupted = fn; }

int aws_client_credentials(aws_client *c, const aws_creds **out, buf *err)
{
    return creds_chain_get(c->creds, clock_wall(), out, err);
}

static double random_unit(aws_client *c)
{
    return (double)rand_r(&c->rng) / ((double)RAND_MAX + 1.0);
}

/* --- building a call ----------------------------------------------------- */

static const char *service_override(aws_client *c, const aws_service *svc)
{
    size_t n = strlen(svc->id);
    for (char **p = c->service_endpoints; *p; p++)
        if (strncmp(*p, svc->id, n) == 0 && (*p)[n] == '=') return *p + n + 1;
    return c->endpoint_url;
}

/* "https://host:port/base" -> host "host:port" and base path "/base". */
static void split_base(const char *base, char **host, const char **path)
{
    const char *h = strstr(base, "://");
    h = h ? h + 3 : base;
    size_t n = strcspn(h, "/");
    *host = xstrndup(h, n);
    *path = h + n;
}

static void call_free(call *k)
{
    free(k->operation);
    free(k->method);
    free(k->url);
    free(k->host);
    free(k->path);
    free(k->query);
    for (size_t i = 0; i < k->nextra; i++) {
        free((char *)k->extra[i].name);
        free((char *)k->extra[i].value);
    }
    free(k->extra);
    free(k->body);
    buf_free(&k->auth);
    buf_free(&k->target);
    buf_free(&k->ctype);
    free(k);
}

static void finish_call(call *k, const http_response *resp, int ok, const char *code,
                        const char *message, retry_class cls);
static void pump(aws_client *c);
static void fail_unreachable(call *k);

static void fail_early(aws_client *c, aws_done_fn done, void *ud, const char *code,
                       const char *message)
{
    aws_result r;
    memset(&r, 0, sizeof r);
    r.body = r.request_id = r.function_error = r.headers = "";
    r.code = code;
    r.message = message;
    c->stats.calls++;
    c->stats.failures++;
    done(&r, ud);
}

char *aws_client_endpoint(aws_client *c, const aws_service *svc, buf *err)
{
    return endpoint_resolve(svc, c->region, service_override(c, svc), c->profile_endpoint, err);
}

void aws_send(aws_client *c, const aws_request *req, aws_done_fn done, void *ud)
{
    buf err = BUF_INIT;
    char *base = aws_client_endpoint(c, req->svc, &err);
    if (!base) {
        fail_early(c, done, ud, "EndpointError", buf_str(&err));
        buf_free(&err);
        return;
    }
    call *k = xcalloc(1, sizeof *k);
    k->client = c;
    k->svc = req->svc;
    k->operation = xstrdup(req->operation ? req->operation : "");
    k->done = done;
    k->ud = ud;
    k->timeout_ms = req->timeout_ms;
    k->max_attempts = req->max_attempts > 0 ? req->max_attempts : c->opt.retry.max_attempts;

    const char *base_path;
    split_base(base, &k->host, &base_path);
    buf path = BUF_INIT, url = BUF_INIT, body = BUF_INIT;
    buf_puts(&path, base_path);
    int rest = req->svc->protocol == AWS_PROTO_REST_JSON || req->svc->protocol == AWS_PROTO_REST_XML;
    if (req->bucket && *req->bucket) {
        if (endpoint_s3_virtual_host(k->host, req->bucket)) {
            buf vhost = BUF_INIT;
            buf_printf(&vhost, "%s.%s", req->bucket, k->host);
            free(k->host);
            k->host = buf_detach(&vhost);
        } else {
            buf_putc(&path, '/');
            sigv4_uri_encode(&path, req->bucket, strlen(req->bucket), 0);
        }
    }
    if (rest) {
        k->method = xstrdup(req->method ? req->method : "POST");
        buf_puts(&path, req->path ? req->path : "/");
        k->query = req->query && *req->query ? xstrdup(req->query) : NULL;
        buf_append(&body, req->body, req->body_len);
        k->extra = xcalloc(req->nheaders + 1, sizeof *k->extra);
        for (size_t i = 0; i < req->nheaders; i++) {
            k->extra[i].name = xstrdup(req->headers[i].name);
            k->extra[i].value = xstrdup(req->headers[i].value);
        }
        k->nextra = req->nheaders;
    } else {
        k->method = xstrdup("POST");
        if (path.len == 0) buf_putc(&path, '/');
        if (req->svc->protocol == AWS_PROTO_QUERY) {
            form_add(&body, "Action", k->operation);
            form_add(&body, "Version", req->svc->api_version);
            if (req->body_len) {
                buf_putc(&body, '&');
                buf_append(&body, req->body, req->body_len);
            }
            buf_puts(&k->ctype, "application/x-www-form-urlencoded; charset=utf-8");
        } else {
            buf_printf(&k->target, "%s.%s", req->svc->target_prefix, k->operation);
            buf_puts(&k->ctype, req->svc->protocol == AWS_PROTO_JSON_1_0
                                    ? "application/x-amz-json-1.0"
                                    : "application/x-amz-json-1.1");
            if (req->body_len) buf_append(&body, req->body, req->body_len);
            else buf_puts(&body, "{}");
        }
    }
    if (rest && req->body_len)
        buf_puts(&k->ctype, req->svc->protocol == AWS_PROTO_REST_XML ? "application/xml"
                                                                    : "application/json");
    k->path = buf_detach(&path);
    buf_printf(&url, "%.*s%s%s%s%s", (int)(strstr(base, "://") + 3 - base), base, k->host,
               k->path, k->query ? "?" : "", k->query ? k->query : "");
    k->url = buf_detach(&url);
    k->body_len = body.len;
    k->body = buf_detach(&body);
    free(base);

    if (c->queue_tail) c->queue_tail->next = k;
    else c->queue_head = k;
    c->queue_tail = k;
    pump(c);
}

/* --- sending ------------------------------------------------------------- */

static void on_response(http_response *resp, void *ud);

static void send_attempt(void *ud)
{
    call *k = ud;
    aws_client *c = k->client;
    const aws_creds *cr;
    buf err = BUF_INIT;
    if (creds_chain_get(c->creds, clock_wall(), &cr, &err) != 0) {
        finish_call(k, NULL, 0, "CredentialsError", buf_str(&err), RETRY_NO);
        buf_free(&err);
        return;
    }

    sigv4_header hs[24];
    size_t n = 0;
    hs[n++] = (sigv4_header){"Host", k->host};
    if (k->ctype.len) hs[n++] = (sigv4_header){"Content-Type", buf_str(&k->ctype)};
    if (k->target.len) hs[n++] = (sigv4_header){"X-Amz-Target", buf_str(&k->target)};
    for (size_t i = 0; i < k->nextra && n < 20; i++)
        hs[n++] = (sigv4_header){k->extra[i].name, k->extra[i].value};

    sigv4_credentials sc = {cr->access_key_id, cr->secret_access_key, cr->session_token};
    sigv4_params p;
    memset(&p, 0, sizeof p);
    p.creds = &sc;
    p.region = c->region ? c->region : "us-east-1";
    p.service = k->svc->signing_name;
    p.when = clock_wall() + c->skew;
    /* S3 signs the path as sent and wants the payload's hash in a header. */
    int s3 = k->svc->protocol == AWS_PROTO_REST_XML;
    p.normalize_path = !s3;
    p.double_encode_path = !s3;
    p.sign_body = s3;
    sigv4_request sr = {k->method, k->path, k->query, hs, n, k->body, k->body_len, NULL};
    sigv4_result res;
    if (sigv4_sign_header(&sr, &p, c->keys, &res) != 0) {
        finish_call(k, NULL, 0, "SigningError", "the request could not be signed", RETRY_NO);
        return;
    }
    buf_reset(&k->auth);
    buf_puts(&k->auth, res.authorization);
    memcpy(k->amz_date, res.amz_date, sizeof k->amz_date);
    hs[n++] = (sigv4_header){"X-Amz-Date", k->amz_date};
    if (s3) {
        memcpy(k->payload_hash, res.payload_hash, sizeof k->payload_hash);
        hs[n++] = (sigv4_header){"x-amz-content-sha256", k->payload_hash};
    }
    if (sc.session_token && *sc.session_token)
        hs[n++] = (sigv4_header){"X-Amz-Security-Token", sc.session_token};
    hs[n++] = (sigv4_header){"Authorization", buf_str(&k->auth)};
    hs[n++] = (sigv4_header){"User-Agent", "mighost/" MIGHOST_VERSION};
    sigv4_result_free(&res);

    http_request hr = {k->method, k->url, (const http_header *)hs, n, k->body, k->body_len,
                       k->timeout_ms};
    k->attempts++;
    k->sent_at = clock_mono();
    c->stats.attempts++;
    c->stats.bytes_sent += k->body_len;
    http_submit(c->loop, &hr, on_response, k);
}

/* Takes a window slot and sends, after the adaptive rate's pacing delay. */
static void dispatch(call *k)
{
    aws_client *c = k->client;
    c->in_flight++;
    double wait = c->opt.adaptive_rate ? rate_acquire(&c->rate, clock_mono()) : 0.0;
    if (wait > 0) http_timer_add(c->loop, wait, send_attempt, k);
    else send_attempt(k);
}

static void pump(aws_client *c)
{
    if (c->out.waiting) return;   /* nothing new goes out while waiting */
    while (c->queue_head && c->out.gave_up) {
        call *k = c->queue_head;
        c->queue_head = k->next;
        if (!c->queue_head) c->queue_tail = NULL;
        fail_unreachable(k);
    }
    while (c->queue_head && c->in_flight < c->opt.max_in_flight) {
        call *k = c->queue_head;
        c->queue_head = k->next;
        if (!c->queue_head) c->queue_tail = NULL;
        k->next = NULL;
        dispatch(k);
    }
}

/* A retry goes to the front of the queue: it is older than what waits. */
static void requeue(void *ud)
{
    call *k = ud;
    aws_client *c = k->client;
    k->next = c->queue_head;
    c->queue_head = k;
    if (!c->queue_tail) c->queue_tail = k;
    pump(c);
}

/* --- outages (outage.h) --------------------------------------------------- */

static void wall_time_text(double wall, char out[16])
{
    time_t t = (time_t)wall;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 16, "%H:%M:%S", &tm);
}

/* A held call ends with the give-up message (it holds no window slot). */
static void fail_unreachable(call *k)
{
    k->client->in_flight++;
    finish_call(k, NULL, 0, "EndpointUnavailable", k->client->gave_up, RETRY_TRANSIENT);
}

static void give_up(aws_client *c, const char *why)
{
    c->out.waiting = 0;
    c->out.gave_up = 1;
    if (!c->gave_up[0])           /* the first reason stands */
        snprintf(c->gave_up, sizeof c->gave_up,
                 "%s did not answer for %.0f s (--max-outage %.0f)%s; last error: %s",
                 c->out.endpoint, clock_mono() - c->out.since, c->out.max_seconds, why,
                 c->out.last_error);
    while (c->held_head) {
        call *k = c->held_head;
        c->held_head = k->next;
        fail_unreachable(k);
    }
    c->held_tail = NULL;
    pump(c);                      /* fails what waits in the queue */
}

static void hold(call *k, int front)
{
    aws_client *c = k->client;
    c->in_flight--;
    k->next = NULL;
    if (front) {                  /* the probe goes back to the front */
        k->next = c->held_head;
        c->held_head = k;
        if (!c->held_tail) c->held_tail = k;
        return;
    }
    if (c->held_tail) c->held_tail->next = k;
    else c->held_head = k;
    c->held_tail = k;
}

/* Every second while waiting: Ctrl-C, the deadline, the next probe. */
static void outage_tick(void *ud)
{
    aws_client *c = ud;
    c->ticking = 0;
    if (!c->out.waiting) return;
    double now = clock_mono();
    if (c->opt.interrupted && c->opt.interrupted()) {
        give_up(c, " (interrupted while waiting)");
        return;
    }
    if (!c->probe && outage_left(&c->out, now) <= 0) {
        give_up(c, "");
        return;
    }
    if (!c->probe && now >= c->out.next_try) {
        call *k = c->held_head;
        if (k) {
            c->held_head = k->next;
            if (!c->held_head) c->held_tail = NULL;
        } else if ((k = c->queue_head)) {
            c->queue_head = k->next;
            if (!c->queue_head) c->queue_tail = NULL;
        }
        if (k) {
            k->next = NULL;
            c->probe = k;
            c->in_flight++;
            send_attempt(k);
        }
    }
    if (c->out.waiting && !c->ticking) {
        c->ticking = 1;
        double wait = c->out.next_try - now;
        http_timer_add(c->loop, wait > 1.0 ? 1.0 : wait > 0.01 ? wait : 0.01, outage_tick, c);
    }
}

static void say_waiting(aws_client *c)
{
    char since[16];
    wall_time_text(c->out.since_wall, since);
    log_warn("waiting for %s since %s, next try in %.0f s (%s)", c->out.endpoint, since,
             c->out.next_try - clock_mono() + 0.49, c->out.last_error);
}

/* An outage-kind failure of k; returns 1 if k is now held. */
static int outage_failed(call *k, int probe, int giving_up, const char *code,
                         const char *message)
{
    aws_client *c = k->client;
    char error[400];
    snprintf(error, sizeof error, "%s: %s", code, message);
    double now = clock_mono();
    if (probe) {
        hold(k, 1);
        /* (Given up meanwhile, by Ctrl-C: the probe fails with the rest.) */
        if (c->out.gave_up || outage_probe_failed(&c->out, now, error) != 0) give_up(c, "");
        else say_waiting(c);
        return 1;
    }
    int was_waiting = c->out.waiting;
    if (!outage_failure(&c->out, now, clock_wall(), k->sent_at, giving_up, k->host, error))
        return 0;
    hold(k, 0);
    if (!was_waiting) {
        say_waiting(c);
        outage_tick(c);
    }
    return 1;
}

/* The endpoint answered: everything held goes back to the front of the
 * queue, with a fresh retry allowance and budget, as if nothing happened. */
static void outage_over(aws_client *c)
{
    log_warn("%s answers again after %.0f s; carrying on", c->out.endpoint,
             clock_mono() - c->out.since);
    retry_budget_init(&c->budget, RETRY_BUDGET_CAPACITY);
    if (c->held_head) {
        for (call *k = c->held_head; k; k = k->next) k->attempts_before = k->attempts;
        c->held_tail->next = c->queue_head;
        if (!c->queue_head) c->queue_tail = c->held_tail;
        c->queue_head = c->held_head;
        c->held_head = c->held_tail = NULL;
    }
    c->probe = NULL;
}

const char *aws_client_gave_up(const aws_client *c)
{
    return c->out.gave_up ? c->gave_up : NULL;
}

int aws_client_waiting(const aws_client *c, aws_wait_info *out)
{
    if (!c->out.waiting) return 0;
    out->endpoint = c->out.endpoint;
    out->since_wall = c->out.since_wall;
    double next = c->out.next_try - clock_mono();
    out->next_try = next > 0 ? next : 0;
    out->last_error = c->out.last_error;
    return 1;
}

static void finish_call(call *k, const http_response *resp, int ok, const char *code,
                        const char *message, retry_class cls)
{
    aws_client *c = k->client;
    aws_result r;
    memset(&r, 0, sizeof r);
    r.ok = ok;
    r.status = resp ? resp->status : 0;
    r.body = resp && resp->body.data ? resp->body.data : "";
    r.body_len = resp ? resp->body.len : 0;
    r.code = code ? code : "";
    r.message = message ? message : "";
    r.request_id = resp ? resp->request_id : "";
    r.function_error = resp ? resp->function_error : "";
    r.headers = resp && resp->headers.data ? resp->headers.data : "";
    r.headers_len = resp ? resp->headers.len : 0;
    r.error_class = cls;
    r.attempts = k->attempts;
    r.throttles = k->throttles;
    r.outage = c->out.gave_up && code && strcmp(code, "EndpointUnavailable") == 0;
    if (c->probe == k) c->probe = NULL;
    c->in_flight--;
    c->stats.calls++;
    if (!ok) c->stats.failures++;
    if (!ok && code && *code)
        log_debug("%s %s failed after %d attempt(s): %s", k->svc->id, k->operation, k->attempts,
                  code);
    k->done(&r, k->ud);
    call_free(k);
    pump(c);
}

static void on_response(http_response *resp, void *ud)
{
    call *k = ud;
    aws_client *c = k->client;
    double now = clock_mono();
    c->stats.bytes_received += resp->body.len;
    int probe = c->probe == k;
    if (probe) c->probe = NULL;
    if (!outage_kind(resp->status, resp->transport) && outage_answer(&c->out, now))
        outage_over(c);

    if (resp->transport == TRANSPORT_OK && resp->status >= 200 && resp->status < 300) {
        if (c->opt.adaptive_rate) rate_on_success(&c->rate, now);
        retry_budget_success(&c->budget, k->budget_taken);
        k->budget_taken = 0;
        if (resp->function_error[0])
            finish_call(k, resp, 0, "FunctionError", resp->function_error, RETRY_NO);
        else
            finish_call(k, resp, 1, "", "", RETRY_NO);
        return;
    }

    buf code = BUF_INIT, message = BUF_INIT;
    if (resp->transport != TRANSPORT_OK) {
        buf_puts(&code, resp->transport == TRANSPORT_CRC ? "CRC32Mismatch"
                        : resp->transport == TRANSPORT_TIMEOUT ? "RequestTimeout"
                        : resp->transport == TRANSPORT_TOO_LARGE ? "ResponseTooLarge"
                                                                 : "NetworkError");
        buf_puts(&message, resp->error);
    } else {
        aws_error_parse(k->svc->protocol, resp, &code, &message);
    }
    retry_class cls = retry_classify(resp->status, resp->transport, buf_str(&code),
                                     buf_str(&message));
    int retry = cls != RETRY_NO && k->attempts - k->attempts_before < k->max_attempts;
    int budget_spent = 0;
    double delay = 0;
    switch (cls) {
    case RETRY_THROTTLE:
        c->stats.throttles++;
        k->throttles++;
        if (c->opt.adaptive_rate) rate_on_throttle(&c->rate, now, k->sent_at);
        break;
    case RETRY_TRANSIENT:
        c->stats.transient++;
        if (retry) {
            double cost = retry_budget_take(&c->budget, cls, resp->transport);
            if (cost < 0) {
                retry = 0;
                budget_spent = 1;
                buf_puts(&message, " (retry budget exhausted: the service keeps failing)");
            } else {
                k->budget_taken += cost;
            }
        }
        break;
    case RETRY_CLOCK_SKEW:
        if (k->skew_fixed || resp->date < 0) {
            retry = 0;
        } else {
            k->skew_fixed = 1;
            c->skew = (long)(resp->date - clock_wall());
            log_warn("clock skew: the local clock is off by %ld s from %s; signing with the "
                     "server's time", -c->skew, k->svc->id);
        }
        break;
    case RETRY_EXPIRED_CREDS:
        if (k->refreshed) {
            retry = 0;
        } else {
            const aws_creds *cr;
            buf err = BUF_INIT;
            k->refreshed = 1;
            if (creds_chain_refresh(c->creds, clock_wall(), &cr, &err) != 0) {
                retry = 0;
                buf_printf(&message, " (refreshing credentials failed: %s)", buf_str(&err));
            }
            buf_free(&err);
        }
        break;
    case RETRY_NO: break;
    }

    /* A call that must not be sent twice (max_attempts 1: not idempotent)
     * is never held and re-sent as a probe: it fails here. */
    if (k->max_attempts > 1 && outage_kind(resp->status, resp->transport) &&
        outage_failed(k, probe, retry ? 0 : budget_spent ? OUTAGE_BUDGET_SPENT : OUTAGE_ATTEMPTS_SPENT,
                      buf_str(&code), buf_str(&message))) {
        buf_free(&code);
        buf_free(&message);
        return;
    }
    if (retry) {
        if (cls != RETRY_CLOCK_SKEW && cls != RETRY_EXPIRED_CREDS)
            delay = retry_backoff(&c->opt.retry, cls, k->attempts, random_unit(c));
        c->stats.retries++;
        log_debug("%s %s: %s (%s), retry %d in %.0f ms", k->svc->id, k->operation,
                  buf_str(&code), retry_class_name(cls), k->attempts, delay * 1000);
        c->in_flight--;           /* free the slot while waiting */
        pump(c);
        http_timer_add(c->loop, delay, requeue, k);
    } else {
        finish_call(k, resp, 0, buf_str(&code), buf_str(&message), cls);
    }
    buf_free(&code);
    buf_free(&message);
}

/* --- Lambda -------------------------------------------------------------- */

void aws_lambda_invoke(aws_client *c, const char *function, const char *qualifier,
                       const char *invocation_type, const void *payload, size_t len,
                       int max_attempts, long timeout_ms, aws_done_fn done, void *ud)
{
    buf path = BUF_INIT, query = BUF_INIT;
    buf_puts(&path, "/2015-03-31/functions/");
    sigv4_uri_encode(&path, function, strlen(function), 0);
    buf_puts(&path, "/invocations");
    if (qualifier && *qualifier) {
        buf_puts(&query, "Qualifier=");
        sigv4_uri_encode(&query, qualifier, strlen(qualifier), 0);
    }
    http_header hs[1];
    size_t n = 0;
    if (invocation_type && *invocation_type)
        hs[n++] = (http_header){"X-Amz-Invocation-Type", invocation_type};
    aws_request req = {aws_service_find("lambda"), "Invoke", "POST", buf_str(&path),
                       query.len ? buf_str(&query) : NULL, hs, n, payload, len,
                       timeout_ms, max_attempts, NULL};
    aws_send(c, &req, done, ud);
    buf_free(&path);
    buf_free(&query);
}
