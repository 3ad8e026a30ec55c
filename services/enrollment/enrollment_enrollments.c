/*
 * enrollment_enrollments.c - a household's links to projects: employment,
 * land transfer, share/dividend, supply, training; started and ended, the
 * history kept.
 *
 * A project is known only from projects.v1. An id the service has not seen
 * is answered by its age: a project registered in the last
 * ENROLLMENT_PROJECT_GRACE_MS (its UUIDv7 says when) may still be on its
 * way, so the answer is 503 with Retry-After; an older unknown id is 422.
 */
#include "enrollment.h"

#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/page.h"
#include "core/service.h"
#include "util/crypto.h"
#include "util/timeutil.h"

#define ENROLLMENT_PROJECT_GRACE_MS 120000

typedef struct enrollment_input {
    const char *project_id, *kind, *start_date;
    long long wage, area, rent, term;
    int has_wage, has_area, has_rent, has_term;
    char id[37];
} enrollment_input;

/*
 * household_in_scope - check the household is there and the caller may
 * read it (a write checks the same in its command: household_writable in
 * the schema). Returns 0, or -1 after a 404/403/database problem.
 */
static int household_in_scope(PGconn *conn, const http_req *req, const char *hid, http_resp *resp)
{
    db_err err;
    const char *params[1] = {hid};
    PGresult *res =
        db_exec(conn, "SELECT village_code FROM households WHERE id = $1::uuid", 1, params, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return -1;
    }
    int rc = -1;
    if (PQntuples(res) == 0)
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such household");
    else if (!auth_region_allows(&req->auth, PQgetvalue(res, 0, 0)))
        http_problem(resp, 403, "forbidden", "Outside your villages", NULL,
                     "the household's village is not in your scope");
    else
        rc = 0;
    PQclear(res);
    return rc;
}

/*
 * enrollment_register - the enrollment of the household in the path, in one
 * statement (enrollment_register in the schema): the household locked and in
 * the caller's scope, the project known and open (503 while one registered
 * moments ago may still be on its way), no open enrollment of the kind, the
 * row, the event, the Idempotency-Key, the answer
 */
static void enrollment_register(service_ctx *ctx, http_req *req, http_resp *resp,
                                enrollment_input *in)
{
    const char *hid = req->params[0];
    char wage[24], area[24], rent[24], term[24], scope[AUTH_SCOPE_ARRAY_LEN];
    snprintf(wage, sizeof(wage), "%lld", in->wage);
    snprintf(area, sizeof(area), "%lld", in->area);
    snprintf(rent, sizeof(rent), "%lld", in->rent);
    snprintf(term, sizeof(term), "%lld", in->term);
    crypto_uuid_v7(in->id);
    int64_t age = crypto_uuid_v7_age_ms(in->project_id, time_now_ms());
    char *envelope = event_envelope_text("enrollment", "enrollment.started", hid);
    if (envelope == NULL) {
        http_problem(resp, 503, "unavailable", "Out of memory", NULL, "try again shortly");
        return;
    }
    const char *params[14] = {in->id,
                              hid,
                              in->project_id,
                              in->kind,
                              in->has_wage ? wage : NULL,
                              in->has_area ? area : NULL,
                              in->has_rent ? rent : NULL,
                              in->has_term ? term : NULL,
                              in->start_date,
                              req->auth.sub,
                              enrollment_scope_sql(req, scope, sizeof(scope)),
                              age >= 0 && age < ENROLLMENT_PROJECT_GRACE_MS ? "true" : "false",
                              envelope,
                              ENROLLMENT_TOPIC};
    service_create_one(ctx, req, resp,
                       "SELECT * FROM enrollment_register($1::uuid, $2::uuid, $3::uuid, $4, "
                       "$5::bigint, $6::int, $7::bigint, $8::int, $9::date, $10, $11::text[], "
                       "$12::boolean, $13::jsonb, $14, $15, $16, $17, $18)",
                       14, params);
    free(envelope);
}

