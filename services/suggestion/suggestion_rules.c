/*
 * suggestion_rules.c - the service's configuration rules and the field
 * checks shared by its handlers: categories and their default due dates,
 * the controllable clock, working days counted backwards, attachments.
 * Pure: no I/O beyond the caller's response.
 */
#include "suggestion.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/timeutil.h"

static const char *const categories[SUGGESTION_NCATEGORIES] = {
    "助农", "助学", "助医", "助困", "industry", "infrastructure", "other"};

/* suggestion_category_index - the index of name, or -1 */
int suggestion_category_index(const char *name)
{
    for (int i = 0; name && i < SUGGESTION_NCATEGORIES; i++)
        if (strcmp(name, categories[i]) == 0)
            return i;
    return -1;
}

/* suggestion_category_name - the name of category i */
const char *suggestion_category_name(int i)
{
    return i >= 0 && i < SUGGESTION_NCATEGORIES ? categories[i] : NULL;
}

/* suggestion_due_parse - "name:days,..." with every category once */
int suggestion_due_parse(const char *spec, int days[SUGGESTION_NCATEGORIES], char *err,
                         size_t errlen)
{
    char buf[512];
    if (spec == NULL || strlen(spec) >= sizeof(buf)) {
        snprintf(err, errlen, "the due-date table is missing or too long");
        return -1;
    }
    snprintf(buf, sizeof(buf), "%s", spec);
    for (int i = 0; i < SUGGESTION_NCATEGORIES; i++)
        days[i] = 0;
    char *save = NULL;
    for (char *item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(item, ':');
        if (colon == NULL) {
            snprintf(err, errlen, "'%.40s' is not category:days", item);
            return -1;
        }
        *colon = '\0';
        while (isspace((unsigned char)*item))
            item++;
        int c = suggestion_category_index(item);
        char *end;
        long n = strtol(colon + 1, &end, 10);
        if (c < 0) {
            snprintf(err, errlen, "unknown category '%.40s'", item);
            return -1;
        }
        if (end == colon + 1 || *end != '\0' || n < 1 || n > 250) {
            snprintf(err, errlen, "category %s: days must be 1..250", item);
            return -1;
        }
        if (days[c]) {
            snprintf(err, errlen, "category %s given twice", item);
            return -1;
        }
        days[c] = (int)n;
    }
    for (int i = 0; i < SUGGESTION_NCATEGORIES; i++)
        if (days[i] == 0) {
            snprintf(err, errlen, "category %s has no due days", categories[i]);
            return -1;
        }
    return 0;
}

/* digits - n decimal digits at s as a number, or -1 */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* suggestion_now_parse - "" or an RFC 3339 instant with its offset */
int suggestion_now_parse(const char *s, int64_t *ms)
{
    if (s == NULL || s[0] == '\0') {
        *ms = 0;
        return 0;
    }
    char date[11];
    if (strlen(s) < 20 || s[10] != 'T' || s[13] != ':' || s[16] != ':')
        return -1;
    snprintf(date, sizeof(date), "%.10s", s);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (!time_date_valid(date) || h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 59)
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long offset_min;
    if (strcmp(p, "Z") == 0) {
        offset_min = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' && digits(p + 1, 2) >= 0 &&
               digits(p + 4, 2) >= 0 && digits(p + 1, 2) <= 14 && digits(p + 4, 2) <= 59) {
        offset_min = (digits(p + 1, 2) * 60 + digits(p + 4, 2)) * (*p == '-' ? -1 : 1);
    } else {
        return -1;
    }
    long day = time_days_from_civil(atoi(date), atoi(date + 5), atoi(date + 8));
    *ms = ((int64_t)day * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60) * 1000;
    return 0;
}

/* suggestion_now_ms - the fixed clock or the system's */
int64_t suggestion_now_ms(const suggestion_state *st)
{
    return st && st->fixed_now_ms ? st->fixed_now_ms : time_now_ms();
}

