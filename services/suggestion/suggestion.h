/*
 * suggestion.h - proposal intake with a supervised closed loop (件件有着落).
 *
 * Notables submit prosperity proposals; supervisors accept or reject them
 * and assign them to handling units, one per side of the border the
 * proposal concerns; the units post progress and answer; the submitter
 * gives feedback or the proposal closes itself after a number of days; an
 * unsatisfied submitter may reopen it once. The lifecycle is the table of
 * suggestion_fsm.c; due dates count working days on the calendar of
 * suggestion_calendar.c; a supervisor pass, run by every instance, marks
 * overdue parts, escalates them village -> town -> county and closes
 * proposals left resolved, each exactly once (row locks and conditional
 * updates decide, whatever the number of instances).
 * Publishes suggestion.* on suggestions.v1, keyed by proposal id; learns
 * regions, projects and notables from regions.v1, projects.v1, notables.v1.
 * Files: suggestion_fsm.c, suggestion_calendar.c (pure), suggestion_rules.c
 * (configuration and field rules), suggestion_readmodel.c (the consumer),
 * suggestion_units.c (handling units), suggestion_api.c (submission and
 * reads), suggestion_transition.c (the transitions), suggestion_supervisor.c
 * (the supervisor pass, its thread and the --supervise command),
 * suggestion_stats.c (statistics), main.c.
 */
#ifndef SHANTANG_SUGGESTION_H
#define SHANTANG_SUGGESTION_H

#include <pthread.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include "core/catalogue.h"
#include "core/http.h"
#include "core/kafka.h"
#include "core/service.h"
#include "suggestion_calendar.h"
#include "suggestion_fsm.h"

/* suggestions.v1, from the event catalogue */
#define SUGGESTION_TOPIC (cat_topic_suggestions.name)
#define SUGGESTION_TITLE_MAX 100   /* characters */
#define SUGGESTION_TEXT_MAX 5000   /* characters */
#define SUGGESTION_VILLAGES_MAX 20 /* village codes of one proposal */
#define SUGGESTION_ATTACHMENTS_MAX 10
#define SUGGESTION_NOTE_MAX 2000 /* reason, note, answer, comment: characters */
#define SUGGESTION_NCATEGORIES 7

/* The suggestion service's own parameters, in table order (main.c). */
enum {
    SUG_HOLIDAYS_FILE,
    SUG_DUE_WORKDAYS,
    SUG_AUTO_CLOSE_DAYS,
    SUG_ESCALATE_TOWN_WORKDAYS,
    SUG_ESCALATE_COUNTY_WORKDAYS,
    SUG_SUPERVISE_INTERVAL_MS,
    SUG_NOW,
    SUG_NPARAMS
};

/* The service's state, hung on service_ctx.state by main.c's init. */
typedef struct suggestion_state {
    sugcal *cal;                              /* the working-day calendar */
    int due_workdays[SUGGESTION_NCATEGORIES]; /* default due date per category */
    int auto_close_days;                      /* resolved -> closed after this many days */
    int escalate_town_workdays;               /* overdue (village) -> town after */
    int escalate_county_workdays;             /* town -> county after */
    int supervise_interval_ms;                /* the supervisor thread's period */
    int64_t fixed_now_ms;                     /* SUGGESTION_NOW, or 0 for the system clock */
    service_ctx *ctx;                         /* for the supervisor thread */
    pthread_t thread;                         /* the supervisor thread */
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;
} suggestion_state;

/* --- suggestion_rules.c --- */

/* suggestion_category_index - the index of a category name ("助农", ..., "other"), or -1 */
int suggestion_category_index(const char *name);

/* suggestion_category_name - the name of category i; NULL out of range */
const char *suggestion_category_name(int i);

/*
 * suggestion_due_parse - "助农:10,助学:15,..." into days[], every category
 * exactly once, each 1..250 working days. Returns 0, or -1 with err.
 */
int suggestion_due_parse(const char *spec, int days[SUGGESTION_NCATEGORIES], char *err,
                         size_t errlen);

/*
 * suggestion_now_parse - SUGGESTION_NOW: "" for the system clock, else an
 * RFC 3339 instant with an offset or Z ("2026-12-01T09:00:00+08:00").
 * Returns 0 with *ms (0 for ""), or -1.
 */
int suggestion_now_parse(const char *s, int64_t *ms);

/* suggestion_now_ms - the service's clock: SUGGESTION_NOW when set, else the system's */
int64_t suggestion_now_ms(const suggestion_state *st);

/*
 * suggestion_add_workdays - the date n working days after from
 * ("YYYY-MM-DD"), counting from the day after: the calendar's answer where
 * it covers the days, Monday to Friday where it does not (a year whose
 * holidays are not shipped yet). Returns 0, 1 when some day was estimated
 * that way, -1 for a malformed date or n outside 0..1000.
 */
int suggestion_add_workdays(const sugcal *cal, const char *from, int n, char out[11]);

/*
 * suggestion_workdays_before - the latest date d with n working days in
 * (d, day]: how far back "n working days ago" reaches. Returns like
 * suggestion_add_workdays.
 */
