/*
 * notifier_consume.c - the consumer of households.v1, income.v1 and
 * suggestions.v1: inside the loop's transaction (which also records the
 * event id), each delivery the routing table asks for becomes one row,
 * unique by (event id, recipient, template), so a redelivered event adds
 * nothing. An event no route names is counted and ignored; a payload
 * without a required phone or value, or with a malformed phone, is
 * permanent: the loop dead-letters it with the reason and moves on.
 * The insert itself NOTIFYs (on commit, once per transaction however many
 * rows) to wake the sender: one round trip a delivery.
 */
#include "notifier.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/metrics.h"
#include "util/crypto.h"
#include "util/log.h"

#define NTF_MAX_PER_EVENT 64

/* notifier_consumes - the events a route of the shipped routing table (deploy/notifier/routes.json)
 * names */
const catalogue_event *const notifier_consumes[] = {&cat_household_registered,
                                                    &cat_enrollment_started,
                                                    &cat_enrollment_ended,
                                                    &cat_income_recorded,
                                                    &cat_suggestion_accepted,
                                                    &cat_suggestion_assigned,
                                                    &cat_suggestion_resolved,
                                                    &cat_suggestion_overdue,
                                                    &cat_suggestion_escalated,
                                                    &cat_signin_code_issued,
                                                    NULL};

/*
 * add_event - the delivery rows one event asks for, appended to rows (one
 * object each, for jsonb_to_recordset); 0 (also for an unrouted event), -1
 * with err when the payload is refused for good, -2 out of memory
 */
static int add_event(const ntf_state *st, const cJSON *ev, cJSON *rows, char *err, size_t errlen)
{
    const char *type = event_type(ev), *id = event_id(ev);
    ntf_wanted w[NTF_MAX_PER_EVENT];
    int routed = 0;
    int n = ntf_routes_match(st->routes, type, event_data(ev), w, NTF_MAX_PER_EVENT, &routed, err,
                             errlen);
    if (n < 0)
        return -1;
    if (!routed) {
        metrics_inc(metrics_counter("notifier_events_unrouted_total",
                                    "Events no route of the routing table names", ""));
        return 0;
    }
    int ok = 1;
    for (int i = 0; i < n; i++) {
        char did[37];
        crypto_uuid_v7(did);
        cJSON *row = cJSON_CreateObject(), *order = cJSON_CreateArray();
        for (int k = 0; order && k < w[i].route->tpl->nparams; k++)
            cJSON_AddItemToArray(order, cJSON_CreateString(w[i].route->tpl->params[k]));
        /* "o" and "p" owned by the row once added; the row by rows */
        int owned = 0;
        if (row && order && cJSON_AddItemToObject(row, "o", order)) {
            order = NULL;
            owned++;
        }
        if (row && w[i].params && cJSON_AddItemToObject(row, "p", w[i].params)) {
            w[i].params = NULL;
            owned++;
        }
        ok = ok && owned == 2 && cJSON_AddNumberToObject(row, "i", cJSON_GetArraySize(rows) + 1) &&
             cJSON_AddStringToObject(row, "id", did) && cJSON_AddStringToObject(row, "e", id) &&
             cJSON_AddStringToObject(row, "t", type) &&
             cJSON_AddStringToObject(row, "r", w[i].route->name) &&
             cJSON_AddStringToObject(row, "ph", w[i].phone) &&
             cJSON_AddStringToObject(row, "tpl", w[i].route->tpl->code) &&
             cJSON_AddBoolToObject(row, "u", w[i].route->urgent) && cJSON_AddItemToArray(rows, row);
        if (ok)
            row = NULL;
        cJSON_Delete(row);
        cJSON_Delete(order);
        cJSON_Delete(w[i].params);
    }
    return ok ? 0 : -2;
}

/*
 * notifier_apply_batch - the events of a consumer batch to their delivery
 * rows, in one statement, which also NOTIFYs the sender (delivered on
 * commit, once however many rows)
 */
kafka_apply_result notifier_apply_batch(PGconn *conn, const cJSON *const *evs, int n, void *ctx,
                                        char *err, size_t errlen)
{
    ntf_state *st = ((service_ctx *)ctx)->state;
    cJSON *rows = cJSON_CreateArray();
    if (rows == NULL) {
        snprintf(err, errlen, "out of memory");
        return KAFKA_APPLY_RETRY;
    }
    for (int i = 0; i < n; i++) {
        int rc = add_event(st, evs[i], rows, err, errlen);
        if (rc < 0) {
            cJSON_Delete(rows);
            if (rc == -2)
                snprintf(err, errlen, "out of memory");
            return rc == -1 ? KAFKA_APPLY_PERMANENT : KAFKA_APPLY_RETRY;
        }
    }
    if (cJSON_GetArraySize(rows) == 0) {
        cJSON_Delete(rows);
        return KAFKA_APPLY_OK;
    }
    char *json = cJSON_PrintUnformatted(rows);
    cJSON_Delete(rows);
    if (json == NULL) {
        snprintf(err, errlen, "out of memory");
        return KAFKA_APPLY_RETRY;
    }
    /* ON CONFLICT DO NOTHING also skips a second row for the same (event, phone, template) in
       this statement: the first route's is kept, as when they were inserted one by one */
    const char *p[1] = {json};
    db_err dberr;
    PGresult *res = db_exec(
        conn,
        "WITH ins AS (INSERT INTO deliveries (id, event_id, event_type, route, recipient, "
        "template, params, param_order, urgent, out_id) SELECT x.id::uuid, x.e, x.t, x.r, x.ph, "
        "x.tpl, x.p, ARRAY(SELECT jsonb_array_elements_text(x.o)), x.u, x.id FROM "
        "jsonb_to_recordset($1::jsonb) AS x(i int, id text, e text, t text, r text, ph text, tpl "
        "text, p jsonb, o jsonb, u boolean) ORDER BY x.i ON CONFLICT (event_id, recipient, "
        "template) DO NOTHING RETURNING 1) "
        "SELECT count(*) FROM (SELECT pg_notify('notifier_deliveries', '') FROM ins) n",
        1, p, &dberr);
    free(json);
    if (res == NULL) {
        snprintf(err, errlen, "deliveries: %s", dberr.msg);
        return KAFKA_APPLY_RETRY;
    }
    log_debug("%d events: %s deliveries queued", n, PQgetvalue(res, 0, 0));
    PQclear(res);
    return KAFKA_APPLY_OK;
}

/* notifier_apply - one event to its delivery rows (a batch of one) */
kafka_apply_result notifier_apply(PGconn *conn, const cJSON *ev, void *ctx, char *err,
                                  size_t errlen)
{
    return notifier_apply_batch(conn, &ev, 1, ctx, err, errlen);
}
