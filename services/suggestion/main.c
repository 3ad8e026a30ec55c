/*
 * main.c - shantang-suggestion: proposal intake with a supervised closed
 * loop.
 *
 * Thin: declares the service's parameters, routes, topic, consumer, the
 * supervisor thread and the --supervise and --import commands, and hands them to the
 * common skeleton (core/service.h). Privileges: its own unprivileged user
 * and database role, which owns only the suggestion schema.
 */
#include <stdio.h>
#include <stdlib.h>

#include "suggestion.h"
#include "util/log.h"

static const cfg_param suggestion_params[SUG_NPARAMS] = {
    [SUG_HOLIDAYS_FILE] = {"SUGGESTION_HOLIDAYS_FILE", CFG_STR,
                           "/usr/share/shantang/data/holidays.csv", 0, 0,
                           "China's holiday calendar (public holidays and make-up working "
                           "days), one file per deployment"},
    [SUG_DUE_WORKDAYS] = {"SUGGESTION_DUE_WORKDAYS", CFG_STR,
                          "助农:15,助学:15,助医:10,助困:10,industry:20,infrastructure:30,other:15",
                          0, 0, "default due date per category, in working days after assignment"},
    [SUG_AUTO_CLOSE_DAYS] = {"SUGGESTION_AUTO_CLOSE_DAYS", CFG_INT, "15", 1, 365,
                             "a resolved proposal without feedback closes after this many days"},
    [SUG_ESCALATE_TOWN_WORKDAYS] = {"SUGGESTION_ESCALATE_TOWN_WORKDAYS", CFG_INT, "3", 0, 60,
                                    "working days an overdue part stays at village level before "
                                    "it escalates to the town"},
    [SUG_ESCALATE_COUNTY_WORKDAYS] = {"SUGGESTION_ESCALATE_COUNTY_WORKDAYS", CFG_INT, "5", 0, 60,
                                      "working days at town level before it escalates to the "
                                      "county supervisor"},
    [SUG_SUPERVISE_INTERVAL_MS] = {"SUGGESTION_SUPERVISE_INTERVAL_MS", CFG_INT, "60000", 100,
                                   86400000, "period of the supervisor pass in every instance"},
    [SUG_NOW] = {"SUGGESTION_NOW", CFG_STR, "", 0, 0,
                 "a fixed clock (RFC 3339 with offset) for drills and tests; empty = the system "
                 "clock"},
};

#define EVERYONE ROLE_ANY
#define SUPERVISORS (ROLE_ADMIN | ROLE_SUPERVISOR)
#define ACTORS (ROLE_ADMIN | ROLE_SUPERVISOR | ROLE_HANDLER | ROLE_NOTABLE)

static const http_route suggestion_routes[] = {
    {"POST", "/v1/suggestions", ROLE_NOTABLE, suggestion_create, 0},
    {"GET", "/v1/suggestions", EVERYONE, suggestion_list, 0},
    {"GET", "/v1/suggestions/stats", EVERYONE, suggestion_stats, 0},
    {"GET", "/v1/suggestions/{id}", EVERYONE, suggestion_get, 0},
    {"GET", "/v1/suggestions/{id}/history", EVERYONE, suggestion_history, 0},
    {"POST", "/v1/suggestions/{id}/transitions", ACTORS, suggestion_transition, 0},
    {"POST", "/v1/units", ROLE_ADMIN, suggestion_units_create, 0},
    {"GET", "/v1/units", EVERYONE, suggestion_units_list, 0},
};

static const catalogue_topic *const suggestion_produces[] = {&cat_topic_suggestions, NULL};

static const kafka_consumer_def suggestion_consumers[] = {
    {"suggestion", NULL, suggestion_apply, NULL, NULL, NULL},
};

static suggestion_state suggestion_st = {.mu = PTHREAD_MUTEX_INITIALIZER,
                                         .cv = PTHREAD_COND_INITIALIZER};

