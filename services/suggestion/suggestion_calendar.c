/*
 * suggestion_calendar.c - the working-day calendar loaded from
 * holidays.csv; see suggestion_calendar.h for the file, the checks and
 * what coverage means.
 *
 * Dates are held as days since 1970-01-01 (time_days_from_civil and its
 * inverse, after Howard Hinnant's "chrono-Compatible Low-Level Date
 * Algorithms"): exact for every proleptic Gregorian date and independent of
 * the time zone. The special days are one array sorted by day, searched by
 * bisection; covered years are flags over 1900..2200.
 */
#include "suggestion_calendar.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/csv.h"
#include "util/timeutil.h"

#define YEAR_MIN 1900
#define YEAR_MAX 2200

enum { KIND_HOLIDAY = 'h', KIND_WORKDAY = 'w' };

/* One date that differs from the plain Monday-to-Friday week. */
typedef struct sugcal_day {
    long day;  /* days since 1970-01-01 */
    char kind; /* KIND_HOLIDAY or KIND_WORKDAY */
    int line;  /* line of the file it came from, for duplicate errors */
} sugcal_day;

struct sugcal {
    sugcal_day *days;                               /* sorted by day, no day twice */
    size_t ndays;                                   /* used entries of days */
    size_t cap;                                     /* allocated entries of days */
    unsigned char covered[YEAR_MAX - YEAR_MIN + 1]; /* 1 for a year with a holiday row */
};

/* weekday - 0 Sunday .. 6 Saturday of a day number (1970-01-01 was a Thursday) */
static int weekday(long z)
{
    return (int)(((z % 7) + 7 + 4) % 7);
}

/* days_in_month - the length of month m of year y */
static int days_in_month(int y, int m)
{
    static const int len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : len[m - 1];
}

/* date_valid - 1 if y-m-d is a real date in the years the calendar can hold */
static int date_valid(int y, int m, int d)
{
    return y >= YEAR_MIN && y <= YEAR_MAX && m >= 1 && m <= 12 && d >= 1 &&
           d <= days_in_month(y, m);
}

/* parse_date - "YYYY-MM-DD" exactly, a real date, to its day number; -1 if not */
static int parse_date(const char *s, long *day)
{
    int v[3] = {0, 0, 0};
    static const int width[3] = {4, 2, 2};
    const char *p = s;

    if (!s || strlen(s) != 10)
        return -1;
    for (int f = 0; f < 3; f++) {
        for (int i = 0; i < width[f]; i++, p++) {
            if (*p < '0' || *p > '9')
                return -1;
            v[f] = v[f] * 10 + (*p - '0');
        }
        if (f < 2 && *p++ != '-')
            return -1;
    }
    if (!date_valid(v[0], v[1], v[2]))
        return -1;
    *day = time_days_from_civil(v[0], v[1], v[2]);
    return 0;
}

/* year_of - the civil year of a day number */
static int year_of(long day)
{
    int y, m, d;
    time_civil_from_days(day, &y, &m, &d);
    return y;
}

/* find - the index of day in c->days, or where it would go (*found says which) */
static size_t find(const sugcal *c, long day, int *found)
{
    size_t lo = 0, hi = c->ndays;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->days[mid].day < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < c->ndays && c->days[lo].day == day;
    return lo;
}

/* covered_day - 1 if the year of day number z is covered */
static int covered_day(const sugcal *c, long z)
{
    return sugcal_covers(c, year_of(z));
}

/* workday_of - 1 if day number z is a working day; the caller checked coverage */
static int workday_of(const sugcal *c, long z)
{
    int found;
    size_t i = find(c, z, &found);
    int wd = weekday(z);

    if (found)
        return c->days[i].kind == KIND_WORKDAY;
    return wd != 0 && wd != 6;
}

/* add_day - insert one checked row at its sorted place; -1 on a duplicate or no memory */
static int add_day(sugcal *c, long day, char kind, int line, int *dup_line)
{
    int found;
    size_t at = find(c, day, &found);

    if (found) {
        *dup_line = c->days[at].line;
        return -1;
    }
    if (c->ndays == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 128;
        sugcal_day *grown = realloc(c->days, cap * sizeof *grown);
        if (!grown)
            return -1;
        c->days = grown;
        c->cap = cap;
    }
    memmove(c->days + at + 1, c->days + at, (c->ndays - at) * sizeof *c->days);
    c->days[at] = (sugcal_day){.day = day, .kind = kind, .line = line};
    c->ndays++;
    return 0;
}

