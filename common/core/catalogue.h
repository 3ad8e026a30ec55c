/*
 * catalogue.h - the event catalogue: the system-wide protocol between the
 * services, in one table. For every topic: its name, partitions, topic
 * configuration, the service that produces it, the rule that makes its
 * Kafka key, and the event types that travel on it, each with the JSON
 * Schema of its data under schemas/events/.
 *
 * Every service_def (core/service.h) names the topics it produces and the
 * events it consumes by pointing into this table; shantang-ctl catalogue
 * prints it; deploy/kafka/topics, schemas/events/asyncapi.yaml and the
 * schema files are checked against it by the tests (tests/docs,
 * tests/contracts). Nothing here is read from configuration.
 *
 * Evolving a schema: a type's data may gain optional fields (consumers ignore
 * what they do not know); removing or renaming a field, changing its type or
 * meaning, making it required, or changing the key rule needs a new topic
 * version (name.v2) published alongside the old one until every consumer
 * has moved.
 */
#ifndef SHANTANG_CORE_CATALOGUE_H
#define SHANTANG_CORE_CATALOGUE_H

#include <stddef.h>
#include <cjson/cJSON.h>

typedef struct catalogue_event catalogue_event;

typedef struct catalogue_topic {
    const char *name;                     /* "projects.v1": versioned */
    int partitions;                       /* partitions it is created with */
    const char *config;                   /* "key=value,..." topic configuration, or NULL */
    const char *producer;                 /* the service publishing it ("every consumer": *) */
    const char *key;                      /* what the Kafka key of a message is */
    const char *summary;                  /* what the topic carries, one line */
    const catalogue_event *const *events; /* NULL-terminated: the types on the topic */
} catalogue_topic;

struct catalogue_event {
    const char *type;             /* the CloudEvents type, "project.registered" */
    const catalogue_topic *topic; /* the topic it travels on */
    const char *schema;           /* its data's JSON Schema, relative to schemas/events/ */
    const char *summary;          /* when it is published, one line */
};

/* The topics, by name. */
extern const catalogue_topic cat_topic_regions, cat_topic_projects, cat_topic_notables,
    cat_topic_households, cat_topic_income, cat_topic_suggestions, cat_topic_accounts,
    cat_topic_signin, cat_topic_deadletter;

/* The event types, by topic. */
extern const catalogue_event cat_region_upserted;
extern const catalogue_event cat_project_registered, cat_project_updated,
    cat_project_status_changed;
extern const catalogue_event cat_notable_registered;
extern const catalogue_event cat_household_registered, cat_household_updated,
    cat_enrollment_started, cat_enrollment_ended;
extern const catalogue_event cat_income_recorded, cat_income_reversed;
extern const catalogue_event cat_suggestion_submitted, cat_suggestion_accepted,
    cat_suggestion_rejected, cat_suggestion_assigned, cat_suggestion_progressed,
    cat_suggestion_resolved, cat_suggestion_closed, cat_suggestion_reopened, cat_suggestion_overdue,
    cat_suggestion_escalated, cat_unit_registered;
extern const catalogue_event cat_account_created, cat_account_updated, cat_account_disabled,
    cat_account_enabled, cat_account_password_changed, cat_grant_added, cat_grant_removed,
    cat_account_revoked;
extern const catalogue_event cat_signin_code_issued;
extern const catalogue_event cat_deadletter;

/* catalogue_topics - every topic, NULL-terminated, in the order of deploy/kafka/topics */
extern const catalogue_topic *const catalogue_topics[];

/* catalogue_topic_find - the topic named name, or NULL */
const catalogue_topic *catalogue_topic_find(const char *name);

/* catalogue_event_find - the event of type type, or NULL */
const catalogue_event *catalogue_event_find(const char *type);

/*
 * catalogue_topic_spec - "name:partitions[:config]" of t in buf, the form
 * kafka_ensure_topics() takes. Returns 0, or -1 when buf is too short.
 */
int catalogue_topic_spec(const catalogue_topic *t, char *buf, size_t len);

/*
 * catalogue_topics_of - the distinct topics of the NULL-terminated events,
 * in their order, into names (at most max). Returns how many, or -1 when
 * more than max.
 */
int catalogue_topics_of(const catalogue_event *const *events, const char **names, size_t max);

/*
 * catalogue_json - the whole table as JSON: {"topics": [{"name",
 * "partitions", "config", "producer", "key", "summary", "events": [{"type",
 * "schema", "summary"}]}]}. Returns a cJSON owned by the caller, or NULL when
 * out of memory.
 */
cJSON *catalogue_json(void);

#endif
