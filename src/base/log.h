/* log.h - leveled logging to stderr, as text or JSON lines.
 *
 * Nothing secret is ever passed here: callers log key ids at most, never
 * secret keys or tokens. */
#ifndef MIGHOST_LOG_H
#define MIGHOST_LOG_H

typedef enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG } log_level;

void log_set_level(log_level level);
log_level log_get_level(void);
void log_set_json(int on);
int log_is_json(void);
/* Accepts error|warn|warning|info|debug (any case). -1 if unknown. */
int log_parse_level(const char *name);

void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)

#endif
