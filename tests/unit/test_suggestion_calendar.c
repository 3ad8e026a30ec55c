/*
 * test_suggestion_calendar.c - the working-day calendar
 * (suggestion_calendar.h) on the shipped schemas/data/holidays.csv and on
 * malformed files.
 *
 * Reads SHANTANG_SOURCE_DIR (set by ctest) to find the data; without it
 * the test is skipped (exit 77). Checks facts from the State Council
 * notices for 2025 and 2026 (written here independently of the data file:
 * days off, every make-up weekend workday, ordinary days), due dates across
 * the Spring Festival, National Day and the year boundary, refusal past the
 * covered years, working days between two dates, independence from the TZ
 * variable, and that each kind of bad line fails the load with its line
 * number in the message. Temporary files go to TMPDIR (or /tmp) and are
 * removed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "suggestion_calendar.h"

/* The make-up working days (调休上班) the notices name, all on a Saturday or Sunday. */
static const char *const makeup[] = {
    "2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11",               /* 2025 */
    "2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10", /* 2026 */
};

/* Days off on a Monday to Friday, a sample from each holiday period of the notices. */
static const char *const weekday_off[] = {
    "2025-01-01", "2025-01-28", "2025-02-04", "2025-04-04", "2025-05-01",
    "2025-05-05", "2025-06-02", "2025-10-01", "2025-10-06", "2025-10-08",
    "2026-01-01", "2026-01-02", "2026-02-16", "2026-02-23", "2026-04-06",
    "2026-05-05", "2026-06-19", "2026-09-25", "2026-10-01", "2026-10-07",
};

/* Ordinary working days, and ordinary weekend days, near the holidays. */
static const char *const plain_work[] = {
    "2025-03-12", /* an ordinary Wednesday */
    "2025-01-27", "2025-02-05", "2025-10-09", "2025-12-31",
    "2026-02-24", "2026-10-08", "2026-05-06", "2026-12-31",
};
static const char *const plain_rest[] = {
    "2025-03-15", "2025-03-16", "2025-10-12", "2026-01-10", "2026-02-21", "2026-10-11",
};

/* ymd - split a date literal of the tables above */
static void ymd(const char *s, int *y, int *m, int *d)
{
    *y = atoi(s);
    *m = atoi(s + 5);
    *d = atoi(s + 8);
}

/* is_workday - sugcal_is_workday on a date literal */
static int is_workday(const sugcal *c, const char *s)
{
    int y, m, d;
    ymd(s, &y, &m, &d);
    return sugcal_is_workday(c, y, m, d);
}

/* test_facts - the notices' days, one by one */
static void test_facts(const sugcal *c)
{
    for (size_t i = 0; i < sizeof makeup / sizeof makeup[0]; i++)
        CHECK(is_workday(c, makeup[i]) == 1, "make-up day %s: want a working day", makeup[i]);
    for (size_t i = 0; i < sizeof weekday_off / sizeof weekday_off[0]; i++)
        CHECK(is_workday(c, weekday_off[i]) == 0, "%s: want a day off", weekday_off[i]);
    for (size_t i = 0; i < sizeof plain_work / sizeof plain_work[0]; i++)
        CHECK(is_workday(c, plain_work[i]) == 1, "%s: want a working day", plain_work[i]);
    for (size_t i = 0; i < sizeof plain_rest / sizeof plain_rest[0]; i++)
        CHECK(is_workday(c, plain_rest[i]) == 0, "%s: want a weekend day off", plain_rest[i]);

    CHECK_INT(sugcal_covers(c, 2025), 1, "covers 2025");
    CHECK_INT(sugcal_covers(c, 2026), 1, "covers 2026");
    CHECK_INT(sugcal_covers(c, 2024), 0, "2024 not covered");
    CHECK_INT(sugcal_covers(c, 2027), 0, "2027 not covered");
    CHECK_INT(sugcal_covers(NULL, 2025), 0, "NULL calendar");
    CHECK_INT(sugcal_is_workday(c, 2024, 12, 31), -1, "2024-12-31: year not covered");
    CHECK_INT(sugcal_is_workday(c, 2027, 1, 4), -1, "2027-01-04: year not covered");
    CHECK_INT(sugcal_is_workday(c, 2025, 2, 29), -1, "2025-02-29 is no date");
    CHECK_INT(sugcal_is_workday(c, 2025, 13, 1), -1, "month 13");
    CHECK_INT(sugcal_is_workday(c, 2025, 4, 31), -1, "April 31");
    CHECK_INT(sugcal_is_workday(NULL, 2025, 3, 12), -1, "NULL calendar");
}

