/*
 * main.c - shantang-enrollment: households and their enrollment into
 * projects, for the village coordinators.
 *
 * Thin: declares the service's parameters, routes, topics and consumer and
 * hands them to the common skeleton (core/service.h). Privileges: its own
 * unprivileged user and database role, which owns only the enrollment
 * schema. Secrets: the two PII keys (PII_ENC_KEY, PII_INDEX_KEY or their
 * _FILE forms), never printed.
 */
#include <stdio.h>
#include <stdlib.h>

#include "enrollment.h"
#include "core/service.h"

static const cfg_param enrollment_params[ENR_NPARAMS] = {
    [ENR_PII_ENC_KEY] = {"PII_ENC_KEY", CFG_SECRET, NULL, 0, 0,
                         "AES-256-GCM key for ID-card numbers, 64 hex characters"},
    [ENR_PII_INDEX_KEY] = {"PII_INDEX_KEY", CFG_SECRET, NULL, 0, 0,
                           "HMAC-SHA-256 key of the ID-number blind index, 64 hex characters"},
};

#define WRITERS (ROLE_ADMIN | ROLE_COORDINATOR)
#define STATS_READERS (ROLE_ADMIN | ROLE_COORDINATOR | ROLE_PLANNER | ROLE_SUPERVISOR)

static const http_route enrollment_routes[] = {
    {"POST", "/v1/households", WRITERS, enrollment_households_create, 0},
    {"GET", "/v1/households", WRITERS, enrollment_households_list, 0},
    {"GET", "/v1/households/{id}", WRITERS, enrollment_households_get, 0},
    {"PATCH", "/v1/households/{id}", WRITERS, enrollment_households_update, 0},
    {"POST", "/v1/households/{id}/enrollments", WRITERS, enrollment_enrollments_create, 0},
    {"GET", "/v1/households/{id}/enrollments", WRITERS, enrollment_enrollments_list, 0},
    {"POST", "/v1/households/{id}/enrollments/{eid}/end", WRITERS, enrollment_enrollments_end, 0},
    {"GET", "/v1/stats", STATS_READERS, enrollment_stats, 0},
    {"POST", "/v1/imports/households", WRITERS, enrollment_import, 256u << 20},
};

static const catalogue_topic *const enrollment_produces[] = {&cat_topic_households, NULL};

static const kafka_consumer_def enrollment_consumers[] = {
    {"enrollment", NULL, enrollment_apply, NULL, NULL, NULL},
};

static enrollment_state enrollment_st;

/* enrollment_init - parse the PII keys */
static int enrollment_init(service_ctx *ctx, char *err, size_t errlen)
{
    if (pii_keys_parse(cfg_str(ctx->own, ENR_PII_ENC_KEY), cfg_str(ctx->own, ENR_PII_INDEX_KEY),
                       &enrollment_st.keys, err, errlen) < 0)
        return -1;
    ctx->state = &enrollment_st;
    return 0;
}

static const service_def enrollment_service = {
    .name = "enrollment",
    .default_port = 8082,
    .params = enrollment_params,
    .nparams = ENR_NPARAMS,
    .routes = enrollment_routes,
    .nroutes = sizeof(enrollment_routes) / sizeof(enrollment_routes[0]),
    .produces = enrollment_produces,
    .consumes = enrollment_consumes,
    .consumers = enrollment_consumers,
    .nconsumers = 1,
    .init = enrollment_init,
};

int main(int argc, char **argv)
{
    return service_main(argc, argv, &enrollment_service);
}
