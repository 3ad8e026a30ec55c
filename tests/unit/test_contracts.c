/*
 * test_contracts.c - every consumer is fed the golden example
 * (schemas/events/examples/<type>.json) of each event type it declares it
 * consumes (its <service>_consumes list, from the event catalogue), and must
 * not refuse it: a change of an event's shape that breaks a consumer fails
 * here, before it reaches Kafka.
 *
 * The handlers run with no database connection: a handler that accepts the
 * data goes on to its first statement, which fails, so it answers RETRY
 * (or OK when it has nothing to do); one that refuses the data answers
 * PERMANENT before that. The same event with its data emptied must be
 * refused, which shows the check reaches the handler's validation.
 * Also: each topic of the catalogue and each event's schema and golden file
 * exist, and every route of the shipped routing table names an event the
 * notifier consumes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "core/catalogue.h"
#include "core/event.h"
#include "core/service.h"
#include "accounts.h"
#include "enrollment.h"
#include "income.h"
#include "notifier.h"
#include "suggestion.h"
#include "util/log.h"

/* source_path - SHANTANG_SOURCE_DIR/rel in buf */
static const char *source_path(char *buf, size_t len, const char *rel)
{
    const char *src = getenv("SHANTANG_SOURCE_DIR");
    snprintf(buf, len, "%s/%s", src ? src : "../..", rel);
    return buf;
}

/* golden - the golden example of type, parsed; NULL (and a failed check) when missing */
static cJSON *golden(const char *type)
{
    char rel[256], path[1024];
    snprintf(rel, sizeof(rel), "schemas/events/examples/%s.json", type);
    FILE *f = fopen(source_path(path, sizeof(path), rel), "r");
    CHECK(f != NULL, "%s: no golden example at %s", type, rel);
    if (f == NULL)
        return NULL;
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof(text) - 1, f);
    fclose(f);
    text[n] = '\0';
    cJSON *ev = cJSON_Parse(text);
    CHECK(ev != NULL, "%s: the golden example is not JSON", type);
    return ev;
}

typedef struct consumer_case {
    const char *name;                     /* the consumer group */
    kafka_apply_fn apply;                 /* its handler */
    void *ctx;                            /* the handler's ctx */
    const catalogue_event *const *events; /* what it declares it consumes */
    const char *const *tolerant;          /* types it may accept with empty data */
} consumer_case;

/* feed - one consumer, every golden file it consumes, and each one emptied */
static void feed(const consumer_case *c)
{
    int fed = 0;
    for (const catalogue_event *const *e = c->events; *e; e++) {
        cJSON *ev = golden((*e)->type);
        if (ev == NULL)
            continue;
        char err[512] = "";
        CHECK(event_validate(ev, err, sizeof(err)) == 0, "%s: golden envelope refused: %s",
              (*e)->type, err);
        CHECK_STR(event_type(ev), (*e)->type, "the golden example's type");
        err[0] = '\0';
        kafka_apply_result r = c->apply(NULL, ev, c->ctx, err, sizeof(err));
        CHECK(r != KAFKA_APPLY_PERMANENT, "%s refuses the golden %s: %s", c->name, (*e)->type, err);
        fed++;
        int tolerant = 0;
        for (const char *const *t = c->tolerant; t && *t; t++)
            tolerant |= strcmp(*t, (*e)->type) == 0;
        cJSON_ReplaceItemInObjectCaseSensitive(ev, "data", cJSON_CreateObject());
        err[0] = '\0';
        r = c->apply(NULL, ev, c->ctx, err, sizeof(err));
        if (!tolerant)
            CHECK(r == KAFKA_APPLY_PERMANENT && err[0],
                  "%s accepts %s with empty data (got %d): the check does not reach its "
                  "validation",
                  c->name, (*e)->type, (int)r);
        cJSON_Delete(ev);
    }
    CHECK(fed > 0, "%s: no golden example fed", c->name);
}