/* enrollment_enrollments_create - POST /v1/households/{id}/enrollments */
void enrollment_enrollments_create(http_req *req, http_resp *resp, void *ctx)
{
    enrollment_input in = {0};
    if (!crypto_uuid_valid(req->params[0])) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such household");
        return;
    }
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (http_field_string(body, "project_id", 1, 36, 36, &in.project_id, resp) < 0 ||
        http_field_string(body, "kind", 1, 1, 20, &in.kind, resp) < 0 ||
        http_field_date(body, "start_date", 1, &in.start_date, resp) < 0)
        goto out;
    if (!crypto_uuid_valid(in.project_id)) {
        http_problem(resp, 422, "validation", "Invalid field", "/project_id",
                     "project_id is a UUID");
        goto out;
    }
    if (!enrollment_kind_valid(in.kind)) {
        http_problem(resp, 422, "validation", "Invalid field", "/kind",
                     "kind is employment, land_transfer, share, supply or training");
        goto out;
    }
    int employment = strcmp(in.kind, "employment") == 0;
    int land = strcmp(in.kind, "land_transfer") == 0;
    /* sane bounds: a wage up to 100,000 yuan a month; up to 1,000 mu at up to 100,000 yuan/mu */
    if (http_field_int64(body, "monthly_wage_fen", employment, 1, 10000000, &in.wage, &in.has_wage,
                         resp) < 0 ||
        http_field_int64(body, "area_mu_x100", land, 1, 100000, &in.area, &in.has_area, resp) < 0 ||
        http_field_int64(body, "annual_rent_fen", land, 0, 1000000000, &in.rent, &in.has_rent,
                         resp) < 0 ||
        http_field_int64(body, "term_years", 0, 1, 70, &in.term, &in.has_term, resp) < 0)
        goto out;
    enrollment_register(ctx, req, resp, &in);
out:
    cJSON_Delete(body);
}

/* enrollment_enrollments_list - GET /v1/households/{id}/enrollments (the history) */
void enrollment_enrollments_list(http_req *req, http_resp *resp, void *ctx)
{
    const char *cursor;
    char cursor_buf[64], limit_sql[16];
    int limit = page_args(req, resp, 1, cursor_buf, &cursor, limit_sql);
    if (limit < 0)
        return;
    if (!crypto_uuid_valid(req->params[0])) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such household");
        return;
    }
    PGconn *conn = service_tx_begin(ctx, resp);
    if (conn == NULL)
        return;
    int ok = household_in_scope(conn, req, req->params[0], resp) == 0;
    service_tx_end(ctx, conn, 0, NULL);
    if (!ok)
        return;
    const char *params[3] = {req->params[0], cursor, limit_sql};
    page_query(ctx, resp,
               "SELECT (enrollment_json(e.id) - 'phone' - 'head_name')::text, e.id "
               "FROM enrollments e WHERE e.household_id = $1::uuid "
               "AND ($2::uuid IS NULL OR e.id > $2::uuid) ORDER BY e.id LIMIT $3::int",
               3, params, limit);
}

/*
 * enrollment_enrollments_end - POST /v1/households/{id}/enrollments/{eid}/end,
 * in one statement under its Idempotency-Key (enrollment_end in the schema):
 * the household locked and in the caller's scope, the enrollment its own,
 * open and started by end_date, the row, the enrollment.ended event, the
 * answer
 */
void enrollment_enrollments_end(http_req *req, http_resp *resp, void *ctx)
{
    const char *end_date = NULL, *reason = NULL;
    const char *hid = req->params[0], *eid = req->params[1];
    char scope[AUTH_SCOPE_ARRAY_LEN];
    if (!crypto_uuid_valid(hid) || !crypto_uuid_valid(eid)) {
        http_problem(resp, 404, "not-found", "Not found", NULL, "no such enrollment");
        return;
    }
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (http_field_date(body, "end_date", 1, &end_date, resp) == 0 &&
        http_field_text(body, "reason", 1, 1, 500, &reason, resp) == 0) {
        char *envelope = event_envelope_text("enrollment", "enrollment.ended", hid);
        const char *params[7] = {eid,
                                 hid,
                                 end_date,
                                 reason,
                                 enrollment_scope_sql(req, scope, sizeof(scope)),
                                 envelope,
                                 ENROLLMENT_TOPIC};
        if (envelope == NULL)
            http_problem(resp, 503, "unavailable", "Out of memory", NULL, "try again shortly");
        else
            service_create_one(ctx, req, resp,
                               "SELECT * FROM enrollment_end($1::uuid, $2::uuid, $3::date, $4, "
                               "$5::text[], $6::jsonb, $7, $8, $9, $10, $11)",
                               7, params);
        free(envelope);
    }
    cJSON_Delete(body);
}
