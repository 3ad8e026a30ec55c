/*
 * notifier_consume.c - the consumer of households.v1, income.v1 and
 * suggestions.v1: inside the loop's transaction (which also records the
 * event id), each delivery the routing table asks for becomes one row,
 * unique by (event id, recipient, template), so a redelivered event adds
 * nothing. An event no route names is counted and ignored; a payload
 * without a required phone or value, or with a malformed phone, is
 * permanent: the loop dead-letters it with the reason and moves on.
 * A NOTIFY on commit wakes the sender.
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

/* notifier_apply - one event to its delivery rows */
kafka_apply_result notifier_apply(PGconn *conn, const cJSON *ev, void *ctx, char *err,
                                  size_t errlen)
{
    ntf_state *st = ((service_ctx *)ctx)->state;
    const char *type = event_type(ev), *id = event_id(ev);
    const cJSON *data = event_data(ev);
    ntf_wanted w[NTF_MAX_PER_EVENT];
    int routed = 0;
    int n = ntf_routes_match(st->routes, type, data, w, NTF_MAX_PER_EVENT, &routed, err, errlen);
    if (n < 0)
        return KAFKA_APPLY_PERMANENT;
    if (!routed) {
        metrics_inc(metrics_counter("notifier_events_unrouted_total",
                                    "Events no route of the routing table names", ""));
        return KAFKA_APPLY_OK;
    }
    kafka_apply_result rc = KAFKA_APPLY_OK;
    int inserted = 0;
    for (int i = 0; i < n; i++) {
        if (rc != KAFKA_APPLY_OK) {
            cJSON_Delete(w[i].params);
            continue;
        }
        char did[37], urgent[2] = {w[i].route->urgent ? 't' : 'f', 0};
        crypto_uuid_v7(did);
        cJSON *order = cJSON_CreateArray();
        for (int k = 0; k < w[i].route->tpl->nparams; k++)
            cJSON_AddItemToArray(order, cJSON_CreateString(w[i].route->tpl->params[k]));
        char *params = cJSON_PrintUnformatted(w[i].params), *ord = cJSON_PrintUnformatted(order);
        cJSON_Delete(order);
        cJSON_Delete(w[i].params);
        const char *p[10] = {
            did, id,     type, w[i].route->name, w[i].phone, w[i].route->tpl->code, params,
            ord, urgent, did};
        db_err dberr;
        PGresult *res =
            params && ord
                ? db_exec(conn,
                          "INSERT INTO deliveries (id, event_id, event_type, route, recipient, "
                          "template, params, param_order, urgent, out_id) VALUES ($1::uuid, $2, "
                          "$3, $4, $5, $6, $7::jsonb, ARRAY(SELECT "
                          "jsonb_array_elements_text($8::jsonb)), $9::boolean, $10) "
                          "ON CONFLICT (event_id, recipient, template) DO NOTHING",
                          10, p, &dberr)
                : NULL;
        free(params);
        free(ord);
        if (res == NULL) {
            snprintf(err, errlen, "deliveries: %s", params && ord ? dberr.msg : "out of memory");
            rc = KAFKA_APPLY_RETRY;
            continue;
        }
        inserted += atoi(PQcmdTuples(res));
        PQclear(res);
    }
    if (rc == KAFKA_APPLY_OK && inserted > 0) {
        db_err dberr;
        PGresult *res =
            db_exec(conn, "SELECT pg_notify('notifier_deliveries', '')", 0, NULL, &dberr);
        PQclear(res);
        log_debug("event %s (%s): %d deliveries queued", id, type, inserted);
    }
    return rc;
}
