/* clock.h - time sources. Monotonic seconds for scheduling; wall time for
 * signing, corrected by the offset learnt from the server's Date header. */
#ifndef MIGHOST_CLOCK_H
#define MIGHOST_CLOCK_H

#include <time.h>

double clock_mono(void);           /* seconds, monotonic */
time_t clock_wall(void);           /* UTC seconds */
/* Parse an HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT"); -1 if invalid. */
time_t clock_parse_http_date(const char *s);
/* Parse ISO 8601 "2026-11-22T06:00:00Z" (fraction and +00:00 accepted); -1 if invalid. */
time_t clock_parse_iso8601(const char *s);

#endif