/* check_row - check one data line's fields and add it; -1 with err naming the line */
static int check_row(sugcal *c, char **f, int nf, const char *path, int line, char *err,
                     size_t errlen)
{
    long day;
    char kind;
    int dup_line = 0;

    if (nf != 3) {
        snprintf(err, errlen, "%s line %d: %d fields, want 3 (date,kind,name)", path, line, nf);
        return -1;
    }
    if (parse_date(f[0], &day) != 0) {
        snprintf(err, errlen, "%s line %d: bad date \"%.20s\", want a real date YYYY-MM-DD", path,
                 line, f[0]);
        return -1;
    }
    if (strcmp(f[1], "holiday") == 0)
        kind = KIND_HOLIDAY;
    else if (strcmp(f[1], "workday") == 0)
        kind = KIND_WORKDAY;
    else {
        snprintf(err, errlen, "%s line %d: bad kind \"%.20s\", want holiday or workday", path, line,
                 f[1]);
        return -1;
    }
    if (kind == KIND_WORKDAY && weekday(day) != 0 && weekday(day) != 6) {
        snprintf(err, errlen, "%s line %d: workday %s is not a Saturday or Sunday", path, line,
                 f[0]);
        return -1;
    }
    if (f[2][0] == '\0') {
        snprintf(err, errlen, "%s line %d: empty name", path, line);
        return -1;
    }
    if (add_day(c, day, kind, line, &dup_line) != 0) {
        if (dup_line)
            snprintf(err, errlen, "%s line %d: duplicate date %s, already on line %d", path, line,
                     f[0], dup_line);
        else
            snprintf(err, errlen, "%s line %d: out of memory", path, line);
        return -1;
    }
    if (kind == KIND_HOLIDAY)
        c->covered[year_of(day) - YEAR_MIN] = 1;
    return 0;
}

/* sugcal_load - read and check the calendar file */
sugcal *sugcal_load(const char *path, char *err, size_t errlen)
{
    char dummy[1];
    FILE *in;
    sugcal *c;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    int line = 0, header = 0, failed = 0, ncovered = 0;

    if (!err || errlen == 0) {
        err = dummy;
        errlen = sizeof dummy;
    }
    if (!path) {
        snprintf(err, errlen, "no calendar path");
        return NULL;
    }
    in = fopen(path, "r");
    if (!in) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    c = calloc(1, sizeof *c);
    if (!c) {
        fclose(in);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    while (!failed && (len = getline(&buf, &cap, in)) >= 0) {
        char *f[4];
        char *text = buf;
        line++;
        if ((size_t)len != strlen(buf)) {
            snprintf(err, errlen, "%s line %d: NUL byte in the line", path, line);
            failed = 1;
            break;
        }
        if (line == 1 && strncmp(text, "\xef\xbb\xbf", 3) == 0)
            text += 3; /* a UTF-8 byte order mark */
        text = csv_trim(text);
        if (text[0] == '\0' || text[0] == '#')
            continue;
        int nf = csv_split(text, f, 4);
        if (!header) {
            if (nf != 3 || strcmp(f[0], "date") != 0 || strcmp(f[1], "kind") != 0 ||
                strcmp(f[2], "name") != 0) {
                snprintf(err, errlen, "%s line %d: want the header line date,kind,name", path,
                         line);
                failed = 1;
            }
            header = 1;
            continue;
        }
        failed = check_row(c, f, nf, path, line, err, errlen) != 0;
    }
    if (!failed && ferror(in)) {
        snprintf(err, errlen, "%s: read error after line %d", path, line);
        failed = 1;
    }
    free(buf);
    fclose(in);
    for (size_t y = 0; y < sizeof c->covered; y++)
        ncovered += c->covered[y];
    if (!failed && ncovered == 0) {
        snprintf(err, errlen, "%s: no holiday rows, so no year is covered", path);
        failed = 1;
    }
    if (failed)
        return sugcal_free(c);
    return c;
}

/* sugcal_free - release a calendar */
sugcal *sugcal_free(sugcal *c)
{
    if (c) {
        free(c->days);
        free(c);
    }
    return NULL;
}

/* sugcal_covers - 1 if year's holidays are known */
int sugcal_covers(const sugcal *c, int year)
{
    return c && year >= YEAR_MIN && year <= YEAR_MAX && c->covered[year - YEAR_MIN];
}

/* sugcal_is_workday - 1 working day, 0 not, -1 unknown */
int sugcal_is_workday(const sugcal *c, int y, int m, int d)
{
    if (!c || !date_valid(y, m, d) || !sugcal_covers(c, y))
        return -1;
    return workday_of(c, time_days_from_civil(y, m, d));
}

/* sugcal_add_workdays - n working days after from */
int sugcal_add_workdays(const sugcal *c, const char *from_yyyy_mm_dd, int n, char out[11])
{
    long z;

    if (!c || !out || n < 0 || parse_date(from_yyyy_mm_dd, &z) != 0)
        return -1;
    while (n > 0) {
        z++;
        if (!covered_day(c, z))
            return -1;
        n -= workday_of(c, z);
    }
    time_format_day(z, out);
    return 0;
}

/* sugcal_workdays_between - working days in (a, b], negative when b is before a */
int sugcal_workdays_between(const sugcal *c, const char *a, const char *b)
{
    long za, zb, lo, hi;
    int count = 0;

    if (!c || parse_date(a, &za) != 0 || parse_date(b, &zb) != 0)
        return SUGCAL_ERROR;
    lo = za < zb ? za : zb;
    hi = za < zb ? zb : za;
    for (long z = lo + 1; z <= hi; z++) {
        if (!covered_day(c, z))
            return SUGCAL_ERROR;
        count += workday_of(c, z);
    }
    return zb < za ? -count : count;
}
