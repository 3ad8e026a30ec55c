/*
 * enrollment.h - households and their enrollment into projects: the
 * village coordinators' service.
 *
 * Coordinators register low-income farmer households of the villages in
 * their token's scope and link them to projects. ID-card numbers are kept
 * encrypted with a blind index (core/pii.h), shown masked to everyone but
 * the admin, and never put in a log line or an event. The service learns
 * villages from regions.v1 and projects from projects.v1 (local read
 * models) and publishes households.v1: household.registered,
 * household.updated, enrollment.started, enrollment.ended, keyed by household id.
 * Files: enrollment_validate.c (pure rules), enrollment_readmodel.c (the
 * consumer), enrollment_households.c, enrollment_enrollments.c, main.c.
 */
#ifndef SHANTANG_ENROLLMENT_H
#define SHANTANG_ENROLLMENT_H

#include <stdint.h>
#include <cjson/cJSON.h>
#include <libpq-fe.h>
#include "core/catalogue.h"
#include "core/http.h"
#include "core/kafka.h"
#include "core/pii.h"

#define ENROLLMENT_TOPIC (cat_topic_households.name) /* households.v1, from the catalogue */

/* The enrollment service's own parameters, in table order (main.c). */
enum { ENR_PII_ENC_KEY, ENR_PII_INDEX_KEY, ENR_NPARAMS };

/* The service's state, hung on service_ctx.state by main.c's init. */
typedef struct enrollment_state {
    pii_keys keys; /* ID-number encryption and blind-index keys */
} enrollment_state;

/* --- enrollment_validate.c --- */

/* enrollment_kind_valid - 1 for employment, land_transfer, share, supply, training */
int enrollment_kind_valid(const char *kind);

/* --- enrollment_readmodel.c --- */

/* enrollment_consumes - NULL-terminated: what the consumer applies, from the catalogue */
extern const catalogue_event *const enrollment_consumes[];

/* enrollment_apply - the consumer: villages from regions.v1, projects from projects.v1 */
kafka_apply_result enrollment_apply(PGconn *conn, const cJSON *ev, void *ctx, char *err,
                                    size_t errlen);

/* --- enrollment_households.c, shared with the CSV import --- */

#define MAX_MEMBERS 20

typedef struct member_input {
    const char *name, *relation;
    long long birth_year;
    char id[19], index[65], masked[19], enc[128];
    int has_id;
} member_input;

typedef struct household_input {
    const char *head_name, *phone_raw, *village;
    char phone[12], id[19], index[65], masked[19], enc[128], hid[37];
    long long members_count, year, baseline;
    int has_year, has_baseline, certified, nmembers;
    member_input members[MAX_MEMBERS];
    enrollment_state *st;
} household_input;

/* enrollment_household_fields - check a household's JSON fields into in; -1 after a 422 */
int enrollment_household_fields(const cJSON *body, household_input *in, http_resp *resp);

/*
 * enrollment_household_columns - in's household columns as text, in the
 * order of the households table from head_name to baseline_per_capita_fen
 * (head_name, id_enc, id_index, id_masked, phone, village_code,
 * members_count, low_income, low_income_year, baseline_per_capita_fen; NULL
 * for SQL NULL): the registration's parameters and the import's COPY
 * fields. v points into in and into num (the numbers' text), which must
 * outlive it.
 */
#define ENROLLMENT_HOUSEHOLD_COLS 10
void enrollment_household_columns(const household_input *in, char num[3][24],
                                  const char *v[ENROLLMENT_HOUSEHOLD_COLS]);

/* enrollment_scope_sql - the caller's scope as a PostgreSQL array of code prefixes (in_scope in
   the schema) written into buf, or NULL for the admin (everywhere) */
const char *enrollment_scope_sql(const http_req *req, char *buf, size_t len);

/* --- handlers --- */
void enrollment_households_create(http_req *req, http_resp *resp, void *ctx);
void enrollment_households_list(http_req *req, http_resp *resp, void *ctx);
void enrollment_households_get(http_req *req, http_resp *resp, void *ctx);
void enrollment_households_update(http_req *req, http_resp *resp, void *ctx);
void enrollment_stats(http_req *req, http_resp *resp, void *ctx);
void enrollment_import(http_req *req, http_resp *resp, void *ctx);
void enrollment_enrollments_create(http_req *req, http_resp *resp, void *ctx);
void enrollment_enrollments_list(http_req *req, http_resp *resp, void *ctx);
void enrollment_enrollments_end(http_req *req, http_resp *resp, void *ctx);

#endif
