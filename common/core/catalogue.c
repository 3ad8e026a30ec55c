/*
 * catalogue.c - the event catalogue's table (core/catalogue.h): every
 * topic and every event type of the system, and the few look-ups and the
 * JSON form that shantang-ctl and the services read. No configuration;
 * nothing is allocated except by catalogue_json().
 */
#include "core/catalogue.h"

#include <stdio.h>
#include <string.h>

/* EV - one event type of topic T, its schema file named after the type */
#define EV(var, T, name, what) const catalogue_event var = {name, &T, "data/" name ".json", what}

/* LIST - a NULL-terminated list of the events of one topic */
#define LIST(...) ((const catalogue_event *const[]){__VA_ARGS__, NULL})

const catalogue_topic cat_topic_regions = {
    "regions.v1",
    3,
    NULL,
    "registry",
    "the region code",
    "the regions of both sides, every level, each with its full current state",
    LIST(&cat_region_upserted)};
EV(cat_region_upserted, cat_topic_regions, "region.upserted",
   "a region imported or changed (start-up list or POST /v1/regions/import)");

const catalogue_topic cat_topic_projects = {
    "projects.v1",
    6,
    NULL,
    "registry",
    "the project id",
    "the common-prosperity projects, each event the project's full current state and version",
    LIST(&cat_project_registered, &cat_project_updated, &cat_project_status_changed)};
EV(cat_project_registered, cat_topic_projects, "project.registered", "a project registered");
EV(cat_project_updated, cat_topic_projects, "project.updated", "a project's fields changed");
EV(cat_project_status_changed, cat_topic_projects, "project.status_changed",
   "a project's status moved (previous_status and reason added)");

const catalogue_topic cat_topic_notables = {"notables.v1",
                                            3,
                                            NULL,
                                            "registry",
                                            "the notable id",
                                            "the registered notables (乡贤)",
                                            LIST(&cat_notable_registered)};
EV(cat_notable_registered, cat_topic_notables, "notable.registered", "a notable registered");

const catalogue_topic cat_topic_households = {
    "households.v1",
    6,
    NULL,
    "enrollment",
    "the household id (enrollment events too: one household's events stay in order)",
    "low-income households and their enrollment into projects",
    LIST(&cat_household_registered, &cat_household_updated, &cat_enrollment_started,
         &cat_enrollment_ended)};
EV(cat_household_registered, cat_topic_households, "household.registered",
   "a household registered (by hand or by a CSV import)");
EV(cat_household_updated, cat_topic_households, "household.updated", "a household changed");
EV(cat_enrollment_started, cat_topic_households, "enrollment.started",
   "a household enrolled into a project");
EV(cat_enrollment_ended, cat_topic_households, "enrollment.ended", "an enrollment ended");

const catalogue_topic cat_topic_income = {
    "income.v1",
    6,
    NULL,
    "income",
    "the household id for a household's entry, else the project id (the subject is the entry id)",
    "the append-only income ledger",
    LIST(&cat_income_recorded, &cat_income_reversed)};
EV(cat_income_recorded, cat_topic_income, "income.recorded", "an income entry recorded");
EV(cat_income_reversed, cat_topic_income, "income.reversed",
   "a reversing entry recorded against an earlier one");

const catalogue_topic cat_topic_suggestions = {
    "suggestions.v1",
    6,
    NULL,
    "suggestion",
    "the proposal id (unit.registered: the unit id)",
    "the proposals' closed loop, and the handling units",
    LIST(&cat_suggestion_submitted, &cat_suggestion_accepted, &cat_suggestion_rejected,
         &cat_suggestion_assigned, &cat_suggestion_progressed, &cat_suggestion_resolved,
         &cat_suggestion_closed, &cat_suggestion_reopened, &cat_suggestion_overdue,
         &cat_suggestion_escalated, &cat_unit_registered)};
EV(cat_suggestion_submitted, cat_topic_suggestions, "suggestion.submitted",
   "a notable submitted a proposal");
EV(cat_suggestion_accepted, cat_topic_suggestions, "suggestion.accepted",
   "a supervisor accepted a proposal");
EV(cat_suggestion_rejected, cat_topic_suggestions, "suggestion.rejected",
   "a supervisor rejected a proposal, with the reason");
EV(cat_suggestion_assigned, cat_topic_suggestions, "suggestion.assigned",
   "a proposal assigned (交办) to a unit per side, with due dates");
EV(cat_suggestion_progressed, cat_topic_suggestions, "suggestion.progressed",
   "a unit posted progress, or one side of a cross-border proposal resolved");
EV(cat_suggestion_resolved, cat_topic_suggestions, "suggestion.resolved",
   "every part resolved (办结)");
EV(cat_suggestion_closed, cat_topic_suggestions, "suggestion.closed",
   "closed by feedback, a supervisor or the supervisor pass");
EV(cat_suggestion_reopened, cat_topic_suggestions, "suggestion.reopened",
   "the notable reopened a resolved proposal");
EV(cat_suggestion_overdue, cat_topic_suggestions, "suggestion.overdue",
   "a part passed its due date (supervisor pass)");
EV(cat_suggestion_escalated, cat_topic_suggestions, "suggestion.escalated",
   "an overdue part escalated to the town or the county");
EV(cat_unit_registered, cat_topic_suggestions, "unit.registered", "a handling unit registered");

