/*
 * timeutil.h - clocks and RFC 3339 formatting.
 *
 * Wall-clock times are UTC; periods in Asia/Shanghai (UTC+8, no DST since
 * 1991) are computed by the database, which owns period arithmetic.
 */
#ifndef SHANTANG_UTIL_TIMEUTIL_H
#define SHANTANG_UTIL_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

/* time_now_ms - wall clock in milliseconds since the Unix epoch */
int64_t time_now_ms(void);

/* time_mono_ms - monotonic clock in milliseconds, for timeouts and back-off */
int64_t time_mono_ms(void);

/* time_rfc3339 - "2026-11-25T01:02:03.456Z" for ms since epoch into out (at least 32 bytes) */
char *time_rfc3339(int64_t ms, char *out, size_t outlen);

/* time_date_valid - 1 if s is a real calendar date "YYYY-MM-DD" (years 1900..2200) */
int time_date_valid(const char *s);

/*
 * time_deadline - the CLOCK_REALTIME instant ms milliseconds from now, as
 * pthread_cond_timedwait wants it. This function can't fail.
 */
struct timespec;
void time_deadline(struct timespec *ts, int ms);

#endif