/*
 * is_workday - the calendar's word on day z; outside the years it covers
 * (the State Council publishes each year's holidays in the November
 * before), Monday to Friday, and *estimated is set.
 */
static int is_workday(const sugcal *cal, long z, int *estimated)
{
    int y, m, d;
    time_civil_from_days(z, &y, &m, &d);
    int w = sugcal_is_workday(cal, y, m, d);
    if (w >= 0)
        return w;
    *estimated = 1;
    long dow = ((z % 7) + 7 + 4) % 7; /* 1970-01-01 was a Thursday; 0 = Sunday */
    return dow != 0 && dow != 6;
}

/* day_of - "YYYY-MM-DD" as a day number; -1 and no change when malformed */
static int day_of(const char *s, long *z)
{
    if (s == NULL || strlen(s) != 10 || !time_date_valid(s))
        return -1;
    *z = time_days_from_civil(atoi(s), atoi(s + 5), atoi(s + 8));
    return 0;
}

/* suggestion_add_workdays - n working days after from (the first counted is the day after) */
int suggestion_add_workdays(const sugcal *cal, const char *from, int n, char out[11])
{
    long z;
    int estimated = 0;
    if (day_of(from, &z) < 0 || n < 0 || n > 1000)
        return -1;
    for (int counted = 0; counted < n;)
        counted += is_workday(cal, ++z, &estimated);
    time_format_day(z, out);
    return estimated;
}

/* suggestion_workdays_before - step back until n working days lie in (d, day] */
int suggestion_workdays_before(const sugcal *cal, const char *day, int n, char out[11])
{
    long z;
    int estimated = 0;
    if (day_of(day, &z) < 0 || n < 0 || n > 1000)
        return -1;
    long d = z;
    for (int counted = 0; counted < n; d--)
        counted += is_workday(cal, d, &estimated);
    time_format_day(d, out);
    return estimated;
}

/* hex64 - 1 if s is 64 hexadecimal digits */
static int hex64(const char *s)
{
    return s && strlen(s) == 64 && strspn(s, "0123456789abcdefABCDEF") == 64;
}

/* suggestion_attachments_check - references only: URL, checksum, optional name */
int suggestion_attachments_check(const cJSON *arr, http_resp *resp)
{
    if (arr == NULL || cJSON_IsNull(arr))
        return 0;
    if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > SUGGESTION_ATTACHMENTS_MAX) {
        http_problem(resp, 422, "validation", "Invalid attachments", "/attachments",
                     "attachments is an array of at most %d references {url, sha256, name}",
                     SUGGESTION_ATTACHMENTS_MAX);
        return -1;
    }
    int i = 0;
    const cJSON *a;
    cJSON_ArrayForEach(a, arr)
    {
        char pointer[48];
        const char *url = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "url"));
        const char *sum = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(a, "sha256"));
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(a, "name");
        if (!cJSON_IsObject(a) || url == NULL || strlen(url) > 2048 ||
            (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) ||
            strpbrk(url, " \t\r\n\"<>") != NULL) {
            snprintf(pointer, sizeof(pointer), "/attachments/%d/url", i);
            http_problem(resp, 422, "validation", "Invalid attachment", pointer,
                         "an attachment's url is an http or https URL of at most 2048 bytes");
            return -1;
        }
        if (!hex64(sum)) {
            snprintf(pointer, sizeof(pointer), "/attachments/%d/sha256", i);
            http_problem(resp, 422, "validation", "Invalid attachment", pointer,
                         "an attachment's sha256 is 64 hexadecimal digits");
            return -1;
        }
        if (name && !cJSON_IsNull(name)) {
            snprintf(pointer, sizeof(pointer), "/attachments/%d/name", i);
            const char *nm = cJSON_GetStringValue(name);
            if (nm == NULL || nm[0] == '\0' || strlen(nm) > 600) {
                http_problem(resp, 422, "validation", "Invalid attachment", pointer,
                             "an attachment's name is a string of 1 to 200 characters");
                return -1;
            }
        }
        i++;
    }
    return 0;
}
