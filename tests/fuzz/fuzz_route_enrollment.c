/*
 * fuzz_route_enrollment.c - the enrollment service's request validation:
 * households (create, update: names, ID-card numbers, phones, villages),
 * enrollments (start, end) and the list routes' query arguments, through
 * the real handlers up to their first database call (fuzz_route_run). The
 * CSV import is fuzz_csv's.
 */
#include "fuzz.h"

#include <stdlib.h>

#include "enrollment.h"

#define ID "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
#define EID "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5d"
#define WRITERS (ROLE_ADMIN | ROLE_COORDINATOR)

static const fuzz_route routes[] = {
    {"POST", "/v1/households", enrollment_households_create, WRITERS, {NULL}},
    {"PATCH", "/v1/households/{id}", enrollment_households_update, WRITERS, {ID, NULL}},
    {"POST", "/v1/households/{id}/enrollments", enrollment_enrollments_create, WRITERS, {ID, NULL}},
    {"POST",
     "/v1/households/{id}/enrollments/{eid}/end",
     enrollment_enrollments_end,
     WRITERS,
     {ID, EID, NULL}},
    {"GET", "/v1/households", enrollment_households_list, WRITERS, {NULL}},
    {"GET", "/v1/households/{id}/enrollments", enrollment_enrollments_list, WRITERS, {ID, NULL}},
    {"GET", "/v1/stats", enrollment_stats, ROLE_ANY, {NULL}},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static enrollment_state st;
    static service_ctx ctx = {.name = "enrollment"};
    if (ctx.state == NULL) {
        char err[128];
        if (pii_keys_parse("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                           "202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f",
                           &st.keys, err, sizeof(err)) < 0)
            abort();
        ctx.state = &st;
    }
    fuzz_quiet();
    fuzz_route_run(routes, sizeof(routes) / sizeof(routes[0]), &ctx, data, size);
    return 0;
}
