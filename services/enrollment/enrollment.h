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
#include "core/http.h"
#include "core/kafka.h"
#include "core/pii.h"

#define ENROLLMENT_TOPIC "households.v1"

/* The enrollment service's own parameters, in table order (main.c). */
enum { ENR_PII_ENC_KEY, ENR_PII_INDEX_KEY, ENR_NPARAMS };

/* The service's state, hung on service_ctx.state by main.c's init. */
typedef struct enrollment_state {
    pii_keys keys; /* ID-number encryption and blind-index keys */
} enrollment_state;

/* --- enrollment_validate.c --- */

/* enrollment_kind_valid - 1 for employment, land_transfer, share, supply, training */
int enrollment_kind_valid(const char *kind);

/*
 * enrollment_uuid_age_ms - how long ago a UUIDv7 was made, from the
 * timestamp it carries (now_ms minus its time); -1 when id is not a v7 UUID.
 */
int64_t enrollment_uuid_age_ms(const char *id, int64_t now_ms);

/* --- enrollment_readmodel.c --- */

/* enrollment_apply - the consumer: villages from regions.v1, projects from projects.v1 */
kafka_apply_result enrollment_apply(PGconn *conn, const cJSON *ev, void *ctx, char *err,
                                    size_t errlen);

/* --- handlers --- */
void enrollment_households_create(http_req *req, http_resp *resp, void *ctx);
void enrollment_households_list(http_req *req, http_resp *resp, void *ctx);
void enrollment_households_get(http_req *req, http_resp *resp, void *ctx);
void enrollment_households_update(http_req *req, http_resp *resp, void *ctx);
void enrollment_stats(http_req *req, http_resp *resp, void *ctx);
void enrollment_enrollments_create(http_req *req, http_resp *resp, void *ctx);
void enrollment_enrollments_list(http_req *req, http_resp *resp, void *ctx);
void enrollment_enrollments_end(http_req *req, http_resp *resp, void *ctx);

#endif
