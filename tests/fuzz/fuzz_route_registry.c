/*
 * fuzz_route_registry.c - the registry's request validation: every route
 * with a JSON body (notables, partners, projects, project updates and
 * status changes) and the list routes' query arguments, through the real
 * handlers up to their first database call (fuzz.h: fuzz_route_run).
 */
#include "fuzz.h"

#include "registry.h"

#define ID "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"
#define REGISTRARS (ROLE_ADMIN | ROLE_NOTABLE)

static const fuzz_route routes[] = {
    {"POST", "/v1/notables", registry_notables_create, REGISTRARS, {NULL}},
    {"POST", "/v1/partners", registry_partners_create, REGISTRARS, {NULL}},
    {"POST", "/v1/projects", registry_projects_create, REGISTRARS, {NULL}},
    {"PATCH", "/v1/projects/{id}", registry_projects_update, REGISTRARS, {ID, NULL}},
    {"POST", "/v1/projects/{id}/status", registry_projects_status, REGISTRARS, {ID, NULL}},
    {"GET", "/v1/regions", registry_regions_list, ROLE_ANY, {NULL}},
    {"GET", "/v1/notables", registry_notables_list, ROLE_ANY, {NULL}},
    {"GET", "/v1/partners", registry_partners_list, ROLE_ANY, {NULL}},
    {"GET", "/v1/projects", registry_projects_list, ROLE_ANY, {NULL}},
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static service_ctx ctx = {.name = "registry"};
    fuzz_quiet();
    fuzz_route_run(routes, sizeof(routes) / sizeof(routes[0]), &ctx, data, size);
    return 0;
}
