/* clock.c - time sources and the two date formats AWS sends. */
#include "clock.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

double clock_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

time_t clock_wall(void)
{
    return time(NULL);
}

time_t clock_parse_http_date(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (!end) return -1;
    return timegm(&tm);
}

time_t clock_parse_iso8601(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!p) return -1;
    if (*p == '.')
        for (p++; isdigit((unsigned char)*p); p++) {}
    time_t t = timegm(&tm);
    if (*p == 'Z' || *p == 'z' || *p == '\0') return t;
    if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2])) {
        int hours = (p[1] - '0') * 10 + (p[2] - '0'), minutes = 0;
        const char *m = p + 3;
        if (*m == ':') m++;
        if (isdigit((unsigned char)m[0]) && isdigit((unsigned char)m[1]))
            minutes = (m[0] - '0') * 10 + (m[1] - '0');
        long offset = hours * 3600L + minutes * 60L;
        return *p == '+' ? t - offset : t + offset;
    }
    return -1;
}