int suggestion_workdays_before(const sugcal *cal, const char *day, int n, char out[11]);

/*
 * suggestion_attachments_check - "attachments": an array of at most
 * SUGGESTION_ATTACHMENTS_MAX objects {url (http or https, at most 2048
 * bytes, no spaces), sha256 (64 hex digits), name (optional, 1..200
 * characters)}. Returns 0, or -1 after a 422 naming the field.
 */
int suggestion_attachments_check(const cJSON *arr, http_resp *resp);

/* --- suggestion_readmodel.c --- */

/* suggestion_consumes - NULL-terminated: what the consumer applies, from the catalogue */
extern const catalogue_event *const suggestion_consumes[];

/* suggestion_apply - the consumer: regions, projects and notables */
kafka_apply_result suggestion_apply(PGconn *conn, const cJSON *ev, void *ctx, char *err,
                                    size_t errlen);

/* --- suggestion_units.c --- */

void suggestion_units_create(http_req *req, http_resp *resp, void *ctx); /* POST /v1/units */
void suggestion_units_list(http_req *req, http_resp *resp, void *ctx);   /* GET /v1/units */

/* --- suggestion_api.c --- */

/* A submission's checked fields (pointers into the request body) and what the insert adds. */
typedef struct suggestion_input {
    const char *title, *text, *category, *project_id;
    char villages[SUGGESTION_VILLAGES_MAX * 14 + 3]; /* PostgreSQL text[] literal */
    char *attachments;                               /* JSON text, owned (free it) */
    char id[37];                                     /* preset to keep an id, else made */
    char now[40];                                    /* the submission's instant, RFC 3339 */
} suggestion_input;

/* suggestion_input_parse - check a submission's fields into in; -1 after a 422 on resp */
int suggestion_input_parse(const cJSON *body, suggestion_input *in, http_resp *resp);

/*
 * suggestion_insert - record a checked submission by req->auth.sub at
 * in->now, its history row and suggestion.submitted, on conn inside the
 * caller's transaction (the import's; arg is the input): one statement,
 * suggestion_submit (suggestion 003), the command POST /v1/suggestions runs
 * alone. Answers 201 with the proposal, or a problem and -1.
 */
int suggestion_insert(PGconn *conn, http_req *req, http_resp *resp, void *arg);

void suggestion_create(http_req *req, http_resp *resp, void *ctx);  /* POST /v1/suggestions */
void suggestion_list(http_req *req, http_resp *resp, void *ctx);    /* GET /v1/suggestions */
void suggestion_get(http_req *req, http_resp *resp, void *ctx);     /* GET .../{id} */
void suggestion_history(http_req *req, http_resp *resp, void *ctx); /* GET .../{id}/history */

/*
 * suggestion_publish - queue the event type for proposal id on
 * suggestions.v1 inside the caller's transaction, its data the proposal's
 * event_data() merged with extra (borrowed, may be NULL). Returns 0 or -1
 * with err.
 */
int suggestion_publish(PGconn *conn, const char *type, const char *id, const cJSON *extra,
                       db_err *err);

/* --- suggestion_transition.c --- */

void suggestion_transition(http_req *req, http_resp *resp, void *ctx); /* POST .../transitions */

/*
 * suggestion_step - one transition of proposal id by req->auth at at_ms,
 * body {"action": ..., fields}, on conn inside the caller's transaction,
 * with every check the HTTP route makes. Returns 0 (resp 200) or -1 (resp
 * holds the problem).
 */
int suggestion_step(PGconn *conn, http_req *req, http_resp *resp, suggestion_state *st,
                    const char *id, const cJSON *body, int64_t at_ms);

/* --- suggestion_import.c --- */

/*
 * suggestion_import_command - `shantang-suggestion --import`: historical
 * proposals as JSON lines on standard input, each replayed through the
 * state machine at its recorded instants (see suggestion_import.c).
 */
int suggestion_import_command(service_ctx *ctx);

/* --- suggestion_supervisor.c --- */

/*
 * suggestion_supervise_once - one supervisor pass at now_ms: mark overdue
 * parts (suggestion.overdue), escalate (suggestion.escalated), close
 * proposals resolved longer than the auto-close days ago
 * (suggestion.closed). Each in its own transaction; each row changes once
 * whatever runs beside it. Fills counts[3] (overdue, escalated, closed).
 * Returns 0, or -1 on a database failure (logged).
 */
int suggestion_supervise_once(service_ctx *ctx, int64_t now_ms, long counts[3]);

/* suggestion_supervisor_start / _stop - the thread that runs a pass every interval */
int suggestion_supervisor_start(service_ctx *ctx, char *err, size_t errlen);
void suggestion_supervisor_stop(service_ctx *ctx);

/* suggestion_supervise_command - `shantang-suggestion --supervise`: one pass, counts printed */
int suggestion_supervise_command(service_ctx *ctx);

/* --- suggestion_stats.c --- */

void suggestion_stats(http_req *req, http_resp *resp, void *ctx); /* GET /v1/suggestions/stats */

#endif
