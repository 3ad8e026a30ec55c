/*
 * main.c - shantang-income: the income ledger and the planners' views.
 *
 * Thin: declares the service's parameters, routes, topics, consumer and
 * the --verify command, and hands them to the common skeleton
 * (core/service.h). Privileges: its own unprivileged user and database
 * role, which owns only the income schema.
 */
#include <stdio.h>
#include <stdlib.h>

#include "income.h"
#include "core/service.h"

static const cfg_param income_params[INC_NPARAMS] = {
    [INC_MAX_ENTRY_FEN] = {"INCOME_MAX_ENTRY_FEN", CFG_INT, "10000000000", 1, 100000000000000LL,
                           "largest project-revenue or collective entry, in fen (422 above)"},
    [INC_MAX_HOUSEHOLD_ENTRY_FEN] = {"INCOME_MAX_HOUSEHOLD_ENTRY_FEN", CFG_INT, "100000000", 1,
                                     10000000000LL,
                                     "largest household entry (wage, rent, dividend, sales), in "
                                     "fen (422 above)"},
};

#define RECORDERS (ROLE_ADMIN | ROLE_COORDINATOR | ROLE_NOTABLE)
#define VIEWERS ROLE_ANY
#define HOUSEHOLD_VIEWERS (ROLE_ADMIN | ROLE_COORDINATOR)

static const http_route income_routes[] = {
    {"POST", "/v1/entries", RECORDERS, income_entries_create, 0},
    {"GET", "/v1/entries", RECORDERS, income_entries_list, 0},
    {"GET", "/v1/entries/{id}", RECORDERS, income_entries_get, 0},
    {"GET", "/v1/views/summary", VIEWERS, income_view_summary, 0},
    {"GET", "/v1/views/months", VIEWERS, income_view_months, 0},
    {"GET", "/v1/views/projects/{id}", VIEWERS, income_view_project, 0},
    {"GET", "/v1/views/regions/{code}", VIEWERS, income_view_region, 0},
    {"GET", "/v1/views/households/{id}", HOUSEHOLD_VIEWERS, income_view_household, 0},
};

static const catalogue_topic *const income_produces[] = {&cat_topic_income, NULL};

static const kafka_consumer_def income_consumers[] = {
    {"income", NULL, income_apply, NULL, NULL, NULL},
};

static const service_command income_commands[] = {
    {"--verify", "recompute every rollup from the ledger; exit 1 on any difference", income_verify,
     0},
};

static income_state income_st;

/* income_init - the entry bounds */
static int income_init(service_ctx *ctx, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    income_st.max_entry_fen = cfg_int(ctx->own, INC_MAX_ENTRY_FEN);
    income_st.max_household_entry_fen = cfg_int(ctx->own, INC_MAX_HOUSEHOLD_ENTRY_FEN);
    ctx->state = &income_st;
    return 0;
}

static const service_def income_service = {
    .name = "income",
    .default_port = 8083,
    .default_body_limit = 8L << 20, /* a batch of 10,000 entries */
    .params = income_params,
    .nparams = INC_NPARAMS,
    .routes = income_routes,
    .nroutes = sizeof(income_routes) / sizeof(income_routes[0]),
    .produces = income_produces,
    .consumes = income_consumes,
    .consumers = income_consumers,
    .nconsumers = 1,
    .init = income_init,
    .commands = income_commands,
    .ncommands = 1,
};

int main(int argc, char **argv)
{
    return service_main(argc, argv, &income_service);
}
