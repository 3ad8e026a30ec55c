/*
 * suggestion_calendar.h - China's working-day calendar, for proposal due
 * dates counted in working days.
 *
 * The calendar is data: schemas/data/holidays.csv (columns date,kind,name;
 * its header comments cite the State Council notice of every year shipped).
 * kind "holiday" is a day off even on a weekday (放假); kind "workday" is a
 * Saturday or Sunday that is a make-up working day (调休上班). Every other
 * Monday to Friday is a working day and every other Saturday and Sunday is
 * not.
 *
 * Trusts nothing in the file: every line is checked when it is loaded
 * (date YYYY-MM-DD and a real date of 1900..2200, kind holiday or workday,
 * a workday on a Saturday or Sunday, a non-empty name, no date twice, the
 * header line date,kind,name first); lines starting with '#' and blank
 * lines are comments. The first bad line fails the load, and the error
 * names it ("<path> line 31: ...").
 *
 * Coverage: a year is covered when the file has at least one holiday row
 * in it (every year has New Year's Day). Outside the covered years the
 * calendar does not know the holidays, so it refuses to answer rather than
 * guess from weekdays: sugcal_is_workday() returns -1, and
 * sugcal_add_workdays() and sugcal_workdays_between() fail as soon as the
 * days they must look at leave the covered years. Ship the next year's
 * rows when the State Council publishes them (each November).
 *
 * Dates are civil dates with no time of day and no time zone: arithmetic is
 * integer days from 1970-01-01 (days-from-civil), never mktime() or
 * localtime(), so the machine's TZ cannot move a due date. The caller
 * decides what "today" is in Asia/Shanghai. Reads no configuration; the
 * caller passes the path. Reports through return values and the caller's
 * error buffer only.
 */
#ifndef SHANTANG_SUGGESTION_CALENDAR_H
#define SHANTANG_SUGGESTION_CALENDAR_H

#include <limits.h>
#include <stddef.h>

/* A loaded calendar; opaque. Immutable once loaded, so threads may share one. */
typedef struct sugcal sugcal;

/* What sugcal_workdays_between() returns when it cannot answer. */
#define SUGCAL_ERROR INT_MIN

/*
 * sugcal_load - read and check the calendar file at path. Returns a
 * calendar owned by the caller (free with sugcal_free), or NULL with the
 * reason in err (errlen bytes): the file cannot be read, a line is bad
 * (named by number), or it holds no holiday rows.
 */
sugcal *sugcal_load(const char *path, char *err, size_t errlen);

/* sugcal_free - release c (NULL is fine). Returns NULL, for c = sugcal_free(c). */
sugcal *sugcal_free(sugcal *c);

/* sugcal_covers - 1 if the calendar holds year's holidays, else 0 */
int sugcal_covers(const sugcal *c, int year);

/*
 * sugcal_is_workday - 1 if y-m-d is a working day (Monday to Friday unless
 * a holiday; Saturday or Sunday only if a make-up workday), 0 if not, -1 if
 * it is not a real date or its year is not covered.
 */
int sugcal_is_workday(const sugcal *c, int y, int m, int d);

/*
 * sugcal_add_workdays - the date n working days after from ("YYYY-MM-DD"),
 * counting from the day after from: with n = 1 the first working day after
 * from, whatever from itself is. n = 0 gives from itself. Writes the date
 * to out ("YYYY-MM-DD" and NUL) and returns 0; returns -1 (out untouched)
 * for a malformed from, a negative n, or when a day to be counted lies in a
 * year the calendar does not cover.
 */
int sugcal_add_workdays(const sugcal *c, const char *from_yyyy_mm_dd, int n, char out[11]);

/*
 * sugcal_workdays_between - the number of working days d with a < d <= b
 * ("YYYY-MM-DD" both), so that sugcal_add_workdays(a, n) = b gives n when
 * b is a working day; 0 when a equals b; minus the count for (b, a] when b
 * is before a (how many working days overdue, read the other way round).
 * SUGCAL_ERROR for a malformed date or a day outside the covered years.
 */
int sugcal_workdays_between(const sugcal *c, const char *a, const char *b);

#endif
