/*
 * test_suggestion_rules.c - the suggestion service's configuration and field
 * rules: the due-date table, the controllable clock, working days counted
 * forwards and backwards on the shipped calendar and, past it, Monday to
 * Friday (flagged as estimated), attachment references, and a submission's
 * village list up to its documented maximum.
 *
 * Reads SHANTANG_SOURCE_DIR (set by ctest) for schemas/data/holidays.csv;
 * without it the test is skipped (exit 77).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "suggestion.h"

/* test_due_parse - every category exactly once, days 1..250 */
static void test_due_parse(void)
{
    int days[SUGGESTION_NCATEGORIES];
    char err[200];
    const char *good = "助农:15,助学:15,助医:10,助困:10,industry:20,infrastructure:30,other:15";
    CHECK_INT(suggestion_due_parse(good, days, err, sizeof err), 0, "the default table");
    CHECK_INT(days[suggestion_category_index("助医")], 10, "助医 days");
    CHECK_INT(days[suggestion_category_index("infrastructure")], 30, "infrastructure days");
    static const struct {
        const char *spec, *why;
    } bad[] = {
        {"助农:15,助学:15,助医:10,助困:10,industry:20,infrastructure:30", "other"},
        {"助农:15,助学:15,助医:10,助困:10,industry:20,infrastructure:30,other:15,other:3", "twice"},
        {"助农:0,助学:15,助医:10,助困:10,industry:20,infrastructure:30,other:15", "1..250"},
        {"助农:15,助学:15,助医:10,助困:10,industry:20,infrastructure:30,other:x", "1..250"},
        {"助农:15,助学:15,助医:10,助困:10,industry:20,roads:30,other:15", "unknown category"},
        {"助农15", "category:days"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK_INT(suggestion_due_parse(bad[i].spec, days, err, sizeof err), -1, bad[i].spec);
        CHECK(strstr(err, bad[i].why) != NULL, "'%s' says %s (got '%s')", bad[i].spec, bad[i].why,
              err);
    }
    CHECK_INT(suggestion_category_index("助困"), 3, "助困 is the fourth category");
    CHECK_INT(suggestion_category_index("farming"), -1, "unknown category");
    CHECK(suggestion_category_name(7) == NULL, "no eighth category");
}

/* test_now_parse - "" or RFC 3339 with an offset */
static void test_now_parse(void)
{
    int64_t ms = -1;
    CHECK_INT(suggestion_now_parse("", &ms), 0, "empty is the system clock");
    CHECK(ms == 0, "empty gives 0");
    CHECK_INT(suggestion_now_parse("2026-01-01T00:00:00+08:00", &ms), 0, "Shanghai midnight");
    CHECK(ms == 1767196800000LL, "2026-01-01T00:00+08:00 is 1767196800000 (got %lld)",
          (long long)ms);
    CHECK_INT(suggestion_now_parse("2025-12-31T16:00:00Z", &ms), 0, "the same instant in UTC");
    CHECK(ms == 1767196800000LL, "Z and +08:00 agree");
    CHECK_INT(suggestion_now_parse("2025-12-31T16:00:00.250Z", &ms), 0, "fractions are allowed");
    CHECK_INT(suggestion_now_parse("2025-12-31T11:00:00-05:00", &ms), 0, "negative offset");
    CHECK(ms == 1767196800000LL, "-05:00 agrees");
    const char *bad[] = {"2026-01-01",           "2026-01-01T00:00:00",   "2026-02-30T00:00:00Z",
                         "2026-01-01T24:00:00Z", "2026-01-01T00:00:00+8", "tomorrow"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_INT(suggestion_now_parse(bad[i], &ms), -1, bad[i]);
    suggestion_state st = {.fixed_now_ms = 1767196800000LL};
    CHECK(suggestion_now_ms(&st) == 1767196800000LL, "a fixed clock stays fixed");
    st.fixed_now_ms = 0;
    CHECK(suggestion_now_ms(&st) > 1767196800000LL, "the system clock runs");
}

/* test_workdays - on the calendar, and Monday to Friday past it */
static void test_workdays(const sugcal *cal)
{
    char out[11];
    /* 2026 Spring Festival: 2-15..2-23 off, 2-14 (Sat) and 2-28 (Sat) make-up workdays. */
    CHECK_INT(suggestion_add_workdays(cal, "2026-02-12", 2, out), 0, "across the festival");
    CHECK_STR(out, "2026-02-14", "Friday 13th, then the make-up Saturday");
    CHECK_INT(suggestion_add_workdays(cal, "2026-02-14", 1, out), 0, "after the make-up day");
    CHECK_STR(out, "2026-02-24", "the first working day after the holiday");
    CHECK_INT(suggestion_add_workdays(cal, "2026-11-25", 15, out), 0, "15 working days");
    CHECK_STR(out, "2026-12-16", "three weeks of Monday to Friday");
    CHECK_INT(suggestion_add_workdays(cal, "2026-11-25", 0, out), 0, "zero days");
    CHECK_STR(out, "2026-11-25", "zero days is the day itself");
    /* Past the shipped years: Monday to Friday, flagged. 2027-01-01 is a Friday. */
    CHECK_INT(suggestion_add_workdays(cal, "2026-12-30", 3, out), 1, "into an unshipped year");
    CHECK_STR(out, "2027-01-04", "Dec 31, Jan 1, then Monday Jan 4");
    CHECK_INT(suggestion_add_workdays(cal, "2026-13-01", 3, out), -1, "malformed date");
    CHECK_INT(suggestion_add_workdays(cal, "2026-12-01", -1, out), -1, "negative days");

    CHECK_INT(suggestion_workdays_before(cal, "2026-02-24", 1, out), 0, "one before");
    CHECK_STR(out, "2026-02-23", "(2-23, 2-24] holds one working day");
    CHECK_INT(suggestion_workdays_before(cal, "2026-02-24", 2, out), 0, "two before");
    CHECK_STR(out, "2026-02-13", "back over the festival to the make-up Saturday");
    CHECK_INT(suggestion_workdays_before(cal, "2026-12-16", 15, out), 0, "inverse of add");
    CHECK(strcmp(out, "2026-11-25") <= 0 && strcmp(out, "2026-11-24") >= 0,
          "15 working days before 2026-12-16 reaches back to 11-24/25 (got %s)", out);
    CHECK_INT(suggestion_workdays_before(cal, "2026-12-16", 0, out), 0, "zero before");
    CHECK_STR(out, "2026-12-16", "zero days before is the day itself");
    CHECK_INT(suggestion_workdays_before(cal, "2027-01-05", 2, out), 1, "in an unshipped year");
    CHECK_STR(out, "2027-01-03", "(Sunday 3rd, Tuesday 5th] holds Monday and Tuesday");
}

/* parse - a JSON literal for the attachment checks */
static int attachments(const char *json, char pointer[64])
{
    cJSON *a = cJSON_Parse(json);
    http_resp resp = {0};
    int rc = suggestion_attachments_check(a, &resp);
    pointer[0] = '\0';
    if (rc < 0) {
        cJSON *p = cJSON_Parse(resp.body);
        const char *ptr = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(p, "pointer"));
        snprintf(pointer, 64, "%s", ptr ? ptr : "");
        CHECK_INT(resp.status, 422, json);
        cJSON_Delete(p);
    }
    free(resp.body);
    cJSON_Delete(a);
    return rc;
}

/* test_attachments - references only, each field checked and named */
static void test_attachments(void)
{
    char ptr[64];
    const char *sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    char good[400], bad_sum[400];
    snprintf(good, sizeof good,
             "[{\"url\":\"https://files.example.cn/a.pdf\",\"sha256\":\"%s\","
             "\"name\":\"冷库方案.pdf\"}]",
             sum);
    CHECK_INT(attachments(good, ptr), 0, "a good reference");
    CHECK_INT(attachments("[]", ptr), 0, "no attachments");
    CHECK_INT(attachments("null", ptr), 0, "null is absent");
    snprintf(bad_sum, sizeof bad_sum,
             "[{\"url\":\"https://a.cn/x\",\"sha256\":\"%s\"},{\"url\":\"ftp://a.cn/x\","
             "\"sha256\":\"%s\"}]",
             sum, sum);
    CHECK_INT(attachments(bad_sum, ptr), -1, "ftp is refused");
    CHECK_STR(ptr, "/attachments/1/url", "the second url is named");
    CHECK_INT(attachments("[{\"url\":\"https://a.cn/x\",\"sha256\":\"abc\"}]", ptr), -1,
              "short checksum");
    CHECK_STR(ptr, "/attachments/0/sha256", "the checksum is named");
    CHECK_INT(attachments("{\"url\":\"https://a.cn/x\"}", ptr), -1, "not an array");
    CHECK_STR(ptr, "/attachments", "the array is named");
}

/* test_villages - 1 to SUGGESTION_VILLAGES_MAX villages: the whole list, or a 422 naming it */
static void test_villages(void)
{
    for (int n = 1; n <= SUGGESTION_VILLAGES_MAX + 1; n++) {
        char body[2048], want[1024];
        int o = snprintf(body, sizeof body,
                         "{\"title\":\"t\",\"text\":\"x\",\"category\":\"other\","
                         "\"village_codes\":[");
        int w = snprintf(want, sizeof want, "{");
        for (int i = 0; i < n; i++) {
            o += snprintf(body + o, sizeof body - (size_t)o, "%s\"3304821052%02d\"", i ? "," : "",
                          i);
            w += snprintf(want + w, sizeof want - (size_t)w, "%s3304821052%02d", i ? "," : "", i);
        }
        snprintf(body + o, sizeof body - (size_t)o, "]}");
        snprintf(want + w, sizeof want - (size_t)w, "}");
        cJSON *b = cJSON_Parse(body);
        suggestion_input in = {0};
        http_resp resp = {0};
        int rc = suggestion_input_parse(b, &in, &resp);
        char what[64];
        snprintf(what, sizeof what, "%d villages", n);
        if (n <= SUGGESTION_VILLAGES_MAX) {
            CHECK_INT(rc, 0, what);
            CHECK_STR(in.villages, want, what);
        } else {
            CHECK_INT(rc, -1, what);
            CHECK_INT(resp.status, 422, what);
        }
        free(in.attachments);
        free(resp.body);
        cJSON_Delete(b);
    }
}

int main(void)
{
    const char *src = getenv("SHANTANG_SOURCE_DIR");
    test_due_parse();
    test_now_parse();
    test_attachments();
    test_villages();
    if (!src || !*src) {
        printf("SHANTANG_SOURCE_DIR not set; calendar checks skipped\n");
        return check_done();
    }
    char path[4096], err[256] = "";
    snprintf(path, sizeof path, "%s/schemas/data/holidays.csv", src);
    sugcal *cal = sugcal_load(path, err, sizeof err);
    CHECK(cal != NULL, "load %s: %s", path, err);
    if (cal)
        test_workdays(cal);
    sugcal_free(cal);
    return check_done();
}