/* test_add - due dates in working days */
static void test_add(const sugcal *c)
{
    static const struct {
        const char *from;
        int n;
        const char *want; /* NULL: -1 */
        const char *what;
    } cases[] = {
        {"2025-03-12", 0, "2025-03-12", "zero days"},
        {"2025-03-12", 1, "2025-03-13", "Wednesday + 1"},
        {"2025-03-14", 1, "2025-03-17", "Friday + 1 skips the weekend"},
        {"2025-03-15", 1, "2025-03-17", "from a Saturday"},
        {"2025-01-24", 1, "2025-01-26", "Spring Festival 2025: the make-up Sunday counts"},
        {"2025-01-24", 2, "2025-01-27", "Spring Festival 2025: then the Monday"},
        {"2025-01-24", 3, "2025-02-05", "Spring Festival 2025: skips 01-28..02-04"},
        {"2025-01-27", 5, "2025-02-10", "Spring Festival 2025: 02-05..07, 02-08 (Sat), 02-10"},
        {"2026-02-13", 1, "2026-02-14", "Spring Festival 2026: the make-up Saturday"},
        {"2026-02-13", 2, "2026-02-24", "Spring Festival 2026: skips 02-15..02-23"},
        {"2025-09-30", 1, "2025-10-09", "National Day 2025: skips 10-01..10-08"},
        {"2025-09-30", 3, "2025-10-11", "National Day 2025: the make-up Saturday"},
        {"2025-09-30", 4, "2025-10-13", "National Day 2025: then Monday"},
        {"2025-09-26", 10, "2025-10-16", "National Day 2025: 09-28 (Sun) counts"},
        {"2026-09-18", 15, "2026-10-15", "Mid-Autumn and National Day 2026"},
        {"2025-12-31", 1, "2026-01-04", "year boundary: New Year 2026, then the make-up Sunday"},
        {"2025-12-31", 2, "2026-01-05", "year boundary, + 2"},
        {"2025-12-30", 249, "2026-12-31", "1 + the 248 working days of 2026"},
        {"2025-12-30", 250, NULL, "one more runs out of 2026"},
        {"2026-12-30", 1, "2026-12-31", "the last covered day"},
        {"2026-12-30", 2, NULL, "past the covered years"},
        {"2026-12-31", 1, NULL, "the first uncovered day"},
        {"2025-06-01", 400, NULL, "far past the covered years"},
        {"2024-12-31", 1, "2025-01-02", "from the day before the covered years"},
        {"2025-03-12", -1, NULL, "negative n"},
        {"2025-02-29", 1, NULL, "no such date"},
        {"2025-3-12", 1, NULL, "unpadded month"},
        {"2025/03/12", 1, NULL, "slashes"},
        {"2025-03-12T00:00", 1, NULL, "a time attached"},
        {"", 1, NULL, "empty"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[11] = "unchanged";
        int rc = sugcal_add_workdays(c, cases[i].from, cases[i].n, out);
        if (cases[i].want) {
            CHECK(rc == 0, "%s: got rc %d, want 0", cases[i].what, rc);
            CHECK_STR(out, cases[i].want, cases[i].what);
        } else {
            CHECK(rc == -1, "%s: got rc %d (%s), want -1", cases[i].what, rc, out);
            CHECK_STR(out, "unchanged", "out untouched on failure");
        }
    }
    char out[11];
    CHECK_INT(sugcal_add_workdays(c, NULL, 1, out), -1, "NULL from");
    CHECK_INT(sugcal_add_workdays(NULL, "2025-03-12", 1, out), -1, "NULL calendar");
}

/* test_between - working days between two dates */
static void test_between(const sugcal *c)
{
    static const struct {
        const char *a, *b;
        int want;
        const char *what;
    } cases[] = {
        {"2025-03-12", "2025-03-12", 0, "same day"},
        {"2025-03-12", "2025-03-13", 1, "next day"},
        {"2025-03-14", "2025-03-17", 1, "over a weekend"},
        {"2025-09-30", "2025-10-11", 3, "over National Day 2025"},
        {"2025-10-11", "2025-09-30", -3, "the other way round"},
        {"2025-01-24", "2025-02-05", 3, "over Spring Festival 2025"},
        {"2024-12-31", "2025-12-31", 248, "the working days of 2025"},
        {"2025-12-31", "2026-12-31", 248, "the working days of 2026"},
        {"2025-12-31", "2026-01-04", 1, "over New Year 2026"},
        {"2026-12-30", "2027-01-04", SUGCAL_ERROR, "into 2027"},
        {"2027-01-04", "2026-12-30", SUGCAL_ERROR, "from 2027, reversed"},
        {"2025-02-30", "2025-03-01", SUGCAL_ERROR, "no such date"},
        {"2025-03-01", "tomorrow", SUGCAL_ERROR, "not a date"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK_INT(sugcal_workdays_between(c, cases[i].a, cases[i].b), cases[i].want, cases[i].what);
    /* the two functions agree: add n, then count back n */
    static const char *const from[] = {"2025-01-20", "2025-09-25", "2025-12-24", "2026-02-10"};
    for (size_t i = 0; i < sizeof from / sizeof from[0]; i++) {
        for (int n = 1; n <= 30; n++) {
            char due[11];
            if (sugcal_add_workdays(c, from[i], n, due) != 0) {
                CHECK(0, "%s + %d: refused", from[i], n);
                continue;
            }
            CHECK(sugcal_workdays_between(c, from[i], due) == n, "between(%s, %s): want %d",
                  from[i], due, n);
            int y, m, d;
            ymd(due, &y, &m, &d);
            CHECK(sugcal_is_workday(c, y, m, d) == 1, "%s + %d = %s: a working day", from[i], n,
                  due);
        }
    }
    CHECK_INT(sugcal_workdays_between(NULL, "2025-03-12", "2025-03-13"), SUGCAL_ERROR,
              "NULL calendar");
}

/* test_timezone - the machine's TZ moves no date */
static void test_timezone(const sugcal *c)
{
    static const char *const zones[] = {"Pacific/Kiritimati", "America/Adak", "UTC",
                                        "Asia/Shanghai"};
    for (size_t i = 0; i < sizeof zones / sizeof zones[0]; i++) {
        char out[11];
        setenv("TZ", zones[i], 1);
        tzset();
        CHECK(sugcal_add_workdays(c, "2025-09-30", 1, out) == 0 && strcmp(out, "2025-10-09") == 0,
              "TZ=%s: 2025-09-30 + 1", zones[i]);
        CHECK(is_workday(c, "2026-02-14") == 1, "TZ=%s: 2026-02-14", zones[i]);
    }
    unsetenv("TZ");
    tzset();
}

/* test_malformed - every bad line fails the load and is named */
static void test_malformed(void)
{
    static const struct {
        const char *text;
        const char *want; /* a substring of the error; NULL: loads */
        const char *what;
    } cases[] = {
        {"date,kind,name\n2025-01-01,holiday,元旦\n", NULL, "minimal file"},
        {"\xef\xbb\xbf# comment\r\n\r\ndate,kind,name\r\n2025-01-01,holiday,\"元旦, New Year\"\r\n",
         NULL, "BOM, CRLF, comments, a quoted name"},
        {"date,kind,name\n2025-02-30,holiday,x\n", "line 2: bad date", "bad date"},
        {"# a\n# b\ndate,kind,name\n2025-01-01,holiday,x\n2025-1-02,holiday,x\n",
         "line 5: bad date", "unpadded date, comments counted"},
        {"date,kind,name\n2025-01-01,holiday,x\n\n2025/10/01,holiday,x\n", "line 4: bad date",
         "slashes, blank line counted"},
        {"date,kind,name\n20250101,holiday,x\n", "line 2: bad date", "no dashes"},
        {"date,kind,name\n2025-01-01,holiday,x\n2025-10-01,vacation,x\n", "line 3: bad kind",
         "bad kind"},
        {"date,kind,name\n2025-01-01,Holiday,x\n", "line 2: bad kind", "kind is case sensitive"},
        {"date,kind,name\n2025-01-01,holiday,x\n2025-10-01,holiday,y\n2025-01-01,holiday,z\n",
         "line 4: duplicate date 2025-01-01, already on line 2", "duplicate"},
        {"date,kind,name\n2025-01-01,holiday,x\n2025-01-26,workday,y\n2025-01-26,holiday,z\n",
         "line 4: duplicate date", "duplicate of another kind"},
        {"date,kind,name\n2025-01-01,holiday,x\n2025-10-09,workday,y\n",
         "line 3: workday 2025-10-09 is not a Saturday or Sunday", "workday on a Thursday"},
        {"date,kind,name\n2025-01-01,holiday\n", "line 2: 2 fields", "missing name"},
        {"date,kind,name\n2025-01-01,holiday,x,extra\n", "line 2: 4 fields", "extra field"},
        {"date,kind,name\n2025-01-01,holiday,\n", "line 2: empty name", "empty name"},
        {"2025-01-01,holiday,x\n", "line 1: want the header", "no header"},
        {"# only comments\ndate,kind\n2025-01-01,holiday,x\n", "line 2: want the header",
         "short header"},
        {"date,kind,name\n2025-01-26,workday,x\n", "no holiday rows", "no holiday rows"},
        {"", "no holiday rows", "empty file"},
        {"date,kind,name\n1899-12-31,holiday,x\n", "line 2: bad date", "year before 1900"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char path[4096], err[256] = "";
        if (check_temp_file(cases[i].text, path, sizeof(path)) != 0) {
            CHECK(0, "%s: cannot write a temporary file", cases[i].what);
            continue;
        }
        sugcal *c = sugcal_load(path, err, sizeof err);
        if (cases[i].want) {
            CHECK(c == NULL, "%s: loaded, want an error", cases[i].what);
            CHECK(strstr(err, cases[i].want) != NULL, "%s: got \"%s\", want \"%s\"", cases[i].what,
                  err, cases[i].want);
            CHECK(strstr(err, path) != NULL, "%s: error names the file: %s", cases[i].what, err);
        } else {
            CHECK(c != NULL, "%s: got \"%s\", want a calendar", cases[i].what, err);
            CHECK_INT(sugcal_covers(c, 2025), 1, cases[i].what);
            CHECK_INT(sugcal_is_workday(c, 2025, 1, 1), 0, cases[i].what);
        }
        c = sugcal_free(c);
        CHECK(c == NULL, "sugcal_free returns NULL");
        unlink(path);
    }

    char err[256] = "";
    CHECK(sugcal_load("/nonexistent/holidays.csv", err, sizeof err) == NULL, "missing file");
    CHECK(strstr(err, "/nonexistent/holidays.csv") != NULL, "missing file named: %s", err);
    CHECK(sugcal_load(NULL, err, sizeof err) == NULL, "NULL path");
    CHECK(sugcal_load("/nonexistent/holidays.csv", NULL, 0) == NULL, "no error buffer");
}

int main(void)
{
    const char *src = getenv("SHANTANG_SOURCE_DIR");
    if (!src || !*src) {
        printf("SHANTANG_SOURCE_DIR not set; skipped\n");
        return 77;
    }
    char path[4096], err[256] = "";
    snprintf(path, sizeof path, "%s/schemas/data/holidays.csv", src);
    sugcal *c = sugcal_load(path, err, sizeof err);
    CHECK(c != NULL, "load %s: %s", path, err);
    if (c) {
        test_facts(c);
        test_add(c);
        test_between(c);
        test_timezone(c);
    }
    c = sugcal_free(c);
    test_malformed();
    return check_done();
}