/* configure - the calendar, the due-date table and the clock; shared by the service and commands */
static int configure(service_ctx *ctx, char *err, size_t errlen)
{
    suggestion_state *st = &suggestion_st;
    char why[200];
    if (suggestion_due_parse(cfg_str(ctx->own, SUG_DUE_WORKDAYS), st->due_workdays, why,
                             sizeof(why)) < 0) {
        snprintf(err, errlen, "SUGGESTION_DUE_WORKDAYS: %s", why);
        return -1;
    }
    if (suggestion_now_parse(cfg_str(ctx->own, SUG_NOW), &st->fixed_now_ms) < 0) {
        snprintf(err, errlen, "SUGGESTION_NOW must be empty or an RFC 3339 instant with offset");
        return -1;
    }
    st->cal = sugcal_load(cfg_str(ctx->own, SUG_HOLIDAYS_FILE), why, sizeof(why));
    if (st->cal == NULL) {
        snprintf(err, errlen, "SUGGESTION_HOLIDAYS_FILE: %s", why);
        return -1;
    }
    st->auto_close_days = (int)cfg_int(ctx->own, SUG_AUTO_CLOSE_DAYS);
    st->escalate_town_workdays = (int)cfg_int(ctx->own, SUG_ESCALATE_TOWN_WORKDAYS);
    st->escalate_county_workdays = (int)cfg_int(ctx->own, SUG_ESCALATE_COUNTY_WORKDAYS);
    st->supervise_interval_ms = (int)cfg_int(ctx->own, SUG_SUPERVISE_INTERVAL_MS);
    st->ctx = ctx;
    ctx->state = st;
    if (st->fixed_now_ms)
        log_warn("SUGGESTION_NOW is set: the service's clock is fixed at %s",
                 cfg_str(ctx->own, SUG_NOW));
    return 0;
}

/* suggestion_init - configure, then start the supervisor thread */
static int suggestion_init(service_ctx *ctx, char *err, size_t errlen)
{
    if (configure(ctx, err, errlen) < 0)
        return -1;
    return suggestion_supervisor_start(ctx, err, errlen);
}

/* suggestion_fini - stop the supervisor before the relay stops */
static void suggestion_fini(service_ctx *ctx)
{
    suggestion_supervisor_stop(ctx);
    suggestion_st.cal = sugcal_free(suggestion_st.cal);
}

/* with_state - a one-off command with the service's configuration loaded */
static int with_state(service_ctx *ctx, int (*run)(service_ctx *))
{
    char err[256];
    if (configure(ctx, err, sizeof(err)) < 0) {
        log_fatal("configuration: %s", err);
        return 78;
    }
    int rc = run(ctx);
    suggestion_st.cal = sugcal_free(suggestion_st.cal);
    return rc;
}

/* supervise - the --supervise command: one pass at the service clock */
static int supervise(service_ctx *ctx)
{
    return with_state(ctx, suggestion_supervise_command);
}

/* import - the --import command: historical records from standard input */
static int import(service_ctx *ctx)
{
    return with_state(ctx, suggestion_import_command);
}

static const service_command suggestion_commands[] = {
    {"--supervise", "one supervisor pass (overdue, escalation, auto-close) at the service clock",
     supervise, 0},
    {"--import", "replay historical proposals (JSON lines on standard input) at their instants",
     import, 0},
};

static const service_def suggestion_service = {
    .name = "suggestion",
    .default_port = 8084,
    .params = suggestion_params,
    .nparams = SUG_NPARAMS,
    .routes = suggestion_routes,
    .nroutes = sizeof(suggestion_routes) / sizeof(suggestion_routes[0]),
    .produces = suggestion_produces,
    .consumes = suggestion_consumes,
    .consumers = suggestion_consumers,
    .nconsumers = 1,
    .init = suggestion_init,
    .fini = suggestion_fini,
    .commands = suggestion_commands,
    .ncommands = sizeof(suggestion_commands) / sizeof(suggestion_commands[0]),
};

int main(int argc, char **argv)
{
    return service_main(argc, argv, &suggestion_service);
}