/* test_catalogue - names unique, every topic's events point back, every schema file there */
static void test_catalogue(void)
{
    int topics = 0, events = 0;
    char path[1024], rel[256];
    for (const catalogue_topic *const *t = catalogue_topics; *t; t++, topics++) {
        CHECK(catalogue_topic_find((*t)->name) == *t, "topic %s found once", (*t)->name);
        CHECK((*t)->partitions >= 1, "%s has partitions", (*t)->name);
        CHECK(strstr((*t)->name, ".v") != NULL, "%s is versioned", (*t)->name);
        for (const catalogue_event *const *e = (*t)->events; *e; e++, events++) {
            CHECK((*e)->topic == *t, "%s points to its topic %s", (*e)->type, (*t)->name);
            CHECK(catalogue_event_find((*e)->type) == *e, "event %s found once", (*e)->type);
            snprintf(rel, sizeof(rel), "schemas/events/%s", (*e)->schema);
            FILE *f = fopen(source_path(path, sizeof(path), rel), "r");
            CHECK(f != NULL, "%s: its schema %s exists", (*e)->type, rel);
            if (f)
                fclose(f);
        }
    }
    CHECK_INT(topics, 9, "topics in the catalogue");
    CHECK_STR(KAFKA_DEADLETTER_TOPIC, cat_topic_deadletter.name,
              "core/kafka.h's dead-letter topic is the catalogue's");
    CHECK_INT(events, 32, "event types in the catalogue");
    char spec[128];
    CHECK(catalogue_topic_spec(&cat_topic_signin, spec, sizeof(spec)) == 0, "signin spec");
    CHECK_STR(spec, "signin.v1:3:retention.ms=600000,segment.ms=60000", "signin.v1's spec");
    const char *names[4];
    const catalogue_event *const mixed[] = {&cat_project_updated, &cat_region_upserted,
                                            &cat_project_registered, NULL};
    CHECK_INT(catalogue_topics_of(mixed, names, 4), 2, "distinct topics of three events");
    CHECK_STR(names[1], "regions.v1", "in the events' order");
    CHECK_INT(catalogue_topics_of(mixed, names, 1), -1, "too many topics for the room");
    cJSON *j = catalogue_json();
    CHECK(j && cJSON_GetArraySize(cJSON_GetObjectItem(j, "topics")) == topics,
          "catalogue_json has every topic");
    cJSON_Delete(j);
}

/* test_notifier_routes_consumed - the shipped routes name only what the notifier consumes */
static ntf_routes *test_notifier_routes_consumed(void)
{
    char path[1024], err[400] = "";
    ntf_routes *t = ntf_routes_load(source_path(path, sizeof(path), "deploy/notifier/routes.json"),
                                    err, sizeof(err));
    CHECK(t != NULL, "deploy/notifier/routes.json refused: %s", err);
    for (int i = 0; t && i < t->nroutes; i++) {
        int found = 0;
        for (const catalogue_event *const *e = notifier_consumes; *e; e++)
            found |= strcmp((*e)->type, t->routes[i].event_type) == 0;
        CHECK(found, "route %s names %s, which notifier_consumes does not list", t->routes[i].name,
              t->routes[i].event_type);
    }
    return t;
}

int main(void)
{
    log_init("test", LOG_FATAL);
    test_catalogue();
    ntf_state nst;
    memset(&nst, 0, sizeof(nst));
    nst.routes = test_notifier_routes_consumed();
    nst.has_seal = 0;
    service_ctx nctx = {.name = "notifier", .state = &nst};
    service_ctx actx = {.name = "income"}; /* the auth consumer never reaches its verifier here */
    /* the notifier takes with empty data the types whose every route is optional (a missing
       phone skips the route) */
    const char *notifier_tolerant[64];
    size_t nt = 0;
    for (const catalogue_event *const *e = notifier_consumes; *e && nt + 1 < 64; e++) {
        int routes = 0, optional = 0;
        for (int i = 0; nst.routes && i < nst.routes->nroutes; i++)
            if (strcmp(nst.routes->routes[i].event_type, (*e)->type) == 0) {
                routes++;
                optional += nst.routes->routes[i].optional;
            }
        if (routes > 0 && routes == optional)
            notifier_tolerant[nt++] = (*e)->type;
    }
    notifier_tolerant[nt] = NULL;
    const consumer_case cases[] = {
        {"enrollment", enrollment_apply, NULL, enrollment_consumes, NULL},
        {"income", income_apply, NULL, income_consumes, NULL},
        {"suggestion", suggestion_apply, NULL, suggestion_consumes, NULL},
        {"accounts", accounts_apply, NULL, accounts_consumes, NULL},
        {"notifier", notifier_apply, &nctx, notifier_consumes, notifier_tolerant},
        {"<service>.auth", service_auth_apply, &actx, service_auth_consumes, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        feed(&cases[i]);
    ntf_routes_free(nst.routes);
    return check_done();
}