const catalogue_topic cat_topic_accounts = {
    "accounts.v1",
    3,
    NULL,
    "accounts",
    "the account id",
    "accounts and grants (never a code, password or hash; the phone masked)",
    LIST(&cat_account_created, &cat_account_updated, &cat_account_disabled, &cat_account_enabled,
         &cat_account_password_changed, &cat_grant_added, &cat_grant_removed,
         &cat_account_revoked)};
EV(cat_account_created, cat_topic_accounts, "account.created", "an account created");
EV(cat_account_updated, cat_topic_accounts, "account.updated",
   "an account's name or phone changed");
EV(cat_account_disabled, cat_topic_accounts, "account.disabled", "an account disabled");
EV(cat_account_enabled, cat_topic_accounts, "account.enabled", "an account enabled again");
EV(cat_account_password_changed, cat_topic_accounts, "account.password_changed",
   "an account's password set or changed");
EV(cat_grant_added, cat_topic_accounts, "grant.added", "a grant added to an account");
EV(cat_grant_removed, cat_topic_accounts, "grant.removed", "a grant removed from an account");
EV(cat_account_revoked, cat_topic_accounts, "account.revoked",
   "every token of the account issued until now is refused (every service applies it)");

const catalogue_topic cat_topic_signin = {
    "signin.v1",
    3,
    "retention.ms=600000,segment.ms=60000",
    "accounts",
    "the phone number (the subject is the code's id)",
    "sealed sign-in codes for the notifier, kept no longer than a code lives",
    LIST(&cat_signin_code_issued)};
EV(cat_signin_code_issued, cat_topic_signin, "signin.code_issued",
   "a sign-in code issued, sealed for the notifier");

const catalogue_topic cat_topic_deadletter = {
    "deadletter.v1",
    3,
    NULL,
    "*",
    "the original message's key (its event id when it had none); the notifier's: the delivery id",
    "what a consumer could not process, and SMS deliveries failed for good, with the reason",
    LIST(&cat_deadletter)};
EV(cat_deadletter, cat_topic_deadletter, "deadletter",
   "a message set aside by a consumer (core/kafka.c) or a delivery failed (notifier)");

const catalogue_topic *const catalogue_topics[] = {&cat_topic_regions,    &cat_topic_projects,
                                                   &cat_topic_notables,   &cat_topic_households,
                                                   &cat_topic_income,     &cat_topic_suggestions,
                                                   &cat_topic_deadletter, &cat_topic_accounts,
                                                   &cat_topic_signin,     NULL};

/* catalogue_topic_find - a linear search: the table is small */
const catalogue_topic *catalogue_topic_find(const char *name)
{
    for (const catalogue_topic *const *t = catalogue_topics; *t; t++)
        if (strcmp((*t)->name, name) == 0)
            return *t;
    return NULL;
}

/* catalogue_event_find - every topic's events in turn */
const catalogue_event *catalogue_event_find(const char *type)
{
    for (const catalogue_topic *const *t = catalogue_topics; *t; t++)
        for (const catalogue_event *const *e = (*t)->events; *e; e++)
            if (strcmp((*e)->type, type) == 0)
                return *e;
    return NULL;
}

/* catalogue_topic_spec - name:partitions[:config] */
int catalogue_topic_spec(const catalogue_topic *t, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s:%d%s%s", t->name, t->partitions, t->config ? ":" : "",
                     t->config ? t->config : "");
    return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* catalogue_topics_of - each event's topic once */
int catalogue_topics_of(const catalogue_event *const *events, const char **names, size_t max)
{
    size_t n = 0;
    for (const catalogue_event *const *e = events; e && *e; e++) {
        size_t i = 0;
        while (i < n && strcmp(names[i], (*e)->topic->name) != 0)
            i++;
        if (i < n)
            continue;
        if (n == max)
            return -1;
        names[n++] = (*e)->topic->name;
    }
    return (int)n;
}

/* add_str - a string member, or null when s is NULL; 0 or -1 when out of memory */
static int add_str(cJSON *o, const char *name, const char *s)
{
    return (s ? cJSON_AddStringToObject(o, name, s) : cJSON_AddNullToObject(o, name)) ? 0 : -1;
}

/* add_child - a new object appended to the array arr; NULL when out of memory */
static cJSON *add_child(cJSON *arr)
{
    cJSON *o = cJSON_CreateObject();
    if (o && !cJSON_AddItemToArray(arr, o))
        o = (cJSON_Delete(o), NULL);
    return o;
}

/* catalogue_json - the table as one JSON document */
cJSON *catalogue_json(void)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *topics = root ? cJSON_AddArrayToObject(root, "topics") : NULL;
    int bad = topics == NULL;
    for (const catalogue_topic *const *t = catalogue_topics; *t && !bad; t++) {
        cJSON *o = add_child(topics), *events = NULL;
        bad = o == NULL || add_str(o, "name", (*t)->name) < 0 ||
              !cJSON_AddNumberToObject(o, "partitions", (*t)->partitions) ||
              add_str(o, "config", (*t)->config) < 0 ||
              add_str(o, "producer", (*t)->producer) < 0 || add_str(o, "key", (*t)->key) < 0 ||
              add_str(o, "summary", (*t)->summary) < 0 ||
              (events = cJSON_AddArrayToObject(o, "events")) == NULL;
        for (const catalogue_event *const *e = (*t)->events; *e && !bad; e++) {
            cJSON *x = add_child(events);
            bad = x == NULL || add_str(x, "type", (*e)->type) < 0 ||
                  add_str(x, "schema", (*e)->schema) < 0 ||
                  add_str(x, "summary", (*e)->summary) < 0;
        }
    }
    if (bad)
        root = (cJSON_Delete(root), NULL);
    return root;
}
