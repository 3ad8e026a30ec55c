/*
 * fuzz_route_suggestion.c - the suggestion service's request validation:
 * proposals, their transitions (accept, assign, resolve, feedback, ...),
 * handling units, and the list and statistics routes' query arguments,
 * through the real handlers up to their first database call
 * (fuzz_route_run), on the shipped holiday calendar.
 */
#include "fuzz.h"

#include <stdlib.h>

#include "suggestion.h"
#include "suggestion_calendar.h"

#define ID "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
#define ACTORS (ROLE_ADMIN | ROLE_SUPERVISOR | ROLE_HANDLER | ROLE_NOTABLE)

static const fuzz_route routes[] = {
    {"POST", "/v1/suggestions", suggestion_create, ROLE_NOTABLE, {NULL}},
    {"POST", "/v1/suggestions/{id}/transitions", suggestion_transition, ACTORS, {ID, NULL}},
    {"POST", "/v1/units", suggestion_units_create, ROLE_ADMIN, {NULL}},
    {"GET", "/v1/suggestions", suggestion_list, ROLE_ANY, {NULL}},
    {"GET", "/v1/suggestions/stats", suggestion_stats, ROLE_ANY, {NULL}},
    {"GET", "/v1/units", suggestion_units_list, ROLE_ANY, {NULL}},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static suggestion_state st = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    static service_ctx ctx = {.name = "suggestion"};
    if (ctx.state == NULL) {
        char err[256];
        st.cal = sugcal_load(SHANTANG_SOURCE_DIR "/schemas/data/holidays.csv", err, sizeof(err));
        if (st.cal == NULL ||
            suggestion_due_parse("助农:15,助学:15,助医:10,助困:10,industry:20,infrastructure:30,"
                                 "other:15",
                                 st.due_workdays, err, sizeof(err)) < 0 ||
            suggestion_now_parse("2026-03-02T10:00:00+08:00", &st.fixed_now_ms) < 0)
            abort();
        st.auto_close_days = 15;
        st.escalate_town_workdays = 3;
        st.escalate_county_workdays = 5;
        st.ctx = &ctx;
        ctx.state = &st;
    }
    fuzz_quiet();
    fuzz_route_run(routes, sizeof(routes) / sizeof(routes[0]), &ctx, data, size);
    return 0;
}
