/*
 * suggestion_stats.c - GET /v1/suggestions/stats: the closed loop in
 * numbers (received, accepted, rejected, resolved, closed, overdue now,
 * resolution rate, median and 90th-percentile days to resolution,
 * satisfaction rate), overall and by category, handling unit, village and
 * month of submission. ?year=YYYY limits it to the proposals submitted in
 * that year (Asia/Shanghai); without it, every proposal. Aggregates only:
 * anyone with a token may read them.
 */
#include "suggestion.h"

#include <stdlib.h>
#include <string.h>

#include "core/page.h"

void suggestion_stats(http_req *req, http_resp *resp, void *ctx)
{
    const char *year = http_query(req, "year");
    if (year && strcmp(year, "all") == 0)
        year = NULL;
    if (year && (strlen(year) != 4 || strspn(year, "0123456789") != 4 || atoi(year) < 2000)) {
        http_problem(resp, 422, "validation", "Invalid year", "/year",
                     "year is a year from 2000 on, or all");
        return;
    }
    const char *params[1] = {year};
    page_query_one(ctx, resp, "SELECT view_stats($1::int)::text", 1, params, "statistics");
}
