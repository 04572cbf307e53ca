/* log.c - leveled logging to stderr. */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "buf.h"

static log_level current = LOG_INFO;
static int as_json;

static const char *const names[] = {"error", "warn", "info", "debug"};

void log_set_level(log_level level) { current = level; }
log_level log_get_level(void) { return current; }
void log_set_json(int on) { as_json = on; }
int log_is_json(void) { return as_json; }

int log_parse_level(const char *name)
{
    if (!name) return -1;
    if (strcasecmp(name, "warning") == 0) return LOG_WARN;
    if (strcasecmp(name, "critical") == 0) return LOG_ERROR;
    for (int i = 0; i < 4; i++)
        if (strcasecmp(name, names[i]) == 0) return i;
    return -1;
}

static void json_escape(buf *out, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            buf_putc(out, '\\');
            buf_putc(out, (char)c);
        } else if (c == '\n') {
            buf_puts(out, "\\n");
        } else if (c < 0x20) {
            buf_printf(out, "\\u%04x", c);
        } else {
            buf_putc(out, (char)c);
        }
    }
}

void log_msg(log_level level, const char *fmt, ...)
{
    if (level > current) return;
    buf msg = BUF_INIT, line = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&msg, fmt, ap);
    va_end(ap);

    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char stamp[32];
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);

    if (as_json) {
        buf_printf(&line, "{\"time\":\"%s.%03dZ\",\"level\":\"%s\",\"msg\":\"", stamp,
                   (int)(tv.tv_usec / 1000), names[level]);
        json_escape(&line, buf_str(&msg));
        buf_puts(&line, "\"}\n");
    } else {
        buf_printf(&line, "%s %-5s %s\n", stamp + 11, names[level], buf_str(&msg));
    }
    fputs(buf_str(&line), stderr);
    buf_free(&msg);
    buf_free(&line);
}
