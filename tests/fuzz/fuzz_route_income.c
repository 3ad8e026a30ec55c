/*
 * fuzz_route_income.c - the income service's request validation: the
 * ledger entries (one entry or a batch) and the views' and listing's query
 * arguments (year, format, table, filters), through the real handlers up
 * to their first database call (fuzz_route_run).
 */
#include "fuzz.h"

#include "income.h"

#define ID "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
#define RECORDERS (ROLE_ADMIN | ROLE_COORDINATOR | ROLE_NOTABLE)

static const fuzz_route routes[] = {
    {"POST", "/v1/entries", income_entries_create, RECORDERS, {NULL}},
    {"GET", "/v1/entries", income_entries_list, RECORDERS, {NULL}},
    {"GET", "/v1/views/summary", income_view_summary, ROLE_ANY, {NULL}},
    {"GET", "/v1/views/months", income_view_months, ROLE_ANY, {NULL}},
    {"GET", "/v1/views/projects/{id}", income_view_project, ROLE_ANY, {ID, NULL}},
    {"GET", "/v1/views/regions/{code}", income_view_region, ROLE_ANY, {"330482105201", NULL}},
    {"GET", "/v1/views/households/{id}", income_view_household, ROLE_ANY, {ID, NULL}},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static income_state st = {10000000000LL, 100000000LL};
    static service_ctx ctx = {.name = "income", .state = &st};
    fuzz_quiet();
    fuzz_route_run(routes, sizeof(routes) / sizeof(routes[0]), &ctx, data, size);
    return 0;
}
