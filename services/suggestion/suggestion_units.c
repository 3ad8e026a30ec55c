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

#include <stdlib.h>
#include <string.h>

#include "core/event.h"
#include "core/page.h"

typedef struct unit_input {
    const char *id, *name, *region_code;
} unit_input;

#define REGISTER_SQL "SELECT * FROM unit_register($1, $2, $3, $4::jsonb, $5, $6, $7, $8, $9)"
#define REGISTER_NPARAMS 5

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
    /* the accounts service learns units from this event (handler grants name one) */
    char *envelope = event_envelope_text("suggestion", "unit.registered", in.id);
    if (envelope == NULL) {
        http_problem(resp, 503, "unavailable", "Out of memory", NULL, "try again shortly");
        goto out;
    }
    const char *params[REGISTER_NPARAMS] = {in.id, in.name, in.region_code, envelope,
                                            SUGGESTION_TOPIC};
    service_create_one(ctx, req, resp, REGISTER_SQL, REGISTER_NPARAMS, params);
    free(envelope);
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
