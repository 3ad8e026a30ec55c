/*
 * fuzz_calendar.c - the holiday calendar (services/suggestion/
 * suggestion_calendar.c sugcal_load): SUGGESTION_HOLIDAYS_FILE is edited
 * by hand every November, so any bytes may be in it. The input is written
 * to a file of the harness's own (sugcal_load reads a path) and, when it
 * loads, the calendar answers a few working-day questions.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suggestion_calendar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64];
    if (path[0] == '\0')
        snprintf(path, sizeof(path), "/tmp/shantang-fuzz-calendar-%ld.csv", (long)getpid());
    FILE *f = fopen(path, "w");
    if (f == NULL)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);

    char err[256] = "", out[11];
    sugcal *c = sugcal_load(path, err, sizeof(err));
    if (c == NULL) {
        if (err[0] == '\0')
            abort(); /* a refusal names its reason */
        return 0;
    }
    static const char *const days[] = {"2025-01-01", "2025-10-01", "2026-02-16", "1900-01-01",
                                       "2200-12-31"};
    for (size_t i = 0; i < sizeof(days) / sizeof(days[0]); i++) {
        int y, m, d;
        if (sscanf(days[i], "%d-%d-%d", &y, &m, &d) != 3)
            abort();
        (void)sugcal_covers(c, y);
        (void)sugcal_is_workday(c, y, m, d);
        if (sugcal_add_workdays(c, days[i], 15, out) == 0 && strlen(out) != 10)
            abort();
        (void)sugcal_workdays_between(c, days[i], "2025-06-30");
    }
    c = sugcal_free(c);
    return 0;
}
