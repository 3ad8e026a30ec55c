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
 * time_days_from_civil / time_civil_from_days - proleptic Gregorian dates
 * as day counts from 1970-01-01 and back (Howard Hinnant's algorithms):
 * date arithmetic that no TZ setting can move. They can't fail.
 */
long time_days_from_civil(long y, int m, int d);
void time_civil_from_days(long z, int *y, int *m, int *d);

/*
 * time_shanghai_date - the Asia/Shanghai calendar date of ms since the
 * epoch as "YYYY-MM-DD" (UTC+8 all year: China has kept no daylight saving
 * since 1991). Returns out.
 */
char *time_shanghai_date(int64_t ms, char out[11]);

/* time_format_day - day number z (days from 1970-01-01) as "YYYY-MM-DD" into out; returns out */
char *time_format_day(long z, char out[11]);

/*
 * time_deadline - the CLOCK_REALTIME instant ms milliseconds from now, as
 * pthread_cond_timedwait wants it. This function can't fail.
 */
struct timespec;
void time_deadline(struct timespec *ts, int ms);

#endif
