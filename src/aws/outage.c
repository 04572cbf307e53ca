/* outage.c - the waiting state of outage.h. */
#include "outage.h"

#include <stdio.h>
#include <string.h>

void outage_init(outage *o, double max_seconds)
{
    memset(o, 0, sizeof *o);
    o->max_seconds = max_seconds > 0 ? max_seconds : OUTAGE_DEFAULT_MAX;
    o->last_answer = -1e300;
}

int outage_kind(long http_status, transport_error t)
{
    if (t == TRANSPORT_CONNECT || t == TRANSPORT_RESET || t == TRANSPORT_TIMEOUT) return 1;
    return t == TRANSPORT_OK && (http_status == 502 || http_status == 503 || http_status == 504);
}

int outage_answer(outage *o, double now)
{
    o->last_answer = now;
    o->failures = 0;
    if (!o->waiting) return 0;
    o->waiting = 0;
    return 1;
}

int outage_failure(outage *o, double now, double wall, double sent_at, int giving_up,
                   const char *endpoint, const char *error)
{
    snprintf(o->last_error, sizeof o->last_error, "%s", error);
    if (o->waiting) return 1;
    if (o->gave_up) return 0;
    o->failures++;
    /* Something answered since this attempt went out: the endpoint is up
     * and this request is the problem; unless failures come in a flood
     * (the retry budget is spent: see outage.h). */
    if (o->last_answer >= sent_at && giving_up != OUTAGE_BUDGET_SPENT) return 0;
    if (o->failures < OUTAGE_AFTER && !giving_up) return 0;
    o->waiting = 1;
    o->since = now;
    o->since_wall = wall;
    o->delay = OUTAGE_FIRST_PROBE;
    o->next_try = now + o->delay;
    snprintf(o->endpoint, sizeof o->endpoint, "%s", endpoint);
    return 1;
}

double outage_left(const outage *o, double now)
{
    return o->since + o->max_seconds - now;
}

int outage_probe_failed(outage *o, double now, const char *error)
{
    snprintf(o->last_error, sizeof o->last_error, "%s", error);
    double left = outage_left(o, now);
    if (left <= 0) {
        o->waiting = 0;
        o->gave_up = 1;
        return -1;
    }
    o->delay *= 2;
    if (o->delay > OUTAGE_MAX_PROBE) o->delay = OUTAGE_MAX_PROBE;
    o->next_try = now + (o->delay < left ? o->delay : left);
    return 0;
}
