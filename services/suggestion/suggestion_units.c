/*
 * suggestion_units.c - handling units (承办单位): the village committees,
 * town offices and county bureaus proposals are assigned to. The admin
 * registers them; everyone with a token may list them (supervisors pick
 * one when assigning). A unit lies in a known region, which fixes its side
 * of the border; a handler's token names its unit in the "unit" claim.
 * unit.registered on suggestions.v1 tells the accounts service (handler
 * grants name a unit).
 */
#include "suggestion.h"

#include <string.h>

#include "core/event.h"
#include "core/outbox.h"
#include "core/page.h"

typedef struct unit_input {
    const char *id, *name, *region_code;
} unit_input;

/* unit_insert - the create step run inside service_create */
static int unit_insert(PGconn *conn, http_req *req, http_resp *resp, void *arg)
{
    (void)req;
    unit_input *in = arg;
    const char *params[3] = {in->id, in->name, in->region_code};
    db_err err;
    /* the unit as the list shows it (region_name, level), plus created_at */
    PGresult *res = db_exec(conn,
                            "WITH u AS (INSERT INTO units (id, name, region_code, side) "
                            "SELECT $1, $2, r.code, r.side FROM regions r WHERE r.code = $3 "
                            "AND r.side IN ('zhejiang', 'shanghai') "
                            "ON CONFLICT (id) DO NOTHING RETURNING *) "
                            "SELECT jsonb_build_object('id', u.id, 'name', u.name, 'region_code', "
                            "u.region_code, 'region_name', r.name, 'level', r.level, 'side', "
                            "u.side, 'created_at', u.created_at)::text "
                            "FROM u JOIN regions r ON r.code = u.region_code",
                            3, params, &err);
    if (res == NULL) {
        service_db_problem(resp, &err);
        return -1;
    }
    if (PQntuples(res) == 0) {
        PQclear(res);
        const char *p1[1] = {in->id};
        res = db_exec(conn, "SELECT 1 FROM units WHERE id = $1", 1, p1, &err);
        int exists = res && PQntuples(res) > 0;
        PQclear(res);
        if (exists)
            http_problem(resp, 409, "duplicate", "Unit already registered", "/id",
                         "a unit with this id exists");
        else
            http_problem(resp, 422, "validation", "Unknown region", "/region_code",
                         "region_code is not a known region of either side");
        return -1;
    }
    /* the accounts service learns units from this event (handler grants name one) */
    cJSON *ev =
        event_new("suggestion", "unit.registered", in->id, cJSON_Parse(PQgetvalue(res, 0, 0)));
    if (ev == NULL || outbox_add(conn, SUGGESTION_TOPIC, in->id, ev, &err) < 0) {
        cJSON_Delete(ev);
        PQclear(res);
        service_db_problem(resp, &err);
        return -1;
    }
    cJSON_Delete(ev);
    snprintf(resp->location, sizeof(resp->location), "/v1/units/%s", in->id);
    http_reply_raw(resp, 201, "application/json", PQgetvalue(res, 0, 0),
                   strlen(PQgetvalue(res, 0, 0)));
    PQclear(res);
    return 0;
}

/* suggestion_units_create - POST /v1/units {id, name, region_code} (admin) */
void suggestion_units_create(http_req *req, http_resp *resp, void *ctx)
{
    unit_input in = {0};
    cJSON *body = http_parse_json(req, resp);
    if (body == NULL)
        return;
    if (http_field_string(body, "id", 1, 2, 63, &in.id, resp) < 0 ||
        http_field_string(body, "name", 1, 1, 100, &in.name, resp) < 0 ||
        http_field_string(body, "region_code", 1, 12, 12, &in.region_code, resp) < 0)
        goto out;
    if (strspn(in.id, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(in.id) ||
        in.id[0] == '-') {
        http_problem(resp, 422, "validation", "Invalid unit id", "/id",
                     "id is 2 to 63 lower-case letters, digits and hyphens, not starting with one");
        goto out;
    }
    if (strspn(in.region_code, "0123456789") != 12) {
        http_problem(resp, 422, "validation", "Invalid region code", "/region_code",
                     "region_code is 12 digits");
        goto out;
    }
    service_create(ctx, req, resp, unit_insert, &in);
out:
    cJSON_Delete(body);
}

/* suggestion_units_list - GET /v1/units: every unit, by id */
void suggestion_units_list(http_req *req, http_resp *resp, void *ctx)
{
    char cursor_buf[64], limit[16];
    const char *cursor = NULL;
    int n = page_args(req, resp, 0, cursor_buf, &cursor, limit);
    if (n < 0)
        return;
    const char *params[2] = {limit, cursor};
    page_query(ctx, resp,
               "SELECT jsonb_build_object('id', u.id, 'name', u.name, 'region_code', "
               "u.region_code, 'region_name', r.name, 'level', r.level, 'side', u.side)::text, "
               "u.id FROM units u JOIN regions r ON r.code = u.region_code "
               "WHERE ($2::text IS NULL OR u.id > $2) ORDER BY u.id LIMIT $1::int",
               2, params, n);
}
